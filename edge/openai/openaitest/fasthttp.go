package openaitest

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/edgeway/edgeway/edge/internal/fakeupstream"
	"github.com/valyala/fasthttp"
)

// The fasthttp frontend (Options.FastHTTP): cheaper per request, for
// benchmarks. fasthttp gives a handler no signal when its client leaves, so
// disconnects are only seen when a write fails or, under Stall, when the
// hijacked connection reads EOF.

// serveFast serves epochs with fasthttp.
func (s *Server) serveFast(fe *fakeupstream.Epoch, ln net.Listener) (serve, stop func()) {
	e := &epoch{fe, s}
	tl := &trackListener{Listener: ln, conns: make(map[*trackedConn]struct{})}
	srv := &fasthttp.Server{
		Handler:               e.handleFast,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		MaxRequestBodySize:    MaxBodyBytes,
		ReadBufferSize:        64 << 10,
		ReadTimeout:           time.Minute,
		IdleTimeout:           time.Minute,
		Logger:                discardLogger{},
	}
	return func() { _ = srv.Serve(tl) }, func() {
		tl.closeAll()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.ShutdownWithContext(ctx)
	}
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// handleFast serves one request of the epoch. Streams and hijacked answers
// finish after it returns, so they own x from then on; fasthttp may skip a
// hijack handler when the connection is already closed, so they do not hold
// the active count (they end by themselves once the epoch closes the
// connections).
func (e *epoch) handleFast(ctx *fasthttp.RequestCtx) {
	s := e.s
	if !e.Enter() {
		ctx.SetConnectionClose()
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		return
	}
	defer e.Leave()
	x := getExchange(s)
	owned := true
	defer func() {
		if owned {
			putExchange(x)
		}
	}()
	ep, modelID := routeOf(ctx.Method(), ctx.Path())
	if ep == epNotFound {
		s.notFound(x, string(ctx.Method()), string(ctx.Path()))
	} else {
		x.auth = append(x.auth[:0], ctx.Request.Header.Peek("Authorization")...)
		id := ""
		if ep == epModel {
			id = string(modelID)
		}
		s.serve(x, ep, ctx.PostBody(), id)
	}
	if x.delay && !e.Wait(nil, s.opt.Latency) {
		ctx.SetConnectionClose()
		return
	}
	switch x.act {
	case actRespond:
		setFastHeaders(ctx, x)
		ctx.SetStatusCode(x.status)
		_, _ = ctx.Write(x.body)
	case actStream:
		setFastHeaders(ctx, x)
		ctx.SetStatusCode(x.status)
		owned = false
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			defer putExchange(x)
			e.streamFast(w, x)
		})
	case actStall, actCut, actDrop, actStallAfter, actEndless:
		owned = false
		ctx.HijackSetNoResponse(true)
		ctx.Hijack(func(c net.Conn) {
			defer putExchange(x)
			switch x.act {
			case actStall:
				e.stallConn(c)
			case actCut:
				e.cutConn(c, x)
			case actStallAfter:
				if e.cutConn(c, x) {
					e.stallConn(c)
				}
			case actEndless:
				if e.cutConn(c, x) {
					e.endlessConn(c, x)
				}
			}
		})
	}
}

func setFastHeaders(ctx *fasthttp.RequestCtx, x *exchange) {
	h := &ctx.Response.Header
	h.SetContentType(x.contentType())
	if x.sse {
		h.Set("Cache-Control", "no-cache")
	}
	h.SetBytesV("X-Request-Id", x.requestID())
	h.Set("Openai-Processing-Ms", x.processingMS())
	for _, kv := range staticHeaders(x.limited) {
		h.Set(kv.key, kv.value)
	}
}

// streamFast writes the events of x, flushing between them when ChunkDelay
// is set.
func (e *epoch) streamFast(w *bufio.Writer, x *exchange) {
	delay := e.s.opt.ChunkDelay
	prev := 0
	for i, end := range x.marks {
		if _, err := w.Write(x.body[prev:end]); err != nil {
			e.Abort()
			return
		}
		prev = end
		if delay > 0 && i < len(x.marks)-1 {
			if w.Flush() != nil {
				e.Abort()
				return
			}
			if !e.Wait(nil, delay) {
				return
			}
		}
	}
	if w.Flush() != nil {
		e.Abort()
	}
}

// stallConn holds a hijacked connection until the client closes it, the
// epoch ends or StallLimit passes.
func (e *epoch) stallConn(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(StallLimit))
	var buf [512]byte
	for {
		if _, err := c.Read(buf[:]); err != nil {
			var ne net.Error
			if !(errors.As(err, &ne) && ne.Timeout()) {
				e.Abort()
			}
			return
		}
	}
}

// cutConn writes the head and part of x's answer by hand and returns, so
// the connection closes without the rest (for streams: without the
// terminating chunk). It reports whether the write went through.
func (e *epoch) cutConn(c net.Conn, x *exchange) bool {
	var b []byte
	if x.sse {
		b = x.appendRawHead(x.scratch[:0], -1)
		prev := 0
		for i := 0; i < x.cut && i < len(x.marks); i++ {
			ev := x.body[prev:x.marks[i]]
			prev = x.marks[i]
			b = strconv.AppendInt(b, int64(len(ev)), 16)
			b = append(b, "\r\n"...)
			b = append(b, ev...)
			b = append(b, "\r\n"...)
		}
	} else {
		b = x.appendRawHead(x.scratch[:0], len(x.body))
		b = append(b, x.body[:len(x.body)/2]...)
	}
	x.scratch = b
	if _, err := c.Write(b); err != nil {
		e.Abort()
		return false
	}
	return true
}

// endlessConn writes the event at x.cut-1 as one more chunk again and
// again until a write fails (the client left) or the epoch ends.
func (e *epoch) endlessConn(c net.Conn, x *exchange) {
	ev := x.body[x.marks[x.cut-2]:x.marks[x.cut-1]]
	b := strconv.AppendInt(nil, int64(len(ev)), 16)
	b = append(b, "\r\n"...)
	b = append(b, ev...)
	b = append(b, "\r\n"...)
	for !e.Ended() {
		if _, err := c.Write(b); err != nil {
			e.Abort()
			return
		}
	}
}

// trackListener remembers its open connections so an epoch can close them
// all at once: fasthttp's Shutdown leaves busy connections alone.
type trackListener struct {
	net.Listener
	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

func (l *trackListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		_ = c.Close()
		return nil, net.ErrClosed
	}
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	return tc, nil
}

func (l *trackListener) closeAll() {
	l.mu.Lock()
	l.closed = true
	conns := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	_ = l.Listener.Close()
	for _, c := range conns {
		_ = c.Close()
	}
}

type trackedConn struct {
	net.Conn
	l    *trackListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
