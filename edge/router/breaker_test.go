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

func TestBreakerStateMachine(t *testing.T) {
	// An op is one step against the breaker: "allow" (wantOK says whether it
	// is admitted), "record" an outcome for the ticket of the allow with
	// index ref, or "wait" d on the clock. After each op the state is
	// checked.
	type op struct {
		do        string
		ref       int
		o         outcome
		d         time.Duration
		wantOK    bool
		wantState circuit
	}
	const cool = 30 * time.Second
	allow := func(ok bool, s circuit) op { return op{do: "allow", wantOK: ok, wantState: s} }
	rec := func(ref int, o outcome, s circuit) op { return op{do: "record", ref: ref, o: o, wantState: s} }
	wait := func(d time.Duration, s circuit) op { return op{do: "wait", d: d, wantState: s} }

	cases := []struct {
		name string
		ops  []op
	}{
		{name: "threshold consecutive failures open", ops: []op{
			allow(true, circuitClosed), rec(0, outcomeFailure, circuitClosed),
			allow(true, circuitClosed), rec(1, outcomeFailure, circuitClosed),
			allow(true, circuitClosed), rec(2, outcomeFailure, circuitOpen),
			allow(false, circuitOpen),
		}},
		{name: "success resets the count", ops: []op{
			allow(true, circuitClosed), rec(0, outcomeFailure, circuitClosed),
			allow(true, circuitClosed), rec(1, outcomeFailure, circuitClosed),
			allow(true, circuitClosed), rec(2, outcomeSuccess, circuitClosed),
			allow(true, circuitClosed), rec(3, outcomeFailure, circuitClosed),
			allow(true, circuitClosed), rec(4, outcomeFailure, circuitClosed),
		}},
		{name: "neutral and abandoned neither count nor reset", ops: []op{
			allow(true, circuitClosed), rec(0, outcomeFailure, circuitClosed),
			allow(true, circuitClosed), rec(1, outcomeNeutral, circuitClosed),
			allow(true, circuitClosed), rec(2, outcomeAbandoned, circuitClosed),
			allow(true, circuitClosed), rec(3, outcomeFailure, circuitClosed),
			allow(true, circuitClosed), rec(4, outcomeFailure, circuitOpen),
		}},
		{name: "cooldown lets one trial through; success closes", ops: []op{
			allow(true, circuitClosed), rec(0, outcomeFailure, circuitClosed),
			allow(true, circuitClosed), rec(1, outcomeFailure, circuitClosed),
			allow(true, circuitClosed), rec(2, outcomeFailure, circuitOpen),
			wait(cool-time.Second, circuitOpen), allow(false, circuitOpen),
			wait(time.Second, circuitHalfOpen),
			allow(true, circuitHalfOpen), // index 4: the trial
			allow(false, circuitHalfOpen),
			rec(4, outcomeSuccess, circuitClosed),
			allow(true, circuitClosed),
		}},
		{name: "failed trial reopens", ops: []op{
			allow(true, circuitClosed), rec(0, outcomeFailure, circuitClosed),
			allow(true, circuitClosed), rec(1, outcomeFailure, circuitClosed),
			allow(true, circuitClosed), rec(2, outcomeFailure, circuitOpen),
			wait(cool, circuitHalfOpen), allow(true, circuitHalfOpen),
			rec(3, outcomeFailure, circuitOpen),
			allow(false, circuitOpen),
			wait(cool, circuitHalfOpen), allow(true, circuitHalfOpen),
			rec(5, outcomeNeutral, circuitClosed),
		}},
		{name: "abandoned trial frees the slot", ops: []op{
			allow(true, circuitClosed), rec(0, outcomeFailure, circuitClosed),
			allow(true, circuitClosed), rec(1, outcomeFailure, circuitClosed),
			allow(true, circuitClosed), rec(2, outcomeFailure, circuitOpen),
			wait(cool, circuitHalfOpen), allow(true, circuitHalfOpen),
			allow(false, circuitHalfOpen),
			rec(3, outcomeAbandoned, circuitHalfOpen),
			allow(true, circuitHalfOpen),
			rec(5, outcomeSuccess, circuitClosed),
		}},
		{name: "results from before a state change are ignored", ops: []op{
			allow(true, circuitClosed), // 0: slow, finishes late
			allow(true, circuitClosed), rec(1, outcomeFailure, circuitClosed),
			allow(true, circuitClosed), rec(2, outcomeFailure, circuitClosed),
			allow(true, circuitClosed), rec(3, outcomeFailure, circuitOpen),
			rec(0, outcomeSuccess, circuitOpen),
			wait(cool, circuitHalfOpen), allow(true, circuitHalfOpen),
			rec(0, outcomeFailure, circuitHalfOpen),
			rec(4, outcomeSuccess, circuitClosed),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			b := &breaker{threshold: 3, cooldown: cool}
			var tickets []ticket
			for i, o := range tc.ops {
				switch o.do {
				case "allow":
					tk, ok := b.allow(clk.Now())
					if ok != o.wantOK {
						t.Fatalf("op %d: allow = %v, want %v", i, ok, o.wantOK)
					}
					tickets = append(tickets, tk)
				case "record":
					b.record(clk.Now(), tickets[o.ref], o.o)
				case "wait":
					clk.Advance(o.d)
				}
				if s := b.stateAt(clk.Now()); s != o.wantState {
					t.Fatalf("op %d (%s): state %v, want %v", i, o.do, s, o.wantState)
				}
			}
		})
	}
}

func TestOutcomeOf(t *testing.T) {
	want := map[llm.Kind]outcome{
		llm.KindUnknown: outcomeFailure, llm.KindUnavailable: outcomeFailure, llm.KindTimeout: outcomeFailure,
		llm.KindOverloaded: outcomeFailure, llm.KindServer: outcomeFailure, llm.KindAuth: outcomeFailure,
		llm.KindRateLimited: outcomeNeutral, llm.KindNotFound: outcomeNeutral, llm.KindContextLength: outcomeNeutral,
		llm.KindBadRequest: outcomeNeutral, llm.KindCanceled: outcomeAbandoned,
	}
	for k, o := range want {
		if got := outcomeOf(k); got != o {
			t.Errorf("outcomeOf(%v) = %d, want %d", k, got, o)
		}
	}
}

// TestBreakerThroughRoute drives the breaker through real requests on a
// fake clock: failures open it, the open circuit skips the local runtime
// without calling it, and after the cooldown one trial decides.
func TestBreakerThroughRoute(t *testing.T) {
	clk := newClock()
	local := newFake("ollama", step{err: withStatus(llm.KindServer, 500)})
	cloud := newFake("openai")
	r := newTestRouter(t, []Upstream{
		{Name: "ollama", Type: "ollama", Provider: local, Local: true},
		{Name: "openai", Type: "openai", Provider: cloud},
	}, map[string][]string{"chat": {"ollama/m", "openai/gpt-4o"}}, func(c *Config) {
		c.Now = clk.Now
		c.BreakerThreshold = 2
		c.BreakerCooldown = time.Minute
	})
	route := func() []string {
		t.Helper()
		var st Status
		if _, err := collect(context.Background(), r, "chat", &st); err != nil {
			t.Fatal(err)
		}
		return summary(st.Attempts)
	}
	failed := []string{"ollama/m:server_error", "openai/gpt-4o:ok"}
	skipped := []string{"ollama/m:skip=circuit open", "openai/gpt-4o:ok"}
	steps := []struct {
		advance     time.Duration
		fix         bool // the local runtime starts answering
		want        []string
		wantCircuit string
	}{
		{want: failed, wantCircuit: "closed"},
		{want: failed, wantCircuit: "open"},
		{want: skipped, wantCircuit: "open"},
		{advance: 59 * time.Second, want: skipped, wantCircuit: "open"},
		{advance: time.Second, want: failed, wantCircuit: "open"}, // trial fails: reopened
		{want: skipped, wantCircuit: "open"},
		{advance: time.Minute, fix: true, want: []string{"ollama/m:ok"}, wantCircuit: "closed"},
		{want: []string{"ollama/m:ok"}, wantCircuit: "closed"},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if s.fix {
			local.mu.Lock()
			local.steps = []step{{chunks: 1}}
			local.mu.Unlock()
		}
		if got := route(); !slices.Equal(got, s.want) {
			t.Fatalf("step %d: attempts %q, want %q", i, got, s.want)
		}
		if c := r.Health()[0].Circuit; c != s.wantCircuit {
			t.Fatalf("step %d: circuit %s, want %s", i, c, s.wantCircuit)
		}
	}
	if n := local.calls.Load(); n != 5 {
		t.Errorf("local called %d times, want 5 (skips must not call it)", n)
	}
}

// TestHalfOpenSingleTrial: while the half-open trial is in flight, other
// requests skip the upstream.
func TestHalfOpenSingleTrial(t *testing.T) {
	clk := newClock()
	local := newFake("ollama", step{wait: 200 * time.Millisecond, chunks: 1})
	r := newTestRouter(t, []Upstream{
		{Name: "ollama", Type: "ollama", Provider: local, Local: true},
		{Name: "openai", Type: "openai", Provider: newFake("openai")},
	}, map[string][]string{"chat": {"ollama/m", "openai/gpt-4o"}}, func(c *Config) {
		c.Now = clk.Now
		c.BreakerThreshold = 1
	})
	u := r.byName["ollama"]
	br := u.brs.get("m")
	tk, _ := br.allow(clk.Now())
	br.record(clk.Now(), tk, outcomeFailure)
	clk.Advance(DefaultBreakerCooldown)

	trial := make(chan []string, 1)
	go func() {
		var st Status
		_, err := collect(context.Background(), r, "chat", &st)
		if err != nil {
			t.Error(err)
		}
		trial <- summary(st.Attempts)
	}()
	testkit.Eventually(t, "the half-open trial in flight", func() error {
		if local.cur.Load() != 1 {
			return errors.New("trial not in flight yet")
		}
		return nil
	})
	var st Status
	if _, err := collect(context.Background(), r, "chat", &st); err != nil {
		t.Fatal(err)
	}
	if got, want := summary(st.Attempts), []string{"ollama/m:skip=circuit open", "openai/gpt-4o:ok"}; !slices.Equal(got, want) {
		t.Errorf("during the trial: %q, want %q", got, want)
	}
	if got, want := <-trial, []string{"ollama/m:ok"}; !slices.Equal(got, want) {
		t.Errorf("trial: %q, want %q", got, want)
	}
	if c := r.Health()[0].Circuit; c != "closed" {
		t.Errorf("circuit %s after a good trial", c)
	}
}
