package server

import (
	"context"
	"testing"

	"github.com/valyala/fasthttp"

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

// chatClient is one connection to the gateway at addr and a chat
// completions request with body, to send over it again and again.
func chatClient(addr, body string) (*fasthttp.HostClient, *fasthttp.Request, *fasthttp.Response) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://" + addr + "/v1/chat/completions")
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	req.SetBodyString(body)
	return &fasthttp.HostClient{Addr: addr, MaxConns: 1}, req, resp
}

func benchChat(b *testing.B, body string) {
	addr := benchGateway(b)
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, req, resp := chatClient(addr, body)
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
	c, req, resp := chatClient(addr, `{"model":"chat","messages":[{"role":"user","content":"Say hello"}],"temperature":0}`)
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
	c := openTestCache(b)
	addr := benchGateway(b, func(o *Options) { o.Cache = c })
	hc, req, resp := chatClient(addr, `{"model":"chat","messages":[{"role":"user","content":"Say hello"}],"temperature":0}`)
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
