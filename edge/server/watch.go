package server

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// connWatch notices a client that hangs up while its request is being
// served, so the upstream request can be cancelled at once instead of
// generating tokens nobody will read.
//
// fasthttp gives handlers no disconnect signal, and between reading a
// request and writing its response nothing reads the connection. So the
// watch reads it: a blocked Read returns EOF or ECONNRESET when the client
// goes away. Stopping the watch sets a past read deadline to unblock that
// Read. A client that pipelines its next request makes the Read return a
// byte that fasthttp will never see, so in that rare case the connection is
// closed after this response and the client retries on a new one.
//
// The watch starts only after watchDelay: most answers that finish sooner
// (cache hits, a fast upstream) would pay a goroutine and two syscalls for
// nothing, while a generation worth cancelling runs far longer.
type connWatch struct {
	c      *fasthttp.RequestCtx
	conn   net.Conn
	cancel func()
	timer  *time.Timer

	mu      sync.Mutex
	started bool // the reading goroutine runs; done will close
	stopped bool
	done    chan struct{}

	pipelined atomic.Bool
	gone      atomic.Bool
}

// watchDelay is how long a request runs before its connection is watched.
const watchDelay = 20 * time.Millisecond

// watchConn arranges for cancel to be called if the client disconnects
// while c is being served. It returns nil when the connection cannot be
// watched; a nil *connWatch is safe to stop.
func watchConn(c *fasthttp.RequestCtx, cancel func()) *connWatch {
	conn := c.Conn()
	if conn == nil {
		return nil
	}
	w := &connWatch{c: c, conn: conn, cancel: cancel}
	w.timer = time.AfterFunc(watchDelay, w.start)
	return w
}

func (w *connWatch) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	// Clear the deadline fasthttp set for reading the request, or the
	// watch would fire on it. fasthttp restores its own deadlines once the
	// handler's response is written.
	if err := w.c.SetReadDeadline(time.Time{}); err != nil {
		return
	}
	w.started, w.done = true, make(chan struct{})
	go func() {
		defer close(w.done)
		var b [1]byte
		n, err := w.conn.Read(b[:])
		if n > 0 {
			w.pipelined.Store(true)
			return
		}
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			w.gone.Store(true)
			w.cancel()
		}
	}()
}

// stop ends the watch and waits for its goroutine. It must be called
// before the connection is handed back to fasthttp. If the watch swallowed
// a pipelined byte the connection is marked to close; headersSent says the
// response is already on the wire, and then the connection is closed now.
func (w *connWatch) stop(headersSent bool) {
	if w == nil {
		return
	}
	w.timer.Stop()
	w.mu.Lock()
	w.stopped = true
	started := w.started
	w.mu.Unlock()
	if !started {
		return
	}
	_ = w.c.SetReadDeadline(time.Unix(1, 0))
	<-w.done
	if w.pipelined.Load() {
		if headersSent {
			_ = w.conn.Close()
		} else {
			w.c.SetConnectionClose()
		}
	}
}

// clientGone reports whether the watch saw the client disconnect.
func (w *connWatch) clientGone() bool { return w != nil && w.gone.Load() }
