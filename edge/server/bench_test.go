package server

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/edge/keys"
	"github.com/edgeway/edgeway/edge/limits"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/openai"
	"github.com/edgeway/edgeway/edge/openai/openaitest"
	"github.com/edgeway/edgeway/edge/router"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/edge/upstream"
	"github.com/edgeway/edgeway/sync/usage"
)

// benchGateway wires the real path — fasthttp server, decoder, router,
// OpenAI client — in front of the fake upstream, on loopback.
func benchGateway(b *testing.B, opts ...func(*Options)) string {
	b.Helper()
	// EDGEWAY_BENCH_LATENCY (a Go duration) makes the fake upstream take
	// as long as a model does, to see what the gateway's own costs weigh
	// against a real answer's.
	latency, _ := time.ParseDuration(os.Getenv("EDGEWAY_BENCH_LATENCY"))
	fake, err := openaitest.New(openaitest.Options{FastHTTP: true, Latency: latency})
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

func benchChat(b *testing.B, body string, opts ...func(*Options)) {
	benchChatAs(b, body, nil, opts...)
}

// benchChatAs is benchChat with each client goroutine sending key(i) as
// its API key (none when key is nil).
// benchParallelism is goroutines per core for the parallel gateway
// benchmarks: 4 by default (8 clients on 2 cores), EDGEWAY_BENCH_PAR to
// see how the gateway holds up under more.
func benchParallelism() int {
	if n, err := strconv.Atoi(os.Getenv("EDGEWAY_BENCH_PAR")); err == nil && n > 0 {
		return n
	}
	return 4
}

func benchChatAs(b *testing.B, body string, key func(int) string, opts ...func(*Options)) {
	addr := benchGateway(b, opts...)
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(benchParallelism())
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, req, resp := chatClient(addr, body)
		if key != nil {
			req.Header.Set("Authorization", "Bearer "+key(int(next.Add(1))))
		}
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

// BenchmarkGatewayChatLogged is BenchmarkGatewayChat with the request
// log on (text, info, to io.Discard): what the line per request costs.
func BenchmarkGatewayChatLogged(b *testing.B) {
	benchChat(b, `{"model":"chat","messages":[{"role":"user","content":"Say hello"}],"temperature":0}`,
		func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) })
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

// BenchmarkGatewayChatKeys is BenchmarkGatewayChat with governance on: 100
// virtual keys with limits in a team, every request authenticated,
// admitted, priced and recorded durably in a real bbolt ledger (group
// commit). The target: at least 90% of BenchmarkGatewayChat's
// req/s in the same run.
func BenchmarkGatewayChatKeys(b *testing.B) { benchKeys(b, usage.SyncFsync) }

// BenchmarkGatewayChatKeysSyncWrite is the same with ledger.sync: write
// (records survive a kill at once, a power cut once bbolt has them).
func BenchmarkGatewayChatKeysSyncWrite(b *testing.B) { benchKeys(b, usage.SyncWrite) }

func benchKeys(b *testing.B, sync usage.SyncMode) {
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "gov.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	st, err := keys.Open(db, nil)
	if err != nil {
		b.Fatal(err)
	}
	led, err := usage.Open(db, usage.Options{Sync: sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { led.Close() })
	if _, err := st.PutTeam(keys.Team{Name: "t", Policy: keys.Policy{RPM: 1 << 40, BudgetUSD: 1e9}}, true); err != nil {
		b.Fatal(err)
	}
	var secrets []string
	for i := range 100 {
		s, _, err := st.CreateKey(keys.KeySpec{Name: "k" + strconv.Itoa(i), Team: "t", Policy: keys.Policy{RPM: 1 << 40, TPM: 1 << 50}})
		if err != nil {
			b.Fatal(err)
		}
		secrets = append(secrets, s)
	}
	benchChatAs(b, `{"model":"chat","messages":[{"role":"user","content":"Say hello"}],"temperature":0}`,
		func(i int) string { return secrets[i%len(secrets)] },
		func(o *Options) {
			o.Auth, o.Ledger, o.Limits, o.Pricer = keys.NewAuth(st, "admin-key-0123456789"), led, limits.New(nil), flatPrice{}
		})
}
