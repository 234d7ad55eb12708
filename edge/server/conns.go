package server

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/config"
)

// Connections are bounded, but a connection that does nothing must never
// keep a request out. fasthttp's own bound (Server.Concurrency) counts
// idle and half-sent connections like busy ones and refuses the next
// client with a plain-text 503, so 512 idle sockets from one program lock
// every other client out. The listener below keeps the bound itself:
//
//   - at the bound, a new connection takes the place of the connection
//     that has waited longest without a request in progress (idle
//     keep-alive or never spoke), else of the one that has spent longest
//     sending an unfinished request (slowloris). A connection whose
//     request is being served is never taken;
//   - a peer that is not on loopback holds at most maxConnsPerIP of them
//     (on loopback every local program shares 127.0.0.1, so the reaping
//     is what keeps them apart);
//   - only when every connection is serving a request is a new one
//     refused, and then by the handler, in the dialect of the path it asked
//     for, with a request id (refuseConn). At most maxRefusing refused
//     connections wait for their request line, each for refuseReadTimeout;
//     past that they are closed unanswered.
//
// Header reading has its own timeout (headerTimeout), shorter than the
// body's, so a slow sender is cut off early.

const (
	// refuseReadTimeout bounds how long a refused connection may take to
	// send the request it is refused.
	refuseReadTimeout = 2 * time.Second
	maxRefusing       = 64
	// DefaultHeaderTimeout bounds reading a request's line and headers
	// (and a new connection's wait for its first byte).
	DefaultHeaderTimeout = config.DefaultHeaderTimeout
)

// Connection states, as fasthttp reports them through ConnState.
const (
	connNew int32 = iota
	connActive
	connIdle
)

// guardListener bounds and tracks the server's connections. It is safe for
// concurrent use.
type guardListener struct {
	net.Listener
	max      int
	perIP    int
	mu       sync.Mutex
	conns    map[*guardConn]struct{}
	byIP     map[netip.Addr]int
	refusing atomic.Int64
	reaped   atomic.Int64
}

func newGuardListener(ln net.Listener, limit int) *guardListener {
	return &guardListener{
		Listener: ln,
		max:      limit,
		perIP:    max(16, limit/4),
		conns:    make(map[*guardConn]struct{}, limit),
		byIP:     make(map[netip.Addr]int),
	}
}

// guardConn is one accepted connection and what the server is doing
// with it.
type guardConn struct {
	net.Conn
	l       *guardListener
	ip      netip.Addr // zero on loopback: not counted per IP
	state   atomic.Int32
	since   atomic.Int64 // unix nanos of the last state change
	serving atomic.Bool  // a request was read and its response is not done
	refused bool         // set before the conn is handed out, then read-only
	closed  atomic.Bool
}

// Accept returns the next connection, making room for it if need be.
func (l *guardListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		gc := &guardConn{Conn: c, l: l}
		gc.since.Store(time.Now().UnixNano())
		if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			if a := ta.AddrPort().Addr().Unmap(); !a.IsLoopback() {
				gc.ip = a
			}
		}
		var victim *guardConn
		l.mu.Lock()
		switch {
		case gc.ip.IsValid() && l.byIP[gc.ip] >= l.perIP:
			gc.refused = true
		case len(l.conns) >= l.max:
			if victim = l.victim(); victim == nil {
				gc.refused = true
			}
		}
		if !gc.refused {
			l.conns[gc] = struct{}{}
			if gc.ip.IsValid() {
				l.byIP[gc.ip]++
			}
		}
		l.mu.Unlock()
		if victim != nil {
			l.reaped.Add(1)
			victim.Close()
		}
		if gc.refused {
			if l.refusing.Add(1) > maxRefusing {
				l.refusing.Add(-1)
				c.Close()
				continue
			}
			_ = c.SetDeadline(time.Now().Add(refuseReadTimeout))
		}
		return gc, nil
	}
}

// victim picks the connection to close for a new one: the longest-waiting
// one with no request in progress, else the longest-reading one. l.mu is
// held.
func (l *guardListener) victim() *guardConn {
	var idle, reading *guardConn
	for c := range l.conns {
		if c.serving.Load() || c.closed.Load() {
			continue
		}
		switch c.state.Load() {
		case connNew, connIdle:
			if idle == nil || c.since.Load() < idle.since.Load() {
				idle = c
			}
		case connActive:
			if reading == nil || c.since.Load() < reading.since.Load() {
				reading = c
			}
		}
	}
	if idle != nil {
		return idle
	}
	return reading
}

// open reports how many connections are counted against the bound.
func (l *guardListener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// SyscallConn exposes the socket, so the disconnect watch (netpeek) can
// peek at it through the wrapper.
func (c *guardConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("server: connection has no socket")
	}
	return sc.SyscallConn()
}

// SetReadDeadline keeps a refused connection's short deadline.
func (c *guardConn) SetReadDeadline(t time.Time) error {
	if c.refused {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline keeps a refused connection's short deadline.
func (c *guardConn) SetDeadline(t time.Time) error {
	if c.refused {
		return nil
	}
	return c.Conn.SetDeadline(t)
}

// Close closes the connection and frees its place; it is idempotent.
func (c *guardConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if c.refused {
		c.l.refusing.Add(-1)
	} else {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		if c.ip.IsValid() {
			if c.l.byIP[c.ip]--; c.l.byIP[c.ip] <= 0 {
				delete(c.l.byIP, c.ip)
			}
		}
		c.l.mu.Unlock()
	}
	return c.Conn.Close()
}

// connState is fasthttp's ConnState hook: it tracks what each connection
// is doing, for the choice of a victim.
func connState(nc net.Conn, st fasthttp.ConnState) {
	c, ok := nc.(*guardConn)
	if !ok {
		return
	}
	switch st {
	case fasthttp.StateActive:
		c.state.Store(connActive)
	case fasthttp.StateIdle:
		c.serving.Store(false)
		c.state.Store(connIdle)
	default:
		return
	}
	c.since.Store(time.Now().UnixNano())
}

// serveConn marks c's connection as serving a request, or, for a refused
// connection, answers 503 in the dialect and reports false.
func (s *Server) serveConn(c *fasthttp.RequestCtx, path []byte) bool {
	gc, ok := c.Conn().(*guardConn)
	if !ok {
		return true
	}
	if gc.refused {
		c.SetConnectionClose()
		errorDialect(path).writeError(c, &apiError{status: 503, typ: "server_error", code: "too_many_connections", retryAfter: shedRetryAfter,
			message: "edgeway has no connection to spare: all " + strconv.Itoa(gc.l.max) + " are serving requests, or this address holds its share; retry shortly"})
		return false
	}
	gc.serving.Store(true)
	return true
}
