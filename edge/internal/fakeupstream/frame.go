// Package fakeupstream is the frame edgeway's fake providers (openaitest,
// anthropictest, geminitest) share, so each of them keeps only its wire:
// paths, JSON bodies, SSE event shapes, error bodies and rate-limit headers.
//
// The frame owns a loopback listener that can be refused and reopened on
// the same address (one Epoch per period of listening), the fault mode
// applied to each work request (SetMode, SetModeN), request recording, and
// the timing of answers: latency, paced streams, stalls, cut connections
// and the count of clients that went away.
//
// Modes are each fake's own type. The faults every fake injects come
// first, in the order of ModeOK to ModeUnauthorized, so the frame can name
// and parse them and act on Refuse and Stall itself.
package fakeupstream

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Bounds.
const (
	// StallLimit is how long a stalled request is held at most.
	StallLimit = 2 * time.Minute
	// closeWait bounds how long Close waits for running handlers.
	closeWait = 5 * time.Second
	// relistenWait bounds how long leaving Refuse retries binding the port.
	relistenWait = 2 * time.Second
)

// Frame is the listening and fault machinery of one fake server. A fake
// embeds it by value; its zero value records and takes modes but does not
// listen until Start. All methods are safe for concurrent use.
type Frame[M ~int] struct{ c core }

// core is the part of a Frame that does not depend on the mode type.
type core struct {
	name       string // the fake's package name, prefixing errors
	addr       string // host:port actually bound; kept across Refuse
	serve      ServeFunc
	chunkDelay time.Duration

	base     atomic.Int32 // the mode when pending is exhausted
	pending  atomic.Int64 // SetModeN's mode (high 32 bits) and remaining count
	requests atomic.Int64
	aborted  atomic.Int64
	active   atomic.Int64 // handlers running, for Close to wait on
	closing  atomic.Bool

	mu     sync.Mutex // guards cur and closed
	cur    *Epoch     // nil while refusing or closed
	closed bool

	lastMu sync.Mutex
	last   []byte
}

// Config is how Start listens and serves.
type Config struct {
	// Name is the fake's package name, prefixing errors.
	Name string
	// Addr is a loopback host:port, as Check leaves it.
	Addr string
	// ChunkDelay pauses WriteEvents between events.
	ChunkDelay time.Duration
	// Serve serves each epoch; HTTP(handler) for net/http.
	Serve ServeFunc
}

// ServeFunc prepares serving one epoch on ln. serve runs until stop has
// closed the listener and every connection.
type ServeFunc func(e *Epoch, ln net.Listener) (serve, stop func())

// Start listens on c.Addr and serves the first epoch of f, the frame of
// the fake s: it is the end of a fake's New, returning s or the error.
func Start[S any, M ~int](s *S, f *Frame[M], c Config) (*S, error) {
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen: %w", c.Name, err)
	}
	fc := &f.c
	fc.name, fc.addr, fc.serve, fc.chunkDelay = c.Name, ln.Addr().String(), c.Serve, c.ChunkDelay
	fc.mu.Lock()
	fc.cur = fc.startEpoch(ln)
	fc.mu.Unlock()
	return s, nil
}

// NewT is a fake's NewT: it starts a server with newServer(o), fails tb
// on error and closes the server when the test ends.
func NewT[S interface{ Close() error }, O any](tb testing.TB, newServer func(O) (S, error), o O) S {
	tb.Helper()
	s, err := newServer(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// Addr returns the host:port the server listens on (also while refusing).
func (f *Frame[M]) Addr() string { return f.c.addr }

// SetMode makes subsequent work requests fail (or succeed) as m says and
// cancels what SetModeN left pending. Entering Refuse also closes every
// open connection, so a client's next request on a kept-alive connection
// fails, and new connections are refused. Leaving Refuse listens again at
// the same address.
func (f *Frame[M]) SetMode(m M) {
	c := &f.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending.Store(0)
	c.base.Store(int32(m))
	if m == ModeRefuse {
		c.stopLocked()
		return
	}
	c.listenLocked()
}

// SetModeN gives the next n work requests mode m and then returns to OK.
// Refuse under SetModeN keeps listening and closes each counted request's
// connection without an answer, because a closed listener cannot count
// requests.
func (f *Frame[M]) SetModeN(m M, n int) {
	c := &f.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base.Store(ModeOK)
	c.listenLocked()
	if n <= 0 {
		c.pending.Store(0)
		return
	}
	n = min(n, 1<<31-1)
	c.pending.Store(int64(m)<<32 | int64(n))
}

// Take returns the mode for one work request, consuming SetModeN.
func Take[M ~int](f *Frame[M]) M { return M(f.c.take()) }

// Base returns the mode set by SetMode, which requests outside the work
// endpoints (model lists) feel only when it is Refuse.
func Base[M ~int](f *Frame[M]) M { return M(f.c.base.Load()) }

func (c *core) take() int {
	for {
		p := c.pending.Load()
		if p&0xffffffff == 0 {
			return int(c.base.Load())
		}
		if c.pending.CompareAndSwap(p, p-1) {
			return int(p >> 32)
		}
	}
}

// Record counts a request and keeps a copy of its body for LastRequest.
func Record[M ~int](f *Frame[M], body []byte) {
	c := &f.c
	c.requests.Add(1)
	c.lastMu.Lock()
	if cap(c.last) > 1<<20 && len(body) < cap(c.last)/4 {
		c.last = nil // do not pin a huge buffer after one big request
	}
	c.last = append(c.last[:0], body...)
	c.lastMu.Unlock()
}

// Requests returns how many requests the fake recorded (which ones is the
// fake's to say: its main work endpoint).
func (f *Frame[M]) Requests() int64 { return f.c.requests.Load() }

// Aborted returns how many requests saw their client disconnect before the
// answer was complete (during latency, between streamed events, on a
// failed write or while stalled), which lets a test assert that a
// cancellation reached the upstream.
func (f *Frame[M]) Aborted() int64 { return f.c.aborted.Load() }

// LastRequest returns a copy of the body of the last recorded request.
func (f *Frame[M]) LastRequest() []byte {
	c := &f.c
	c.lastMu.Lock()
	defer c.lastMu.Unlock()
	if c.last == nil {
		return nil
	}
	return append([]byte(nil), c.last...)
}

// Close stops listening, closes every connection and waits (boundedly) for
// running handlers to return. Stalled requests end without counting as
// aborted.
func (f *Frame[M]) Close() error {
	c := &f.c
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.closing.Store(true)
	c.stopLocked()
	c.mu.Unlock()
	deadline := time.Now().Add(closeWait)
	for c.active.Load() > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: close: handlers still running", c.name)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

func (c *core) stopLocked() {
	if c.cur == nil {
		return
	}
	e := c.cur
	c.cur = nil
	close(e.done)
	e.stop()
	<-e.served
}

func (c *core) listenLocked() {
	if c.cur != nil || c.closed || c.serve == nil {
		return // already listening, closed, or never started
	}
	deadline := time.Now().Add(relistenWait)
	for {
		ln, err := net.Listen("tcp", c.addr)
		if err == nil {
			c.cur = c.startEpoch(ln)
			return
		}
		if time.Now().After(deadline) {
			// The port was taken meanwhile: clients keep seeing refused
			// connections, which a test notices.
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *core) startEpoch(ln net.Listener) *Epoch {
	e := &Epoch{c: c, done: make(chan struct{}), served: make(chan struct{})}
	serve, stop := c.serve(e, ln)
	e.stop = stop
	go func() {
		defer close(e.served)
		serve()
	}()
	return e
}

// Epoch is one period of listening; Refuse ends it, leaving Refuse starts
// a new one on the same address. Handlers get the epoch they serve in.
type Epoch struct {
	c      *core
	done   chan struct{} // closed when the epoch ends
	served chan struct{} // closed when serve returns
	stop   func()
}

// HTTP serves epochs with net/http, which notices a client going away at
// any point (the request context ends). h runs between Enter and Leave;
// requests arriving while the server closes are dropped.
func HTTP(h func(e *Epoch, w http.ResponseWriter, r *http.Request)) ServeFunc {
	return func(e *Epoch, ln net.Listener) (serve, stop func()) {
		srv := &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !e.Enter() {
					Drop(w)
					return
				}
				defer e.Leave()
				h(e, w, r)
			}),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          log.New(io.Discard, "", 0),
		}
		return func() { _ = srv.Serve(ln) }, func() { _ = srv.Close() }
	}
}

// Enter registers a running handler; it fails once Close has begun. A
// handler that entered must Leave.
func (e *Epoch) Enter() bool {
	e.c.active.Add(1)
	if e.c.closing.Load() {
		e.c.active.Add(-1)
		return false
	}
	return true
}

// Leave ends what Enter began.
func (e *Epoch) Leave() { e.c.active.Add(-1) }

// Done is closed when the epoch ends.
func (e *Epoch) Done() <-chan struct{} { return e.done }

// Ended reports whether the epoch is over, so a handler woken by the
// server closing its connection does not count an abort.
func (e *Epoch) Ended() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// Abort counts a client disconnect unless the server itself is closing
// the connections.
func (e *Epoch) Abort() {
	if !e.Ended() {
		e.c.aborted.Add(1)
	}
}

// Wait sleeps d unless the epoch ends or gone closes first; it counts an
// abort when the client left and reports whether the sleep completed.
func (e *Epoch) Wait(gone <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.done:
		return false
	case <-gone:
		e.Abort()
		return false
	}
}

// Stall holds a request until its client leaves (gone closes, which counts
// an abort), the epoch ends or StallLimit passes.
func (e *Epoch) Stall(gone <-chan struct{}) { e.Wait(gone, StallLimit) }

// Begin acts on the modes every fake handles alike before it answers a
// work request: Refuse drops the connection, Stall holds the request and
// then drops it, and any other mode first waits latency. It reports
// whether the handler goes on to answer.
func (e *Epoch) Begin(w http.ResponseWriter, gone <-chan struct{}, mode int, latency time.Duration) bool {
	switch mode {
	case ModeRefuse:
		Drop(w)
		return false
	case ModeStall:
		e.Stall(gone)
		Drop(w)
		return false
	}
	return latency <= 0 || e.Wait(gone, latency)
}

// Drop closes the connection without (the rest of) a response.
func Drop(w http.ResponseWriter) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	_ = c.Close()
}

// ErrTooLarge is ReadBody's error for a body over its limit.
var ErrTooLarge = errors.New("fakeupstream: request body too large")

// ReadBody reads a whole body into buf (reused), up to max bytes; hint is
// the declared length, or -1. It reads to EOF so net/http starts watching
// the connection for the client closing it.
func ReadBody(r io.Reader, buf []byte, hint int64, max int) ([]byte, error) {
	buf = buf[:0]
	if hint > int64(max) {
		return buf, ErrTooLarge
	}
	if hint > 0 && int64(cap(buf)) < hint+1 {
		buf = make([]byte, 0, hint+1)
	}
	for {
		if len(buf) == cap(buf) {
			if len(buf) > max {
				return buf, ErrTooLarge
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > max {
			return buf, ErrTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
