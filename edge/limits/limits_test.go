package limits

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/keys"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 6, 10, 30, 0, 0, time.UTC)} }

func caller(p keys.Policy, team *keys.Team) *keys.Caller {
	return &keys.Caller{Key: &keys.Key{ID: "key_1", Name: "app", Prefix: "ew-abcdef", Policy: p}, Team: team}
}

// hammer admits from many goroutines at once and settles each admitted
// request at once with the given real tokens and cost; it returns how many
// were admitted and the refusal codes seen.
func hammer(l *Limiter, c *keys.Caller, n, estTokens int, estCost float64, tokens int, cost float64) (int64, map[string]int) {
	var ok atomic.Int64
	var mu sync.Mutex
	codes := map[string]int{}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t, r := l.Admit(c, estTokens, estCost)
			if r != nil {
				mu.Lock()
				codes[r.Code]++
				mu.Unlock()
				return
			}
			ok.Add(1)
			l.Settle(&t, tokens, cost)
		}()
	}
	wg.Wait()
	return ok.Load(), codes
}

func TestLimitsHoldExactlyUnderConcurrency(t *testing.T) {
	for _, tc := range []struct {
		name      string
		p         keys.Policy
		team      *keys.Team
		estTokens int
		estCost   float64
		tokens    int
		cost      float64
		want      int64
		code      string
	}{
		{name: "rpm", p: keys.Policy{RPM: 37}, want: 37, code: "rate_limit_exceeded"},
		{name: "tpm", p: keys.Policy{TPM: 1000}, estTokens: 100, tokens: 100, want: 10, code: "tokens_per_minute_exceeded"},
		{name: "tpm settles to real usage", p: keys.Policy{TPM: 1000}, estTokens: 500, tokens: 10, want: 2 + 98/1, code: "tokens_per_minute_exceeded"},
		{name: "budget", p: keys.Policy{BudgetUSD: 1, BudgetPeriod: keys.Day}, estCost: 0.03, cost: 0.03, want: 33, code: "budget_exceeded"},
		{name: "team rpm binds keys", p: keys.Policy{}, team: &keys.Team{Name: "t", Policy: keys.Policy{RPM: 12}}, want: 12, code: "rate_limit_exceeded"},
		{name: "tighter of key and team", p: keys.Policy{RPM: 5}, team: &keys.Team{Name: "t", Policy: keys.Policy{RPM: 12}}, want: 5, code: "rate_limit_exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			l := New(clk.now)
			got, codes := hammer(l, caller(tc.p, tc.team), 200, tc.estTokens, tc.estCost, tc.tokens, tc.cost)
			if tc.name == "tpm settles to real usage" {
				// Concurrent admissions race the settlements, so the
				// count depends on order; what must hold is the bound.
				if got < 2 || got > 100 {
					t.Fatalf("admitted %d", got)
				}
				return
			}
			if got != tc.want || codes[tc.code] != 200-int(tc.want) {
				t.Fatalf("admitted %d, want %d; refusals %v", got, tc.want, codes)
			}
		})
	}
}

func TestConcurrencyLimit(t *testing.T) {
	l := New(newClock().now)
	c := caller(keys.Policy{MaxConcurrent: 3}, nil)
	var held []Ticket
	for range 3 {
		tk, r := l.Admit(c, 0, 0)
		if r != nil {
			t.Fatal(r)
		}
		held = append(held, tk)
	}
	if _, r := l.Admit(c, 0, 0); r == nil || r.Code != "concurrency_exceeded" {
		t.Fatalf("fourth in flight: %v", r)
	}
	l.Settle(&held[0], 0, 0)
	if _, r := l.Admit(c, 0, 0); r != nil {
		t.Fatalf("after one finished: %v", r)
	}
}

func TestBudgetMessageAndReset(t *testing.T) {
	clk := newClock()
	l := New(clk.now)
	c := caller(keys.Policy{BudgetUSD: 0.10, BudgetPeriod: keys.Hour}, nil)
	spend := func(est, real float64) Ticket {
		t.Helper()
		tk, r := l.Admit(c, 0, est)
		if r != nil {
			t.Fatal(r)
		}
		l.Settle(&tk, 0, real)
		return tk
	}
	for range 3 {
		if tk := spend(0.02, 0.025); tk.Warning != "" { // the real cost beat the estimate
			t.Fatalf("early warning %q", tk.Warning)
		}
	}
	tk, r := l.Admit(c, 0, 0.01) // 0.085: past the soft 80%
	if r != nil || !strings.Contains(tk.Warning, "$0.0750 of $0.10 budget for 1h spent") {
		t.Fatalf("want admitted with a warning: %v %q", r, tk.Warning)
	}
	l.Settle(&tk, 0, 0.02)
	spend(0.001, 0.006) // 0.101
	_, r = l.Admit(c, 0, 0.001)
	if r == nil || r.Code != "budget_exceeded" {
		t.Fatalf("over budget: %v", r)
	}
	for _, w := range []string{`key ew-abcdef… (app)`, "$0.1010 of its $0.10 budget for 1h", "resets at 2026-12-06T11:00:00Z"} {
		if !strings.Contains(r.Message, w) {
			t.Errorf("message %q lacks %q", r.Message, w)
		}
	}
	if r.RetryAfter != 30*time.Minute {
		t.Errorf("retry after %v", r.RetryAfter)
	}
	clk.add(30 * time.Minute) // the next hour: a new window
	if _, r := l.Admit(c, 0, 0.05); r != nil {
		t.Fatalf("after reset: %v", r)
	}
}

func TestRefusalHoldsNothing(t *testing.T) {
	l := New(newClock().now)
	team := &keys.Team{Name: "t", Policy: keys.Policy{RPM: 1}}
	c := caller(keys.Policy{RPM: 100, MaxConcurrent: 1}, team)
	tk, r := l.Admit(c, 0, 0)
	if r != nil {
		t.Fatal(r)
	}
	l.Settle(&tk, 0, 0)
	// The team is out of requests: the key's hold must be given back, or
	// its one concurrency slot would be lost.
	if _, r := l.Admit(c, 0, 0); r == nil || !strings.HasPrefix(r.Message, `team "t"`) {
		t.Fatalf("team limit: %v", r)
	}
	team.Policy.RPM = 0
	if _, r := l.Admit(c, 0, 0); r != nil {
		t.Fatalf("the refused request kept the key's slot: %v", r)
	}
}

func TestRestore(t *testing.T) {
	clk := newClock()
	l := New(clk.now)
	p := keys.Policy{BudgetUSD: 1, BudgetPeriod: keys.Day, RPM: 2}
	c := caller(p, nil)
	l.RestoreSpend('k', "key_1", &c.Key.Policy, clk.now().Truncate(time.Hour), 0.99)
	l.RestoreSpend('k', "key_1", &c.Key.Policy, clk.now().Add(-48*time.Hour), 5) // another day
	l.RestoreRecent('k', "key_1", &c.Key.Policy, clk.now().Add(-10*time.Second), 0)
	l.RestoreRecent('k', "key_1", &c.Key.Policy, clk.now().Add(-2*time.Minute), 0) // too old
	if _, r := l.Admit(c, 0, 0.02); r == nil || r.Code != "budget_exceeded" {
		t.Fatalf("restored spend: %v", r)
	}
	if _, r := l.Admit(c, 0, 0.001); r != nil {
		t.Fatalf("one request left this minute and budget: %v", r)
	}
	if _, r := l.Admit(c, 0, 0); r == nil || r.Code != "rate_limit_exceeded" {
		t.Fatalf("restored rpm: %v", r)
	}
}

// BenchmarkAdmitSettle is the hot-path cost of a limited key: the target
// (with the key lookup) is under 2 µs and no allocation.
func BenchmarkAdmitSettle(b *testing.B) {
	l := New(nil)
	c := caller(keys.Policy{RPM: 1 << 40, TPM: 1 << 50, MaxConcurrent: 1 << 20, BudgetUSD: 1e12, BudgetPeriod: keys.Month},
		&keys.Team{Name: "t", Policy: keys.Policy{RPM: 1 << 40}})
	b.ReportAllocs()
	for b.Loop() {
		t, r := l.Admit(c, 100, 0.001)
		if r != nil {
			b.Fatal(r)
		}
		l.Settle(&t, 90, 0.0009)
	}
}

func TestApplies(t *testing.T) {
	for _, tc := range []struct {
		c               *keys.Caller
		limited, budget bool
	}{
		{caller(keys.Policy{}, nil), false, false},
		{caller(keys.Policy{RPM: 1}, nil), true, false},
		{caller(keys.Policy{}, &keys.Team{Policy: keys.Policy{BudgetUSD: 1}}), true, true},
		{caller(keys.Policy{LocalOnly: true, Models: []string{"m"}}, &keys.Team{}), false, false},
		{&keys.Caller{Admin: true}, false, false},
	} {
		if l, b := Applies(tc.c); l != tc.limited || b != tc.budget {
			t.Errorf("%+v: %v %v, want %v %v", tc.c.Key, l, b, tc.limited, tc.budget)
		}
	}
}
