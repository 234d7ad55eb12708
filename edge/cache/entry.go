package cache

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/edgeway/edgeway/edge/llm"
)

// Entry is a cached response.
type Entry struct {
	// Namespace is the cache namespace the request was keyed in. The key
	// already separates namespaces; this copy lets Purge and the admin
	// commands filter without knowing the keys.
	Namespace string
	// RequestModel is the model as the client named it (alias or
	// provider/model), the one that is part of the key.
	RequestModel string
	// Model and Provider are what served the original response.
	Model    string
	Provider string

	Text         string
	Reasoning    string
	ToolCalls    []llm.ToolCall
	FinishReason llm.FinishReason
	Usage        llm.Usage

	// Created and Expires are set by Put.
	Created time.Time
	Expires time.Time
}

// Value layout (version 1), see doc.go:
//
//	[0]     value format version (1)
//	[1]     codec: 0 raw body, 1 zstd frame
//	[2:10]  created, unix ns, big endian
//	[10:18] expires, unix ns, big endian
//	        uvarint-prefixed: namespace, request model, provider, model
//	        uvarint: decoded body length
//	        body (raw or one zstd frame)
//
// The header stays uncompressed so expiry checks, Purge filters and byte
// accounting never decompress anything.
const (
	valueVersion = 1
	codecRaw     = 0
	codecZstd    = 1
	headerFixed  = 18
	// minCompress: below this a zstd frame's own overhead eats the gain,
	// and a raw body decodes with no decoder at all.
	minCompress = 128
)

var errCorrupt = errors.New("corrupt entry")

// header is the uncompressed part of a stored value. Its strings alias the
// value they were parsed from.
type header struct {
	codec             byte
	created, expires  int64
	ns, reqModel      []byte
	provider, model   []byte
	rawLen, bodyStart int
}

func parseHeader(v []byte) (h header, err error) {
	if len(v) < headerFixed || v[0] != valueVersion || v[1] > codecZstd {
		return h, errCorrupt
	}
	h.codec = v[1]
	h.created = int64(binary.BigEndian.Uint64(v[2:]))
	h.expires = int64(binary.BigEndian.Uint64(v[10:]))
	p := v[headerFixed:]
	for _, f := range []*[]byte{&h.ns, &h.reqModel, &h.provider, &h.model} {
		var ok bool
		if *f, p, ok = readBytes(p); !ok {
			return h, errCorrupt
		}
	}
	n, w := binary.Uvarint(p)
	// 1 GiB caps the claim so the int conversion is exact on 32-bit ARM.
	if w <= 0 || n > uint64(len(v)) && h.codec == codecRaw || n > 1<<30 {
		return h, errCorrupt
	}
	h.rawLen = int(n)
	h.bodyStart = len(v) - len(p) + w
	if h.codec == codecRaw && h.rawLen != len(v)-h.bodyStart {
		return h, errCorrupt
	}
	return h, nil
}

func readBytes(p []byte) (s, rest []byte, ok bool) {
	n, w := binary.Uvarint(p)
	if w <= 0 || n > uint64(len(p)-w) {
		return nil, p, false
	}
	return p[w : w+int(n)], p[w+int(n):], true
}

func readString(p []byte) (string, []byte, bool) {
	b, rest, ok := readBytes(p)
	return string(b), rest, ok
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendBody appends the uncompressed body of e.
func appendBody(b []byte, e *Entry) []byte {
	b = appendString(b, e.Text)
	b = appendString(b, e.Reasoning)
	b = binary.AppendUvarint(b, uint64(len(e.ToolCalls)))
	for i := range e.ToolCalls {
		tc := &e.ToolCalls[i]
		b = appendString(b, tc.ID)
		b = appendString(b, tc.Name)
		b = appendString(b, tc.Arguments)
	}
	b = appendString(b, string(e.FinishReason))
	u := &e.Usage
	for _, n := range [...]int{u.PromptTokens, u.CompletionTokens, u.TotalTokens, u.CachedTokens, u.CacheWriteTokens} {
		b = binary.AppendVarint(b, int64(n))
	}
	return b
}

// bodySize is the exact length appendBody produces, so the size bound is
// checked before anything is copied.
func bodySize(e *Entry) int {
	n := strSize(e.Text) + strSize(e.Reasoning) + uvarintSize(uint64(len(e.ToolCalls))) + strSize(string(e.FinishReason)) + 5*binary.MaxVarintLen64
	for i := range e.ToolCalls {
		tc := &e.ToolCalls[i]
		n += strSize(tc.ID) + strSize(tc.Name) + strSize(tc.Arguments)
	}
	return n
}

func strSize(s string) int { return uvarintSize(uint64(len(s))) + len(s) }

func uvarintSize(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// encodeValue appends the stored value of e to dst, compressing the body
// with enc when that pays. scratch is reused for the raw body; both are
// returned for reuse. It is called by the writer goroutine only.
func encodeValue(dst, scratch []byte, enc *zstd.Encoder, e *Entry, created, expires int64) (val, body []byte) {
	body = appendBody(scratch[:0], e)
	h0 := len(dst)
	dst = append(dst, valueVersion, codecRaw)
	dst = binary.BigEndian.AppendUint64(dst, uint64(created))
	dst = binary.BigEndian.AppendUint64(dst, uint64(expires))
	dst = appendString(dst, e.Namespace)
	dst = appendString(dst, e.RequestModel)
	dst = appendString(dst, e.Provider)
	dst = appendString(dst, e.Model)
	dst = binary.AppendUvarint(dst, uint64(len(body)))
	if len(body) >= minCompress {
		start := len(dst)
		dst = enc.EncodeAll(body, dst)
		if len(dst)-start < len(body) {
			dst[h0+1] = codecZstd
			return dst, body
		}
		dst = dst[:start]
	}
	return append(dst, body...), body
}

// decodeBody fills e from an uncompressed body. Every string of e shares one
// allocation: the body is copied into a single string once.
func decodeBody(raw []byte, e *Entry) error {
	s := string(raw)
	off := 0
	str := func() (string, bool) {
		n, w := binary.Uvarint(raw[off:])
		if w <= 0 || n > uint64(len(raw)-off-w) {
			return "", false
		}
		v := s[off+w : off+w+int(n)]
		off += w + int(n)
		return v, true
	}
	var ok bool
	if e.Text, ok = str(); !ok {
		return errCorrupt
	}
	if e.Reasoning, ok = str(); !ok {
		return errCorrupt
	}
	n, w := binary.Uvarint(raw[off:])
	// Each call needs at least three length bytes, which bounds the
	// allocation by the body actually present.
	if w <= 0 || n > uint64(len(raw)-off-w)/3 {
		return errCorrupt
	}
	off += w
	if n > 0 {
		e.ToolCalls = make([]llm.ToolCall, n)
		for i := range e.ToolCalls {
			tc := &e.ToolCalls[i]
			if tc.ID, ok = str(); !ok {
				return errCorrupt
			}
			if tc.Name, ok = str(); !ok {
				return errCorrupt
			}
			if tc.Arguments, ok = str(); !ok {
				return errCorrupt
			}
		}
	}
	fr, ok := str()
	if !ok {
		return errCorrupt
	}
	e.FinishReason = llm.FinishReason(fr)
	u := &e.Usage
	for _, f := range [...]*int{&u.PromptTokens, &u.CompletionTokens, &u.TotalTokens, &u.CachedTokens, &u.CacheWriteTokens} {
		v, w := binary.Varint(raw[off:])
		if w <= 0 || v < 0 || v > math.MaxInt32 {
			return errCorrupt
		}
		*f = int(v)
		off += w
	}
	if off != len(raw) {
		return errCorrupt
	}
	return nil
}

// decodeValue decodes the stored value v whose header is h. The decoded
// size is bounded by maxBody; scratch is reused for the decompressed body
// and returned.
func decodeValue(v []byte, h header, dec *zstd.Decoder, maxBody int, scratch []byte) (*Entry, []byte, error) {
	var err error
	if h.rawLen > maxBody {
		return nil, scratch, errCorrupt
	}
	raw := v[h.bodyStart:]
	if h.codec == codecZstd {
		if cap(scratch) < h.rawLen {
			scratch = make([]byte, 0, h.rawLen)
		}
		// The capacity bound (WithDecodeAllCapLimit) stops a frame that
		// claims one size and inflates to another.
		raw, err = dec.DecodeAll(raw, scratch[:0:h.rawLen])
		if err != nil || len(raw) != h.rawLen {
			return nil, scratch, errCorrupt
		}
		scratch = raw[:0]
	}
	e := &Entry{
		Namespace:    string(h.ns),
		RequestModel: string(h.reqModel),
		Provider:     string(h.provider),
		Model:        string(h.model),
		Created:      time.Unix(0, h.created),
		Expires:      time.Unix(0, h.expires),
	}
	if err := decodeBody(raw, e); err != nil {
		return nil, scratch, err
	}
	return e, scratch, nil
}
