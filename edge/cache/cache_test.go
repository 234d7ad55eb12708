package cache

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/edge/llm"
)

func TestPutGetRoundTrip(t *testing.T) {
	c, _ := newCache(t, Options{})
	tests := []struct {
		name string
		e    *Entry
	}{
		{"short text", answer("Paris.")},
		{"compressible text", answer(strings.Repeat("The quick brown fox jumps over the lazy dog. ", 200))},
		{"tool calls and reasoning", &Entry{Namespace: "team-a", RequestModel: "fast", Model: "llama3.2:1b", Provider: "ollama",
			Reasoning: "thinking...", FinishReason: llm.FinishToolCalls,
			ToolCalls: []llm.ToolCall{{ID: "c1", Name: "f", Arguments: `{"a":1}`}, {ID: "c2", Name: "g", Arguments: `{}`}},
			Usage:     llm.Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15, CachedTokens: 2, CacheWriteTokens: 1}}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := KeyOf("", chat("m", "q"+strconv.Itoa(i)))
			want := *tc.e
			c.Put(key, tc.e, time.Hour)
			flush(t, c)
			got, ok := c.Get(key)
			if !ok {
				t.Fatal("miss after Put")
			}
			if got.Text != want.Text || got.Reasoning != want.Reasoning || got.FinishReason != want.FinishReason ||
				got.Usage != want.Usage || got.Namespace != want.Namespace || got.RequestModel != want.RequestModel ||
				got.Model != want.Model || got.Provider != want.Provider || len(got.ToolCalls) != len(want.ToolCalls) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			for j := range want.ToolCalls {
				if got.ToolCalls[j] != want.ToolCalls[j] {
					t.Errorf("tool call %d = %+v, want %+v", j, got.ToolCalls[j], want.ToolCalls[j])
				}
			}
			if d := got.Expires.Sub(got.Created); d != time.Hour {
				t.Errorf("Expires-Created = %v, want 1h", d)
			}
		})
	}
	// The repetitive text really was compressed.
	if s := c.Stats(); s.Bytes > 3*1024+3*(entryOverhead+200) {
		t.Errorf("stored %d bytes: compression not applied?", s.Bytes)
	}
}

func TestPutRejects(t *testing.T) {
	tests := []struct {
		name string
		e    *Entry
	}{
		{"nil", nil},
		{"truncated by length", &Entry{Text: "half an ans", FinishReason: llm.FinishLength}},
		{"content filter", &Entry{Text: "x", FinishReason: llm.FinishContentFilter}},
		{"no finish reason", &Entry{Text: "x"}},
		{"empty", &Entry{FinishReason: llm.FinishStop}},
		{"over MaxEntryBytes", answer(strings.Repeat("x", 2048))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newCache(t, Options{MaxEntryBytes: 1024})
			key := KeyOf("", chat("m", tc.name))
			c.Put(key, tc.e, 0)
			flush(t, c)
			if _, ok := c.Get(key); ok {
				t.Error("stored")
			}
			if s := c.Stats(); s.Rejected != 1 || s.Entries != 0 {
				t.Errorf("Rejected = %d, Entries = %d; want 1, 0", s.Rejected, s.Entries)
			}
		})
	}
}

func TestMaxEntryBytesBoundary(t *testing.T) {
	// A body right at the bound, compressed, must decode under the same
	// bound (the decoder's window and memory limits follow MaxEntryBytes).
	const max = 64 << 10
	c, _ := newCache(t, Options{MaxEntryBytes: max})
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for b.Len() < max-200 {
		b.WriteString(strconv.Itoa(rng.IntN(100)))
		b.WriteByte(' ')
	}
	key := KeyOf("", chat("m", "big"))
	c.Put(key, answer(b.String()), 0)
	flush(t, c)
	if got, ok := c.Get(key); !ok || got.Text != b.String() {
		t.Fatalf("entry near MaxEntryBytes: ok=%v", ok)
	}
}

func TestTTL(t *testing.T) {
	clk := newClock()
	c, db := newCache(t, Options{Now: clk.Now, DefaultTTL: time.Hour})
	short, long, def := KeyOf("", chat("m", "short")), KeyOf("", chat("m", "long")), KeyOf("", chat("m", "default"))
	c.Put(short, answer("a"), time.Minute)
	c.Put(long, answer("b"), 3*time.Hour)
	c.Put(def, answer("c"), 0)
	flush(t, c)

	steps := []struct {
		name    string
		advance time.Duration
		hit     map[Key]bool
	}{
		{"fresh", 0, map[Key]bool{short: true, long: true, def: true}},
		{"short expired", 2 * time.Minute, map[Key]bool{short: false, long: true, def: true}},
		{"default expired", time.Hour, map[Key]bool{short: false, long: true, def: false}},
		{"all expired", 2 * time.Hour, map[Key]bool{short: false, long: false, def: false}},
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		for k, want := range st.hit {
			if _, ok := c.Get(k); ok != want {
				t.Errorf("%s: Get(%s) hit = %v, want %v", st.name, k.String()[:8], ok, want)
			}
		}
	}
	flush(t, c) // the expired reads queued their deletes
	if s := c.Stats(); s.Entries != 0 || s.Bytes != 0 || s.Expired < 3 {
		t.Errorf("after expiry: %+v", s)
	}
	checkEmpty(t, db)
}

func TestSweep(t *testing.T) {
	clk := newClock()
	c, db := newCache(t, Options{Now: clk.Now})
	for i := range 30 {
		c.Put(KeyOf("", chat("m", strconv.Itoa(i))), answer("x"), time.Duration(i+1)*time.Minute)
	}
	flush(t, c)
	clk.Advance(10*time.Minute + time.Second)
	sweepNow(t, c)
	if s := c.Stats(); s.Entries != 20 || s.Expired != 10 {
		t.Errorf("after sweep Entries = %d, Expired = %d; want 20, 10", s.Entries, s.Expired)
	}
	clk.Advance(time.Hour)
	sweepNow(t, c)
	if s := c.Stats(); s.Entries != 0 || s.Bytes != 0 {
		t.Errorf("after full sweep: %+v", s)
	}
	checkEmpty(t, db)
}

// sweepNow runs the expiry sweep in the writer and waits for it.
func sweepNow(t *testing.T, c *Cache) {
	t.Helper()
	done := make(chan opResult, 1)
	if err := c.sendWait(context.Background(), op{kind: opSweep, done: done}); err != nil {
		t.Fatal(err)
	}
	<-done
}

// viewBuckets runs check on the cache's buckets in a read transaction,
// failing the test if they do not open.
func viewBuckets(t *testing.T, db *bbolt.DB, check func(b buckets)) {
	t.Helper()
	err := db.View(func(tx *bbolt.Tx) error {
		b, err := openBuckets(tx)
		if err != nil {
			return err
		}
		check(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkEmpty asserts that no entry or index row is left.
func checkEmpty(t *testing.T, db *bbolt.DB) {
	t.Helper()
	viewBuckets(t, db, func(b buckets) {
		for name, bk := range map[string]*bbolt.Bucket{"entries": b.entries, "atime": b.atime, "lru": b.lru, "exp": b.exp, "semidx": b.semIdx, "semvec": b.semVec} {
			if n := bk.Stats().KeyN; n != 0 {
				t.Errorf("bucket %s holds %d keys", name, n)
			}
		}
	})
}

// noise is incompressible text of n bytes, so entry sizes are exact.
func noise(seed uint64, n int) string {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return string(b)
}

func TestEvictionLRU(t *testing.T) {
	// Measure one entry, then bound the cache at 4.5 of them.
	probe, _ := newCache(t, Options{})
	probe.Put(KeyOf("", chat("m", "probe")), answer(noise(0, 1500)), 0)
	flush(t, probe)
	size := probe.Stats().Bytes

	c, db := newCache(t, Options{MaxBytes: size*4 + size/2})
	keys := make([]Key, 6)
	for i := range keys {
		keys[i] = KeyOf("", chat("m", "q"+strconv.Itoa(i)))
	}
	for i := range 4 {
		c.Put(keys[i], answer(noise(uint64(i), 1500)), 0)
		flush(t, c)
	}
	// Read the oldest: it becomes the most recently used.
	if _, ok := c.Get(keys[0]); !ok {
		t.Fatal("miss on keys[0]")
	}
	flush(t, c)
	c.Put(keys[4], answer(noise(4, 1500)), 0) // over the bound: evict down to 90%
	flush(t, c)

	// Presence is read from the file: a Get would itself refresh the order.
	for i, hit := range []bool{true, false, true, true, true} {
		if got := stored(t, db, keys[i]); got != hit {
			t.Errorf("keys[%d] present = %v, want %v", i, got, hit)
		}
	}
	s := c.Stats()
	if s.Evictions != 1 || s.Bytes > size*4+size/2 || s.Entries != 4 {
		t.Errorf("Evictions = %d, Bytes = %d (bound %d), Entries = %d", s.Evictions, s.Bytes, size*4+size/2, s.Entries)
	}
	// LRU order now: 2, 3, 0, 4. Reading 3 and 0 leaves 2 then 4 the
	// least recently used; the next overflow takes 2.
	c.Get(keys[3])
	c.Get(keys[0])
	flush(t, c)
	c.Put(keys[5], answer(noise(5, 1500)), 0)
	flush(t, c)
	for i, hit := range []bool{true, false, false, true, true, true} {
		if got := stored(t, db, keys[i]); got != hit {
			t.Errorf("after second overflow keys[%d] present = %v, want %v", i, got, hit)
		}
	}
	checkRows(t, db)
}

func TestEvictionUnderLoad(t *testing.T) {
	const bound = 256 << 10
	c, db := newCache(t, Options{MaxBytes: bound})
	for i := range 600 {
		c.Put(KeyOf("", chat("m", strconv.Itoa(i))), answer(noise(uint64(i), 1000+i%700)), 0)
		if i%50 == 0 {
			flush(t, c)
		}
	}
	flush(t, c)
	s := c.Stats()
	if s.Bytes > bound || s.Evictions == 0 || s.Dropped != 0 {
		t.Errorf("after load: %+v", s)
	}
	checkRows(t, db)
}

// stored reports whether key has an entry in the file.
func stored(t *testing.T, db *bbolt.DB, key Key) bool {
	t.Helper()
	var ok bool
	db.View(func(tx *bbolt.Tx) error {
		b, err := openBuckets(tx)
		ok = err == nil && b.entries.Get(key[:]) != nil
		return nil
	})
	return ok
}

// checkRows verifies the bookkeeping: one atime, lru and exp row per entry,
// and the counters equal to what the file holds.
func checkRows(t *testing.T, db *bbolt.DB) {
	t.Helper()
	viewBuckets(t, db, func(b buckets) {
		var n, size int64
		b.entries.ForEach(func(k, v []byte) error {
			n++
			size += int64(len(v) + entryOverhead)
			return nil
		})
		b.semIdx.ForEach(func(k, v []byte) error {
			size += int64(len(v) + len(b.semVec.Get(k)) + semOverhead)
			return nil
		})
		for name, bk := range map[string]*bbolt.Bucket{"atime": b.atime, "lru": b.lru, "exp": b.exp} {
			if got := int64(bk.Stats().KeyN); got != n {
				t.Errorf("%s rows = %d, entries = %d", name, got, n)
			}
		}
		me := int64(binary.BigEndian.Uint64(b.meta.Get(metaEntries)))
		mb := int64(binary.BigEndian.Uint64(b.meta.Get(metaBytes)))
		if me != n || mb != size {
			t.Errorf("meta says %d entries, %d bytes; file holds %d, %d", me, mb, n, size)
		}
	})
}

func TestNamespaceIsolation(t *testing.T) {
	c, _ := newCache(t, Options{})
	req := chat("m", "What is the capital of France?")
	c.Put(KeyOf("team-a", req), &Entry{Namespace: "team-a", Text: "Paris (a)", FinishReason: llm.FinishStop}, 0)
	flush(t, c)
	tests := []struct {
		name string
		ns   string
		hit  bool
	}{
		{"same namespace", "team-a", true},
		{"other namespace", "team-b", false},
		{"default namespace", "", false},
		{"prefix of namespace", "team-", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := c.Get(KeyOf(tc.ns, req)); ok != tc.hit {
				t.Errorf("hit = %v, want %v", ok, tc.hit)
			}
		})
	}
}

func TestDecodeFailureDeleted(t *testing.T) {
	long := strings.Repeat("compress me ", 100)
	tests := []struct {
		name    string
		text    string
		corrupt func(v []byte) []byte
	}{
		{"bad version", "x", func(v []byte) []byte { v[0] = 99; return v }},
		{"unknown codec", "x", func(v []byte) []byte { v[1] = 7; return v }},
		{"truncated header", "x", func(v []byte) []byte { return v[:10] }},
		{"truncated body", "hello world", func(v []byte) []byte { return v[:len(v)-3] }},
		{"garbage zstd frame", long, func(v []byte) []byte {
			for i := len(v) - 20; i < len(v); i++ {
				v[i] ^= 0xA5
			}
			return v
		}},
		{"claims huge body", long, func(v []byte) []byte {
			h, _ := parseHeader(v)
			out := append([]byte(nil), v[:h.bodyStart-uvarintSize(uint64(h.rawLen))]...)
			out = binary.AppendUvarint(out, 1<<30)
			return append(out, v[h.bodyStart:]...)
		}},
		{"body with extra bytes", "x", func(v []byte) []byte {
			h, _ := parseHeader(v)
			out := append([]byte(nil), v[:h.bodyStart-1]...)
			out = append(out, byte(h.rawLen+2))
			return append(append(out, v[h.bodyStart:]...), 0, 0)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, db := newCache(t, Options{})
			key := KeyOf("", chat("m", tc.name))
			c.Put(key, answer(tc.text), 0)
			flush(t, c)
			err := db.Update(func(tx *bbolt.Tx) error {
				b, _ := openBuckets(tx)
				v := bytes.Clone(b.entries.Get(key[:]))
				return b.entries.Put(key[:], tc.corrupt(v))
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := c.Get(key); ok {
				t.Fatal("corrupt entry served")
			}
			flush(t, c)
			if s := c.Stats(); s.DecodeErrors != 1 || s.Entries != 0 {
				t.Errorf("DecodeErrors = %d, Entries = %d; want 1, 0", s.DecodeErrors, s.Entries)
			}
			if _, ok := c.Get(key); ok {
				t.Error("served after delete")
			}
			db.View(func(tx *bbolt.Tx) error {
				b, _ := openBuckets(tx)
				if b.entries.Get(key[:]) != nil || b.atime.Get(key[:]) != nil {
					t.Error("corrupt entry or its atime row left in the file")
				}
				return nil
			})
		})
	}
}

// FuzzDecodeValue feeds arbitrary stored values to the read path: a
// damaged file must give errors, never panics or unbounded allocations.
func FuzzDecodeValue(f *testing.F) {
	c, _ := newCache(f, Options{MaxEntryBytes: 1 << 16})
	var body []byte
	for _, e := range []*Entry{answer("hi"), answer(strings.Repeat("abc ", 100)),
		{Text: "t", ToolCalls: []llm.ToolCall{{ID: "1", Name: "f", Arguments: "{}"}}, FinishReason: llm.FinishToolCalls}} {
		var v []byte
		v, body = encodeValue(nil, body, c.enc, e, 1, 2)
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		h, err := parseHeader(v)
		if err != nil {
			return
		}
		e, _, err := decodeValue(v, h, c.dec, c.o.MaxEntryBytes, nil)
		if err == nil && e == nil {
			t.Fatal("nil entry without error")
		}
	})
}

func TestDropOnFull(t *testing.T) {
	c, db := newCache(t, Options{WriteQueue: 4})
	// Hold the file's write lock: the writer blocks in its first
	// transaction and the queue fills up.
	tx, err := db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	start := time.Now()
	for i := range n {
		c.Put(KeyOf("", chat("m", strconv.Itoa(i))), answer("x"), 0)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Put blocked for %v with the writer stuck", d)
	}
	dropped := c.Stats().Dropped
	if dropped == 0 {
		t.Error("nothing dropped with a full queue")
	}
	tx.Rollback()
	flush(t, c)
	if s := c.Stats(); s.Entries+int64(s.Dropped) != n {
		t.Errorf("Entries %d + Dropped %d != %d puts", s.Entries, s.Dropped, n)
	}
}

func TestRestartPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edgeway.db")
	db := openDB(t, path)
	c, err := Open(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]Key, 20)
	for i := range keys {
		keys[i] = KeyOf("", chat("m", strconv.Itoa(i)))
		c.Put(keys[i], answer("answer "+strconv.Itoa(i)), 0)
	}
	// No Flush: Close must commit what is queued.
	c.Close()
	before := c.Stats()
	db.Close()

	db = openDB(t, path)
	defer db.Close()
	c, err = Open(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	after := c.Stats()
	if after.Entries != 20 || after.Entries != before.Entries || after.Bytes != before.Bytes {
		t.Errorf("counters after restart %+v, before %+v", after, before)
	}
	for i, k := range keys {
		if e, ok := c.Get(k); !ok || e.Text != "answer "+strconv.Itoa(i) {
			t.Errorf("key %d after restart: %v %v", i, e, ok)
		}
	}
	checkRows(t, db)
}

func TestPurge(t *testing.T) {
	type stored struct{ ns, reqModel, provider, model string }
	all := []stored{
		{"a", "fast", "ollama", "llama3.2:1b"},
		{"a", "smart", "openai", "gpt-4o-mini"},
		{"b", "fast", "ollama", "llama3.2:1b"},
		{"b", "ollama/qwen", "ollama", "qwen"},
		{"", "fast", "openai", "gpt-4o-mini"},
	}
	tests := []struct {
		name      string
		ns, model string
		want      int
	}{
		{"everything", "", "", 5},
		{"namespace", "a", "", 2},
		{"alias", "", "fast", 3},
		{"served model", "", "gpt-4o-mini", 2},
		{"provider/model", "", "ollama/llama3.2:1b", 2},
		{"request provider/model", "", "ollama/qwen", 1},
		{"namespace and model", "b", "fast", 1},
		{"no match", "c", "", 0},
		{"provider alone is not a model", "", "ollama", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, db := newCache(t, Options{})
			for i, s := range all {
				c.Put(KeyOf(s.ns, chat(s.reqModel, strconv.Itoa(i))), &Entry{Namespace: s.ns, RequestModel: s.reqModel,
					Provider: s.provider, Model: s.model, Text: "x", FinishReason: llm.FinishStop}, 0)
			}
			flush(t, c)
			n, err := c.Purge(tc.ns, tc.model)
			if err != nil || n != tc.want {
				t.Fatalf("Purge(%q, %q) = %d, %v; want %d", tc.ns, tc.model, n, err, tc.want)
			}
			if s := c.Stats(); s.Entries != int64(len(all)-tc.want) {
				t.Errorf("Entries = %d, want %d", s.Entries, len(all)-tc.want)
			}
			checkRows(t, db)
		})
	}
}

func TestPurgeLarge(t *testing.T) {
	// More than purgeBatch matches: several transactions.
	c, db := newCache(t, Options{WriteQueue: 512})
	for i := range 2500 {
		ns := "a"
		if i%5 == 0 {
			ns = "b"
		}
		c.Put(KeyOf(ns, chat("m", strconv.Itoa(i))), &Entry{Namespace: ns, Text: "x", FinishReason: llm.FinishStop}, 0)
		if i%400 == 0 {
			flush(t, c)
		}
	}
	flush(t, c)
	n, err := c.Purge("a", "")
	if err != nil || n != 2000 {
		t.Fatalf("Purge = %d, %v; want 2000", n, err)
	}
	if s := c.Stats(); s.Entries != 500 {
		t.Errorf("Entries = %d, want 500", s.Entries)
	}
	checkRows(t, db)
}

func TestClosed(t *testing.T) {
	c, _ := newCache(t, Options{})
	key := KeyOf("", chat("m", "x"))
	c.Put(key, answer("x"), 0)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c.Close() // idempotent
	c.Put(key, answer("y"), 0)
	if _, ok := c.Get(key); ok {
		t.Error("Get hit after Close")
	}
	if err := c.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close = %v", err)
	}
	if _, err := c.Purge("", ""); !errors.Is(err, ErrClosed) {
		t.Errorf("Purge after Close = %v", err)
	}
	if c.Stats().Dropped != 1 {
		t.Errorf("Dropped = %d, want 1", c.Stats().Dropped)
	}
}

func TestOptions(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "x.db"))
	defer db.Close()
	_, err := Open(db, Options{MaxBytes: -1, WriteQueue: -2, Semantic: &SemanticOptions{Threshold: 2}})
	if err == nil {
		t.Fatal("bad options accepted")
	}
	for _, field := range []string{"MaxBytes", "WriteQueue", "Embedder", "Threshold"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not name %s", err, field)
		}
	}
	// A file from a future layout is refused, not misread.
	db.Update(func(tx *bbolt.Tx) error {
		root, _ := tx.CreateBucketIfNotExists(rootName)
		meta, _ := root.CreateBucketIfNotExists(metaName)
		return meta.Put(metaLayout, binary.BigEndian.AppendUint64(nil, 2))
	})
	if _, err := Open(db, Options{}); !errors.Is(err, ErrLayout) {
		t.Errorf("Open on layout 2 = %v, want ErrLayout", err)
	}
}

// TestConcurrentWriters puts from several goroutines, so that transactions
// hold many values (compressed and raw) side by side in the writer's arena.
func TestConcurrentWriters(t *testing.T) {
	c, db := newCache(t, Options{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				var ids []string
				for j := range 1 + i%8 {
					id := fmt.Sprintf("g%d-%d-%d", g, i, j)
					text := crashText(id) // compressible
					if j%2 == 1 {
						text = noise(uint64(g*1000+i*10+j), 300) // not
					}
					c.Put(crashKey(id), answer(text), 0)
					ids = append(ids, id)
				}
				if err := c.Flush(context.Background()); err != nil {
					t.Error(err)
					return
				}
				for _, id := range ids {
					if _, ok := c.Get(crashKey(id)); !ok {
						t.Errorf("%s missing after Flush", id)
					}
				}
			}
		}()
	}
	wg.Wait()
	if s := c.Stats(); s.DecodeErrors != 0 || s.Dropped != 0 {
		t.Errorf("stats %+v", s)
	}
	checkRows(t, db)
}

// TestPutAllocs pins the request-path cost of a write at zero allocations:
// with the writer held, only Put itself runs.
func TestPutAllocs(t *testing.T) {
	c, db := newCache(t, Options{WriteQueue: 1024})
	tx, err := db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	key := KeyOf("", chat("m", "q"))
	e := answer("Paris.")
	c.Put(key, e, 0) // the writer takes this one and blocks
	if n := testing.AllocsPerRun(500, func() { c.Put(key, e, 0) }); n != 0 {
		t.Errorf("Put allocates %v times per call, want 0", n)
	}
}
