package router

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
)

// circuit is a breaker state.
type circuit uint8

const (
	circuitClosed circuit = iota
	circuitOpen
	circuitHalfOpen
)

func (c circuit) String() string {
	switch c {
	case circuitOpen:
		return "open"
	case circuitHalfOpen:
		return "half-open"
	}
	return "closed"
}

// outcome is what an attempt tells the breaker about its upstream.
type outcome uint8

const (
	// outcomeSuccess: the upstream served.
	outcomeSuccess outcome = iota
	// outcomeFailure: the upstream is in trouble.
	outcomeFailure
	// outcomeNeutral: the upstream answered, but about this request (bad
	// request, no such model, context too long, rate limit).
	outcomeNeutral
	// outcomeAbandoned: the caller or the router's deadline gave up first;
	// it says nothing about the upstream.
	outcomeAbandoned
)

// outcomeOf maps a failure kind to what it says about the upstream.
func outcomeOf(k llm.Kind) outcome {
	switch k {
	case llm.KindUnavailable, llm.KindTimeout, llm.KindOverloaded, llm.KindServer,
		llm.KindUnknown, llm.KindAuth:
		return outcomeFailure
	case llm.KindCanceled:
		return outcomeAbandoned
	}
	return outcomeNeutral
}

// breaker is one upstream's circuit breaker:
//
//	closed --threshold consecutive failures--> open
//	open --cooldown elapsed, next allow--> half-open (one trial admitted)
//	half-open --trial succeeds or answers--> closed
//	half-open --trial fails--> open
//	half-open --trial abandoned--> half-open (slot free again)
//
// gen changes with every state change, so a result from an attempt
// admitted under an earlier state is ignored. The zero value with
// threshold and cooldown set is a closed breaker. Safe for concurrent use.
type breaker struct {
	threshold int
	cooldown  time.Duration

	mu       sync.Mutex
	state    circuit
	failures int
	openedAt time.Time
	trial    bool // the half-open trial is in flight
	gen      uint64
}

// ticket is an admission to try the upstream; record needs it back. b
// and model name the breaker that admitted it (set by breakers.get's
// callers; nil b records nothing).
type ticket struct {
	gen   uint64
	trial bool
	b     *breaker
	model string
}

// stateAt returns the state as callers see it: an open circuit whose
// cooldown has passed is reported half-open.
func (b *breaker) stateAt(now time.Time) circuit {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == circuitOpen && now.Sub(b.openedAt) >= b.cooldown {
		return circuitHalfOpen
	}
	return b.state
}

// peek reports whether allow would admit an attempt now, without taking
// the trial slot.
func (b *breaker) peek(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case circuitOpen:
		return now.Sub(b.openedAt) >= b.cooldown
	case circuitHalfOpen:
		return !b.trial
	}
	return true
}

// allow admits an attempt or refuses it because the circuit is open (or a
// half-open trial is already in flight).
func (b *breaker) allow(now time.Time) (ticket, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == circuitOpen && now.Sub(b.openedAt) >= b.cooldown {
		b.state = circuitHalfOpen
		b.trial = false
		b.gen++
	}
	switch b.state {
	case circuitClosed:
		return ticket{gen: b.gen}, true
	case circuitHalfOpen:
		if b.trial {
			return ticket{}, false
		}
		b.trial = true
		return ticket{gen: b.gen, trial: true}, true
	}
	return ticket{}, false
}

// record applies an admitted attempt's outcome. It returns the new state and
// whether the state changed.
func (b *breaker) record(now time.Time, t ticket, o outcome) (circuit, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.gen != b.gen {
		return b.state, false
	}
	switch b.state {
	case circuitClosed:
		switch o {
		case outcomeSuccess:
			b.failures = 0
		case outcomeFailure:
			b.failures++
			if b.failures >= b.threshold {
				b.open(now)
				return b.state, true
			}
		}
	case circuitHalfOpen:
		if !t.trial {
			return b.state, false
		}
		switch o {
		case outcomeSuccess, outcomeNeutral:
			b.state = circuitClosed
			b.failures = 0
			b.trial = false
			b.gen++
			return b.state, true
		case outcomeFailure:
			b.open(now)
			return b.state, true
		case outcomeAbandoned:
			b.trial = false
		}
	}
	return b.state, false
}

func (b *breaker) open(now time.Time) {
	b.state = circuitOpen
	b.openedAt = now
	b.trial = false
	b.gen++
}

// DefaultMaxBreakers bounds the circuit breakers one upstream keeps: one
// per model it was asked for. Model names come from clients
// ("provider/model"), so the set must not grow with whatever they send.
const DefaultMaxBreakers = 256

// breakers are one upstream's circuit breakers, one per model, so a
// broken model does not take the upstream's other models down. At the
// bound the least recently used breaker goes, a closed one before an open
// one (a closed breaker carries the least). Safe for concurrent use.
type breakers struct {
	threshold int
	cooldown  time.Duration
	max       int

	mu   sync.Mutex
	m    map[string]*breakerEntry
	tick uint64
}

type breakerEntry struct {
	b    breaker
	used uint64
}

func (s *breakers) init(threshold int, cooldown time.Duration, max int) {
	s.threshold, s.cooldown, s.max = threshold, cooldown, max
	s.m = make(map[string]*breakerEntry)
}

// get returns model's breaker, creating it (and making room) when new.
func (s *breakers) get(model string) *breaker {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick++
	if e := s.m[model]; e != nil {
		e.used = s.tick
		return &e.b
	}
	if len(s.m) >= s.max {
		s.evictLocked()
	}
	e := &breakerEntry{b: breaker{threshold: s.threshold, cooldown: s.cooldown}, used: s.tick}
	s.m[model] = e
	return &e.b
}

// evictLocked drops the least recently used breaker, preferring a closed
// one. An attempt still holding a ticket of the dropped breaker records
// into it harmlessly.
func (s *breakers) evictLocked() {
	var (
		victim       string
		vused        uint64
		vclosed, any bool
	)
	for name, e := range s.m {
		e.b.mu.Lock()
		closed := e.b.state == circuitClosed
		e.b.mu.Unlock()
		better := !any || closed && !vclosed || closed == vclosed && e.used < vused
		if better {
			victim, vused, vclosed, any = name, e.used, closed, true
		}
	}
	delete(s.m, victim)
}

// ModelCircuit is the state of one model's circuit on an upstream.
type ModelCircuit struct {
	Model   string
	Circuit string
}

// summary returns the upstream's overall state, "open" only when every
// model it keeps a breaker for is open, and the models whose circuit is
// not closed, sorted by name.
func (s *breakers) summary(now time.Time) (string, []ModelCircuit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ModelCircuit
	for name, e := range s.m {
		if c := e.b.stateAt(now); c != circuitClosed {
			out = append(out, ModelCircuit{Model: name, Circuit: c.String()})
		}
	}
	slices.SortFunc(out, func(a, b ModelCircuit) int { return strings.Compare(a.Model, b.Model) })
	switch {
	case len(out) == 0:
		return circuitClosed.String(), nil
	case len(out) < len(s.m):
		return "partly open", out
	}
	for _, mc := range out {
		if mc.Circuit != circuitOpen.String() {
			return circuitHalfOpen.String(), out
		}
	}
	return circuitOpen.String(), out
}
