package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash"
	"math"
	"slices"
	"sync"

	"github.com/edgeway/edgeway/edge/llm"
)

// Key identifies a cacheable request: the SHA-256 of the canonical form of
// everything that determines the answer (see KeyOf).
//
// SHA-256 rather than a fast 128-bit hash because the key is also the
// tenant boundary: with a non-cryptographic hash a client could craft a
// request that collides with another namespace's and read its answer. At a
// few hundred MB/s even without SHA extensions (Raspberry Pi 4) hashing a
// few-KB request costs microseconds, nothing next to an upstream call.
type Key [32]byte

// String returns the key in hex.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// Domain separators: a key and a semantic scope are never computed from the
// same bytes, and a future change of the canonical form changes the prefix.
const (
	keyDomain   = "edgeway/cache/key/v1"
	scopeDomain = "edgeway/cache/scope/v1"
)

// keyBufSize is the pooled buffer a canonical form is streamed through;
// longer requests (inline images) are hashed in pieces, so the pool never
// holds more than this per state.
const keyBufSize = 4 << 10

// keyState is the pooled scratch of KeyOf. It is used by one goroutine at a
// time.
type keyState struct {
	h       hash.Hash
	buf     []byte
	sum     []byte
	members []member
	names   []string
	// direct collects the canonical bytes in buf instead of hashing them
	// (tests and appendCanonicalJSON).
	direct bool
}

var keyPool = sync.Pool{New: func() any {
	return &keyState{h: sha256.New(), buf: make([]byte, 0, keyBufSize), sum: make([]byte, 0, sha256.Size)}
}}

func (st *keyState) grow() {
	if st.direct {
		st.buf = slices.Grow(st.buf, max(64, cap(st.buf)))
		return
	}
	st.h.Write(st.buf)
	st.buf = st.buf[:0]
}

func (st *keyState) byte(b byte) {
	if len(st.buf) == cap(st.buf) {
		st.grow()
	}
	st.buf = append(st.buf, b)
}

func (st *keyState) bytes(p []byte) { writeText(st, p) }
func (st *keyState) str(s string)   { writeText(st, s) }

func (st *keyState) uvarint(v uint64) {
	if cap(st.buf)-len(st.buf) < binary.MaxVarintLen64 {
		st.grow()
	}
	st.buf = binary.AppendUvarint(st.buf, v)
}

// lstr writes a length-prefixed string, so that adjacent fields can never
// run into each other ("ab","c" vs "a","bc").
func (st *keyState) lstr(s string) {
	st.uvarint(uint64(len(s)))
	writeText(st, s)
}

func (st *keyState) flag(set bool) {
	if set {
		st.byte(1)
	} else {
		st.byte(0)
	}
}

func (st *keyState) optBool(p *bool) {
	switch {
	case p == nil:
		st.byte(0)
	case *p:
		st.byte(2)
	default:
		st.byte(1)
	}
}

func (st *keyState) optFloat(p *float64) {
	st.flag(p != nil)
	if p == nil {
		return
	}
	v := *p
	switch {
	case v == 0:
		v = 0 // -0 samples like 0
	case math.IsNaN(v):
		v = math.NaN()
	}
	st.uvarint(math.Float64bits(v))
}

func (st *keyState) optInt(p *int) {
	st.flag(p != nil)
	if p != nil {
		st.uvarint(zigzag(int64(*p)))
	}
}

func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

// json writes a JSON document: 'N' when empty, 'J' + canonical form + NUL
// when valid (canonical JSON never holds a raw NUL, so the terminator is
// unambiguous), 'R' + length + raw bytes when not valid JSON.
func writeJSON[T text](st *keyState, s T) {
	if len(s) == 0 {
		st.byte('N')
		return
	}
	if start, ok := validJSON(s); ok {
		st.byte('J')
		emitValue(st, s, start)
		st.byte(0)
		return
	}
	st.byte('R')
	st.uvarint(uint64(len(s)))
	writeText(st, s)
}

func (st *keyState) finish() (k Key) {
	st.h.Write(st.buf)
	st.buf = st.buf[:0]
	st.sum = st.h.Sum(st.sum[:0])
	copy(k[:], st.sum)
	st.h.Reset()
	return k
}

func (st *keyState) release() {
	clear(st.names)
	st.names = st.names[:0]
	st.members = st.members[:0]
	st.buf = st.buf[:0]
	st.h.Reset()
	if cap(st.buf) > keyBufSize || cap(st.members) > 1024 || cap(st.names) > 256 {
		return // grown by an outlier: let it go rather than pin it in the pool
	}
	keyPool.Put(st)
}

// KeyOf computes the cache key of req in namespace ns.
//
// The key covers: ns; the model as the client named it (an alias or
// provider/model); every message (role, name, content parts with text,
// image URL and detail, tool calls with id, name and arguments, tool call
// id); tools (name, description, parameters, strict); tool_choice;
// parallel_tool_calls; response_format; temperature, top_p, top_k,
// max_tokens, stop, seed, presence and frequency penalty; and every Extra
// field, in sorted order; and a passthrough that holds more than the
// canonical form (see writePassthrough). Stream and User are not part of
// it: a streamed answer serves a non-streaming client and the reverse,
// and the end-user id does not change the answer (except inside such a
// passthrough's body, which is keyed as it came).
//
// JSON documents (tool parameters, response schemas, tool call arguments,
// Extra values) are canonicalised: object keys sorted, whitespace removed,
// string escapes normalised, so formatting never changes the key. Numbers
// are kept as written. An explicitly set parameter is always different from
// an unset one, even when the value equals the upstream default
// (temperature 1 vs no temperature): edgeway cannot know every upstream's
// defaults, and a miss is cheap while a wrong hit is not. The only value
// normalisations are -0 to 0 and NaN to one NaN. The stop list keeps its
// order. Semantically identical requests written differently in any other
// way are simply different keys.
//
// KeyOf does not allocate beyond its pooled scratch. It is safe for
// concurrent use.
func KeyOf(ns string, req *llm.ChatRequest) Key {
	st := keyPool.Get().(*keyState)
	st.writeRequest(keyDomain, ns, req, -1, "")
	k := st.finish()
	st.release()
	return k
}

// writeRequest streams the canonical form of req. When omit is a message
// index, that message's content is left out (the semantic scope covers
// everything but the text being compared) and embedModel is added.
func (st *keyState) writeRequest(domain, ns string, req *llm.ChatRequest, omit int, embedModel string) {
	st.lstr(domain)
	st.lstr(ns)
	st.lstr(req.Model)
	if omit >= 0 {
		st.lstr(embedModel)
	}
	st.uvarint(uint64(len(req.Messages)))
	for i := range req.Messages {
		m := &req.Messages[i]
		st.lstr(string(m.Role))
		st.lstr(m.Name)
		if i == omit {
			st.byte(0xFF)
		} else {
			st.byte(0)
			st.uvarint(uint64(len(m.Content)))
			for j := range m.Content {
				p := &m.Content[j]
				st.byte(byte(p.Type))
				st.lstr(p.Text)
				st.lstr(p.ImageURL)
				st.lstr(p.Detail)
			}
		}
		st.uvarint(uint64(len(m.ToolCalls)))
		for j := range m.ToolCalls {
			tc := &m.ToolCalls[j]
			st.lstr(tc.ID)
			st.lstr(tc.Name)
			writeJSON(st, tc.Arguments)
		}
		st.lstr(m.ToolCallID)
	}
	st.uvarint(uint64(len(req.Tools)))
	for i := range req.Tools {
		t := &req.Tools[i]
		st.lstr(t.Name)
		st.lstr(t.Description)
		writeJSON(st, t.Parameters)
		st.optBool(t.Strict)
	}
	st.flag(req.ToolChoice != nil)
	if tc := req.ToolChoice; tc != nil {
		st.lstr(tc.Mode)
		st.lstr(tc.Name)
	}
	st.optBool(req.ParallelToolCalls)
	st.flag(req.ResponseFormat != nil)
	if rf := req.ResponseFormat; rf != nil {
		st.lstr(rf.Type)
		st.lstr(rf.Name)
		st.lstr(rf.Description)
		writeJSON(st, rf.Schema)
		st.optBool(rf.Strict)
	}
	st.optFloat(req.Temperature)
	st.optFloat(req.TopP)
	st.optInt(req.TopK)
	st.optInt(req.MaxTokens)
	st.uvarint(uint64(len(req.Stop)))
	for _, s := range req.Stop {
		st.lstr(s)
	}
	st.flag(req.Seed != nil)
	if req.Seed != nil {
		st.uvarint(zigzag(*req.Seed))
	}
	st.optFloat(req.PresencePenalty)
	st.optFloat(req.FrequencyPenalty)
	st.writeExtra(req.Extra)
	st.writePassthrough(req.Passthrough, omit >= 0)
}

// writePassthrough adds a passthrough that holds more than the canonical
// form (Dropped is not empty): two requests that differ only in what an
// upstream of the client's dialect sees (thinking, betas, ...) may get
// different answers. It writes nothing otherwise, so such requests keep
// the keys they had before passthroughs existed. The semantic scope
// takes the dropped names and headers but not the body, which holds the
// text being compared.
func (st *keyState) writePassthrough(p *llm.Passthrough, scope bool) {
	if p == nil || len(p.Dropped) == 0 {
		return
	}
	st.byte('P')
	st.lstr(p.Dialect)
	st.uvarint(uint64(len(p.Dropped)))
	for _, d := range p.Dropped {
		st.lstr(d)
	}
	st.uvarint(uint64(len(p.Headers)))
	for _, h := range p.Headers {
		st.lstr(h.Name)
		st.lstr(h.Value)
	}
	if !scope {
		writeJSON(st, p.Body)
	}
}

func (st *keyState) writeExtra(extra map[string]json.RawMessage) {
	st.uvarint(uint64(len(extra)))
	if len(extra) == 0 {
		return
	}
	for k := range extra {
		st.names = append(st.names, k)
	}
	slices.Sort(st.names)
	for _, k := range st.names {
		st.lstr(k)
		writeJSON(st, extra[k])
	}
	clear(st.names)
	st.names = st.names[:0]
}
