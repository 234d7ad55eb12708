package router

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
)

// hit is the cheapest possible upstream: one chunk, no state.
type hit struct{}

func (hit) Name() string { return "hit" }

func (hit) Chat(ctx context.Context, req *llm.ChatRequest, emit func(*llm.Chunk) error) (llm.Usage, error) {
	c := llm.Chunk{Text: "ok", FinishReason: llm.FinishStop}
	return llm.Usage{TotalTokens: 1}, emit(&c)
}

func hitRouter(tb testing.TB) *Router {
	tb.Helper()
	return newTestRouter(tb, []Upstream{
		{Name: "ollama", Type: "ollama", Provider: hit{}, Local: true},
		{Name: "openai", Type: "openai", Provider: hit{}},
	}, map[string][]string{"chat": {"ollama/llama3.2:1b", "openai/gpt-4o-mini"}}, nil)
}

// maxHitAllocs bounds the allocations of a request served by its first
// target: the attempt's context (two) and the chunk the fake emits. The
// run state, its attempt and timer come from a pool.
const maxHitAllocs = 3

func TestRouteHitAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	r := hitRouter(t)
	req := &llm.ChatRequest{Model: "chat", Stream: true}
	var st Status
	ctx := context.Background()
	emit := func(*llm.Chunk) error { return nil }
	n := testing.AllocsPerRun(200, func() {
		if _, err := r.Route(ctx, req, &st, emit); err != nil {
			t.Fatal(err)
		}
	})
	if n > maxHitAllocs {
		t.Errorf("Route allocates %.0f times on a hit, want <= %d", n, maxHitAllocs)
	}
}

// BenchmarkRouteHit: an alias whose first target serves at once.
func BenchmarkRouteHit(b *testing.B) {
	r := hitRouter(b)
	req := &llm.ChatRequest{Model: "chat", Stream: true}
	var st Status
	ctx := context.Background()
	emit := func(*llm.Chunk) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Route(ctx, req, &st, emit); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOfflineFailFast: an alias whose local runtime refuses
// connections (a real dial to a closed loopback port) and whose cloud
// targets are offline must fail in well under 5 ms. "dial" keeps the
// breaker closed so every request dials; "breaker" uses the defaults, so
// after five refusals the local runtime is skipped too.
func BenchmarkOfflineFailFast(b *testing.B) {
	for _, bc := range []struct {
		name      string
		threshold int
	}{{"dial", 1 << 30}, {"breaker", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			r := newTestRouter(b, []Upstream{
				{Name: "ollama", Type: "ollama", Provider: refused{addr: testkit.RefusedAddr(b)}, Local: true},
				{Name: "openai", Type: "openai", Provider: hit{}},
				{Name: "anthropic", Type: "anthropic", Provider: hit{}},
			}, map[string][]string{"chat": {"openai/gpt-4o-mini", "ollama/llama3.2:1b", "anthropic/claude-3-5-haiku"}},
				func(c *Config) {
					c.BreakerThreshold = bc.threshold
					c.RetryBase, c.RetryMax, c.Deadline = 0, 0, 0 // the defaults
				})
			for _, n := range []string{"openai", "anthropic"} {
				u := r.byName[n]
				u.probed.Store(true)
				r.setOnline(u, false, nil)
			}
			req := &llm.ChatRequest{Model: "chat", Stream: true}
			var st Status
			ctx := context.Background()
			emit := func(*llm.Chunk) error { return nil }
			_, err := r.Route(ctx, req, &st, emit)
			var ee *ExhaustedError
			if !errors.As(err, &ee) || !ee.Offline {
				b.Fatalf("Route = %v, want an offline *ExhaustedError", err)
			}
			// The last samples give a p99: a maximum on a shared box mostly
			// measures the scheduler.
			samples := make([]time.Duration, 0, 1<<14)
			var over, n int
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				if _, err := r.Route(ctx, req, &st, emit); err == nil {
					b.Fatal("Route succeeded")
				}
				d := time.Since(start)
				if d >= 5*time.Millisecond {
					over++
				}
				if len(samples) < cap(samples) {
					samples = append(samples, d)
				} else {
					samples[n%len(samples)] = d
				}
				n++
			}
			slices.Sort(samples)
			b.ReportMetric(float64(samples[len(samples)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(over)/float64(b.N), "over5ms/op")
		})
	}
}
