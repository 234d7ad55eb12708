package router

import (
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

// ticket is an admission to try the upstream; record needs it back.
type ticket struct {
	gen   uint64
	trial bool
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
