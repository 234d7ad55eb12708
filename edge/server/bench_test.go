package server

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/edge/cache"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/openai"
	"github.com/edgeway/edgeway/edge/openai/openaitest"
	"github.com/edgeway/edgeway/edge/router"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/edge/upstream"
)

// benchGateway wires the real path — fasthttp server, decoder, router,
// OpenAI client — in front of the fake upstream, on loopback.
func benchGateway(b *testing.B, opts ...func(*Options)) string {
	b.Helper()
	fake, err := openaitest.New(openaitest.Options{FastHTTP: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { fake.Close() })
	up, err := openai.New(openai.Options{Endpoint: upstream.Endpoint{Name: "cloud", BaseURL: fake.URL()}})
	if err != nil {
		b.Fatal(err)
	}
	r, err := router.New(router.Config{
		Upstreams: []router.Upstream{{Name: "cloud", Type: "openai", Provider: up, MaxInFlight: 1024}},
		Aliases:   map[string][]string{"chat": {"cloud/gpt-4o-mini"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	o := Options{Router: r, MaxConcurrency: 1024}
	for _, f := range opts {
		f(&o)
	}
	s := New(o)
	ln := testkit.Listen(b)
	go s.Serve(ln)
	b.Cleanup(func() { s.Shutdown(context.Background()) })
	return ln.Addr().String()
}

func benchChat(b *testing.B, body string) {
	addr := benchGateway(b)
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := &fasthttp.HostClient{Addr: addr, MaxConns: 1}
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + addr + "/v1/chat/completions")
		req.Header.SetMethod("POST")
		req.Header.SetContentType("application/json")
		req.SetBodyString(body)
		for pb.Next() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Fatalf("%v %d %s", err, resp.StatusCode(), resp.Body())
			}
		}
	})
}

// BenchmarkGatewayChat measures a whole non-streaming request through the
// gateway; allocations include the fake upstream's.
func BenchmarkGatewayChat(b *testing.B) {
	benchChat(b, `{"model":"chat","messages":[{"role":"user","content":"Say hello"}],"temperature":0}`)
}

// BenchmarkGatewayChatStream is the same with an SSE stream.
func BenchmarkGatewayChatStream(b *testing.B) {
	benchChat(b, `{"model":"chat","stream":true,"messages":[{"role":"user","content":"Say hello"}],"temperature":0}`)
}

var _ llm.Provider = (*openai.Client)(nil)

// BenchmarkGatewayChatSerial is one client, one request at a time: the
// latency the gateway adds when the device is quiet.
func BenchmarkGatewayChatSerial(b *testing.B) {
	addr := benchGateway(b)
	c := &fasthttp.HostClient{Addr: addr, MaxConns: 1}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://" + addr + "/v1/chat/completions")
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	req.SetBodyString(`{"model":"chat","messages":[{"role":"user","content":"Say hello"}],"temperature":0}`)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			b.Fatalf("%v %d %s", err, resp.StatusCode(), resp.Body())
		}
	}
}

// BenchmarkGatewayCacheHit is a non-streaming request answered from the
// exact cache: decode, key, lookup, encode.
func BenchmarkGatewayCacheHit(b *testing.B) {
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "edgeway.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	c, err := cache.Open(db, cache.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(); db.Close() })
	addr := benchGateway(b, func(o *Options) { o.Cache = c })
	hc := &fasthttp.HostClient{Addr: addr, MaxConns: 1}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://" + addr + "/v1/chat/completions")
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	req.SetBodyString(`{"model":"chat","messages":[{"role":"user","content":"Say hello"}],"temperature":0}`)
	if err := hc.Do(req, resp); err != nil {
		b.Fatal(err)
	}
	c.Flush(context.Background())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := hc.Do(req, resp); err != nil || string(resp.Header.Peek("x-edgeway-cache")) != "hit" {
			b.Fatalf("%v %s", err, resp.Header.Peek("x-edgeway-cache"))
		}
	}
}
