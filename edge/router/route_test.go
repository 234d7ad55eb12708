package router

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/config"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
)

// Target names used by the table's "chat" alias. The alias lists the cloud
// first on purpose: resolution must move the local runtime to the front.
const (
	tOllama    = "ollama/llama3.2:1b"
	tOpenAI    = "openai/gpt-4o-mini"
	tAnthropic = "anthropic/claude-3-5-haiku"
)

var chatAlias = map[string][]string{"chat": {tOpenAI, tOllama, tAnthropic}}

var errClientGone = errors.New("client gone")

type routeCase struct {
	name                      string
	model                     string // default "chat"
	ollama, openai, anthropic []step
	ups                       func([]Upstream)
	cfg                       func(*Config)
	setup                     func(*testing.T, *Router)
	emitErr                   error         // emit returns this
	cancelAfter               time.Duration // the caller cancels after this
	maxElapsed                time.Duration // Route must return within this
	minElapsed                time.Duration

	wantAttempts  []string
	wantCalls     [3]int64 // ollama, openai, anthropic
	wantChunks    int
	wantFailovers int
	wantServed    string // st.Provider/st.Model on success
	wantErr       func(error) error
}

func exhausted(status int, offline bool) func(error) error {
	return func(err error) error {
		var ee *ExhaustedError
		if !errors.As(err, &ee) {
			return fmt.Errorf("got %T %v, want *ExhaustedError", err, err)
		}
		if ee.Status() != status || ee.Offline != offline {
			return fmt.Errorf("status %d offline %v, want %d %v (%v)", ee.Status(), ee.Offline, status, offline, err)
		}
		return nil
	}
}

// rateLimitedFor: every target was rate limited, and the error tells the
// client to come back after ra.
func rateLimitedFor(ra time.Duration) func(error) error {
	return func(err error) error {
		if e := exhausted(http.StatusTooManyRequests, false)(err); e != nil {
			return e
		}
		if got := err.(*ExhaustedError).RetryAfter(); got != ra {
			return fmt.Errorf("RetryAfter %v, want %v", got, ra)
		}
		return nil
	}
}

func ofKind(k llm.Kind) func(error) error {
	return func(err error) error {
		var le *llm.Error
		if !errors.As(err, &le) || le.Kind != k {
			return fmt.Errorf("got %T %v, want *llm.Error of kind %v", err, err, k)
		}
		return nil
	}
}

func is(target error) func(error) error {
	return func(err error) error {
		if !errors.Is(err, target) {
			return fmt.Errorf("got %v, want %v", err, target)
		}
		return nil
	}
}

func same(target error) func(error) error {
	return func(err error) error {
		if err != target {
			return fmt.Errorf("got %v, want exactly %v", err, target)
		}
		return nil
	}
}

func withStatus(k llm.Kind, status int) *llm.Error {
	e := kerr("x", k)
	e.Status = status
	return e
}

func rateLimited(after time.Duration) *llm.Error {
	e := withStatus(llm.KindRateLimited, 429)
	e.RetryAfter = after
	return e
}

// breakerFailures sums the failures of u's breakers, over its models.
func breakerFailures(u *upstream) int {
	u.brs.mu.Lock()
	defer u.brs.mu.Unlock()
	n := 0
	for _, e := range u.brs.m {
		e.b.mu.Lock()
		n += e.b.failures
		e.b.mu.Unlock()
	}
	return n
}

func TestRouteFailover(t *testing.T) {
	ok := step{chunks: 2}
	refusedStep := step{err: refusedErr("ollama")}
	midStream := withStatus(llm.KindServer, 0)
	badReq := withStatus(llm.KindBadRequest, 400)

	cases := []routeCase{
		{
			name:         "local serves first",
			ollama:       []step{{chunks: 3}},
			wantAttempts: []string{tOllama + ":ok"},
			wantCalls:    [3]int64{1, 0, 0},
			wantChunks:   3,
			wantServed:   tOllama,
		},
		{
			name:          "local refused goes to cloud at once",
			ollama:        []step{refusedStep, ok},
			openai:        []step{ok},
			wantAttempts:  []string{tOllama + ":unavailable", tOpenAI + ":ok"},
			wantCalls:     [3]int64{1, 1, 0},
			wantChunks:    2,
			wantFailovers: 1,
			wantServed:    tOpenAI,
		},
		{
			name:         "bad request stops",
			ollama:       []step{{err: badReq}},
			wantAttempts: []string{tOllama + ":bad_request"},
			wantCalls:    [3]int64{1, 0, 0},
			wantErr:      same(badReq),
		},
		{
			name:         "canceled kind stops",
			ollama:       []step{{err: kerr("ollama", llm.KindCanceled)}},
			wantAttempts: []string{tOllama + ":canceled"},
			wantCalls:    [3]int64{1, 0, 0},
			wantErr:      ofKind(llm.KindCanceled),
		},
		{
			name:          "not found fails over",
			ollama:        []step{{err: withStatus(llm.KindNotFound, 404)}},
			wantAttempts:  []string{tOllama + ":not_found", tOpenAI + ":ok"},
			wantCalls:     [3]int64{1, 1, 0},
			wantChunks:    2,
			wantFailovers: 1,
			wantServed:    tOpenAI,
		},
		{
			name:          "auth fails over",
			ollama:        []step{ok},
			openai:        []step{{err: withStatus(llm.KindAuth, 401)}},
			setup:         func(t *testing.T, r *Router) { r.byName["ollama"].inFlight.Store(1 << 20) },
			wantAttempts:  []string{tOllama + ":skip=busy", tOpenAI + ":auth", tAnthropic + ":ok"},
			wantCalls:     [3]int64{0, 1, 1},
			wantChunks:    2,
			wantFailovers: 2,
			wantServed:    tAnthropic,
		},
		{
			name:         "error after first chunk is returned as is",
			ollama:       []step{{chunks: 2, err: midStream}},
			wantAttempts: []string{tOllama + ":server_error"},
			wantCalls:    [3]int64{1, 0, 0},
			wantChunks:   2,
			wantServed:   tOllama,
			wantErr:      same(midStream),
		},
		{
			name:         "emit error is returned unchanged",
			ollama:       []step{{chunks: 3}},
			emitErr:      errClientGone,
			wantAttempts: []string{tOllama + ":canceled"},
			wantCalls:    [3]int64{1, 0, 0},
			wantChunks:   1,
			wantServed:   tOllama,
			wantErr:      same(errClientGone),
		},
		{
			name:          "retryable prefers the next target",
			ollama:        []step{{err: withStatus(llm.KindOverloaded, 503)}, ok},
			openai:        []step{ok},
			wantAttempts:  []string{tOllama + ":overloaded", tOpenAI + ":ok"},
			wantCalls:     [3]int64{1, 1, 0},
			wantChunks:    2,
			wantFailovers: 1,
			wantServed:    tOpenAI,
		},
		{
			name:   "single target retried with backoff",
			model:  "openai/gpt-4o",
			openai: []step{{err: withStatus(llm.KindOverloaded, 503)}, {err: withStatus(llm.KindServer, 500)}, ok},
			wantAttempts: []string{
				"openai/gpt-4o:overloaded", "openai/gpt-4o:server_error", "openai/gpt-4o:ok"},
			wantCalls:  [3]int64{0, 3, 0},
			wantChunks: 2,
			wantServed: "openai/gpt-4o",
		},
		{
			name:      "retries come after every target had its turn",
			ollama:    []step{{err: withStatus(llm.KindOverloaded, 503)}, ok},
			openai:    []step{{err: withStatus(llm.KindServer, 500)}, ok},
			anthropic: []step{{err: withStatus(llm.KindNotFound, 404)}},
			wantAttempts: []string{
				tOllama + ":overloaded", tOpenAI + ":server_error", tAnthropic + ":not_found", tOllama + ":ok"},
			wantCalls:     [3]int64{2, 1, 1},
			wantChunks:    2,
			wantFailovers: 3,
			wantServed:    tOllama,
		},
		{
			name:   "refused connection is not retried",
			model:  "ollama/llama3.2:1b",
			ollama: []step{refusedStep},
			wantAttempts: []string{
				tOllama + ":unavailable"},
			wantCalls: [3]int64{1, 0, 0},
			wantErr:   exhausted(http.StatusServiceUnavailable, false),
		},
		{
			name:   "MaxAttempts bounds retries",
			model:  "openai/gpt-4o",
			openai: []step{{err: withStatus(llm.KindServer, 500)}},
			cfg:    func(c *Config) { c.MaxAttempts = 3 },
			wantAttempts: []string{
				"openai/gpt-4o:server_error", "openai/gpt-4o:server_error", "openai/gpt-4o:server_error"},
			wantCalls: [3]int64{0, 3, 0},
			wantErr:   exhausted(http.StatusBadGateway, false),
		},
		{
			name:   "MaxAttempts bounds the first pass",
			ollama: []step{{err: withStatus(llm.KindServer, 500)}},
			openai: []step{{err: withStatus(llm.KindServer, 500)}},
			cfg:    func(c *Config) { c.MaxAttempts = 2 },
			wantAttempts: []string{
				tOllama + ":server_error", tOpenAI + ":server_error"},
			wantCalls: [3]int64{1, 1, 0},
			wantErr:   exhausted(http.StatusBadGateway, false),
		},
		{
			name:         "Retry-After beyond RetryMax moves on",
			model:        "openai/gpt-4o",
			openai:       []step{{err: rateLimited(time.Hour)}, ok},
			wantAttempts: []string{"openai/gpt-4o:rate_limited"},
			wantCalls:    [3]int64{0, 1, 0},
			maxElapsed:   time.Second,
			wantErr:      rateLimitedFor(time.Hour),
		},
		{
			name:         "Retry-After within RetryMax is honoured",
			model:        "openai/gpt-4o",
			openai:       []step{{err: rateLimited(30 * time.Millisecond)}, ok},
			cfg:          func(c *Config) { c.RetryMax = 100 * time.Millisecond },
			wantAttempts: []string{"openai/gpt-4o:rate_limited", "openai/gpt-4o:ok"},
			wantCalls:    [3]int64{0, 2, 0},
			wantChunks:   2,
			wantServed:   "openai/gpt-4o",
			minElapsed:   30 * time.Millisecond,
		},
		{
			name:   "Retry-After beyond the deadline moves on",
			model:  "openai/gpt-4o",
			openai: []step{{err: rateLimited(500 * time.Millisecond)}, ok},
			cfg: func(c *Config) {
				c.RetryMax = time.Second
				c.Deadline = 100 * time.Millisecond
			},
			wantAttempts: []string{"openai/gpt-4o:rate_limited"},
			wantCalls:    [3]int64{0, 1, 0},
			maxElapsed:   400 * time.Millisecond,
			wantErr:      exhausted(http.StatusTooManyRequests, false),
		},
		{
			name:   "context length skips targets not larger",
			ollama: []step{{err: withStatus(llm.KindContextLength, 400)}},
			ups: func(u []Upstream) {
				u[0].ContextLength = 4096
				u[1].ContextLength = 4096
				u[2].ContextLength = 0
			},
			wantAttempts: []string{
				tOllama + ":context_length", tOpenAI + ":skip=context too small", tAnthropic + ":ok"},
			wantCalls:     [3]int64{1, 0, 1},
			wantChunks:    2,
			wantFailovers: 2,
			wantServed:    tAnthropic,
		},
		{
			name:   "context length tries a larger target",
			ollama: []step{{err: withStatus(llm.KindContextLength, 400)}},
			ups: func(u []Upstream) {
				u[0].ContextLength = 4096
				u[1].ContextLength = 128000
			},
			wantAttempts:  []string{tOllama + ":context_length", tOpenAI + ":ok"},
			wantCalls:     [3]int64{1, 1, 0},
			wantChunks:    2,
			wantFailovers: 1,
			wantServed:    tOpenAI,
		},
		{
			name:   "context length everywhere is 413",
			ollama: []step{{err: withStatus(llm.KindContextLength, 400)}},
			openai: []step{{err: withStatus(llm.KindContextLength, 400)}},
			ups: func(u []Upstream) {
				u[0].ContextLength = 4096
				u[1].ContextLength = 8192
				u[2].ContextLength = 8192
			},
			wantAttempts: []string{
				tOllama + ":context_length", tOpenAI + ":context_length", tAnthropic + ":skip=context too small"},
			wantCalls: [3]int64{1, 1, 0},
			wantErr:   exhausted(http.StatusRequestEntityTooLarge, false),
		},
		{
			name:      "all rate limited is 429 with the smallest Retry-After",
			ollama:    []step{{err: rateLimited(2 * time.Hour)}},
			openai:    []step{{err: rateLimited(time.Hour)}},
			anthropic: []step{{err: rateLimited(3 * time.Hour)}},
			wantAttempts: []string{
				tOllama + ":rate_limited", tOpenAI + ":rate_limited", tAnthropic + ":rate_limited"},
			wantCalls: [3]int64{1, 1, 1},
			wantErr:   rateLimitedFor(time.Hour),
		},
		{
			name:          "first-token timeout fails over",
			ollama:        []step{{block: true}},
			openai:        []step{ok},
			ups:           func(u []Upstream) { u[0].FirstTokenTimeout = 20 * time.Millisecond },
			wantAttempts:  []string{tOllama + ":timeout", tOpenAI + ":ok"},
			wantCalls:     [3]int64{1, 1, 0},
			wantChunks:    2,
			wantFailovers: 1,
			wantServed:    tOpenAI,
			maxElapsed:    2 * time.Second,
		},
		{
			name:         "first-token timeout does not cut a started stream",
			ollama:       []step{{chunks: 4, gap: 15 * time.Millisecond}},
			ups:          func(u []Upstream) { u[0].FirstTokenTimeout = 10 * time.Millisecond },
			wantAttempts: []string{tOllama + ":ok"},
			wantCalls:    [3]int64{1, 0, 0},
			wantChunks:   4,
			wantServed:   tOllama,
		},
		{
			// A stalled cloud target costs its first-token timeout, not the
			// whole deadline, and the next target serves.
			name:          "first-token timeout applies to the cloud too",
			ollama:        []step{refusedStep},
			openai:        []step{{block: true}},
			ups:           func(u []Upstream) { u[1].FirstTokenTimeout = 10 * time.Millisecond },
			wantAttempts:  []string{tOllama + ":unavailable", tOpenAI + ":timeout", tAnthropic + ":ok"},
			wantCalls:     [3]int64{1, 1, 1},
			wantChunks:    2,
			wantFailovers: 2,
			wantServed:    tAnthropic,
		},
		{
			name:         "deadline bounds the time to the first chunk",
			model:        "openai/gpt-4o",
			openai:       []step{{block: true}},
			cfg:          func(c *Config) { c.Deadline = 30 * time.Millisecond },
			wantAttempts: []string{"openai/gpt-4o:timeout"},
			wantCalls:    [3]int64{0, 1, 0},
			maxElapsed:   2 * time.Second,
			wantErr:      exhausted(http.StatusGatewayTimeout, false),
		},
		{
			name: "busy local goes to cloud",
			setup: func(t *testing.T, r *Router) {
				r.byName["ollama"].inFlight.Store(int32(config.DefaultLocalMaxInFlight))
			},
			openai:        []step{ok},
			wantAttempts:  []string{tOllama + ":skip=busy", tOpenAI + ":ok"},
			wantCalls:     [3]int64{0, 1, 0},
			wantChunks:    2,
			wantFailovers: 1,
			wantServed:    tOpenAI,
		},
		{
			name: "open circuit is skipped",
			setup: func(t *testing.T, r *Router) {
				u := r.byName["ollama"]
				for range DefaultBreakerThreshold {
					br := u.brs.get("llama3.2:1b")
					tk, _ := br.allow(r.now())
					br.record(r.now(), tk, outcomeFailure)
				}
			},
			openai:        []step{ok},
			wantAttempts:  []string{tOllama + ":skip=circuit open", tOpenAI + ":ok"},
			wantCalls:     [3]int64{0, 1, 0},
			wantChunks:    2,
			wantFailovers: 1,
			wantServed:    tOpenAI,
		},
		{
			name:   "offline cloud is skipped and local down is an offline error",
			ollama: []step{refusedStep},
			setup: func(t *testing.T, r *Router) {
				for _, n := range []string{"openai", "anthropic"} {
					u := r.byName[n]
					u.probed.Store(true)
					r.setOnline(u, false, nil)
				}
			},
			wantAttempts: []string{
				tOllama + ":unavailable", tOpenAI + ":skip=offline", tAnthropic + ":skip=offline"},
			wantCalls: [3]int64{1, 0, 0},
			wantErr: func(err error) error {
				if e := exhausted(http.StatusServiceUnavailable, true)(err); e != nil {
					return e
				}
				want := `offline: no local runtime could serve "chat" (tried ollama/llama3.2:1b: unavailable: connection refused; ` +
					`openai/gpt-4o-mini: skipped, offline; anthropic/claude-3-5-haiku: skipped, offline)`
				if err.Error() != want {
					return fmt.Errorf("message\n%s\nwant\n%s", err, want)
				}
				return nil
			},
		},
		{
			name:         "caller cancel stops everything",
			ollama:       []step{{block: true}},
			openai:       []step{ok},
			cancelAfter:  20 * time.Millisecond,
			wantAttempts: []string{tOllama + ":canceled"},
			wantCalls:    [3]int64{1, 0, 0},
			maxElapsed:   2 * time.Second,
			wantErr:      is(context.Canceled),
		},
		{
			name:         "caller cancel during backoff stops",
			model:        "openai/gpt-4o",
			openai:       []step{{err: rateLimited(time.Second)}, ok},
			cfg:          func(c *Config) { c.RetryMax = 10 * time.Second },
			cancelAfter:  30 * time.Millisecond,
			wantAttempts: []string{"openai/gpt-4o:rate_limited"},
			wantCalls:    [3]int64{0, 1, 0},
			maxElapsed:   900 * time.Millisecond,
			wantErr:      is(context.Canceled),
		},
		{
			name:    "unknown model",
			model:   "no-such-model",
			setup:   func(t *testing.T, r *Router) { r.byName["ollama"].setModels([]string{"llama3.2:1b"}) },
			wantErr: func(err error) error { var u *UnknownModelError; return errorsAs(err, &u) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fakes := [3]*fake{newFake("ollama", tc.ollama...), newFake("openai", tc.openai...), newFake("anthropic", tc.anthropic...)}
			ups := []Upstream{
				{Name: "ollama", Type: "ollama", Provider: chatOnly{fakes[0]}, Local: true},
				{Name: "openai", Type: "openai", Provider: chatOnly{fakes[1]}},
				{Name: "anthropic", Type: "anthropic", Provider: chatOnly{fakes[2]}},
			}
			if tc.ups != nil {
				tc.ups(ups)
			}
			r := newTestRouter(t, ups, chatAlias, tc.cfg)
			if tc.setup != nil {
				tc.setup(t, r)
			}
			ctx := context.Background()
			if tc.cancelAfter > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				timer := time.AfterFunc(tc.cancelAfter, cancel)
				defer timer.Stop()
			}
			model := tc.model
			if model == "" {
				model = "chat"
			}
			var st Status
			chunks := 0
			req := &llm.ChatRequest{Model: model, Stream: true}
			start := time.Now()
			_, err := r.Route(ctx, req, &st, func(*llm.Chunk) error {
				chunks++
				if st.Provider+"/"+st.Model != tc.wantServed {
					t.Errorf("at first chunk status names %s/%s, want %s", st.Provider, st.Model, tc.wantServed)
				}
				return tc.emitErr
			})
			elapsed := time.Since(start)

			if tc.wantErr == nil && err != nil {
				t.Fatalf("Route: %v", err)
			}
			if tc.wantErr != nil {
				if e := tc.wantErr(err); e != nil {
					t.Fatal(e)
				}
			}
			if req.Model != model {
				t.Errorf("req.Model = %q after Route, want %q restored", req.Model, model)
			}
			if got := summary(st.Attempts); !slices.Equal(got, tc.wantAttempts) {
				t.Errorf("attempts\n got %q\nwant %q", got, tc.wantAttempts)
			}
			for i, f := range fakes {
				if got := f.calls.Load(); got != tc.wantCalls[i] {
					t.Errorf("%s called %d times, want %d", f.name, got, tc.wantCalls[i])
				}
			}
			if chunks != tc.wantChunks {
				t.Errorf("emitted %d chunks, want %d", chunks, tc.wantChunks)
			}
			if tc.wantServed != "" && err == nil {
				if st.Failovers != tc.wantFailovers {
					t.Errorf("Failovers = %d, want %d", st.Failovers, tc.wantFailovers)
				}
			}
			if tc.maxElapsed > 0 && elapsed > tc.maxElapsed {
				t.Errorf("took %v, want <= %v", elapsed, tc.maxElapsed)
			}
			if elapsed < tc.minElapsed {
				t.Errorf("took %v, want >= %v", elapsed, tc.minElapsed)
			}
			for _, u := range r.ups {
				if n := u.inFlight.Load(); n != 0 && tc.setup == nil {
					t.Errorf("%s in flight = %d after Route", u.Name, n)
				}
			}
		})
	}
}

func errorsAs[T error](err error, target *T) error {
	if !errors.As(err, target) {
		return fmt.Errorf("got %T %v, want %T", err, err, *target)
	}
	return nil
}

// TestRouteUpstreamModel checks what each provider is asked for.
func TestRouteUpstreamModel(t *testing.T) {
	ollama, openai := newFake("ollama", step{err: withStatus(llm.KindServer, 500)}), newFake("openai")
	r := newTestRouter(t, []Upstream{
		{Name: "ollama", Type: "ollama", Provider: ollama, Local: true},
		{Name: "openai", Type: "openai", Provider: openai},
	}, map[string][]string{"chat": {tOpenAI, tOllama}}, nil)
	if _, err := collect(context.Background(), r, "chat", nil); err != nil {
		t.Fatal(err)
	}
	if got := ollama.gotModels(); !slices.Equal(got, []string{"llama3.2:1b"}) {
		t.Errorf("ollama asked for %q", got)
	}
	if got := openai.gotModels(); !slices.Equal(got, []string{"gpt-4o-mini"}) {
		t.Errorf("openai asked for %q", got)
	}
}

// TestRouteEmitErrorNotCounted checks a client that goes away never counts
// against the upstream, even in a row.
func TestRouteEmitErrorNotCounted(t *testing.T) {
	f := newFake("ollama", step{chunks: 2})
	r := newTestRouter(t, []Upstream{{Name: "ollama", Type: "ollama", Provider: f, Local: true}}, nil,
		func(c *Config) { c.BreakerThreshold = 2 })
	for range 5 {
		_, err := r.Route(context.Background(), &llm.ChatRequest{Model: "ollama/m"}, nil,
			func(*llm.Chunk) error { return errClientGone })
		if err != errClientGone {
			t.Fatalf("err = %v, want errClientGone", err)
		}
	}
	u := r.byName["ollama"]
	if n := breakerFailures(u); n != 0 {
		t.Errorf("breaker failures = %d, want 0", n)
	}
	if h := r.Health()[0]; h.Circuit != "closed" || h.LastError != "" {
		t.Errorf("health = %+v", h)
	}
}

// TestRouteFirstTokenTimeoutVsCancel checks the router tells its own
// first-token timeout from the caller's cancellation.
func TestRouteFirstTokenTimeoutVsCancel(t *testing.T) {
	cases := []struct {
		name        string
		ftt         time.Duration
		cancelAfter time.Duration
		wantErr     func(error) error
		wantKind    llm.Kind
		wantFails   int
	}{
		{name: "router timeout", ftt: 10 * time.Millisecond, wantErr: exhausted(http.StatusGatewayTimeout, false),
			wantKind: llm.KindTimeout, wantFails: 1},
		{name: "caller cancel", ftt: time.Minute, cancelAfter: 10 * time.Millisecond, wantErr: is(context.Canceled),
			wantKind: llm.KindCanceled, wantFails: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake("ollama", step{block: true})
			r := newTestRouter(t, []Upstream{{Name: "ollama", Type: "ollama", Provider: f, Local: true, FirstTokenTimeout: tc.ftt}}, nil, nil)
			ctx := context.Background()
			if tc.cancelAfter > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				defer time.AfterFunc(tc.cancelAfter, cancel).Stop()
			}
			var st Status
			_, err := collect(ctx, r, "ollama/m", &st)
			if e := tc.wantErr(err); e != nil {
				t.Fatal(e)
			}
			if len(st.Attempts) != 1 || st.Attempts[0].Kind != tc.wantKind {
				t.Fatalf("attempts %+v, want one of kind %v", st.Attempts, tc.wantKind)
			}
			if tc.wantKind == llm.KindTimeout && !strings.Contains(err.Error(), "no first token within 10ms") {
				t.Errorf("error %q does not say what timed out", err)
			}
			if n := breakerFailures(r.byName["ollama"]); n != tc.wantFails {
				t.Errorf("breaker failures = %d, want %d", n, tc.wantFails)
			}
		})
	}
}

func TestEmbed(t *testing.T) {
	cases := []struct {
		name      string
		model     string
		local     []step
		cloud     []step
		wantErr   func(error) error
		wantCalls [2]int64
		wantModel string
	}{
		{name: "local embeds", model: "nomic-embed-text", wantCalls: [2]int64{1, 0}, wantModel: "nomic-embed-text"},
		{name: "claimed by openai", model: "text-embedding-3-small", wantCalls: [2]int64{0, 1}, wantModel: "text-embedding-3-small"},
		{name: "fails over to cloud", model: "emb", local: []step{{err: withStatus(llm.KindServer, 500)}},
			wantCalls: [2]int64{1, 1}, wantModel: "text-embedding-3-small"},
		{name: "bad request stops", model: "emb", local: []step{{err: withStatus(llm.KindBadRequest, 400)}},
			wantCalls: [2]int64{1, 0}, wantErr: ofKind(llm.KindBadRequest)},
		{name: "no embedder", model: "chatonly/x", wantErr: is(ErrNoEmbeddings)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			local, cloud := newFake("ollama", tc.local...), newFake("openai", tc.cloud...)
			r := newTestRouter(t, []Upstream{
				{Name: "ollama", Type: "ollama", Provider: local, Local: true},
				{Name: "openai", Type: "openai", Provider: cloud},
				{Name: "chatonly", Type: "openai-compatible", Provider: chatOnly{newFake("chatonly")}},
			}, map[string][]string{"emb": {"openai/text-embedding-3-small", "ollama/nomic-embed-text"}}, nil)
			r.byName["ollama"].setModels([]string{"nomic-embed-text:latest"})
			req := &llm.EmbedRequest{Model: tc.model, Input: []string{"a"}}
			var st Status
			resp, err := r.Embed(context.Background(), req, &st)
			if tc.wantErr != nil {
				if e := tc.wantErr(err); e != nil {
					t.Fatal(e)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if resp.Model != tc.wantModel {
				t.Errorf("served by model %q, want %q", resp.Model, tc.wantModel)
			}
			if req.Model != tc.model {
				t.Errorf("req.Model = %q, want restored %q", req.Model, tc.model)
			}
			if got := [2]int64{local.calls.Load(), cloud.calls.Load()}; got != tc.wantCalls {
				t.Errorf("calls %v, want %v", got, tc.wantCalls)
			}
		})
	}
}

func TestChatIsRoute(t *testing.T) {
	f := newFake("ollama", step{chunks: 3})
	r := newTestRouter(t, []Upstream{{Name: "ollama", Type: "ollama", Provider: f, Local: true}}, nil, nil)
	var p llm.Provider = r
	if p.Name() != "router" {
		t.Errorf("Name = %q", p.Name())
	}
	var agg llm.Aggregate
	u, err := p.Chat(context.Background(), &llm.ChatRequest{Model: "ollama/m"}, func(c *llm.Chunk) error { agg.Add(c); return nil })
	if err != nil || agg.Text.String() != "toktoktok" || u.CompletionTokens != 3 {
		t.Fatalf("Chat = %+v, %v, text %q", u, err, agg.Text.String())
	}
}

// TestNonStreamingFailsOverMidStream: a non-streaming client has seen
// nothing when an upstream breaks mid-answer, so the router discards the
// partial answer and the next target serves; the client gets one whole
// chunk.
func TestNonStreamingFailsOverMidStream(t *testing.T) {
	midStream := kerr("ollama", llm.KindServer)
	local := newFake("ollama", step{chunks: 2, err: midStream})
	cloud := newFake("openai", step{chunks: 3})
	r := newTestRouter(t, []Upstream{
		{Name: "ollama", Type: "ollama", Provider: chatOnly{local}, Local: true},
		{Name: "openai", Type: "openai", Provider: chatOnly{cloud}},
	}, map[string][]string{"chat": {"ollama/m", "openai/m"}}, nil)
	var st Status
	var got []string
	_, err := r.Route(context.Background(), &llm.ChatRequest{Model: "chat"}, &st, func(c *llm.Chunk) error {
		got = append(got, c.Text+"|"+string(c.Role))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"toktoktok|assistant"}; !slices.Equal(got, want) {
		t.Errorf("emitted %q, want %q", got, want)
	}
	if st.Provider != "openai" || st.Failovers != 1 {
		t.Errorf("served by %s after %d failovers", st.Provider, st.Failovers)
	}
	if got := summary(st.Attempts); !slices.Equal(got, []string{"ollama/m:server_error", "openai/m:ok"}) {
		t.Errorf("attempts %q", got)
	}
}

// TestTooHotSkipsLocal: over the thermal limit the local runtime is spared
// without a call, and the cloud serves.
func TestTooHotSkipsLocal(t *testing.T) {
	local := newFake("ollama")
	cloud := newFake("openai")
	var hot atomic.Bool
	hot.Store(true)
	r := newTestRouter(t, []Upstream{
		{Name: "ollama", Type: "ollama", Provider: chatOnly{local}, Local: true},
		{Name: "openai", Type: "openai", Provider: chatOnly{cloud}},
	}, map[string][]string{"chat": {"ollama/m", "openai/m"}}, func(c *Config) { c.TooHot = hot.Load })
	var st Status
	if _, err := r.Route(context.Background(), &llm.ChatRequest{Model: "chat", Stream: true}, &st, func(*llm.Chunk) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if local.calls.Load() != 0 || st.Provider != "openai" || !slices.Equal(summary(st.Attempts), []string{"ollama/m:skip=too hot", "openai/m:ok"}) {
		t.Errorf("local calls %d, served by %s, attempts %q", local.calls.Load(), st.Provider, summary(st.Attempts))
	}
	hot.Store(false)
	if _, err := r.Route(context.Background(), &llm.ChatRequest{Model: "chat", Stream: true}, &st, func(*llm.Chunk) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if st.Provider != "ollama" {
		t.Errorf("cooled down: served by %s", st.Provider)
	}
}

// TestBusyOnlyCandidateQueues: when the only target is busy, a request
// waits for its slot instead of failing, and is served once it frees.
func TestBusyOnlyCandidateQueues(t *testing.T) {
	release := make(chan struct{})
	local := newFake("ollama", step{wait: time.Hour}) // first call: holds the slot until ctx ends
	r := newTestRouter(t, []Upstream{
		{Name: "ollama", Type: "ollama", Provider: chatOnly{local}, Local: true, MaxInFlight: 1},
	}, map[string][]string{"chat": {"ollama/m"}}, nil)
	ctx1, cancel1 := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := r.Route(ctx1, &llm.ChatRequest{Model: "chat", Stream: true}, nil, func(*llm.Chunk) error { return nil })
		first <- err
	}()
	testkit.Eventually(t, "the first request in flight", func() error {
		if local.cur.Load() != 1 {
			return errors.New("first request not in flight yet")
		}
		return nil
	})
	go func() { <-release; cancel1() }()
	second := make(chan error, 1)
	var st Status
	go func() {
		local.mu.Lock()
		local.steps = []step{{chunks: 1}}
		local.mu.Unlock()
		_, err := r.Route(context.Background(), &llm.ChatRequest{Model: "chat", Stream: true}, &st, func(*llm.Chunk) error { return nil })
		second <- err
	}()
	select {
	case err := <-second:
		t.Fatalf("second request finished while the slot was taken: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-first
	if err := <-second; err != nil {
		t.Fatalf("queued request: %v", err)
	}
	if st.Provider != "ollama" {
		t.Errorf("served by %q", st.Provider)
	}
}

// TestEmbedNowDoesNotQueue: the semantic cache's lookup must not wait for
// a busy runtime; Embed (a client's own request) would.
func TestEmbedNowDoesNotQueue(t *testing.T) {
	local := newFake("ollama", step{wait: time.Hour})
	r := newTestRouter(t, []Upstream{
		{Name: "ollama", Type: "ollama", Provider: local, Local: true, MaxInFlight: 1},
	}, map[string][]string{"chat": {"ollama/m"}}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Route(ctx, &llm.ChatRequest{Model: "chat", Stream: true}, nil, func(*llm.Chunk) error { return nil })
	testkit.Eventually(t, "the chat in flight", func() error {
		if local.cur.Load() != 1 {
			return errors.New("chat not in flight yet")
		}
		return nil
	})
	start := time.Now()
	_, err := r.EmbedNow(context.Background(), &llm.EmbedRequest{Model: "chat", Input: []string{"x"}})
	var ex *ExhaustedError
	if !errors.As(err, &ex) || ex.Attempts[0].Skipped != SkipBusy {
		t.Fatalf("EmbedNow = %v, want busy", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("EmbedNow waited %v", d)
	}
}
