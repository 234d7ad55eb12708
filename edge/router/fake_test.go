package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
)

// step scripts one call into a fake provider.
type step struct {
	wait   time.Duration // pause before the first chunk (ctx-aware)
	chunks int           // chunks emitted before err
	gap    time.Duration // pause between chunks
	block  bool          // after the chunks, block until ctx is done
	err    error         // returned after the chunks; nil is success
}

// fake is a scriptable in-memory provider. It implements llm.Provider,
// llm.Embedder, llm.ModelLister and llm.Pinger; wrap it in chatOnly to hide
// the optional interfaces.
type fake struct {
	name string

	mu     sync.Mutex
	steps  []step // consumed in order; the last one repeats
	models []string
	got    []string // req.Model of each call

	calls   atomic.Int64
	cur     atomic.Int64
	peak    atomic.Int64
	pingErr atomic.Pointer[error]
	pings   atomic.Int64
}

func newFake(name string, steps ...step) *fake {
	return &fake{name: name, steps: steps}
}

// kerr is a scripted upstream error of kind k.
func kerr(provider string, k llm.Kind) *llm.Error {
	return &llm.Error{Provider: provider, Kind: k, Err: errors.New("scripted " + k.String())}
}

func (f *fake) Name() string { return f.name }

func (f *fake) next(model string) step {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, model)
	if len(f.steps) == 0 {
		return step{chunks: 2}
	}
	s := f.steps[0]
	if len(f.steps) > 1 {
		f.steps = f.steps[1:]
	}
	return s
}

func (f *fake) gotModels() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func (f *fake) enter() func() {
	f.calls.Add(1)
	n := f.cur.Add(1)
	for {
		p := f.peak.Load()
		if n <= p || f.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return func() { f.cur.Add(-1) }
}

func (f *fake) run(ctx context.Context, s step, emit func(*llm.Chunk) error) error {
	if s.wait > 0 {
		t := time.NewTimer(s.wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return llm.TransportError(f.name, ctx.Err())
		}
	}
	var c llm.Chunk
	for i := 0; i < s.chunks; i++ {
		if i > 0 && s.gap > 0 {
			time.Sleep(s.gap)
		}
		c.Text = "tok"
		if err := emit(&c); err != nil {
			return err
		}
	}
	if s.block {
		<-ctx.Done()
		return llm.TransportError(f.name, ctx.Err())
	}
	return s.err
}

func (f *fake) Chat(ctx context.Context, req *llm.ChatRequest, emit func(*llm.Chunk) error) (llm.Usage, error) {
	defer f.enter()()
	s := f.next(req.Model)
	if err := f.run(ctx, s, emit); err != nil {
		return llm.Usage{}, err
	}
	return llm.Usage{CompletionTokens: s.chunks, TotalTokens: s.chunks}, nil
}

func (f *fake) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	defer f.enter()()
	s := f.next(req.Model)
	if err := f.run(ctx, s, func(*llm.Chunk) error { return nil }); err != nil {
		return nil, err
	}
	return &llm.EmbedResponse{Model: req.Model, Vectors: [][]float32{{1, 2}}}, nil
}

func (f *fake) Models(ctx context.Context) ([]llm.Model, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]llm.Model, len(f.models))
	for i, m := range f.models {
		out[i] = llm.Model{ID: m}
	}
	return out, nil
}

func (f *fake) Ping(ctx context.Context) error {
	f.pings.Add(1)
	if p := f.pingErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (f *fake) setPing(err error) {
	if err == nil {
		f.pingErr.Store(nil)
		return
	}
	f.pingErr.Store(&err)
}

// refusedErr is the error a dial to a closed loopback port gives.
func refusedErr(provider string) *llm.Error {
	return llm.TransportError(provider, &net.OpError{Op: "dial", Net: "tcp",
		Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}})
}

// chatOnly hides a provider's optional interfaces.
type chatOnly struct{ llm.Provider }

// refused is a provider that dials a closed loopback port, like a local
// runtime that is not running.
type refused struct{ addr string }

func (p refused) Name() string { return "ollama" }

func (p refused) Chat(ctx context.Context, req *llm.ChatRequest, emit func(*llm.Chunk) error) (llm.Usage, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return llm.Usage{}, llm.TransportError("ollama", err)
	}
	c.Close()
	return llm.Usage{}, llm.Errorf("ollama", llm.KindServer, "unexpectedly connected")
}

func newClock() *testkit.Clock { return testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) }

// newTestRouter builds a router over ups with quick test defaults; the
// config hook may change anything.
func newTestRouter(tb testing.TB, ups []Upstream, aliases map[string][]string, hook func(*Config)) *Router {
	tb.Helper()
	cfg := Config{
		Upstreams: ups,
		Aliases:   aliases,
		RetryBase: time.Millisecond,
		RetryMax:  5 * time.Millisecond,
		Deadline:  5 * time.Second,
	}
	if hook != nil {
		hook(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(r.Close)
	return r
}

// collect routes req and returns the chunk count along with the result.
func collect(ctx context.Context, r *Router, model string, st *Status) (int, error) {
	req := &llm.ChatRequest{Model: model, Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Text: "hi"}}}}}
	n := 0
	_, err := r.Route(ctx, req, st, func(*llm.Chunk) error { n++; return nil })
	if req.Model != model {
		return n, fmt.Errorf("req.Model not restored: %q", req.Model)
	}
	return n, err
}

// summary renders attempts compactly for comparisons: "target:kind" for a
// try, "target:skip=reason" for a skip.
func summary(as []Attempt) []string {
	out := make([]string, len(as))
	for i, a := range as {
		if a.Skipped != "" {
			out[i] = a.Target + ":skip=" + a.Skipped
			continue
		}
		if a.Err == nil {
			out[i] = a.Target + ":ok"
			continue
		}
		out[i] = a.Target + ":" + a.Kind.String()
	}
	return out
}
