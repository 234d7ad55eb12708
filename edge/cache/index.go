package cache

import (
	"math"
	"math/bits"
	"sync"
)

// Search tuning. See doc.go ("Semantic index") for the measurements behind
// them.
const (
	// topK candidates leave the int8 stage for the float32 re-rank.
	topK = 8
	// fullScanMax: a scope with at most this many entries is scored in
	// int8 directly; larger scopes first go through the signature stage.
	fullScanMax = 2048
	// sigKeep is how many entries the signature stage passes on (more on
	// ties, up to sigKeepMax).
	sigKeep    = 256
	sigKeepMax = 1024
	// sigBitsMax bounds the signature length.
	sigBitsMax = 256
	// approxMargin: int8 scores are within ~0.01 of the float cosine for
	// normalised vectors (measured in TestQuantisationError); candidates
	// below threshold-approxMargin cannot reach the threshold and are not
	// re-ranked.
	approxMargin = 0.03
)

// candidate is one index match: the exact key of the cached entry and the
// int8 approximation of its cosine with the query.
type candidate struct {
	key    Key
	approx float32
}

// vecIndex is the in-memory semantic index: per scope, flat arrays of
// int8-quantised vectors, their scales and binary signatures. It holds at
// most max entries and is safe for concurrent use: searches share a read
// lock; the writer goroutine inserts and removes under the write lock.
type vecIndex struct {
	mu  sync.RWMutex
	max int
	// fullScan is fullScanMax; benchmarks raise it to measure plain int8
	// brute force.
	fullScan int
	sets     map[Key]*scopeSet
	where    map[Key]slot
	n        int
	seq      uint64

	projMu sync.Mutex
	projs  map[int]*projection
}

// slot locates an exact key's vector.
type slot struct {
	set *scopeSet
	i   int32
}

// scopeSet holds one scope's vectors: entry i is codes[i*dim:(i+1)*dim],
// scales[i], sigs[i*words:(i+1)*words], keys[i], seqs[i] (insertion order,
// for evicting the oldest).
type scopeSet struct {
	scope  Key
	dim    int
	words  int
	codes  []int8
	scales []float32
	sigs   []uint64
	keys   []Key
	seqs   []uint64
}

func newVecIndex(max int) *vecIndex {
	return &vecIndex{max: max, fullScan: fullScanMax, sets: make(map[Key]*scopeSet), where: make(map[Key]slot), projs: make(map[int]*projection)}
}

// vecItem is one vector as stored: what insert needs and what the bbolt
// record holds.
type vecItem struct {
	key   Key
	scope Key
	scale float32
	codes []int8
	sig   []uint64
}

// quantise fills codes with v scaled into [-127, 127] and returns the scale.
// The scale is per vector, not global: normalised embeddings differ in their
// largest component (0.1 to 0.5 for 384 dims), and a global scale sized for
// the largest wastes most of the int8 range on the others. It costs 4 bytes
// per vector (1% at 384 dims).
func quantise(v []float32, codes []int8) float32 {
	var m float32
	for _, x := range v {
		m = max(m, float32(math.Abs(float64(x))))
	}
	if m == 0 {
		clear(codes)
		return 0
	}
	scale := m / 127
	inv := 1 / scale
	for i, x := range v {
		codes[i] = int8(math.Round(float64(x * inv)))
	}
	return scale
}

// normalise scales v to unit length in place and reports false for a zero
// or non-finite vector.
func normalise(v []float32) bool {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return false
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
	return true
}

// dotInt8 is the inner product of a query widened to int32 (once per
// search, which saves a sign extension per element) with int8 codes,
// accumulated in int32 (384 products of at most 127² fit with room to
// spare) and unrolled by 8 into independent sums so the CPU overlaps the
// multiplies. It runs at about 2 multiply-adds per ns on a 2-core EPYC.
func dotInt8(q []int32, b []int8) int32 {
	b = b[:len(q)]
	var s0, s1, s2, s3 int32
	i := 0
	for ; i+8 <= len(q); i += 8 {
		x := q[i : i+8 : i+8]
		y := b[i : i+8 : i+8]
		s0 += x[0]*int32(y[0]) + x[4]*int32(y[4])
		s1 += x[1]*int32(y[1]) + x[5]*int32(y[5])
		s2 += x[2]*int32(y[2]) + x[6]*int32(y[6])
		s3 += x[3]*int32(y[3]) + x[7]*int32(y[7])
	}
	for ; i < len(q); i++ {
		s0 += q[i] * int32(b[i])
	}
	return s0 + s1 + s2 + s3
}

func dotFloat(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}

// projection computes binary signatures: the signs of a fast structured
// random rotation of the vector (two rounds of random sign flips followed by
// a Walsh-Hadamard transform, over the vector zero-padded to a power of
// two). Each bit is a random hyperplane, so the Hamming distance of two
// signatures estimates the angle between the vectors (P[bit differs] =
// angle/π), at O(p log p) instead of the O(bits·dim) of a dense random
// matrix. The signs come from a fixed seed: signatures are stored and must
// mean the same after a restart.
type projection struct {
	dim, p, words int
	d1, d2        []float32
}

const projSeed = 0x6564676577617931 // "edgeway1"

func newProjection(dim int) *projection {
	p := 64
	for p < dim {
		p <<= 1
	}
	pr := &projection{dim: dim, p: p, words: min(p, sigBitsMax) / 64, d1: make([]float32, p), d2: make([]float32, p)}
	s := uint64(projSeed)
	for _, d := range [][]float32{pr.d1, pr.d2} {
		for i := range d {
			s = splitmix64(s)
			if s&1 == 0 {
				d[i] = 1
			} else {
				d[i] = -1
			}
		}
	}
	return pr
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	z := x
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// sign writes the signature of v (len dim) into sig (len words), using buf
// (len p) as scratch.
func (pr *projection) sign(v, buf []float32, sig []uint64) {
	buf = buf[:pr.p]
	copy(buf, v)
	clear(buf[len(v):])
	for i := range buf {
		buf[i] *= pr.d1[i]
	}
	fwht(buf)
	for i := range buf {
		buf[i] *= pr.d2[i]
	}
	fwht(buf)
	for w := range sig[:pr.words] {
		var x uint64
		for b := 0; b < 64; b++ {
			if buf[w*64+b] > 0 {
				x |= 1 << b
			}
		}
		sig[w] = x
	}
}

// fwht is the in-place unnormalised Walsh-Hadamard transform; len(a) is a
// power of two.
func fwht(a []float32) {
	for h := 1; h < len(a); h <<= 1 {
		for i := 0; i < len(a); i += h << 1 {
			x := a[i : i+h : i+h]
			y := a[i+h : i+2*h : i+2*h]
			for j := range x {
				x[j], y[j] = x[j]+y[j], x[j]-y[j]
			}
		}
	}
}

func (ix *vecIndex) projection(dim int) *projection {
	ix.projMu.Lock()
	defer ix.projMu.Unlock()
	pr := ix.projs[dim]
	if pr == nil {
		pr = newProjection(dim)
		ix.projs[dim] = pr
	}
	return pr
}

// prepare quantises and signs a normalised vector for insert or search.
func (ix *vecIndex) prepare(v []float32) (codes []int8, scale float32, sig []uint64) {
	pr := ix.projection(len(v))
	codes = make([]int8, len(v))
	scale = quantise(v, codes)
	sig = make([]uint64, pr.words)
	pr.sign(v, make([]float32, pr.p), sig)
	return codes, scale, sig
}

// len returns the number of vectors held.
func (ix *vecIndex) len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.n
}

// scopeLen returns the number of vectors held in scope.
func (ix *vecIndex) scopeLen(scope Key) int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if s := ix.sets[scope]; s != nil {
		return len(s.keys)
	}
	return 0
}

// insert adds or replaces the vector of it.key and returns the keys it
// evicted to stay within max (oldest first), which the caller deletes from
// bbolt. A vector whose dimension differs from its scope's is refused.
func (ix *vecIndex) insert(it vecItem) (evicted []Key, ok bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.removeLocked(it.key)
	s := ix.sets[it.scope]
	if s == nil {
		s = &scopeSet{scope: it.scope, dim: len(it.codes), words: len(it.sig)}
		ix.sets[it.scope] = s
	}
	if len(it.codes) != s.dim || len(it.sig) != s.words || s.dim == 0 {
		if len(s.keys) == 0 {
			delete(ix.sets, it.scope)
		}
		return nil, false
	}
	for ix.n >= ix.max {
		k, found := ix.oldestLocked()
		if !found {
			break
		}
		ix.removeLocked(k)
		evicted = append(evicted, k)
	}
	if ix.sets[it.scope] == nil { // emptied by eviction
		ix.sets[it.scope] = s
	}
	ix.seq++
	ix.where[it.key] = slot{set: s, i: int32(len(s.keys))}
	s.codes = append(s.codes, it.codes...)
	s.scales = append(s.scales, it.scale)
	s.sigs = append(s.sigs, it.sig...)
	s.keys = append(s.keys, it.key)
	s.seqs = append(s.seqs, ix.seq)
	ix.n++
	return evicted, true
}

// oldestLocked finds the entry inserted first. It scans every sequence
// number (about 0.1 ms at 100k), which only happens on an insert into a
// full index: cheaper than keeping a second ordered structure per entry.
func (ix *vecIndex) oldestLocked() (Key, bool) {
	var best *scopeSet
	bi := -1
	for _, s := range ix.sets {
		for i, q := range s.seqs {
			if best == nil || q < best.seqs[bi] {
				best, bi = s, i
			}
		}
	}
	if best == nil {
		return Key{}, false
	}
	return best.keys[bi], true
}

// remove drops the vector of key, if held, and reports whether it was.
func (ix *vecIndex) remove(key Key) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.removeLocked(key)
}

func (ix *vecIndex) removeLocked(key Key) bool {
	sl, ok := ix.where[key]
	if !ok {
		return false
	}
	delete(ix.where, key)
	s, i := sl.set, int(sl.i)
	last := len(s.keys) - 1
	if i != last {
		// Move the last entry into the hole.
		copy(s.codes[i*s.dim:(i+1)*s.dim], s.codes[last*s.dim:])
		copy(s.sigs[i*s.words:(i+1)*s.words], s.sigs[last*s.words:])
		s.scales[i] = s.scales[last]
		s.keys[i] = s.keys[last]
		s.seqs[i] = s.seqs[last]
		ix.where[s.keys[i]] = slot{set: s, i: int32(i)}
	}
	s.codes = s.codes[:last*s.dim]
	s.sigs = s.sigs[:last*s.words]
	s.scales = s.scales[:last]
	s.keys = s.keys[:last]
	s.seqs = s.seqs[:last]
	ix.n--
	if last == 0 {
		delete(ix.sets, s.scope)
	}
	return true
}

// searchScratch is the per-search working memory, pooled.
type searchScratch struct {
	codes []int8
	q32   []int32
	buf   []float32
	sig   []uint64
	dist  []uint16
	cand  []int32
	top   []candidate
}

var scratchPool = sync.Pool{New: func() any { return new(searchScratch) }}

// search returns up to topK entries of scope ranked by the int8
// approximation of their cosine with the normalised query q, best first,
// leaving out those whose approximation is below minApprox. The result is
// appended to out.
//
// Scopes larger than fullScanMax are first narrowed by signature: every
// entry's Hamming distance to the query's signature is computed (a few
// XOR+popcount per entry), and the sigKeep nearest go on to int8 scoring.
func (ix *vecIndex) search(scope Key, q []float32, minApprox float32, out []candidate) []candidate {
	sc := scratchPool.Get().(*searchScratch)
	defer scratchPool.Put(sc)
	pr := ix.projection(len(q))

	sc.codes = grow(sc.codes, len(q))
	qscale := quantise(q, sc.codes)
	sc.q32 = grow(sc.q32, len(q))
	for i, c := range sc.codes {
		sc.q32[i] = int32(c)
	}
	sc.buf = grow(sc.buf, pr.p)
	sc.sig = grow(sc.sig, pr.words)
	pr.sign(q, sc.buf, sc.sig)

	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s := ix.sets[scope]
	if s == nil || s.dim != len(q) || s.words != pr.words || qscale == 0 {
		return out
	}
	n := len(s.keys)
	sc.top = sc.top[:0]
	if n <= ix.fullScan {
		for i := 0; i < n; i++ {
			sc.top = pushTop(sc.top, s, int32(i), sc.q32, qscale, minApprox)
		}
	} else {
		sc.dist = grow(sc.dist, n)
		sc.cand = s.nearestBySig(sc.sig, sc.dist, sc.cand[:0])
		for _, i := range sc.cand {
			sc.top = pushTop(sc.top, s, i, sc.q32, qscale, minApprox)
		}
	}
	return append(out, sc.top...)
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// pushTop scores entry i and keeps top sorted, best first, at most topK
// long.
func pushTop(top []candidate, s *scopeSet, i int32, q []int32, qscale, minApprox float32) []candidate {
	d := s.dim
	approx := float32(dotInt8(q, s.codes[int(i)*d:int(i)*d+d])) * qscale * s.scales[i]
	if approx < minApprox || (len(top) == topK && approx <= top[topK-1].approx) {
		return top
	}
	if len(top) < topK {
		top = append(top, candidate{})
	}
	j := len(top) - 1
	for ; j > 0 && top[j-1].approx < approx; j-- {
		top[j] = top[j-1]
	}
	top[j] = candidate{key: s.keys[i], approx: approx}
	return top
}

// nearestBySig returns the indices of the entries whose signatures are
// nearest to q: all entries within the smallest Hamming radius that holds
// at least sigKeep of them, capped at sigKeepMax. A histogram of distances
// finds the radius in two linear passes, with no sorting or heap.
// dist is scratch of len(s.keys).
func (s *scopeSet) nearestBySig(q []uint64, dist []uint16, cand []int32) []int32 {
	n := len(s.keys)
	var hist [sigBitsMax + 1]int32
	switch s.words {
	case 4:
		q0, q1, q2, q3 := q[0], q[1], q[2], q[3]
		sigs := s.sigs[:n*4]
		for i := range dist {
			w := sigs[i*4 : i*4+4 : i*4+4]
			d := bits.OnesCount64(w[0]^q0) + bits.OnesCount64(w[1]^q1) + bits.OnesCount64(w[2]^q2) + bits.OnesCount64(w[3]^q3)
			dist[i] = uint16(d)
			hist[d]++
		}
	default:
		words := s.words
		for i := range dist {
			w := s.sigs[i*words : (i+1)*words]
			d := 0
			for j, x := range w {
				d += bits.OnesCount64(x ^ q[j])
			}
			dist[i] = uint16(d)
			hist[d]++
		}
	}
	radius, total := 0, int32(0)
	for ; radius < len(hist); radius++ {
		total += hist[radius]
		if total >= sigKeep {
			break
		}
	}
	r := uint16(radius)
	for i, d := range dist {
		if d <= r {
			cand = append(cand, int32(i))
			if len(cand) == sigKeepMax {
				break
			}
		}
	}
	return cand
}
