package cache

import (
	"fmt"

	"github.com/edgeway/edgeway/edge/llm"
)

// Policy modes.
const (
	// ModeDeterministic caches requests whose answer should not vary:
	// temperature explicitly 0, or a seed set. It is the default.
	ModeDeterministic = "deterministic"
	// ModeAlways caches every request, accepting that a sampled answer is
	// replayed instead of sampled again.
	ModeAlways = "always"
	// ModeNever turns the cache off.
	ModeNever = "never"
)

// Policy decides whether a request may use the cache and whether a
// response may be stored. It is configured per alias or route; the zero
// value is ModeDeterministic without tool-call responses.
type Policy struct {
	// Mode is ModeDeterministic (or ""), ModeAlways or ModeNever.
	Mode string
	// CacheToolCalls allows storing responses that call tools. Off by
	// default: a replayed tool call re-runs its side effects in the
	// client.
	CacheToolCalls bool
}

// Validate reports an unknown Mode.
func (p Policy) Validate() error {
	switch p.Mode {
	case "", ModeDeterministic, ModeAlways, ModeNever:
		return nil
	}
	return fmt.Errorf("cache: policy: unknown mode %q (want %s, %s or %s)", p.Mode, ModeDeterministic, ModeAlways, ModeNever)
}

// Allow reports whether req may be read from and written to the cache. An
// unknown Mode allows nothing. Cache-Control handling (no-cache skips the
// read, no-store the write) belongs to the caller, which sees the headers.
func (p Policy) Allow(req *llm.ChatRequest) bool {
	switch p.Mode {
	case "", ModeDeterministic:
		return (req.Temperature != nil && *req.Temperature == 0) || req.Seed != nil
	case ModeAlways:
		return true
	}
	return false
}

// StoreAllowed reports whether the response e may be stored: it finished
// (FinishReason stop or tool_calls; a truncated "length" answer, a
// content-filtered one or an error never is), it holds something, and it
// calls no tools unless CacheToolCalls. Put enforces all but the tool rule
// itself.
func (p Policy) StoreAllowed(e *Entry) bool {
	if !finished(e) {
		return false
	}
	if len(e.ToolCalls) > 0 || e.FinishReason == llm.FinishToolCalls {
		return p.CacheToolCalls
	}
	return true
}
