package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/router"
)

// rawExchange writes raw to a new connection to addr and reads one
// response.
func rawExchange(t *testing.T, addr, raw string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp, []byte(b.String())
}

// checkDialectError asserts status, a request id and the error shape of
// the dialect at path.
func checkDialectError(t *testing.T, resp *http.Response, body []byte, path string, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	if resp.Header.Get("x-request-id") == "" {
		t.Errorf("no x-request-id")
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, body)
	}
	switch {
	case strings.HasPrefix(path, "/api/"):
		if _, ok := v["error"].(string); !ok {
			t.Errorf("not Ollama's error shape: %s", body)
		}
	case strings.HasPrefix(path, "/v1/messages"):
		if v["type"] != "error" {
			t.Errorf("not Anthropic's error shape: %s", body)
		}
	default:
		e, ok := v["error"].(map[string]any)
		if !ok || (code != "" && e["code"] != code) {
			t.Errorf("not OpenAI's error shape with code %q: %s", code, body)
		}
	}
	for _, leak := range []string{"fasthttp", "cannot find", "error when reading"} {
		if strings.Contains(strings.ToLower(string(body)), leak) {
			t.Errorf("message shows internals (%q): %s", leak, body)
		}
	}
}

func TestGuard(t *testing.T) {
	base := startServer(t, &fakeRouter{route: replyWords}, Options{
		AllowedOrigins: []string{"https://app.example.com"},
		AllowedHosts:   []string{"edge.lan"},
	})
	const chat = `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`
	const msgs = `{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`
	cases := []struct {
		name   string
		path   string
		body   string
		hdr    []string
		status int
		code   string
	}{
		{"no origin (SDKs, curl)", "/v1/chat/completions", chat, nil, 200, ""},
		{"foreign origin", "/v1/chat/completions", chat, []string{"Origin", "https://evil.example"}, 403, "origin_not_allowed"},
		{"foreign origin anthropic", "/v1/messages", msgs, []string{"Origin", "https://evil.example"}, 403, ""},
		{"foreign origin ollama", "/api/chat", chat, []string{"Origin", "http://evil.example"}, 403, ""},
		{"foreign origin GET", "/v1/models", "", []string{"Origin", "https://evil.example"}, 403, "origin_not_allowed"},
		{"null origin", "/v1/chat/completions", chat, []string{"Origin", "null"}, 403, "origin_not_allowed"},
		{"origin posing as localhost", "/v1/chat/completions", chat, []string{"Origin", "http://localhost.evil.example"}, 403, "origin_not_allowed"},
		{"localhost origin", "/v1/chat/completions", chat, []string{"Origin", "http://localhost:3000"}, 200, ""},
		{"loopback origin", "/v1/chat/completions", chat, []string{"Origin", "http://127.0.0.1:5173"}, 200, ""},
		{"ipv6 loopback origin", "/v1/chat/completions", chat, []string{"Origin", "http://[::1]:5173"}, 200, ""},
		{"configured origin", "/v1/chat/completions", chat, []string{"Origin", "https://App.example.com"}, 200, ""},
		{"rebinding host", "/v1/chat/completions", chat, []string{"Host", "evil.example:8420"}, 403, "host_not_allowed"},
		{"rebinding host ollama", "/api/tags", "", []string{"Host", "evil.example"}, 403, ""},
		{"rebinding host readyz", "/readyz", "", []string{"Host", "evil.example"}, 403, "host_not_allowed"},
		{"healthz by a service name", "/healthz", "", []string{"Host", "edgeway:8420"}, 200, ""},
		{"localhost host", "/v1/chat/completions", chat, []string{"Host", "localhost:8420"}, 200, ""},
		{"ip host", "/v1/chat/completions", chat, []string{"Host", "192.168.1.5:8420"}, 200, ""},
		{"ipv6 host", "/v1/chat/completions", chat, []string{"Host", "[::1]:8420"}, 200, ""},
		{"configured host", "/v1/chat/completions", chat, []string{"Host", "EDGE.lan:8420"}, 200, ""},
		{"text/plain body", "/v1/chat/completions", chat, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"form body anthropic", "/v1/messages", msgs, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, ""},
		{"form body ollama", "/api/chat", chat, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, ""},
		{"no content type", "/v1/chat/completions", chat, []string{"Content-Type", ""}, 415, "unsupported_media_type"},
		{"json with charset", "/v1/chat/completions", chat, []string{"Content-Type", "application/json; charset=utf-8"}, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := "GET"
			if tc.body != "" {
				method = "POST"
			}
			req, _ := http.NewRequest(method, base+tc.path, strings.NewReader(tc.body))
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				if tc.hdr[i] == "Host" {
					req.Host = tc.hdr[i+1]
				} else {
					req.Header.Set(tc.hdr[i], tc.hdr[i+1])
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b strings.Builder
			_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
			if tc.status == 200 {
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, b.String())
				}
				return
			}
			checkDialectError(t, resp, []byte(b.String()), tc.path, tc.status, tc.code)
		})
	}
}

func TestHeaderErrorsInDialect(t *testing.T) {
	base := startServer(t, &fakeRouter{route: replyWords}, Options{})
	addr := strings.TrimPrefix(base, "http://")
	big := strings.Repeat("a", 16<<10)
	cases := []struct {
		name   string
		raw    string
		status int
		code   string
	}{
		{"headers too large", "GET /v1/models HTTP/1.1\r\nHost: localhost\r\nX-Big: " + big + "\r\n\r\n", 431, "headers_too_large"},
		{"malformed header", "GET /v1/models HTTP/1.1\r\nHost: localhost\r\nno colon here\r\n\r\n", 400, "bad_request"},
		{"bad content length", "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: x\r\n\r\n", 400, "bad_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawExchange(t, addr, tc.raw)
			checkDialectError(t, resp, body, "/", tc.status, tc.code)
		})
	}
}

func TestEchoedValuesClipped(t *testing.T) {
	unknown := func(ctx context.Context, req *llm.ChatRequest, st *router.Status, emit func(*llm.Chunk) error) (llm.Usage, error) {
		return llm.Usage{}, &router.UnknownModelError{Model: req.Model}
	}
	base := startServer(t, &fakeRouter{route: unknown}, Options{})
	long := strings.Repeat("m", 1<<20)
	resp, body := post(t, base+"/v1/chat/completions", `{"model":"`+long+`","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 404 || len(body) > 4<<10 {
		t.Errorf("unknown model: status %d, %d bytes echoed of a 1 MB model name", resp.StatusCode, len(body))
	}
	resp, body = post(t, base+"/v1/"+strings.Repeat("p", 6<<10), "{}")
	if resp.StatusCode != 404 || len(body) > 2<<10 {
		t.Errorf("unknown path: status %d, %d bytes", resp.StatusCode, len(body))
	}
}

// A decoding error that quotes client input is bounded too.
func TestDecodeErrorClipped(t *testing.T) {
	base := startServer(t, &fakeRouter{route: replyWords}, Options{})
	long := strings.Repeat("t", 512<<10)
	resp, body := post(t, base+"/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"`+long+`"}]}`)
	if resp.StatusCode != 400 || len(body) > 8<<10 {
		t.Errorf("status %d, %d bytes: %.300s", resp.StatusCode, len(body), body)
	}
}

func TestGuardParsers(t *testing.T) {
	g := newGuardConfig([]string{"https://app.example.com/"}, []string{"Edge.Local"})
	hosts := map[string]bool{
		"": true, "localhost": true, "LOCALHOST:1": true, "a.localhost": true, "localhost.": true,
		"127.0.0.1:8420": true, "10.0.0.7": true, "[::1]:80": true, "[fe80::1]": true, "edge.local:8420": true,
		"evil.example": false, "localhost.evil.example": false, "evillocalhost": false, "[]": false, "[::1": false,
		"a:b:c": false, ":80": false, "1.2.3.4.nip.io": false,
	}
	for h, want := range hosts {
		if got := g.hostAllowed([]byte(h)); got != want {
			t.Errorf("host %q: allowed %v, want %v", h, got, want)
		}
	}
	origins := map[string]bool{
		"http://localhost:3000": true, "https://127.0.0.1": true, "http://[::1]:5173": true, "https://app.example.com": true,
		"HTTPS://APP.EXAMPLE.COM": true, "null": false, "file://": false, "http://10.0.0.7": false,
		"http://127.0.0.1.evil.example": false, "https://app.example.com.evil": false, "http://localhost@evil.example": false,
	}
	for o, want := range origins {
		if got := g.originAllowed([]byte(o)); got != want {
			t.Errorf("origin %q: allowed %v, want %v", o, got, want)
		}
	}
	types := map[string]bool{
		"application/json": true, "Application/JSON; charset=utf-8": true, "application/vnd.api+json": true,
		"": false, "text/plain": false, "application/x-www-form-urlencoded": false, "multipart/form-data": false,
		"application/jsonp": false, "application/+json": false,
	}
	for ct, want := range types {
		if got := jsonContentType([]byte(ct)); got != want {
			t.Errorf("content type %q: JSON %v, want %v", ct, got, want)
		}
	}
}

func FuzzGuard(f *testing.F) {
	for _, s := range []string{"localhost:80", "[::1]:1", "http://127.0.0.1", "application/json; x=1", "[", "", ":", "a.localhost."} {
		f.Add(s)
	}
	g := newGuardConfig([]string{"https://a.example"}, []string{"edge.local"})
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		g.hostAllowed(b)
		g.originAllowed(b)
		jsonContentType(b)
		if len(echo(b)) > 4*maxEchoed+64 {
			t.Errorf("echo of %d bytes is %d bytes", len(b), len(echo(b)))
		}
	})
}

// A page from an allowed origin can use the API from a browser: its
// preflight is answered and the answer readable; a foreign one gets
// neither.
func TestCORS(t *testing.T) {
	base := startServer(t, &fakeRouter{route: replyWords}, Options{AllowedOrigins: []string{"https://app.example.com"}})
	pre := func(origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", base+"/v1/chat/completions", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := pre("https://app.example.com")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		resp.Header.Get("Access-Control-Allow-Headers") != "authorization, content-type" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("allowed preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := pre("https://evil.example"); resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = post(t, base+"/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`, "Origin", "https://app.example.com")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "x-request-id") {
		t.Errorf("allowed request: %d %v", resp.StatusCode, resp.Header)
	}
}

// The guard costs an allowed request no allocation.
func TestGuardAllocs(t *testing.T) {
	s := New(Options{Router: &fakeRouter{route: replyWords}, AllowedHosts: []string{"edge.local"}})
	var c fasthttp.RequestCtx
	c.Request.Header.SetMethod("POST")
	c.Request.SetRequestURI("/v1/chat/completions")
	c.Request.Header.SetHost("Edge.Local:8420")
	c.Request.Header.SetContentType("application/json; charset=utf-8")
	c.Request.Header.Set("Origin", "http://localhost:3000")
	path := c.Path()
	if n := testing.AllocsPerRun(100, func() {
		if !s.guard(&c, path) {
			t.Fatal("refused")
		}
	}); n != 0 {
		t.Errorf("%v allocations per allowed request", n)
	}
}
