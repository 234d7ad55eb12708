package anthropictest

import "github.com/edgeway/edgeway/edge/internal/fakeupstream"

// Mode is a fault the fake injects into the requests it serves. Modes
// apply to the work endpoints (messages and count_tokens); /v1/models only
// feels Refuse, so health probes do not eat SetModeN budgets.
type Mode int

// Fault modes: first the faults every fake injects, as
// fakeupstream.ModeOK to ModeUnauthorized describe them, in Anthropic's
// words.
const (
	// OK answers normally.
	OK Mode = iota
	// Refuse refuses connections (see SetMode and SetModeN).
	Refuse
	// Error500 answers 500 api_error.
	Error500
	// Overloaded529 answers 529 overloaded_error.
	Overloaded529
	// RateLimit429 answers 429 rate_limit_error with retry-after: 1 and
	// anthropic-ratelimit-* headers whose requests limit is exhausted and
	// resets in RateLimitReset.
	RateLimit429
	// Stall reads the request and then sends nothing until the client goes
	// away, the server closes, or StallLimit passes.
	Stall
	// CutMidStream sends message_start, the first content_block_start and
	// two deltas of a stream and then closes the connection; a
	// non-streaming answer is cut halfway through its Content-Length.
	CutMidStream
	// MalformedJSON answers 200 whose body (or the event after
	// message_start) is not JSON.
	MalformedJSON
	// PromptTooLong answers 400 invalid_request_error "prompt is too long".
	PromptTooLong
	// Unauthorized answers 401 authentication_error whatever key was sent.
	Unauthorized
	// OverloadedMidStream sends message_start, a text block start and one
	// delta, then an "error" event with overloaded_error, as Anthropic
	// does when capacity runs out mid-stream. A non-streaming request gets
	// 529.
	OverloadedMidStream

	numModes
)

// The shared frame knows the modes up to Unauthorized by number.
var _ = [1]int{}[OverloadedMidStream-fakeupstream.ModeOwn]

var modes = fakeupstream.NewModes("anthropictest", []string{
	Overloaded529:       "529",
	PromptTooLong:       "prompt_too_long",
	OverloadedMidStream: "overloaded_mid_stream",
}, map[string]Mode{
	"overloaded529": Overloaded529,
	"prompttoolong": PromptTooLong,
	"error_event":   OverloadedMidStream,
})

// String returns the mode's short name as ParseMode accepts it.
func (m Mode) String() string { return modes.Name(m) }

// ParseMode turns a name ("ok", "refuse", "500", "529", "429", "stall",
// "cut", "malformed", "prompt_too_long", "401", "overloaded_mid_stream",
// or a long form such as "ratelimit") into a Mode. It is
// case-insensitive.
func ParseMode(s string) (Mode, error) { return modes.Parse(s) }
