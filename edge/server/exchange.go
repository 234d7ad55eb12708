package server

import (
	"context"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/cache"
	"github.com/edgeway/edgeway/edge/limits"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/pii"
	"github.com/edgeway/edgeway/edge/router"
)

// dialect renders one client API's completions and errors. A dialect
// value belongs to one request; stream encoders may keep state in it.
type dialect interface {
	// streamType is the Content-Type of a streamed response.
	streamType() string
	// start is what a stream begins with, written before the first chunk.
	start(dst []byte) []byte
	// chunk encodes one chunk; it may append nothing.
	chunk(dst []byte, c *llm.Chunk) []byte
	// end closes a stream that succeeded.
	end(dst []byte, u llm.Usage, finish llm.FinishReason) []byte
	// streamError reports a failure after the stream began.
	streamError(dst []byte, e *apiError) []byte
	// whole renders a non-streamed response.
	whole(dst []byte, a *llm.Aggregate) []byte
	// writeError renders e as a complete error response.
	writeError(c *fasthttp.RequestCtx, e *apiError)
}

// complete serves a decoded chat request in dialect d: from the cache, or
// routed and answered whole or as a stream. It owns req from here on.
func (s *Server) complete(c *fasthttp.RequestCtx, req *llm.ChatRequest, d dialect) {
	// Cache hits count against the cap too: a flood of them is still work.
	if !s.acquire() {
		s.shed(c, d)
		s.account(c, req.Model, &acct{status: 503, outcome: "overloaded"})
		return
	}
	start := time.Now()
	scope, ok := s.permit(c, req.Model, d)
	if !ok {
		s.account(c, req.Model, &acct{status: 403, outcome: "model_not_allowed"})
		s.release()
		return
	}
	pv, ok := s.applyPII(c, req.Model, func() (int, pii.Kinds) { return scanPrompt(req) }, d)
	if !ok {
		s.release()
		return
	}
	tk, ok := s.admit(c, req.Model, func() llm.Usage { return chatEstimate(req) }, d)
	if !ok {
		s.release()
		return
	}
	// A local-only caller's text may not reach a cloud embedder through
	// the semantic cache.
	ck := cacheState{private: scope != nil && scope.LocalOnly() && !s.opts.SemanticEmbedderLocal}
	if pv.local || pv.redact {
		// Personal data stays out of the cache file, and out of a semantic
		// lookup, which may embed through a cloud provider.
		c.Response.Header.Set("x-edgeway-cache", "bypass")
	} else if s.opts.Cache != nil && s.lookupCache(c, req, d, &ck, &tk) {
		s.release()
		return
	}
	ex := &exchange{s: s, c: c, req: req, d: d, start: start, cache: ck, ticket: tk}
	if scope != nil {
		ex.st.Scope = scope
	}
	base := context.Background()
	switch {
	case pv.local:
		ex.st.Scope = localScope{ex.st.Scope}
	case pv.redact:
		base = pii.WithRedaction(base)
	}
	ex.ctx, ex.cancel = context.WithTimeout(base, s.opts.RequestTimeout)
	if req.Stream {
		ex.events = make(chan []byte, streamQueue)
	}
	if req.Stream {
		ex.w.start(c, ex.work)
		ex.stream()
		return
	}
	ex.w.run(c, ex.cancel, ex.work)
	ex.whole()
}

// exchange is one chat completion in flight: the request, its routing
// status, and the plumbing between the worker goroutine (semantic lookup,
// routing) and the client. For a stream it is also the response body
// fasthttp reads.
type exchange struct {
	s     *Server
	c     *fasthttp.RequestCtx
	req   *llm.ChatRequest
	d     dialect
	start time.Time
	cache cacheState

	ctx    context.Context
	cancel context.CancelFunc
	w      watcher

	// Written by the worker; read by the handler only after w.done closed,
	// except st, which the router finalises before the first chunk.
	st     router.Status
	usage  llm.Usage
	err    error
	hit    *cache.Entry // a semantic cache hit: nothing was routed
	sim    float32
	answer llm.Aggregate // the whole answer, or a stream's copy for the cache
	// firstAt is when the first chunk was emitted; outBytes counts the
	// answer's bytes, for a usage estimate when the provider gives none.
	firstAt  time.Time
	outBytes int
	ticket   limits.Ticket // the caller's limits, held until account

	// Streaming only: events carries encoded events from the worker to
	// Read; finishReason and emitted are the worker's until done.
	events       chan []byte
	finishReason llm.FinishReason
	emitted      bool
	pending      []byte // the part of cur Read has not handed out yet
	cur          []byte // the pooled event being handed out
	tailDone     bool
	closed       bool
	accounted    bool
}

// work is the worker goroutine: a semantic lookup when the cache wants
// one, else routing. The request's ctx reaches the embedder, so a client
// that hangs up also cancels the lookup.
func (ex *exchange) work() {
	if ex.cache.semantic {
		ctx, cancel := context.WithTimeout(ex.ctx, semanticLookupTimeout)
		e, sim, ok := ex.s.opts.Cache.GetSemantic(ctx, ex.cache.ns, ex.req)
		cancel()
		if ok {
			ex.hit, ex.sim = e, sim
			return
		}
	}
	if ex.req.Stream {
		ex.usage, ex.err = ex.s.opts.Router.Route(ex.ctx, ex.req, &ex.st, ex.emit)
		return
	}
	ex.usage, ex.err = ex.s.opts.Router.Collect(ex.ctx, ex.req, &ex.st, &ex.answer)
}

// finish ends the exchange: the worker is done, the slot is free.
func (ex *exchange) finish() {
	ex.cancel()
	ex.s.release()
}

// setRouteHeaders reports what served the request. It must run before the
// first byte of the body goes out. A failed request names no provider:
// nothing served it, and the error message lists what was tried.
func (ex *exchange) setRouteHeaders(served bool) {
	h := &ex.c.Response.Header
	if served && ex.st.Provider != "" {
		h.Set("x-edgeway-provider", ex.st.Provider)
		h.Set("x-edgeway-model", ex.st.Model)
		ex.setDropped() // dropped.go
	}
	h.Set("x-edgeway-failover", strconv.Itoa(ex.st.Failovers))
	if len(h.Peek("x-edgeway-cache")) == 0 {
		h.Set("x-edgeway-cache", "miss") // unless the lookup said "bypass"
	}
}

// whole serves a non-streaming client once the worker is done: the router
// collected the answer into ex.answer (and could fail over until then).
func (ex *exchange) whole() {
	defer ex.finish()
	if ex.hit != nil {
		ex.s.serveCached(ex.c, ex.req, ex.d, ex.hit, "semantic", ex.sim, &ex.ticket)
		return
	}
	ex.setRouteHeaders(ex.err == nil)
	if ex.err != nil {
		ex.account(0, ex.s.fail(ex.c, ex.d, ex.err, ex.w.gone))
		return
	}
	a := &ex.answer
	if !a.HasUsage {
		a.Usage = ex.usage
	}
	ex.outBytes = a.Text.Len() + a.Reasoning.Len()
	ex.usage = a.Usage
	ex.account(200, nil)
	if a.FinishReason == "" {
		a.FinishReason = llm.FinishStop
	}
	if a.Role == "" {
		a.Role = llm.RoleAssistant
	}
	ex.s.metrics.observe(&ex.st, a.Usage, time.Since(ex.start))
	if ex.cache.store {
		ex.s.storeCache(&ex.cache, ex.req, a, ex.st.Provider, ex.st.Model)
	}
	ex.c.SetContentType("application/json")
	ex.c.SetBody(ex.d.whole(make([]byte, 0, 512+a.Text.Len()), a))
}

var eventPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getEvent() []byte { return (*eventPool.Get().(*[]byte))[:0] }

func putEvent(b []byte) {
	if cap(b) > 64<<10 {
		return // let a rare huge event go rather than pin it in the pool
	}
	eventPool.Put(&b)
}

// stream serves a streaming client. The handler waits for the first chunk:
// until then failover is still possible and a failure is an ordinary error
// response with its status; after it, headers go out and fasthttp's
// connection goroutine reads the rest of the stream from ex (Read, Close).
func (ex *exchange) stream() {
	first := ex.w.await(ex.cancel, ex.events)
	switch {
	case first == nil && ex.hit != nil:
		ex.s.serveCached(ex.c, ex.req, ex.d, ex.hit, "semantic", ex.sim, &ex.ticket)
		ex.finish()
		return
	case first == nil && ex.err != nil && !ex.emitted:
		ex.setRouteHeaders(false)
		ex.account(0, ex.s.fail(ex.c, ex.d, ex.err, ex.w.gone))
		ex.finish()
		return
	}
	ex.setRouteHeaders(true)
	c := ex.c
	c.SetContentType(ex.d.streamType())
	c.Response.Header.Set("Cache-Control", "no-cache")
	c.Response.Header.Set("X-Accel-Buffering", "no")
	// The stream is bounded by the request timeout, not by one write
	// timeout for the whole body; Read refreshes the deadline per write.
	_ = c.SetWriteDeadline(time.Time{})
	ex.cur, ex.pending = first, first
	c.SetBodyStream(ex, -1)
}

// emit encodes one chunk and queues it for Read, on the worker goroutine.
// It blocks while the queue is full, which slows the upstream read to the
// client's pace.
func (ex *exchange) emit(ch *llm.Chunk) error {
	if ch.Usage != nil {
		ex.usage = *ch.Usage
	}
	if ch.FinishReason != "" {
		ex.finishReason = ch.FinishReason
	}
	ex.outBytes += len(ch.Text) + len(ch.Reasoning)
	for i := range ch.ToolCalls {
		ex.outBytes += len(ch.ToolCalls[i].Arguments)
	}
	if ex.cache.store {
		if ex.outBytes > ex.s.opts.MaxAnswerBytes {
			// An answer this long (or one without end) is not worth
			// keeping, and holding it would grow without bound.
			ex.cache.store = false
			ex.answer.Reset()
		} else {
			ex.answer.Add(ch)
		}
	}
	if ch.Role == "" && ch.Text == "" && ch.Reasoning == "" && len(ch.ToolCalls) == 0 && ch.FinishReason == "" &&
		ch.Signature == "" && ch.RedactedReasoning == "" {
		return nil // a usage-only chunk: reported at the end
	}
	b := getEvent()
	if !ex.emitted {
		ex.firstAt = time.Now()
		if ch.Role == "" {
			// Clients take the role from the first chunk; not every
			// provider sets it.
			c := *ch
			c.Role = llm.RoleAssistant
			ch = &c
		}
		b = ex.d.start(b)
		ex.emitted = true
	}
	b = ex.d.chunk(b, ch)
	if len(b) == 0 {
		putEvent(b)
		return nil
	}
	select {
	case ex.events <- b:
		ex.w.wake() // the handler can send the headers now
		return nil
	case <-ex.ctx.Done():
		putEvent(b)
		return ex.ctx.Err()
	}
}

// Read hands fasthttp the stream, on the connection's goroutine: each call
// returns what is queued (events that arrived together go out in one
// write, and none waits for the next), blocking only when nothing is.
// fasthttp writes each Read as one chunk and flushes it. After the worker
// is done comes the tail: the dialect's end, or its in-stream error.
func (ex *exchange) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(ex.pending) == 0 {
			if ex.cur != nil {
				putEvent(ex.cur)
				ex.cur = nil
			}
			if !ex.next(n == 0) {
				break
			}
		}
		k := copy(p[n:], ex.pending)
		ex.pending = ex.pending[k:]
		n += k
	}
	if n == 0 {
		return 0, io.EOF
	}
	_ = ex.c.SetWriteDeadline(time.Now().Add(ex.s.opts.WriteTimeout))
	return n, nil
}

// next makes the next event current. It waits for one only when block is
// set; it reports false when there is none (yet, or ever).
func (ex *exchange) next(block bool) bool {
	select {
	case b := <-ex.events:
		ex.cur, ex.pending = b, b
		return true
	default:
		if !block {
			return false
		}
	}
	if b := ex.w.await(ex.cancel, ex.events); b != nil {
		ex.cur, ex.pending = b, b
		return true
	}
	if ex.tailDone {
		return false
	}
	ex.tailDone = true
	ex.cur = ex.tail(getEvent())
	ex.pending = ex.cur
	return true
}

// tail ends a stream whose worker is done.
func (ex *exchange) tail(b []byte) []byte {
	if !ex.emitted {
		b = ex.d.start(b) // an upstream that answered with nothing
	}
	if ex.err != nil {
		ex.s.metrics.streamErrors.Add(1)
		e := classify(ex.err)
		ex.account(200, e)
		return ex.d.streamError(b, e)
	}
	finish := ex.finishReason
	if finish == "" {
		finish = llm.FinishStop
	}
	ex.account(200, nil)
	ex.s.metrics.observe(&ex.st, ex.usage, time.Since(ex.start))
	if ex.cache.store {
		a := &ex.answer
		a.Usage, a.HasUsage = ex.usage, true
		a.FinishReason = finish
		ex.s.storeCache(&ex.cache, ex.req, a, ex.st.Provider, ex.st.Model)
	}
	return ex.d.end(b, ex.usage, finish)
}

// Close is called by fasthttp once the stream is written, or abandoned
// because the client went away; then it stops the upstream and waits for
// the worker, so nothing is left running.
func (ex *exchange) Close() error {
	if ex.closed {
		return nil
	}
	ex.closed = true
	ex.cancel()
	<-ex.w.done
	if !ex.accounted { // the client left before the end
		ex.account(499, &apiError{status: 499, code: "client_closed"})
	}
	for len(ex.events) > 0 {
		putEvent(<-ex.events)
	}
	if ex.cur != nil {
		putEvent(ex.cur)
		ex.cur, ex.pending = nil, nil
	}
	ex.s.release()
	return nil
}

// account records the exchange in the ledger, once: status is what the
// client was sent (0: e's own), e the failure or nil for an answer.
func (ex *exchange) account(status int, e *apiError) {
	if ex.accounted || !ex.s.accounting() && !ex.s.logging() {
		return
	}
	ex.accounted = true
	a := acct{ticket: &ex.ticket, provider: ex.st.Provider, model: ex.st.Model, usage: ex.usage, failovers: ex.st.Failovers,
		cache: string(ex.c.Response.Header.Peek("x-edgeway-cache")), status: status, outcome: "ok"}
	if !ex.firstAt.IsZero() {
		a.ttft = ex.firstAt.Sub(ex.start)
	}
	if e != nil {
		a.outcome = e.code
		if status == 0 {
			a.status = e.status
		}
		if !ex.emitted {
			a.provider, a.model = "", "" // nothing served it
		}
	}
	if a.provider != "" {
		a.estimated = estimateUsage(&a.usage, ex.req, ex.outBytes)
	}
	ex.s.account(ex.c, ex.req.Model, &a)
}

// fail writes err as an error response in dialect d and counts it.
func (s *Server) fail(c *fasthttp.RequestCtx, d dialect, err error, clientGone bool) *apiError {
	e := classify(err)
	if clientGone {
		e = &apiError{status: 499, typ: "invalid_request_error", code: "client_closed", message: "client closed the request"}
	}
	if note := piiNote(c); note != "" && !clientGone {
		e.message = note + ": " + e.message
	} else if e.code == "no_provider_available" && s.opts.UnavailableHint != "" {
		e.message = "no provider reachable: " + s.opts.UnavailableHint + " (" + e.message + ")"
	}
	s.metrics.countStatus(e.status)
	if e.status >= 500 {
		s.log.Warn("request failed", "request_id", string(requestID(c)), "path", string(c.Path()), "status", e.status, "err", err)
	}
	d.writeError(c, e)
	return e
}
