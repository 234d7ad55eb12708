package cache

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randomUnit returns n random unit vectors of dim dimensions, flat.
func randomUnit(rng *rand.Rand, n, dim int) []float32 {
	v := make([]float32, n*dim)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	for i := 0; i < n; i++ {
		normalise(v[i*dim : (i+1)*dim])
	}
	return v
}

// nearDuplicate returns a unit vector at a cosine of about cos from src:
// the regime a semantic cache decides in (paraphrases of a stored prompt).
func nearDuplicate(rng *rand.Rand, src []float32, cos float64) []float32 {
	sigma := math.Sqrt(1/(cos*cos) - 1)
	q := make([]float32, len(src))
	scale := sigma / math.Sqrt(float64(len(src)))
	for i := range q {
		q[i] = src[i] + float32(rng.NormFloat64()*scale)
	}
	normalise(q)
	return q
}

type testIndex struct {
	ix    *vecIndex
	dim   int
	data  []float32
	keys  []Key
	byKey map[Key]int
	scope Key
}

func buildIndex(tb testing.TB, rng *rand.Rand, n, dim int) *testIndex {
	tb.Helper()
	t := &testIndex{ix: newVecIndex(n), dim: dim, data: randomUnit(rng, n, dim), byKey: make(map[Key]int, n), scope: Key{1}}
	for i := 0; i < n; i++ {
		var k Key
		k[0], k[1], k[2], k[3] = byte(i), byte(i>>8), byte(i>>16), 0xAA
		t.keys = append(t.keys, k)
		t.byKey[k] = i
		codes, scale, sig := t.ix.prepare(t.data[i*dim : (i+1)*dim])
		if _, ok := t.ix.insert(vecItem{key: k, scope: t.scope, scale: scale, codes: codes, sig: sig}); !ok {
			tb.Fatal("insert refused")
		}
	}
	return t
}

func (t *testIndex) vec(i int) []float32 { return t.data[i*t.dim : (i+1)*t.dim] }

// bruteForce is the float32 reference: the index of the nearest vector.
func (t *testIndex) bruteForce(q []float32) (int, float32) {
	best, bestCos := -1, float32(-2)
	for i := range t.keys {
		if c := dotFloat(q, t.vec(i)); c > bestCos {
			best, bestCos = i, c
		}
	}
	return best, bestCos
}

// search is the cache's lookup without bbolt: the int8 index, then the
// float32 re-rank of its candidates.
func (t *testIndex) search(q []float32, buf []candidate) (int, float32) {
	cands := t.ix.search(t.scope, q, -2, buf[:0])
	best, bestCos := -1, float32(-2)
	for _, c := range cands {
		i := t.byKey[c.key]
		if cos := dotFloat(q, t.vec(i)); cos > bestCos {
			best, bestCos = i, cos
		}
	}
	return best, bestCos
}

// recall measures recall@1 against brute force: queries are near
// duplicates of random stored vectors at a cosine drawn from [lo, hi].
func (t *testIndex) recall(rng *rand.Rand, queries int, lo, hi float64) float64 {
	var buf [topK]candidate
	hits := 0
	for range queries {
		src := rng.IntN(len(t.keys))
		q := nearDuplicate(rng, t.vec(src), lo+(hi-lo)*rng.Float64())
		want, _ := t.bruteForce(q)
		if got, _ := t.search(q, buf[:]); got == want {
			hits++
		}
	}
	return float64(hits) / float64(queries)
}

func TestQuantisationError(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const dim = 384
	ix := newVecIndex(1)
	worst := 0.0
	for range 2000 {
		a := randomUnit(rng, 1, dim)
		b := nearDuplicate(rng, a, 0.5+0.5*rng.Float64())
		ca, sa, _ := ix.prepare(a)
		cb, sb, _ := ix.prepare(b)
		approx := float64(dotInt8(widen(ca), cb)) * float64(sa) * float64(sb)
		worst = max(worst, math.Abs(approx-float64(dotFloat(a, b))))
	}
	t.Logf("worst |int8 - float32| cosine error over 2000 pairs: %.4f", worst)
	if worst > approxMargin/2 {
		t.Errorf("int8 error %.4f leaves no room in approxMargin %.2f", worst, approxMargin)
	}
}

func widen(c []int8) []int32 {
	out := make([]int32, len(c))
	for i, x := range c {
		out[i] = int32(x)
	}
	return out
}

func TestDotInt8(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, n := range []int{0, 1, 7, 8, 9, 100, 384, 385} {
		a, b := make([]int8, n), make([]int8, n)
		var want int32
		for i := range a {
			a[i], b[i] = int8(rng.IntN(255)-127), int8(rng.IntN(255)-127)
			want += int32(a[i]) * int32(b[i])
		}
		if got := dotInt8(widen(a), b); got != want {
			t.Errorf("n=%d: dotInt8 = %d, want %d", n, got, want)
		}
	}
}

func TestIndexRecall(t *testing.T) {
	n, queries := 20000, 400
	if raceEnabled || testing.Short() {
		n, queries = 5000, 100
	}
	rng := rand.New(rand.NewPCG(3, 3))
	ti := buildIndex(t, rng, n, 384)
	tests := []struct {
		name   string
		lo, hi float64
		min    float64
	}{
		{"paraphrase range cos 0.80-0.99", 0.80, 0.99, 0.99},
		{"near threshold cos 0.93-0.97", 0.93, 0.97, 0.99},
		{"loose cos 0.50-0.80", 0.50, 0.80, 0.95},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ti.recall(rng, queries, tc.lo, tc.hi)
			t.Logf("recall@1 over %d entries: %.4f", n, r)
			if r < tc.min {
				t.Errorf("recall@1 = %.4f, want >= %.2f", r, tc.min)
			}
		})
	}
}

func TestIndexRemoveInsert(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	ti := buildIndex(t, rng, 3000, 64)
	// Remove every third vector: the others must still be found exactly
	// (swap-remove moves entries around).
	for i := 0; i < len(ti.keys); i += 3 {
		if !ti.ix.remove(ti.keys[i]) {
			t.Fatalf("remove %d failed", i)
		}
	}
	if ti.ix.remove(ti.keys[0]) {
		t.Error("second remove succeeded")
	}
	var buf [topK]candidate
	for i := range ti.keys {
		got, cos := ti.search(ti.vec(i), buf[:])
		removed := i%3 == 0
		if !removed && (got != i || cos < 0.999) {
			t.Fatalf("vector %d: found %d at %v", i, got, cos)
		}
		if removed && got == i {
			t.Fatalf("removed vector %d still found", i)
		}
	}
	if ti.ix.len() != 2000 {
		t.Errorf("len = %d, want 2000", ti.ix.len())
	}
	// Other scopes and dimensions never match.
	if c := ti.ix.search(Key{2}, ti.vec(1), -2, nil); len(c) != 0 {
		t.Error("search in an unknown scope found something")
	}
	if c := ti.ix.search(ti.scope, make([]float32, 100), -2, nil); len(c) != 0 {
		t.Error("search with another dimension found something")
	}
}

func TestIndexEvictsOldest(t *testing.T) {
	ix := newVecIndex(3)
	rng := rand.New(rand.NewPCG(5, 5))
	var evictedAll []Key
	for i := range 5 {
		codes, scale, sig := ix.prepare(randomUnit(rng, 1, 32))
		ev, ok := ix.insert(vecItem{key: Key{byte(i)}, scope: Key{byte(i % 2)}, scale: scale, codes: codes, sig: sig})
		if !ok {
			t.Fatal("insert refused")
		}
		evictedAll = append(evictedAll, ev...)
	}
	if len(evictedAll) != 2 || evictedAll[0] != (Key{0}) || evictedAll[1] != (Key{1}) || ix.len() != 3 {
		t.Errorf("evicted %v, len %d; want keys 0 and 1, len 3", evictedAll, ix.len())
	}
}
