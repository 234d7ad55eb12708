package cache

import (
	"context"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
)

func BenchmarkKeyOf(b *testing.B) {
	r := baseRequest()
	b.ReportAllocs()
	for b.Loop() {
		KeyOf("ns", r)
	}
}

func BenchmarkGetHit(b *testing.B) {
	for _, tc := range []struct {
		name string
		text string
	}{
		{"small_raw", "Paris is the capital of France."},
		{"2KB_zstd", string(make([]byte, 0)) + func() string {
			s := ""
			for i := 0; len(s) < 2048; i++ {
				s += "word" + strconv.Itoa(i%50) + " "
			}
			return s
		}()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c, _ := newCache(b, Options{})
			key := KeyOf("", chat("m", "q"))
			c.Put(key, answer(tc.text), 0)
			flush(b, c)
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := c.Get(key); !ok {
					b.Fatal("miss")
				}
			}
		})
	}
}

// BenchmarkPut measures the request-path cost of a write: queueing only.
// The writer commits (or the queue drops) concurrently.
func BenchmarkPut(b *testing.B) {
	c, _ := newCache(b, Options{WriteQueue: 4096})
	key := KeyOf("", chat("m", "q"))
	e := answer("Paris is the capital of France.")
	b.ReportAllocs()
	for b.Loop() {
		c.Put(key, e, 0)
	}
	b.StopTimer()
	b.ReportMetric(float64(c.Stats().Dropped)/float64(b.N), "dropped/op")
}

func BenchmarkGetMiss(b *testing.B) {
	c, _ := newCache(b, Options{})
	key := KeyOf("", chat("m", "never stored"))
	b.ReportAllocs()
	for b.Loop() {
		c.Get(key)
	}
}

// indexMemory builds an index of n random unit vectors and returns it with
// the heap it holds (runtime.MemStats before and after, after GC).
func indexMemory(b *testing.B, rng *rand.Rand, n, dim int) (*testIndex, uint64) {
	data := randomUnit(rng, n, dim)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ti := &testIndex{ix: newVecIndex(n), dim: dim, data: data, byKey: make(map[Key]int, n), scope: Key{1}}
	keys := make([]Key, n)
	for i := range n {
		keys[i] = KeyOf("", &llm.ChatRequest{Model: strconv.Itoa(i)})
		codes, scale, sig := ti.ix.prepare(data[i*dim : (i+1)*dim])
		ti.ix.insert(vecItem{key: keys[i], scope: ti.scope, scale: scale, codes: codes, sig: sig})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	mem := after.HeapAlloc - before.HeapAlloc - uint64(n*len(Key{})) // minus the keys slice kept for the test
	ti.keys = keys
	for i, k := range keys {
		ti.byKey[k] = i
	}
	return ti, mem
}

// BenchmarkSemanticSearch is the in-memory semantic lookup at 10k and 100k
// vectors of 384 dimensions in one scope (the worst case: every entry a
// candidate): int8 index search plus the float32 re-rank of its top
// candidates. Queries are near duplicates of stored vectors (cosine 0.80 to
// 0.99, the paraphrase regime a semantic cache decides in). It reports
// p50/p99 latency, recall@1 against float32 brute force, the same for
// uniformly random queries (whose nearest neighbour sits at a cosine near
// 0.2, far below any threshold), and the index's heap per 100k entries.
// The "int8_full" variants disable the signature stage for comparison.
func BenchmarkSemanticSearch(b *testing.B) {
	const dim = 384
	for _, n := range []int{10_000, 100_000} {
		rng := rand.New(rand.NewPCG(uint64(n), 11))
		ti, mem := indexMemory(b, rng, n, dim)
		queries := make([][]float32, 512)
		for i := range queries {
			queries[i] = nearDuplicate(rng, ti.vec(rng.IntN(n)), 0.80+0.19*rng.Float64())
		}
		recall := ti.recall(rng, 200, 0.80, 0.99)
		var randomHits int
		var buf [topK]candidate
		for range 200 {
			q := randomUnit(rng, 1, dim)
			want, _ := ti.bruteForce(q)
			if got, _ := ti.search(q, buf[:]); got == want {
				randomHits++
			}
		}
		for _, mode := range []string{"signature+int8", "int8_full"} {
			b.Run(strconv.Itoa(n/1000)+"k/"+mode, func(b *testing.B) {
				ti.ix.fullScan = fullScanMax
				if mode == "int8_full" {
					ti.ix.fullScan = 1 << 30
				}
				defer func() { ti.ix.fullScan = fullScanMax }()
				lat := make([]time.Duration, 0, 1<<16)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					q := queries[i%len(queries)]
					i++
					start := time.Now()
					ti.search(q, buf[:])
					if len(lat) < cap(lat) {
						lat = append(lat, time.Since(start))
					}
				}
				b.StopTimer()
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
				if mode == "signature+int8" {
					b.ReportMetric(recall, "recall@1")
					b.ReportMetric(float64(randomHits)/200, "recall@1-random")
					b.ReportMetric(float64(mem)/float64(n)*100_000/(1<<20), "MiB/100k")
				}
			})
		}
	}
}

// tableEmbedder returns preset vectors by text.
type tableEmbedder struct {
	mu  sync.Mutex
	vec map[string][]float32
}

func (e *tableEmbedder) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return &llm.EmbedResponse{Vectors: [][]float32{e.vec[req.Input[0]]}}, nil
}

// BenchmarkGetSemantic is the whole GetSemantic path over a bbolt file of
// 5k semantic entries (384 dims): scope hash, embedding (a table lookup
// here, so the cache's own cost shows), index search, float32 re-rank read
// from bbolt, exact entry read and decode. Queries alternate between hits
// (near duplicates at cosine ~0.97) and misses.
func BenchmarkGetSemantic(b *testing.B) {
	const n, dim = 5000, 384
	rng := rand.New(rand.NewPCG(5, 5))
	emb := &tableEmbedder{vec: map[string][]float32{}}
	c, _ := newCache(b, Options{WriteQueue: 1024, MaxBytes: 1 << 30, Semantic: &SemanticOptions{Embedder: emb, EmbedModel: "t"}})
	data := randomUnit(rng, n, dim)
	for i := range n {
		text := "stored " + strconv.Itoa(i)
		emb.mu.Lock()
		emb.vec[text] = data[i*dim : (i+1)*dim]
		emb.mu.Unlock()
		store := chat("m", text)
		key := KeyOf("", store)
		c.Put(key, answer("answer "+strconv.Itoa(i)), 0)
		c.PutSemantic("", store, key)
		if i%200 == 199 {
			flush(b, c)
		}
	}
	flush(b, c)
	reqs := make([]*llm.ChatRequest, 1000)
	for i := range reqs {
		text := "query " + strconv.Itoa(i)
		v := randomUnit(rng, 1, dim)
		if i%2 == 0 {
			v = nearDuplicate(rng, data[(i%n)*dim:(i%n+1)*dim], 0.97)
		}
		emb.vec[text] = v
		reqs[i] = chat("m", text)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.GetSemantic(context.Background(), "", reqs[i%len(reqs)])
		i++
	}
	b.StopTimer()
	s := c.Stats()
	b.ReportMetric(float64(s.SemanticHits)/float64(s.SemanticHits+s.SemanticMisses), "hit-ratio")
}
