package server

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/cache"
	"github.com/edgeway/edgeway/edge/limits"
	"github.com/edgeway/edgeway/edge/llm"
)

// Cache is what the server needs from the response cache. *cache.Cache
// implements it.
type Cache interface {
	Get(key cache.Key) (*cache.Entry, bool)
	Put(key cache.Key, e *cache.Entry, ttl time.Duration)
	GetSemantic(ctx context.Context, ns string, req *llm.ChatRequest) (*cache.Entry, float32, bool)
	PutSemantic(ns string, req *llm.ChatRequest, key cache.Key)
	Stats() cache.Stats
}

// maxCacheTTL bounds the x-edgeway-cache-ttl a client may ask for.
const maxCacheTTL = 30 * 24 * time.Hour

// cacheState is a request's relation to the cache: whether a semantic
// lookup is still to be made, and whether (and under what key and for how
// long) its answer is to be stored.
type cacheState struct {
	// private: the request's text may not leave the device, so no
	// semantic lookup or store (their embedder may be a cloud provider).
	private  bool
	semantic bool
	store    bool
	key      cache.Key
	ns       string
	ttl      time.Duration
}

// lookupCache answers req from the exact cache when it can and reports
// whether it did. Otherwise it fills ck: whether the semantic lookup,
// which embeds and so runs on the worker goroutine, is to be made, and how
// to store the answer. The cache is read only for requests the policy
// allows (by default deterministic ones); Cache-Control: no-cache skips
// the read, no-store the write.
func (s *Server) lookupCache(c *fasthttp.RequestCtx, req *llm.ChatRequest, d dialect, ck *cacheState, tk *limits.Ticket) bool {
	h := &c.Response.Header
	if !s.opts.CachePolicy.Allow(req) {
		h.Set("x-edgeway-cache", "bypass")
		return false
	}
	cc := c.Request.Header.Peek("Cache-Control")
	noCache, noStore := hasToken(cc, "no-cache"), hasToken(cc, "no-store")
	ck.key = cache.KeyOf(ck.ns, req)
	ck.ttl = s.opts.CacheTTL
	if v := c.Request.Header.Peek("x-edgeway-cache-ttl"); len(v) > 0 {
		if ttl, ok := parseTTL(string(v)); ok {
			ck.ttl = ttl
		}
	}
	if !noCache {
		if e, ok := s.opts.Cache.Get(ck.key); ok {
			s.serveCached(c, req, d, e, "hit", 0, tk)
			return true
		}
		ck.semantic = s.opts.SemanticCache && !ck.private
	}
	ck.store = !noStore
	return false
}

// semanticLookupTimeout bounds the embedding a semantic lookup needs; the
// cache has its own, shorter bound, this is the backstop.
const semanticLookupTimeout = 3 * time.Second

// hasToken reports whether a comma-separated header value holds tok.
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var part []byte
		part, v, _ = bytes.Cut(v, []byte(","))
		part = bytes.TrimSpace(part)
		if i := bytes.IndexByte(part, '='); i >= 0 {
			part = part[:i]
		}
		if strings.EqualFold(string(part), tok) {
			return true
		}
	}
	return false
}

// parseTTL reads x-edgeway-cache-ttl: seconds ("600") or a Go duration
// ("10m"), positive and at most maxCacheTTL.
func parseTTL(v string) (time.Duration, bool) {
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Second
	} else if pd, err := time.ParseDuration(v); err == nil {
		d = pd
	}
	if d <= 0 {
		return 0, false
	}
	return min(d, maxCacheTTL), true
}

// serveCached answers from a cache entry in the client's dialect, as a
// stream when the client streams (the stored answer replayed in pieces)
// and whole otherwise, whichever way it was stored.
func (s *Server) serveCached(c *fasthttp.RequestCtx, req *llm.ChatRequest, d dialect, e *cache.Entry, kind string, sim float32, tk *limits.Ticket) {
	s.metrics.cacheServed(kind)
	defer s.account(c, req.Model, &acct{provider: "cache", model: e.Model, cache: kind, status: 200, outcome: "ok", ticket: tk})
	h := &c.Response.Header
	h.Set("x-edgeway-cache", kind)
	if kind == "semantic" {
		h.Set("x-edgeway-similarity", strconv.FormatFloat(float64(sim), 'f', 4, 32))
	}
	h.Set("x-edgeway-provider", "cache")
	h.Set("x-edgeway-model", e.Model)
	h.Set("x-edgeway-failover", "0")

	var agg llm.Aggregate
	agg.Role, agg.Model = llm.RoleAssistant, e.Model
	agg.Text.WriteString(e.Text)
	agg.Reasoning.WriteString(e.Reasoning)
	agg.ToolCalls = e.ToolCalls
	agg.FinishReason, agg.Usage, agg.HasUsage = e.FinishReason, e.Usage, true
	if !req.Stream {
		c.SetContentType("application/json")
		c.SetBody(d.whole(make([]byte, 0, 512+len(e.Text)), &agg))
		return
	}
	b := d.start(make([]byte, 0, 1024+2*len(e.Text)))
	first := true
	emit := func(ch *llm.Chunk) {
		if first {
			ch.Role, first = llm.RoleAssistant, false
		}
		b = d.chunk(b, ch)
	}
	if e.Reasoning != "" {
		emit(&llm.Chunk{Reasoning: e.Reasoning})
	}
	for rest := e.Text; rest != ""; {
		piece := nextPiece(rest)
		emit(&llm.Chunk{Text: piece})
		rest = rest[len(piece):]
	}
	for i, tc := range e.ToolCalls {
		emit(&llm.Chunk{ToolCalls: []llm.ToolCallDelta{{Index: i, ID: tc.ID, Name: tc.Name, Arguments: tc.Arguments}}})
	}
	emit(&llm.Chunk{FinishReason: e.FinishReason})
	b = d.end(b, e.Usage, e.FinishReason)
	c.SetContentType(d.streamType())
	c.Response.Header.Set("Cache-Control", "no-cache")
	c.SetBody(b)
}

// replayPiece is roughly how much text a replayed chunk carries: a few
// words, like a model's tokens, so clients render a hit the way they
// render a live answer, without thousands of tiny events.
const replayPiece = 48

// nextPiece returns the first piece of s: up to replayPiece bytes, cut
// after a space when there is one, never inside a UTF-8 sequence.
func nextPiece(s string) string {
	if len(s) <= replayPiece {
		return s
	}
	if i := strings.LastIndexByte(s[:replayPiece], ' '); i > 0 {
		return s[:i+1]
	}
	n := replayPiece
	for n < len(s) && s[n]&0xC0 == 0x80 {
		n++
	}
	return s[:n]
}

// storeCache hands a finished answer to the cache (asynchronously: the
// cache's write queue never blocks a response).
func (s *Server) storeCache(ck *cacheState, req *llm.ChatRequest, a *llm.Aggregate, served, model string) {
	if len(a.ReasoningBlocks) > 0 {
		// Signed or redacted reasoning: an entry keeps reasoning as plain
		// text, and a replay without the signatures would break the
		// client's next turn against the upstream that signed them.
		return
	}
	e := &cache.Entry{
		Namespace:    ck.ns,
		RequestModel: req.Model,
		Model:        model,
		Provider:     served,
		Text:         a.Text.String(),
		Reasoning:    a.Reasoning.String(),
		ToolCalls:    append([]llm.ToolCall(nil), a.ToolCalls...),
		FinishReason: a.FinishReason,
		Usage:        a.Usage,
	}
	if !s.opts.CachePolicy.StoreAllowed(e) {
		return
	}
	s.opts.Cache.Put(ck.key, e, ck.ttl)
	if s.opts.SemanticCache && !ck.private {
		s.opts.Cache.PutSemantic(ck.ns, req, ck.key)
	}
}
