package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/testkit"
)

// startGuarded starts a server for r and returns it with its address.
func startGuarded(t *testing.T, r Router, o Options) (*Server, string) {
	t.Helper()
	o.Router = r
	s := New(o)
	ln := testkit.Listen(t)
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	testkit.Until(t, "serving", func() bool { return s.conns.Load() != nil })
	return s, ln.Addr().String()
}

// dialN opens n connections to addr and sends each prefix (which may be
// empty), closing them when the test ends.
func dialN(t *testing.T, addr string, n int, prefix string) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if prefix != "" {
			if _, err := io.WriteString(c, prefix); err != nil {
				t.Fatal(err)
			}
		}
		conns = append(conns, c)
	}
	return conns
}

// freshChat makes one chat request on a new connection.
func freshChat(t *testing.T, addr, path string) (*http.Response, []byte) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("POST", "http://"+addr+path, strings.NewReader(`{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// Idle connections, and connections sending a request slowly, never keep
// a client out: they make room for it.
func TestIdleConnectionsNeverStarve(t *testing.T) {
	for _, tc := range []struct {
		name   string
		prefix string // what each hogging connection sends, and then nothing
		state  int32
	}{
		{"never speak", "", connNew},
		{"half a request (slowloris)", "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: appl", connActive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The default bound with MaxConcurrency 1 is 260 connections.
			s, addr := startGuarded(t, &fakeRouter{route: replyWords}, Options{MaxConcurrency: 1})
			gl := s.conns.Load()
			dialN(t, addr, gl.max, tc.prefix)
			testkit.Until(t, "every hogging connection accepted and in its state", func() bool {
				gl.mu.Lock()
				defer gl.mu.Unlock()
				n := 0
				for c := range gl.conns {
					if c.state.Load() == tc.state {
						n++
					}
				}
				return n == gl.max
			})
			for i := range 3 {
				resp, body := freshChat(t, addr, "/v1/chat/completions")
				if resp.StatusCode != 200 {
					t.Fatalf("request %d with %d hogging connections: status %d: %s", i, gl.max, resp.StatusCode, body)
				}
			}
			// The first request took a hog's place; its own connection then
			// closed and left room for the next.
			if gl.reaped.Load() < 1 || gl.open() > gl.max {
				t.Errorf("reaped %d, open %d of %d", gl.reaped.Load(), gl.open(), gl.max)
			}
		})
	}
}

// Only when every connection is serving a request is a new one refused,
// and then in the dialect of its path, with a request id.
func TestRefusedConnectionInDialect(t *testing.T) {
	started := make(chan struct{}, 2)
	f := blockingRouter(started)
	_, addr := startGuarded(t, f, Options{MaxConns: 2, MaxConcurrency: 8})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 2 {
		go func() {
			req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/v1/chat/completions", strings.NewReader(`{"model":"chat","messages":[{"role":"user","content":"hi"}]}`))
			req.Header.Set("Content-Type", "application/json")
			if resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	<-started
	<-started
	for _, path := range []string{"/v1/chat/completions", "/v1/messages", "/api/chat"} {
		resp, body := freshChat(t, addr, path)
		checkDialectError(t, resp, body, path, 503, "too_many_connections")
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", path)
		}
	}
}

// addrConn is a pipe end that claims to come from addr.
type addrConn struct {
	net.Conn
	addr net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.addr }

// chanListener hands out the conns sent on it.
type chanListener struct{ ch chan net.Conn }

func (l chanListener) Accept() (net.Conn, error) {
	c, ok := <-l.ch
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (l chanListener) Close() error   { return nil }
func (l chanListener) Addr() net.Addr { return &net.TCPAddr{} }

// A peer off loopback holds at most its share of the connections; the
// next one from it is refused while others still get in.
func TestPerPeerConnectionCap(t *testing.T) {
	ln := chanListener{ch: make(chan net.Conn, 1)}
	gl := newGuardListener(ln, 64) // 16 per peer
	from := func(ip string) *guardConn {
		t.Helper()
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		ln.ch <- addrConn{Conn: a, addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 1234}}
		c, err := gl.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return c.(*guardConn)
	}
	var held []*guardConn
	for range gl.perIP {
		if c := from("192.0.2.1"); c.refused {
			t.Fatalf("refused within the share (%d held)", len(held))
		} else {
			held = append(held, c)
		}
	}
	if c := from("192.0.2.1"); !c.refused {
		t.Errorf("connection %d from one peer accepted; its share is %d", gl.perIP+1, gl.perIP)
	}
	if c := from("192.0.2.2"); c.refused {
		t.Errorf("another peer refused")
	}
	for range 3 * gl.perIP {
		if c := from("127.0.0.1"); c.refused {
			t.Fatalf("loopback refused: loopback peers share the address and are not capped per peer")
		}
	}
	held[0].Close()
	if c := from("192.0.2.1"); c.refused {
		t.Errorf("refused after one of the peer's connections closed")
	}
}
