// Package limits enforces the per-key and per-team limits of edge/keys on
// the request path, in memory: requests and tokens per minute (token
// buckets; tokens are reserved from an estimate at admission and settled
// from the real usage), requests in flight, and spend per budget period
// (the request's estimated cost is reserved at admission, so concurrent
// requests cannot overspend a budget by more than the reservations in
// flight). Spend and the last minute's traffic are reloaded from the usage
// ledger at start, so a restart resets nothing.
package limits

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/edgeway/edgeway/edge/keys"
)

// SoftBudgetShare is the share of a hard budget past which answers carry
// a warning header, when the policy sets no soft budget of its own.
const SoftBudgetShare = 0.8

// Limiter holds the state of every key and team that has limits.
type Limiter struct {
	now func() time.Time

	mu   sync.RWMutex
	subs map[subjectID]*subject
}

// subjectID names a key ('k', its id) or a team ('t', its name); a struct,
// not a joined string, so a lookup allocates nothing.
type subjectID struct {
	kind byte
	id   string
}

// New returns an empty Limiter; now is the clock (time.Now when nil).
func New(now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{now: now, subs: map[subjectID]*subject{}}
}

// subject is one key's or team's counters.
type subject struct {
	mu       sync.Mutex
	req, tok bucket
	inflight int
	// Spend in the current budget window [start, end).
	start, end time.Time
	spent      float64
	reserved   float64
}

// bucket is a token bucket refilled continuously at its capacity per
// minute. Tokens may go below zero: a request that used more than it
// reserved leaves a debt the next requests wait out.
type bucket struct {
	tokens float64
	at     time.Time
}

func (b *bucket) refill(now time.Time, perMin int64) {
	if b.at.IsZero() {
		b.tokens, b.at = float64(perMin), now
		return
	}
	b.tokens = min(float64(perMin), b.tokens+now.Sub(b.at).Minutes()*float64(perMin))
	b.at = now
}

// wait is how long until the bucket holds n tokens.
func (b *bucket) wait(n float64, perMin int64) time.Duration {
	return time.Duration((n - b.tokens) / float64(perMin) * float64(time.Minute))
}

// Refusal is why a request was not admitted.
type Refusal struct {
	Code       string // rate_limit_exceeded, tokens_per_minute_exceeded, concurrency_exceeded, budget_exceeded
	Message    string
	RetryAfter time.Duration
}

func (r *Refusal) Error() string { return r.Message }

// Ticket is an admitted request's hold on its limits, released by Settle.
// It is a value: admission allocates nothing.
type Ticket struct {
	subs    [2]*subject
	pol     [2]*keys.Policy
	team    [2]bool
	tokens  int
	cost    float64
	Warning string // set when a soft budget is passed
}

// Admit checks caller's key and team limits for a request estimated at
// tokens tokens and cost dollars, and holds them. A refused request holds
// nothing.
func (l *Limiter) Admit(c *keys.Caller, tokens int, cost float64) (Ticket, *Refusal) {
	var t Ticket
	if c.Key == nil {
		return t, nil
	}
	now := l.now()
	n := 0
	if limited(&c.Key.Policy) {
		t.subs[n], t.pol[n] = l.subject(subjectID{'k', c.Key.ID}), &c.Key.Policy
		n++
	}
	if c.Team != nil && limited(&c.Team.Policy) {
		t.subs[n], t.pol[n], t.team[n] = l.subject(subjectID{'t', c.Team.Name}), &c.Team.Policy, true
		n++
	}
	t.tokens, t.cost = tokens, cost
	for i := range n {
		if r := t.subs[i].admit(now, t.pol[i], tokens, cost, &t.Warning); r != nil {
			r.Message = who(c, t.team[i]) + r.Message
			for j := range i {
				t.subs[j].release(now, t.pol[j], tokens, cost, tokens, cost)
			}
			return Ticket{}, r
		}
	}
	return t, nil
}

// who names the subject a refusal is about.
func who(c *keys.Caller, team bool) string {
	if team {
		return "team " + strconv.Quote(c.Team.Name) + " "
	}
	return "key " + c.Key.Prefix + "… (" + c.Key.Name + ") "
}

// Settle releases the ticket with the request's real tokens and cost.
func (l *Limiter) Settle(t *Ticket, tokens int, cost float64) {
	now := l.now()
	for i, s := range t.subs {
		if s != nil {
			s.release(now, t.pol[i], t.tokens, t.cost, tokens, cost)
		}
	}
	*t = Ticket{}
}

// Applies reports whether c has any limit to hold (so a caller without
// limits costs no estimate); budgeted whether one of them is a budget.
func Applies(c *keys.Caller) (any, budgeted bool) {
	check := func(p *keys.Policy) {
		any = any || limited(p)
		budgeted = budgeted || p.BudgetUSD > 0
	}
	if c.Key != nil {
		check(&c.Key.Policy)
	}
	if c.Team != nil {
		check(&c.Team.Policy)
	}
	return any, budgeted
}

func limited(p *keys.Policy) bool {
	return p.RPM > 0 || p.TPM > 0 || p.MaxConcurrent > 0 || p.BudgetUSD > 0
}

func (l *Limiter) subject(id subjectID) *subject {
	l.mu.RLock()
	s := l.subs[id]
	l.mu.RUnlock()
	if s != nil {
		return s
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s = l.subs[id]; s == nil {
		s = new(subject)
		l.subs[id] = s
	}
	return s
}

// window moves the budget window to the period holding now.
func (s *subject) window(now time.Time, p keys.Period) {
	if p == "" || now.Before(s.end) && !now.Before(s.start) {
		return
	}
	s.start, s.end = p.Window(now)
	s.spent = 0 // reservations in flight stay: they settle into this window
}

func (s *subject) admit(now time.Time, p *keys.Policy, tokens int, cost float64, warn *string) *Refusal {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.MaxConcurrent > 0 && s.inflight >= p.MaxConcurrent {
		return &Refusal{Code: "concurrency_exceeded", RetryAfter: time.Second,
			Message: "allows " + strconv.Itoa(p.MaxConcurrent) + " requests at once; retry when one finishes"}
	}
	if p.RPM > 0 {
		s.req.refill(now, p.RPM)
		if s.req.tokens < 1 {
			return &Refusal{Code: "rate_limit_exceeded", RetryAfter: s.req.wait(1, p.RPM),
				Message: "allows " + strconv.FormatInt(p.RPM, 10) + " requests per minute"}
		}
	}
	if p.TPM > 0 {
		s.tok.refill(now, p.TPM)
		// A request larger than the whole minute's allowance goes through
		// on a full bucket rather than never.
		if need := min(float64(tokens), float64(p.TPM)); s.tok.tokens < need {
			return &Refusal{Code: "tokens_per_minute_exceeded", RetryAfter: s.tok.wait(need, p.TPM),
				Message: "allows " + strconv.FormatInt(p.TPM, 10) + " tokens per minute (this request is estimated at " + strconv.Itoa(tokens) + ")"}
		}
	}
	if p.BudgetUSD > 0 {
		s.window(now, p.BudgetPeriod)
		if s.spent+s.reserved+cost > p.BudgetUSD {
			return &Refusal{Code: "budget_exceeded", RetryAfter: s.end.Sub(now),
				Message: fmt.Sprintf("has spent $%.4f of its $%.2f budget for %s (with $%.4f held by requests in flight); it resets at %s",
					s.spent, p.BudgetUSD, p.BudgetPeriod, s.reserved, s.end.Format(time.RFC3339))}
		}
		soft := p.BudgetUSD * SoftBudgetShare
		if s.spent+s.reserved+cost > soft && *warn == "" {
			*warn = fmt.Sprintf("$%.4f of $%.2f budget for %s spent", s.spent, p.BudgetUSD, p.BudgetPeriod)
		}
	}
	// Admitted: take what was checked.
	s.inflight++
	if p.RPM > 0 {
		s.req.tokens--
	}
	if p.TPM > 0 {
		s.tok.tokens -= float64(tokens)
	}
	s.reserved += cost
	return nil
}

// release gives back a hold of (heldTokens, heldCost) and books the real
// (tokens, cost).
func (s *subject) release(now time.Time, p *keys.Policy, heldTokens int, heldCost float64, tokens int, cost float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight--
	if p.TPM > 0 {
		s.tok.refill(now, p.TPM)
		s.tok.tokens += float64(heldTokens - tokens)
	}
	s.reserved = max(s.reserved-heldCost, 0)
	if p.BudgetUSD > 0 {
		s.window(now, p.BudgetPeriod)
	}
	s.spent += cost
}

// RestoreSpend books cost spent by a key ("k") or team ("t") named id,
// in the hour starting at hour, read back from the ledger's rollups at
// start; it counts when that hour is in the policy's current window.
func (l *Limiter) RestoreSpend(kind byte, id string, p *keys.Policy, hour time.Time, cost float64) {
	if p.BudgetUSD <= 0 || cost == 0 {
		return
	}
	s := l.subject(subjectID{kind, id})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.window(l.now(), p.BudgetPeriod)
	if !hour.Before(s.start) {
		s.spent += cost
	}
}

// RestoreRecent books one request of the last minute (at, tokens) read
// back from the ledger at start, against the per-minute limits.
func (l *Limiter) RestoreRecent(kind byte, id string, p *keys.Policy, at time.Time, tokens int) {
	now := l.now()
	if p.RPM <= 0 && p.TPM <= 0 || now.Sub(at) >= time.Minute {
		return
	}
	s := l.subject(subjectID{kind, id})
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.RPM > 0 {
		s.req.refill(now, p.RPM)
		s.req.tokens--
	}
	if p.TPM > 0 {
		s.tok.refill(now, p.TPM)
		s.tok.tokens -= float64(tokens)
	}
}
