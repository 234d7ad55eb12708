package server

import (
	"bufio"
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/openai"
	"github.com/edgeway/edgeway/edge/router"
)

// chatCompletions serves POST /v1/chat/completions.
func (s *Server) chatCompletions(c *fasthttp.RequestCtx, rid []byte) {
	s.metrics.chat.Add(1)
	req := &llm.ChatRequest{}
	includeUsage, err := openai.DecodeChatRequest(c.PostBody(), req)
	if err != nil {
		s.metrics.badRequest.Add(1)
		writeOpenAIError(c, classify(err))
		return
	}
	if !s.acquire() {
		s.shed(c)
		return
	}
	ex := &exchange{
		s:       s,
		c:       c,
		req:     req,
		model:   req.Model,
		id:      "chatcmpl-" + string(rid),
		created: time.Now().Unix(),
		start:   time.Now(),
	}
	ex.ctx, ex.cancel = context.WithTimeout(context.Background(), s.opts.RequestTimeout)
	ex.watch = watchConn(c, ex.cancel)
	if req.Stream {
		ex.includeUsage = includeUsage
		ex.stream()
		return
	}
	defer ex.finish(false)
	ex.whole()
}

// exchange is one chat completion in flight: the request, its routing
// status, and the plumbing between the router and the client.
type exchange struct {
	s            *Server
	c            *fasthttp.RequestCtx
	req          *llm.ChatRequest
	model        string
	id           string
	created      int64
	start        time.Time
	includeUsage bool

	ctx    context.Context
	cancel context.CancelFunc
	watch  *connWatch
	st     router.Status

	// Streaming only: events carries encoded SSE events from the routing
	// goroutine to the writer; done closes when routing returns, after
	// which usage, err and emitted are final.
	events  chan []byte
	done    chan struct{}
	usage   llm.Usage
	err     error
	emitted bool
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
	h.Set("x-edgeway-cache", "miss")
}

// whole serves a non-streaming client by aggregating the stream.
func (ex *exchange) whole() {
	var agg llm.Aggregate
	usage, err := ex.s.opts.Router.Route(ex.ctx, ex.req, &ex.st, func(ch *llm.Chunk) error {
		agg.Add(ch)
		return nil
	})
	ex.setRouteHeaders(err == nil)
	if err != nil {
		ex.s.fail(ex.c, err, ex.watch.clientGone())
		return
	}
	if !agg.HasUsage {
		agg.Usage = usage
	}
	if agg.FinishReason == "" {
		agg.FinishReason = llm.FinishStop
	}
	ex.s.metrics.observe(&ex.st, agg.Usage, time.Since(ex.start))
	ex.c.SetContentType("application/json")
	ex.c.SetBody(openai.AppendChatResponse(make([]byte, 0, 512+agg.Text.Len()), ex.id, ex.created, ex.model, &agg))
}

var eventPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getEvent() []byte { return (*eventPool.Get().(*[]byte))[:0] }

func putEvent(b []byte) {
	if cap(b) > 64<<10 {
		return // let a rare huge event go rather than pin it in the pool
	}
	eventPool.Put(&b)
}

// stream serves an SSE client. Routing runs on its own goroutine so the
// handler can wait for the first chunk: until then failover is still
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
		ex.s.fail(ex.c, ex.err, ex.watch.clientGone())
		ex.finish(false)
		return
	}
	ex.setRouteHeaders(true)
	c := ex.c
	c.SetContentType("text/event-stream")
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
	ex.usage, ex.err = ex.s.opts.Router.Route(ex.ctx, ex.req, &ex.st, ex.emitSSE)
}

// emitSSE encodes one chunk and queues it for the writer. It blocks while
// the queue is full, which slows the upstream read to the client's pace.
func (ex *exchange) emitSSE(ch *llm.Chunk) error {
	if ch.Usage != nil {
		ex.usage = *ch.Usage
	}
	if ch.Role == "" && ch.Text == "" && ch.Reasoning == "" && len(ch.ToolCalls) == 0 && ch.FinishReason == "" {
		return nil // a usage-only chunk: reported at the end if asked for
	}
	if !ex.emitted && ch.Role == "" {
		// OpenAI clients take the role from the first chunk; not every
		// provider sets it.
		c := *ch
		c.Role = llm.RoleAssistant
		ch = &c
	}
	ex.emitted = true
	b := openai.AppendStreamChunk(getEvent(), ex.id, ex.created, ex.model, ch)
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
	if ex.err != nil {
		e := classify(ex.err)
		tail = openai.AppendStreamError(tail, e.status, e.message, e.typ, e.code)
		ex.s.metrics.streamErrors.Add(1)
	} else {
		ex.s.metrics.observe(&ex.st, ex.usage, time.Since(ex.start))
	}
	if ex.includeUsage {
		tail = openai.AppendStreamUsage(tail, ex.id, ex.created, ex.model, ex.usage)
	}
	tail = openai.AppendStreamDone(tail)
	write(tail)
	putEvent(tail)
}

// fail writes err as an error response and counts it.
func (s *Server) fail(c *fasthttp.RequestCtx, err error, clientGone bool) {
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
	writeOpenAIError(c, e)
}

// embeddings serves POST /v1/embeddings.
func (s *Server) embeddings(c *fasthttp.RequestCtx, rid []byte) {
	s.metrics.embed.Add(1)
	var req llm.EmbedRequest
	format, err := openai.DecodeEmbedRequest(c.PostBody(), &req)
	if err != nil {
		s.metrics.badRequest.Add(1)
		writeOpenAIError(c, classify(err))
		return
	}
	if !s.acquire() {
		s.shed(c)
		return
	}
	defer s.release()
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.RequestTimeout)
	w := watchConn(c, cancel)
	var st router.Status
	resp, err := s.opts.Router.Embed(ctx, &req, &st)
	w.stop(false)
	cancel()
	if err == nil && st.Provider != "" {
		c.Response.Header.Set("x-edgeway-provider", st.Provider)
	}
	c.Response.Header.Set("x-edgeway-failover", strconv.Itoa(st.Failovers))
	if err != nil {
		s.fail(c, err, w.clientGone())
		return
	}
	if resp.Model == "" {
		resp.Model = req.Model
	}
	c.SetContentType("application/json")
	c.SetBody(openai.AppendEmbeddingResponse(nil, req.Model, resp, format == "base64"))
}

// models serves GET /v1/models.
func (s *Server) models(c *fasthttp.RequestCtx) {
	ctx, cancel := context.WithTimeout(context.Background(), modelsTimeout)
	defer cancel()
	list := s.opts.Router.Models(ctx)
	c.SetContentType("application/json")
	c.SetBody(openai.AppendModelList(nil, list))
}

// modelsTimeout bounds GET /v1/models: listing asks every provider.
const modelsTimeout = 5 * time.Second
