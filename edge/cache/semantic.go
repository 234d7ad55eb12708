package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/edge/llm"
)

const (
	// maxSemanticText bounds the last user turn the semantic cache looks
	// at. Longer prompts are exact-only: embedding a long document is slow,
	// and the guard compares the whole text.
	maxSemanticText = 8 << 10
	// maxEmbedDim bounds the vectors accepted from an embedder.
	maxEmbedDim = 8192
	// maxEmbedInflight bounds embedding calls on the request path; an
	// embedder that ignores its deadline can hold at most this many
	// goroutines, after which lookups skip the semantic cache.
	maxEmbedInflight = 8
	// memoSize is how many recent (text, vector) pairs are remembered, so
	// the PutSemantic that follows a missed GetSemantic does not embed
	// the same text again.
	memoSize = 64
	// semRecordVersion versions the semidx and semvec values.
	semRecordVersion = 1
)

var (
	errEmbedBusy = errors.New("cache: embedder busy")
	errEmbedBad  = errors.New("cache: embedder returned no usable vector")
)

// semantic is the semantic half of the cache: the index, the embedding
// worker and its queue.
type semantic struct {
	c        *Cache
	o        SemanticOptions
	idx      *vecIndex
	jobs     chan semJob
	inflight chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	memoMu   sync.Mutex
	memo     map[string][]float32
	memoRing [memoSize]string
	memoNext int
}

// semJob is a PutSemantic waiting for its embedding, or a Flush barrier.
type semJob struct {
	scope, key Key
	text       string
	ns, model  string
	barrier    chan opResult
}

// semItem is a semantic record ready to store: the index part plus what
// the re-rank, the guard and Purge need.
type semItem struct {
	vecItem
	ns, model, text string
	vec             []float32
	created         int64
}

func newSemantic(c *Cache, o SemanticOptions) *semantic {
	ctx, cancel := context.WithCancel(context.Background())
	return &semantic{
		c: c, o: o, idx: newVecIndex(o.MaxEntries),
		jobs:     make(chan semJob, c.o.WriteQueue),
		inflight: make(chan struct{}, maxEmbedInflight),
		ctx:      ctx, cancel: cancel,
		memo: make(map[string][]float32, memoSize),
	}
}

func (s *semantic) start() {
	s.wg.Add(1)
	go s.work()
}

// stop abandons queued embeddings (counted as dropped) and waits for the
// worker.
func (s *semantic) stop() {
	s.cancel()
	s.wg.Wait()
	for {
		select {
		case j := <-s.jobs:
			if j.barrier != nil {
				j.barrier <- opResult{err: ErrClosed}
			} else {
				s.c.dropped.Add(1)
			}
		default:
			return
		}
	}
}

func (s *semantic) barrier(ctx context.Context, done chan opResult) error {
	if s.c.closing.Load() {
		return ErrClosed
	}
	select {
	case s.jobs <- semJob{barrier: done}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.ctx.Done():
		return ErrClosed
	}
}

// storeEmbedTimeout bounds the embedding of an answer being stored; it is
// longer than a lookup's because nobody waits for it.
const storeEmbedTimeout = 30 * time.Second

type backgroundKey struct{}

// Background reports whether ctx belongs to the cache's background work
// (embedding an answer to store), which may wait for a busy embedder. A
// lookup's context does not: it sits on a request's path.
func Background(ctx context.Context) bool { return ctx.Value(backgroundKey{}) != nil }

func (s *semantic) work() {
	defer s.wg.Done()
	for {
		select {
		case j := <-s.jobs:
			s.handle(j)
		case <-s.ctx.Done():
			return
		}
	}
}

func (s *semantic) handle(j semJob) {
	if j.barrier != nil {
		if err := s.c.sendWait(s.ctx, op{kind: opBarrier, done: j.barrier}); err != nil {
			j.barrier <- opResult{err: ErrClosed}
		}
		return
	}
	// Storing is off the request path: it may wait for a busy embedder
	// (Background tells the embedder so), within storeEmbedTimeout.
	ctx, cancel := context.WithTimeout(context.WithValue(s.ctx, backgroundKey{}, true), storeEmbedTimeout)
	v, err := s.embedCall(ctx, j.text)
	cancel()
	if err != nil {
		s.c.embedErrors.Add(1)
		s.c.log.Debug("cache: embedding for store failed", "err", err)
		return
	}
	codes, scale, sig := s.idx.prepare(v)
	it := &semItem{
		vecItem: vecItem{key: j.key, scope: j.scope, scale: scale, codes: codes, sig: sig},
		ns:      j.ns, model: j.model, text: j.text, vec: v, created: s.c.now().UnixNano(),
	}
	if err := s.c.sendWait(s.ctx, op{kind: opSemPut, key: j.key, sem: it}); err != nil {
		s.c.dropped.Add(1)
	}
}

// scopeOf returns the semantic scope of req and the text of its last user
// turn. Only a request ending in a plain-text user turn of at most
// maxSemanticText bytes has one: after a tool result, or with an image,
// the text alone does not say what is being asked.
//
// The scope hashes everything KeyOf covers except that turn's content
// (namespace, model, system prompts, every earlier turn, tools,
// response_format, sampling parameters, Extra), plus the embedding model,
// whose vectors are comparable only with each other. Two requests can match
// semantically only within one scope, so an answer given inside one
// conversation is never replayed into another.
func (s *semantic) scopeOf(ns string, req *llm.ChatRequest) (Key, string, bool) {
	n := len(req.Messages)
	if n == 0 {
		return Key{}, "", false
	}
	last := &req.Messages[n-1]
	if last.Role != llm.RoleUser || len(last.ToolCalls) > 0 || last.ToolCallID != "" {
		return Key{}, "", false
	}
	for i := range last.Content {
		if last.Content[i].Type != llm.PartText {
			return Key{}, "", false
		}
	}
	text := last.Text()
	if text == "" || len(text) > maxSemanticText {
		return Key{}, "", false
	}
	st := keyPool.Get().(*keyState)
	st.writeRequest(scopeDomain, ns, req, n-1, s.o.EmbedModel)
	k := st.finish()
	st.release()
	return k, text, true
}

func (s *semantic) memoGet(text string) []float32 {
	s.memoMu.Lock()
	defer s.memoMu.Unlock()
	return s.memo[text]
}

func (s *semantic) memoPut(text string, v []float32) {
	s.memoMu.Lock()
	defer s.memoMu.Unlock()
	if _, ok := s.memo[text]; ok {
		return
	}
	delete(s.memo, s.memoRing[s.memoNext])
	s.memoRing[s.memoNext] = text
	s.memoNext = (s.memoNext + 1) % memoSize
	s.memo[text] = v
}

// embedCall returns the normalised embedding of text. Vectors are shared
// through the memo and must not be modified.
func (s *semantic) embedCall(ctx context.Context, text string) ([]float32, error) {
	if v := s.memoGet(text); v != nil {
		return v, nil
	}
	resp, err := s.o.Embedder.Embed(ctx, &llm.EmbedRequest{Model: s.o.EmbedModel, Input: []string{text}})
	if err != nil {
		return nil, err
	}
	if resp == nil || len(resp.Vectors) != 1 || len(resp.Vectors[0]) == 0 || len(resp.Vectors[0]) > maxEmbedDim {
		return nil, errEmbedBad
	}
	v := slices.Clone(resp.Vectors[0])
	if !normalise(v) {
		return nil, errEmbedBad
	}
	s.memoPut(text, v)
	return v, nil
}

type embedResult struct {
	v   []float32
	err error
}

// embedBounded is embedCall on the request path: it returns by the
// deadline even if the embedder does not, and refuses when
// maxEmbedInflight calls are already running.
func (s *semantic) embedBounded(ctx context.Context, text string) ([]float32, error) {
	if v := s.memoGet(text); v != nil {
		return v, nil
	}
	select {
	case s.inflight <- struct{}{}:
	default:
		return nil, errEmbedBusy
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.EmbedTimeout)
	defer cancel()
	ch := make(chan embedResult, 1)
	go func() {
		defer func() { <-s.inflight }()
		v, err := s.embedCall(ctx, text)
		ch <- embedResult{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// GetSemantic looks for a cached answer to a request whose last user turn
// means the same as req's, within req's scope (see doc.go): the same
// namespace, model, system prompt, earlier turns, tools, response format and
// sampling parameters. Only the last user turn is embedded, with
// EmbedTimeout; a slow or failing embedder makes it a miss. The nearest
// stored turns (int8 search, float32 re-rank) must reach Threshold and pass
// Guard; the best that does is returned with its cosine similarity. Callers
// try Get first: GetSemantic costs an embedding.
func (c *Cache) GetSemantic(ctx context.Context, ns string, req *llm.ChatRequest) (*Entry, float32, bool) {
	s := c.sem
	if s == nil || c.closing.Load() {
		return nil, 0, false
	}
	scope, text, ok := s.scopeOf(ns, req)
	if !ok || s.idx.scopeLen(scope) == 0 {
		// Nothing to compare with: no embedding call at all.
		c.semMisses.Add(1)
		return nil, 0, false
	}
	q, err := s.embedBounded(ctx, text)
	if err != nil {
		c.embedErrors.Add(1)
		c.semMisses.Add(1)
		c.log.Debug("cache: embedding for lookup failed", "err", err)
		return nil, 0, false
	}
	var buf [topK]candidate
	cands := s.idx.search(scope, q, s.o.Threshold-approxMargin, buf[:0])
	if len(cands) == 0 {
		c.semMisses.Add(1)
		return nil, 0, false
	}

	type match struct {
		key  Key
		cos  float32
		text string
	}
	var mbuf [topK]match
	matches := mbuf[:0]
	err = c.db.View(func(tx *bbolt.Tx) error {
		b, err := openBuckets(tx)
		if err != nil {
			return err
		}
		for _, cd := range cands {
			rec, ok := parseSemVec(b.semVec.Get(cd.key[:]))
			// The scope check repeats the index's: a record is only ever
			// compared within its own scope.
			if !ok || rec.scope != scope || rec.dim != len(q) {
				continue
			}
			cos := dotBytes(q, rec.floats)
			if cos < s.o.Threshold {
				continue
			}
			matches = append(matches, match{key: cd.key, cos: cos, text: string(rec.text)})
		}
		return nil
	})
	if err != nil {
		c.semMisses.Add(1)
		return nil, 0, false
	}
	slices.SortFunc(matches, func(a, b match) int {
		switch {
		case a.cos > b.cos:
			return -1
		case a.cos < b.cos:
			return 1
		}
		return 0
	})
	for _, m := range matches {
		if s.o.Guard != nil {
			if ok, reason := s.o.Guard(m.text, text); !ok {
				c.guardRefusals.Add(1)
				c.log.Debug("cache: semantic match refused", "similarity", m.cos, "reason", reason)
				continue
			}
		}
		if e, r := c.lookup(m.key); r == lookupHit {
			c.semHits.Add(1)
			return e, m.cos, true
		}
	}
	c.semMisses.Add(1)
	return nil, 0, false
}

// PutSemantic records req's last user turn for semantic lookups of the
// entry stored under key (Put it first: a record whose entry does not exist
// when the writer reaches it is skipped). It never blocks: the embedding is
// computed by a background worker, and a full queue drops the record
// (counted in Stats.Dropped). It does nothing when the semantic cache is
// off or req has no semantic scope.
func (c *Cache) PutSemantic(ns string, req *llm.ChatRequest, key Key) {
	s := c.sem
	if s == nil {
		return
	}
	scope, text, ok := s.scopeOf(ns, req)
	if !ok {
		return
	}
	if c.closing.Load() {
		c.dropped.Add(1)
		return
	}
	select {
	case s.jobs <- semJob{scope: scope, key: key, text: text, ns: ns, model: req.Model}:
	default:
		c.dropped.Add(1)
	}
}

// Semantic record layout (version 1), see doc.go:
//
//	semidx: [0] version, [1:33] scope, [33:41] created (unix ns),
//	        [41:43] dim, [43] signature words, [44:48] scale (float32),
//	        signature (words × uint64 LE), codes (dim × int8)
//	semvec: [0] version, [1:33] scope, [33:35] dim, vector (dim × float32
//	        LE), then uvarint-prefixed namespace, model, text
//
// They are split so that Open reads only the compact semidx values, and a
// lookup reads only the few semvec values it re-ranks.
const (
	semIdxFixed = 48
	semVecFixed = 35
)

func (it *semItem) encode() (idx, vec []byte) {
	dim := len(it.codes)
	idx = make([]byte, semIdxFixed, semIdxFixed+8*len(it.sig)+dim)
	idx[0] = semRecordVersion
	copy(idx[1:33], it.scope[:])
	binary.BigEndian.PutUint64(idx[33:], uint64(it.created))
	binary.BigEndian.PutUint16(idx[41:], uint16(dim))
	idx[43] = byte(len(it.sig))
	binary.LittleEndian.PutUint32(idx[44:], math.Float32bits(it.scale))
	for _, w := range it.sig {
		idx = binary.LittleEndian.AppendUint64(idx, w)
	}
	for _, x := range it.codes {
		idx = append(idx, byte(x))
	}

	vec = make([]byte, semVecFixed, semVecFixed+4*dim+len(it.ns)+len(it.model)+len(it.text)+3*binary.MaxVarintLen64)
	vec[0] = semRecordVersion
	copy(vec[1:33], it.scope[:])
	binary.BigEndian.PutUint16(vec[33:], uint16(dim))
	for _, f := range it.vec {
		vec = binary.LittleEndian.AppendUint32(vec, math.Float32bits(f))
	}
	vec = appendString(vec, it.ns)
	vec = appendString(vec, it.model)
	vec = appendString(vec, it.text)
	return idx, vec
}

// semIdxRecord is a parsed semidx value; slices alias the value.
type semIdxRecord struct {
	scope   Key
	created int64
	dim     int
	scale   float32
	sig     []byte
	codes   []byte
}

func parseSemIdx(v []byte) (r semIdxRecord, ok bool) {
	if len(v) < semIdxFixed || v[0] != semRecordVersion {
		return r, false
	}
	r.scope = Key(v[1:33])
	r.created = int64(binary.BigEndian.Uint64(v[33:]))
	r.dim = int(binary.BigEndian.Uint16(v[41:]))
	words := int(v[43])
	r.scale = math.Float32frombits(binary.LittleEndian.Uint32(v[44:]))
	if r.dim == 0 || r.dim > maxEmbedDim || words == 0 || words*64 > sigBitsMax || len(v) != semIdxFixed+8*words+r.dim ||
		math.IsNaN(float64(r.scale)) || math.IsInf(float64(r.scale), 0) {
		return r, false
	}
	r.sig = v[semIdxFixed : semIdxFixed+8*words]
	r.codes = v[semIdxFixed+8*words:]
	return r, true
}

// semVecRecord is a parsed semvec value; slices alias the value.
type semVecRecord struct {
	scope           Key
	dim             int
	floats          []byte
	ns, model, text []byte
}

func parseSemVec(v []byte) (r semVecRecord, ok bool) {
	if len(v) < semVecFixed || v[0] != semRecordVersion {
		return r, false
	}
	r.scope = Key(v[1:33])
	r.dim = int(binary.BigEndian.Uint16(v[33:]))
	p := v[semVecFixed:]
	if len(p) < 4*r.dim {
		return r, false
	}
	r.floats, p = p[:4*r.dim], p[4*r.dim:]
	if r.ns, p, ok = readBytes(p); !ok {
		return r, false
	}
	if r.model, p, ok = readBytes(p); !ok {
		return r, false
	}
	if r.text, _, ok = readBytes(p); !ok {
		return r, false
	}
	return r, true
}

// dotBytes is the float32 inner product of q with a little-endian float32
// vector stored in b (len(b) == 4*len(q)).
func dotBytes(q []float32, b []byte) float32 {
	b = b[:4*len(q)]
	var s0, s1 float32
	i := 0
	for ; i+2 <= len(q); i += 2 {
		s0 += q[i] * math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		s1 += q[i+1] * math.Float32frombits(binary.LittleEndian.Uint32(b[4*i+4:]))
	}
	if i < len(q) {
		s0 += q[i] * math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return s0 + s1
}

// load fills the index from the semidx bucket: the newest MaxEntries
// records, oldest first so that insertion order matches age. Records past
// the bound or unreadable are deleted by the writer's first commit.
func (s *semantic) load() error {
	type ref struct {
		created int64
		key     Key
	}
	var refs []ref
	var drop []Key
	err := s.c.db.View(func(tx *bbolt.Tx) error {
		b, err := openBuckets(tx)
		if err != nil {
			return err
		}
		return b.semIdx.ForEach(func(k, v []byte) error {
			if len(k) != len(Key{}) {
				return nil
			}
			r, ok := parseSemIdx(v)
			if !ok {
				drop = append(drop, Key(k))
				return nil
			}
			refs = append(refs, ref{r.created, Key(k)})
			return nil
		})
	})
	if err != nil {
		return err
	}
	slices.SortFunc(refs, func(a, b ref) int {
		switch {
		case a.created < b.created:
			return -1
		case a.created > b.created:
			return 1
		}
		return 0
	})
	if over := len(refs) - s.o.MaxEntries; over > 0 {
		for _, r := range refs[:over] {
			drop = append(drop, r.key)
		}
		refs = refs[over:]
	}
	var (
		codes []int8
		sig   []uint64
	)
	err = s.c.db.View(func(tx *bbolt.Tx) error {
		b, err := openBuckets(tx)
		if err != nil {
			return err
		}
		for _, rf := range refs {
			r, ok := parseSemIdx(b.semIdx.Get(rf.key[:]))
			if !ok {
				drop = append(drop, rf.key)
				continue
			}
			codes = grow(codes, r.dim)
			for i, x := range r.codes {
				codes[i] = int8(x)
			}
			sig = grow(sig, len(r.sig)/8)
			for i := range sig {
				sig[i] = binary.LittleEndian.Uint64(r.sig[8*i:])
			}
			// A signature of the wrong length for its dimension comes
			// from another projection: unusable.
			if s.idx.projection(r.dim).words != len(sig) {
				drop = append(drop, rf.key)
				continue
			}
			if _, ok := s.idx.insert(vecItem{key: rf.key, scope: r.scope, scale: r.scale, codes: codes, sig: sig}); !ok {
				drop = append(drop, rf.key)
			}
		}
		return nil
	})
	s.c.pendingSemDel = append(s.c.pendingSemDel, drop...)
	return err
}
