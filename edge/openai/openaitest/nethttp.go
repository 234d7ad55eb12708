package openaitest

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"strconv"
	"time"
)

// The net/http frontend: the default, because it notices a client going
// away (the request context ends) at any point, which Aborted relies on.

// netHeader is a static header with its value pre-wrapped for http.Header,
// so setting it allocates nothing. The slices are shared and never written.
type netHeader struct {
	key   string
	value []string
}

func netHeaders(hs []header) []netHeader {
	out := make([]netHeader, len(hs))
	for i, h := range hs {
		out[i] = netHeader{h.key, []string{h.value}}
	}
	return out
}

var (
	netNormalHeaders  = netHeaders(normalHeaders)
	netLimitedHeaders = netHeaders(limitedHeaders)
	netCTJSON         = []string{contentTypeJSON}
	netCTSSE          = []string{contentTypeSSE}
	netNoCache        = []string{"no-cache"}
)

func (e *epoch) startNet() {
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	e.stop = func() { _ = srv.Close() }
	go func() {
		defer close(e.served)
		_ = srv.Serve(e.ln)
	}()
}

// ServeHTTP serves one request of the epoch.
func (e *epoch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := e.s
	if !s.enter() {
		dropNet(w)
		return
	}
	defer s.leave()
	x := getExchange(s)
	defer putExchange(x)

	ep, modelID := routeOf(r.Method, r.URL.Path)
	if ep == epNotFound {
		s.notFound(x, r.Method, r.URL.Path)
	} else {
		var err error
		x.in, err = readBody(r.Body, x.in, r.ContentLength)
		switch {
		case errors.Is(err, errTooLarge):
			s.tooLarge(x)
		case err != nil:
			return // the client is gone mid-body
		default:
			x.auth = append(x.auth[:0], r.Header.Get("Authorization")...)
			s.serve(x, ep, x.in, modelID)
		}
	}
	e.deliverNet(w, r, x)
}

var errTooLarge = errors.New("openaitest: request body too large")

// readBody reads a whole body into buf, up to MaxBodyBytes. It reads to EOF
// so net/http starts watching the connection for the client closing it.
func readBody(r io.Reader, buf []byte, hint int64) ([]byte, error) {
	buf = buf[:0]
	if hint > MaxBodyBytes {
		return buf, errTooLarge
	}
	if hint > 0 && int64(cap(buf)) < hint+1 {
		buf = make([]byte, 0, hint+1)
	}
	for {
		if len(buf) == cap(buf) {
			if len(buf) > MaxBodyBytes {
				return buf, errTooLarge
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > MaxBodyBytes {
			return buf, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// wait sleeps d unless the epoch ends or gone closes first; it counts an
// abort when the client left.
func (e *epoch) wait(gone <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.done:
		return false
	case <-gone:
		e.abort()
		return false
	}
}

// abort counts a client disconnect unless the server itself is closing the
// connections.
func (e *epoch) abort() {
	if !e.ended() {
		e.s.stats.aborted.Add(1)
	}
}

func (e *epoch) deliverNet(w http.ResponseWriter, r *http.Request, x *exchange) {
	s := e.s
	ctx := r.Context()
	if x.delay && !e.wait(ctx.Done(), s.opt.Latency) {
		return
	}
	switch x.act {
	case actDrop:
		dropNet(w)
		return
	case actStall:
		e.stallNet(ctx)
		dropNet(w)
		return
	}
	h := w.Header()
	if x.sse {
		h["Content-Type"] = netCTSSE
		h["Cache-Control"] = netNoCache
	} else {
		h["Content-Type"] = netCTJSON
	}
	h["X-Request-Id"] = []string{string(x.requestID())}
	h["Openai-Processing-Ms"] = []string{x.processingMS()}
	hs := netNormalHeaders
	if x.limited {
		hs = netLimitedHeaders
	}
	for _, kv := range hs {
		h[kv.key] = kv.value
	}
	switch x.act {
	case actRespond:
		h["Content-Length"] = []string{strconv.Itoa(len(x.body))}
		w.WriteHeader(x.status)
		_, _ = w.Write(x.body)
	case actStream:
		w.WriteHeader(x.status)
		e.streamNet(w, ctx, x, len(x.marks))
	case actCut:
		if x.sse {
			w.WriteHeader(x.status)
			if !e.streamNet(w, ctx, x, x.cut) {
				return
			}
		} else {
			h["Content-Length"] = []string{strconv.Itoa(len(x.body))}
			w.WriteHeader(x.status)
			if _, err := w.Write(x.body[:len(x.body)/2]); err != nil {
				return
			}
			_ = http.NewResponseController(w).Flush()
		}
		dropNet(w)
	}
}

// streamNet writes the first n events of x and flushes; it reports whether
// all were delivered.
func (e *epoch) streamNet(w http.ResponseWriter, ctx context.Context, x *exchange, n int) bool {
	rc := http.NewResponseController(w)
	delay := e.s.opt.ChunkDelay
	prev := 0
	for i := 0; i < n; i++ {
		end := x.marks[i]
		if _, err := w.Write(x.body[prev:end]); err != nil {
			e.abort()
			return false
		}
		prev = end
		if delay > 0 && i < n-1 {
			if rc.Flush() != nil {
				e.abort()
				return false
			}
			if !e.wait(ctx.Done(), delay) {
				return false
			}
		}
	}
	if rc.Flush() != nil {
		e.abort()
		return false
	}
	return true
}

// stallNet holds a request until its client leaves, the epoch ends or
// StallLimit passes.
func (e *epoch) stallNet(ctx context.Context) {
	t := time.NewTimer(StallLimit)
	defer t.Stop()
	select {
	case <-t.C:
	case <-e.done:
	case <-ctx.Done():
		e.abort()
	}
}

// dropNet closes the connection without (the rest of) a response.
func dropNet(w http.ResponseWriter) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	_ = c.Close()
}
