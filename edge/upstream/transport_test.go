package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/testkit"
)

func newClient(t *Transport) *http.Client { return &http.Client{Transport: t} }

func get(t *testing.T, c *http.Client, ctx context.Context, method, url, body string) (*http.Response, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

// connCountingServer starts h, closed when the test ends, and counts the
// connections clients open to it.
func connCountingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	conns := new(atomic.Int64)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, conns
}

func TestBodies(t *testing.T) {
	srv, conns := connCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		in, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", "5")
			w.Write([]byte("hello"))
		case "/chunked":
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "data: %d\n\n", i)
				w.(http.Flusher).Flush()
			}
		case "/empty":
			w.WriteHeader(204)
		case "/echo":
			w.Header().Set("X-Method", r.Method)
			w.Write(append([]byte(r.URL.RawQuery+"|"), in...))
		}
	})
	c := newClient(New(Options{}))
	tests := []struct {
		name, method, path, body, want string
		status                         int
	}{
		{"content-length", "GET", "/length", "", "hello", 200},
		{"chunked", "GET", "/chunked", "", "data: 0\n\ndata: 1\n\ndata: 2\n\n", 200},
		{"no content", "GET", "/empty", "", "", 204},
		{"post echo", "POST", "/echo?x=1", `{"a":1}`, `x=1|{"a":1}`, 200},
		{"head", "HEAD", "/length", "", "", 200},
	}
	for round := 0; round < 3; round++ {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				resp, got, err := get(t, c, context.Background(), tc.method, srv.URL+tc.path, tc.body)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != tc.status || got != tc.want {
					t.Errorf("status %d body %q, want %d %q", resp.StatusCode, got, tc.status, tc.want)
				}
			})
		}
	}
	// Every body was read to its end, so one keep-alive connection served
	// all 15 requests in turn.
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for sequential requests, want 1", n)
	}
}

func TestCancelAbortsBlockedRead(t *testing.T) {
	gone := make(chan struct{}, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// net/http notices a client hang-up only once the body is read.
		io.ReadAll(r.Body)
		if r.URL.Path == "/stream" {
			w.Write([]byte("data: first\n\n"))
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done() // stall until the client goes away
		gone <- struct{}{}
	}))
	defer srv.Close()
	c := newClient(New(Options{}))
	for _, path := range []string{"/headers", "/stream"} {
		t.Run(path, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			start := time.Now()
			req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+path, strings.NewReader("{}"))
			resp, err := c.Do(req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("cancel took %v", d)
			}
			select {
			case <-gone:
			case <-time.After(5 * time.Second):
				t.Fatal("upstream never saw the connection close")
			}
		})
	}
}

func TestEarlyCloseDropsConnection(t *testing.T) {
	srv, conns := connCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 20000; i++ { // far more than one read buffers
			fmt.Fprintf(w, "chunk %d\n", i)
		}
	})
	c := newClient(New(Options{}))
	for i := 0; i < 2; i++ {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(resp.Body)
		br.ReadString('\n')
		resp.Body.Close() // unread rest: the connection cannot be reused
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestDropsStaleIdleConnection(t *testing.T) {
	// A raw server that answers one request per connection and then closes
	// it without saying so, like an upstream whose idle timeout is short.
	ln := testkit.Listen(t)
	var served atomic.Int64
	closed := make(chan struct{}, 8) // one per connection the server closed
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() {
					conn.Close()
					closed <- struct{}{}
				}()
				br := bufio.NewReader(conn)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				served.Add(1)
				io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}()
		}
	}()
	c := newClient(New(Options{}))
	for i := 0; i < 3; i++ {
		_, body, err := get(t, c, context.Background(), "POST", "http://"+ln.Addr().String()+"/", "x")
		if err != nil || body != "ok" {
			t.Fatalf("request %d: %v %q", i, err, body)
		}
		// The next request must find the pooled connection already closed
		// by the server (on loopback the FIN has landed when Close returns).
		select {
		case <-closed:
		case <-time.After(testkit.Patience):
			t.Fatalf("request %d: the server did not close its connection", i)
		}
	}
	if served.Load() != 3 {
		t.Errorf("served %d", served.Load())
	}
}

func TestRefused(t *testing.T) {
	addr := testkit.RefusedAddr(t)
	c := newClient(New(Options{}))
	_, _, err := get(t, c, context.Background(), "GET", "http://"+addr+"/", "")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v (%T), want ECONNREFUSED in the chain", err, err)
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("secure")) }))
	defer srv.Close()
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	c := newClient(New(Options{TLSConfig: &tls.Config{RootCAs: pool}}))
	_, body, err := get(t, c, context.Background(), "GET", srv.URL, "")
	if err != nil || body != "secure" {
		t.Fatalf("%v %q", err, body)
	}
}

func TestProxiedRequestsUseNetHTTP(t *testing.T) {
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		w.Write([]byte("via proxy " + r.URL.Host))
	}))
	defer proxy.Close()
	direct := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("direct")) }))
	defer direct.Close()
	pu, _ := url.Parse(proxy.URL)
	// Like HTTP_PROXY with NO_PROXY=127.0.0.1: only the .invalid host is proxied.
	c := newClient(New(Options{Proxy: func(r *http.Request) (*url.URL, error) {
		if r.URL.Hostname() == "upstream.invalid" {
			return pu, nil
		}
		return nil, nil
	}}))
	tests := []struct{ url, want string }{
		{"http://upstream.invalid/", "via proxy upstream.invalid"},
		{direct.URL, "direct"},
		{"http://upstream.invalid/again", "via proxy upstream.invalid"},
	}
	for _, tc := range tests {
		_, body, err := get(t, c, context.Background(), "GET", tc.url, "")
		if err != nil || body != tc.want {
			t.Errorf("%s: %v %q, want %q", tc.url, err, body, tc.want)
		}
	}
	if proxied.Load() != 2 {
		t.Errorf("proxy saw %d requests, want 2", proxied.Load())
	}
}

func TestCopyHeader(t *testing.T) {
	var h fasthttp.ResponseHeader
	if err := h.Read(bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nx-ratelimit-remaining-requests: 9\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n"))); err != nil {
		t.Fatal(err)
	}
	dst := http.Header{}
	copyHeader(dst, &h)
	if dst.Get("content-type") != "text/event-stream" || dst.Get("X-Ratelimit-Remaining-Requests") != "9" || len(dst.Values("Content-Length")) != 1 {
		t.Errorf("got %v", dst)
	}
	// Values must not share capacity: appending to one must not touch another.
	ct := dst["Content-Type"]
	_ = append(ct, "x")
	if dst.Get("X-Ratelimit-Remaining-Requests") != "9" {
		t.Error("values alias each other")
	}
}
