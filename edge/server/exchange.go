package server

import (
	"bufio"
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/llm"
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

// complete serves a decoded chat request in dialect d: routes it, and
// answers whole or as a stream. It owns req from here on.
func (s *Server) complete(c *fasthttp.RequestCtx, req *llm.ChatRequest, d dialect) {
	var ck cacheState
	if s.opts.Cache != nil && s.lookupCache(c, req, d, &ck) {
		return
	}
	if !s.acquire() {
		s.shed(c, d)
		return
	}
	ex := &exchange{s: s, c: c, req: req, d: d, start: time.Now(), cache: ck}
	if ck.store && req.Stream {
		ex.agg = &llm.Aggregate{}
	}
	ex.ctx, ex.cancel = context.WithTimeout(context.Background(), s.opts.RequestTimeout)
	ex.watch = watchConn(c, ex.cancel)
	if req.Stream {
		ex.stream()
		return
	}
	defer ex.finish(false)
	ex.whole()
}

// exchange is one chat completion in flight: the request, its routing
// status, and the plumbing between the router and the client.
type exchange struct {
	s     *Server
	c     *fasthttp.RequestCtx
	req   *llm.ChatRequest
	d     dialect
	start time.Time
	cache cacheState
	// agg collects a streamed answer for the cache (nil when not stored).
	agg *llm.Aggregate

	ctx    context.Context
	cancel context.CancelFunc
	watch  *connWatch
	st     router.Status

	// Streaming only: events carries encoded events from the routing
	// goroutine to the writer; done closes when routing returns, after
	// which usage, err, finishReason and emitted are final.
	events       chan []byte
	done         chan struct{}
	usage        llm.Usage
	err          error
	finishReason llm.FinishReason
	emitted      bool
}

func (ex *exchange) finish(headersSent bool) {
	ex.watch.stop(headersSent)
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
	}
	h.Set("x-edgeway-failover", strconv.Itoa(ex.st.Failovers))
	if len(h.Peek("x-edgeway-cache")) == 0 {
		h.Set("x-edgeway-cache", "miss") // unless the lookup said "bypass"
	}
}

// whole serves a non-streaming client: the router hands over the whole
// answer once it has it (and may fail over until then).
func (ex *exchange) whole() {
	var agg llm.Aggregate
	usage, err := ex.s.opts.Router.Route(ex.ctx, ex.req, &ex.st, func(ch *llm.Chunk) error {
		agg.Add(ch)
		return nil
	})
	ex.setRouteHeaders(err == nil)
	if err != nil {
		ex.s.fail(ex.c, ex.d, err, ex.watch.clientGone())
		return
	}
	if !agg.HasUsage {
		agg.Usage = usage
	}
	if agg.FinishReason == "" {
		agg.FinishReason = llm.FinishStop
	}
	if agg.Role == "" {
		agg.Role = llm.RoleAssistant
	}
	ex.s.metrics.observe(&ex.st, agg.Usage, time.Since(ex.start))
	if ex.cache.store {
		ex.s.storeCache(&ex.cache, ex.req, &agg, ex.st.Provider, ex.st.Model)
	}
	ex.c.SetContentType("application/json")
	ex.c.SetBody(ex.d.whole(make([]byte, 0, 512+agg.Text.Len()), &agg))
}

var eventPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getEvent() []byte { return (*eventPool.Get().(*[]byte))[:0] }

func putEvent(b []byte) {
	if cap(b) > 64<<10 {
		return // let a rare huge event go rather than pin it in the pool
	}
	eventPool.Put(&b)
}

// stream serves a streaming client. Routing runs on its own goroutine so
// the handler can wait for the first chunk: until then failover is still
// possible and a failure is an ordinary error response with its status;
// after it, headers are out and the stream belongs to the writer.
func (ex *exchange) stream() {
	ex.events = make(chan []byte, streamQueue)
	ex.done = make(chan struct{})
	go ex.route()

	var first []byte
	select {
	case first = <-ex.events:
	case <-ex.done:
		select {
		case first = <-ex.events:
		default:
		}
	}
	if first == nil && ex.err != nil && !ex.emitted {
		ex.setRouteHeaders(false)
		ex.s.fail(ex.c, ex.d, ex.err, ex.watch.clientGone())
		ex.finish(false)
		return
	}
	ex.setRouteHeaders(true)
	c := ex.c
	c.SetContentType(ex.d.streamType())
	c.Response.Header.Set("Cache-Control", "no-cache")
	c.Response.Header.Set("X-Accel-Buffering", "no")
	// The stream is bounded by the request timeout, not by one write
	// timeout for the whole body; each write gets its own deadline below.
	_ = c.SetWriteDeadline(time.Time{})
	c.SetBodyStreamWriter(func(w *bufio.Writer) { ex.writeStream(w, first) })
}

// route runs on its own goroutine for streaming clients.
func (ex *exchange) route() {
	defer close(ex.done)
	ex.usage, ex.err = ex.s.opts.Router.Route(ex.ctx, ex.req, &ex.st, ex.emit)
}

// emit encodes one chunk and queues it for the writer. It blocks while the
// queue is full, which slows the upstream read to the client's pace.
func (ex *exchange) emit(ch *llm.Chunk) error {
	if ch.Usage != nil {
		ex.usage = *ch.Usage
	}
	if ch.FinishReason != "" {
		ex.finishReason = ch.FinishReason
	}
	if ex.agg != nil {
		ex.agg.Add(ch)
	}
	if ch.Role == "" && ch.Text == "" && ch.Reasoning == "" && len(ch.ToolCalls) == 0 && ch.FinishReason == "" {
		return nil // a usage-only chunk: reported at the end
	}
	b := getEvent()
	if !ex.emitted {
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
		return nil
	case <-ex.ctx.Done():
		putEvent(b)
		return ex.ctx.Err()
	}
}

func (ex *exchange) writeStream(w *bufio.Writer, first []byte) {
	defer ex.finish(true)
	ok := true
	write := func(b []byte) {
		if !ok {
			return
		}
		_ = ex.c.SetWriteDeadline(time.Now().Add(ex.s.opts.WriteTimeout))
		if _, err := w.Write(b); err != nil {
			ok = false
		} else if len(ex.events) == 0 {
			// Flush only when nothing else is queued: events that arrived
			// together go out in one write, and none waits for the next.
			if err := w.Flush(); err != nil {
				ok = false
			}
		}
		if !ok {
			ex.cancel() // client gone: stop the upstream
		}
	}
	if first != nil {
		write(first)
		putEvent(first)
	}
	for ok {
		select {
		case b := <-ex.events:
			write(b)
			putEvent(b)
			continue
		case <-ex.done:
		}
		break
	}
	if !ok {
		<-ex.done // routing stops promptly: emit sees the cancelled ctx
	}
	for len(ex.events) > 0 {
		b := <-ex.events
		write(b)
		putEvent(b)
	}
	tail := getEvent()
	if !ex.emitted {
		tail = ex.d.start(tail) // an upstream that answered with nothing
	}
	if ex.err != nil {
		tail = ex.d.streamError(tail, classify(ex.err))
		ex.s.metrics.streamErrors.Add(1)
	} else {
		finish := ex.finishReason
		if finish == "" {
			finish = llm.FinishStop
		}
		tail = ex.d.end(tail, ex.usage, finish)
		ex.s.metrics.observe(&ex.st, ex.usage, time.Since(ex.start))
		if ex.agg != nil && ok {
			ex.agg.Usage, ex.agg.HasUsage = ex.usage, true
			ex.agg.FinishReason = finish
			ex.s.storeCache(&ex.cache, ex.req, ex.agg, ex.st.Provider, ex.st.Model)
		}
	}
	write(tail)
	putEvent(tail)
}

// fail writes err as an error response in dialect d and counts it.
func (s *Server) fail(c *fasthttp.RequestCtx, d dialect, err error, clientGone bool) {
	e := classify(err)
	if clientGone {
		e = &apiError{status: 499, typ: "invalid_request_error", code: "client_closed", message: "client closed the request"}
	}
	if e.code == "no_provider_available" && s.opts.UnavailableHint != "" {
		e.message = "no provider reachable: " + s.opts.UnavailableHint + " (" + e.message + ")"
	}
	s.metrics.countStatus(e.status)
	if e.status >= 500 {
		s.log.Warn("request failed", "request_id", string(requestID(c)), "path", string(c.Path()), "status", e.status, "err", err)
	}
	d.writeError(c, e)
}
