package router

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
)

// TestRouteStall: a stream that goes silent after its first chunk is cut
// after StallTimeout. A streaming caller, which already has bytes, gets
// ErrStalled; a whole-answer caller is failed over.
func TestRouteStall(t *testing.T) {
	cases := []struct {
		name         string
		stream       bool
		wantAttempts []string
		wantErr      error
		wantCalls    [2]int64
	}{
		{name: "streaming caller gets the error", stream: true,
			wantAttempts: []string{tOllama + ":timeout"}, wantErr: ErrStalled, wantCalls: [2]int64{1, 0}},
		{name: "whole-answer caller fails over", stream: false,
			wantAttempts: []string{tOllama + ":timeout", tOpenAI + ":ok"}, wantCalls: [2]int64{1, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			local := newFake("ollama", step{chunks: 2, block: true})
			cloud := newFake("openai")
			r := newTestRouter(t, []Upstream{
				{Name: "ollama", Type: "ollama", Provider: local, Local: true, StallTimeout: 20 * time.Millisecond},
				{Name: "openai", Type: "openai", Provider: cloud},
			}, map[string][]string{"chat": {tOllama, tOpenAI}}, nil)
			var st Status
			req := &llm.ChatRequest{Model: "chat", Stream: tc.stream}
			chunks := 0
			_, err := r.Route(context.Background(), req, &st, func(*llm.Chunk) error { chunks++; return nil })
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got := summary(st.Attempts); !slices.Equal(got, tc.wantAttempts) {
				t.Errorf("attempts %q, want %q", got, tc.wantAttempts)
			}
			if got := [2]int64{local.calls.Load(), cloud.calls.Load()}; got != tc.wantCalls {
				t.Errorf("calls %v, want %v", got, tc.wantCalls)
			}
			if !tc.stream && st.Failovers != 1 {
				t.Errorf("Failovers = %d, want 1", st.Failovers)
			}
			if tc.stream && chunks != 2 {
				t.Errorf("chunks = %d, want the 2 sent before the stall", chunks)
			}
			if n := breakerFailures(r.byName["ollama"]); n != 1 {
				t.Errorf("breaker failures = %d, want 1", n)
			}
		})
	}
}

// TestRouteAnswerTooLarge: a whole-answer caller's answer past
// MaxAnswerBytes ends the request with llm.ErrTooLarge, the attempt
// canceled (the fake blocks until its ctx ends) and not failed over.
func TestRouteAnswerTooLarge(t *testing.T) {
	local := newFake("ollama", step{chunks: 1000, block: true})
	cloud := newFake("openai")
	r := newTestRouter(t, []Upstream{
		{Name: "ollama", Type: "ollama", Provider: local, Local: true},
		{Name: "openai", Type: "openai", Provider: cloud},
	}, map[string][]string{"chat": {tOllama, tOpenAI}}, func(c *Config) { c.MaxAnswerBytes = 30 })
	var st Status
	var agg llm.Aggregate
	_, err := r.Collect(context.Background(), &llm.ChatRequest{Model: "chat"}, &st, &agg)
	if !errors.Is(err, llm.ErrTooLarge) || llm.KindOf(err) != llm.KindServer {
		t.Fatalf("err = %v, want llm.ErrTooLarge of kind server", err)
	}
	if got, want := summary(st.Attempts), []string{tOllama + ":server_error"}; !slices.Equal(got, want) {
		t.Errorf("attempts %q, want %q", got, want)
	}
	if cloud.calls.Load() != 0 {
		t.Error("a runaway answer was failed over")
	}
	if agg.Text.Len() != 0 {
		t.Errorf("aggregate keeps %d bytes of the refused answer", agg.Text.Len())
	}
	if local.cur.Load() != 0 {
		t.Error("the upstream call is still running")
	}
}

// TestBreakerPerModel: failures of one model open its circuit only; the
// upstream's other models still serve.
func TestBreakerPerModel(t *testing.T) {
	f := newFake("ollama", step{err: kerr("ollama", llm.KindServer)}, step{err: kerr("ollama", llm.KindServer)}, step{chunks: 1})
	r := newTestRouter(t, []Upstream{{Name: "ollama", Type: "ollama", Provider: f, Local: true}}, nil,
		func(c *Config) { c.BreakerThreshold = 2; c.MaxAttempts = 1 })
	for range 2 {
		if _, err := collect(context.Background(), r, "ollama/broken", nil); err == nil {
			t.Fatal("broken model served")
		}
	}
	var st Status
	if _, err := collect(context.Background(), r, "ollama/broken", &st); err == nil || st.Attempts[0].Skipped != SkipCircuitOpen {
		t.Fatalf("broken model after threshold: err %v, attempts %+v; want circuit open", err, st.Attempts)
	}
	if _, err := collect(context.Background(), r, "ollama/healthy", &st); err != nil {
		t.Fatalf("another model of the same upstream: %v", err)
	}
	h := r.Health()[0]
	if h.Circuit != "partly open" || len(h.Circuits) != 1 || h.Circuits[0] != (ModelCircuit{Model: "broken", Circuit: "open"}) {
		t.Errorf("health %+v, want partly open with broken open", h)
	}
}

// TestBreakersBounded: model names come from clients, so the breakers of
// one upstream stay at DefaultMaxBreakers, and an open one outlives the
// closed ones.
func TestBreakersBounded(t *testing.T) {
	var s breakers
	s.init(1, time.Hour, 4)
	now := time.Now()
	b := s.get("broken")
	tk, _ := b.allow(now)
	b.record(now, tk, outcomeFailure)
	for i := range 100 {
		s.get("m" + strconv.Itoa(i))
	}
	if len(s.m) != 4 {
		t.Fatalf("%d breakers, want 4", len(s.m))
	}
	if s.get("broken").peek(now) {
		t.Error("the open breaker was evicted before closed ones")
	}
}
