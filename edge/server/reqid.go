package server

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// Request ids are a random per-process prefix and a counter: unique across
// restarts with overwhelming probability, and free of syscalls per request.
var (
	ridPrefix = func() []byte {
		var b [6]byte
		_, _ = rand.Read(b[:])
		return []byte(hex.EncodeToString(b[:]))
	}()
	ridSeq atomic.Uint64
)

const maxClientRequestID = 128

// requestID returns the client's x-request-id when it sent a sane one, so a
// request can be traced across hops, and a fresh id otherwise. The result
// is valid until the request ends.
func requestID(c *fasthttp.RequestCtx) []byte {
	if v := c.Request.Header.Peek("x-request-id"); len(v) > 0 && len(v) <= maxClientRequestID && saneID(v) {
		return v
	}
	if v := c.UserValue(ridKey); v != nil {
		return v.([]byte)
	}
	b := make([]byte, 0, len(ridPrefix)+14)
	b = append(b, "req_"...)
	b = append(b, ridPrefix...)
	b = strconv.AppendUint(b, ridSeq.Add(1), 36)
	c.SetUserValue(ridKey, b)
	return b
}

type ridKeyType struct{}

var ridKey = ridKeyType{}

// saneID accepts the characters ids are made of in practice, so a header
// cannot smuggle anything into logs or our own responses.
func saneID(v []byte) bool {
	for _, ch := range v {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.' || ch == ':') {
			return false
		}
	}
	return true
}
