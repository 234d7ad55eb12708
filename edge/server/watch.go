package server

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/internal/netpeek"
)

// watcher runs the slow part of a request (a semantic lookup, routing, an
// embedding) while the client's connection is watched, so a client that
// hangs up cancels the upstream request at once instead of leaving it to
// generate tokens nobody will read. A stream's work runs on one goroutine
// of its own (start) while the goroutine that writes the answer waits for
// chunks and watches; a whole answer's work runs on the handler (run) and
// a goroutine watches only if it lasts. A stream's body is written by
// fasthttp's connection goroutine pulling from the exchange
// (exchange.Read), which waits for each next chunk the same way.
//
// fasthttp gives handlers no disconnect signal, and while a response is
// being worked on nothing reads the connection. So the waiting goroutine
// peeks at it (netpeek.Wait): it returns when the client closes or resets
// the connection, and consumes nothing, so a pipelined next request stays
// for fasthttp. The worker ends the wait with a read deadline in the past
// whenever it has something to write.
type watcher struct {
	conn    net.Conn // nil when the connection cannot be watched
	done    chan struct{}
	waiting atomic.Bool // a Wait is (about to be) blocked on conn
	delay   *time.Timer // see await

	// Used only by the goroutine that waits (the handler's, then the
	// connection's, which fasthttp runs after it).
	off  bool // stop watching: bytes of a next request are waiting, or no peeking here
	gone bool // the client hung up; cancel was called
}

// start runs work on its own goroutine; done closes when work returns.
func (w *watcher) start(c *fasthttp.RequestCtx, work func()) {
	w.done = make(chan struct{})
	w.conn = c.Conn()
	go func() {
		defer w.wake()
		defer close(w.done)
		work()
	}()
}

// watchDelay is how long a wait lasts before the connection is watched:
// far below what a client notices, far above a fast answer.
const watchDelay = 20 * time.Millisecond

// run does work on the calling goroutine: for an answer that is written
// whole, nothing needs to wait for a first chunk, so handing work to another
// goroutine would only add a wake-up to every request. Should work last
// watchDelay, a goroutine watches the connection until it returns.
func (w *watcher) run(c *fasthttp.RequestCtx, cancel, work func()) {
	w.done = make(chan struct{})
	w.conn = c.Conn()
	if w.conn == nil {
		work()
		close(w.done)
		return
	}
	exited := make(chan struct{})
	t := time.AfterFunc(watchDelay, func() {
		defer close(exited)
		for !w.off && !w.gone && !w.finished() {
			w.watch(cancel, nil)
		}
	})
	work()
	close(w.done)
	if !t.Stop() {
		w.wake()
		<-exited
	}
}

// aLongTimeAgo is a read deadline in the past: it ends a Wait at once.
var aLongTimeAgo = time.Unix(1, 0)

// wake ends a wait in progress, from the worker; it is cheap when there
// is none.
func (w *watcher) wake() {
	if w.waiting.CompareAndSwap(true, false) {
		_ = w.conn.SetReadDeadline(aLongTimeAgo)
	}
}

func (w *watcher) finished() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// await blocks until the worker queues an event on events (which it
// returns) or is done (nil), watching the connection meanwhile; when the
// client hangs up it calls cancel, and the worker ends soon after. events
// may be nil.
func (w *watcher) await(cancel func(), events chan []byte) []byte {
	if w.conn != nil && !w.off && !w.gone && len(events) == 0 && !w.finished() {
		// Most waits end within microseconds (a fast upstream, the next
		// chunk of a stream); peeking costs a syscall and two wake-ups, so
		// the connection is watched only once a wait has lasted watchDelay.
		if w.delay == nil {
			w.delay = time.NewTimer(watchDelay)
		} else {
			w.delay.Reset(watchDelay)
		}
		select {
		case b := <-events:
			w.delay.Stop()
			return b
		case <-w.done:
			w.delay.Stop()
		case <-w.delay.C:
		}
	}
	for w.conn != nil && !w.off && !w.gone && len(events) == 0 && !w.finished() {
		w.watch(cancel, events)
	}
	select {
	case b := <-events:
		return b
	case <-w.done:
	}
	select {
	case b := <-events:
		return b
	default:
		return nil
	}
}

// watch waits once on the connection. fasthttp sets its own read deadline
// again before it reads the next request, so clearing it here is safe.
func (w *watcher) watch(cancel func(), events chan []byte) {
	if w.conn.SetReadDeadline(time.Time{}) != nil {
		w.off = true
		return
	}
	w.waiting.Store(true)
	// Checked again after waiting is set: an event queued just before it
	// found no one to wake.
	if len(events) > 0 || w.finished() {
		w.waiting.Store(false)
		return
	}
	st, err := netpeek.Wait(w.conn)
	w.waiting.Store(false)
	switch {
	case st == netpeek.Closed:
		w.gone = true
		cancel()
	case st == netpeek.Data, err == netpeek.ErrUnsupported:
		w.off = true
	}
}
