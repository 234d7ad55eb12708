package anthropictest

import "github.com/edgeway/edgeway/edge/internal/fakeupstream"

// Mode is a fault the fake injects into the requests it serves. Modes
// apply to the work endpoints (messages and count_tokens); /v1/models only
// feels Refuse, so health probes do not eat SetModeN budgets.
type Mode int

// Fault modes.
const (
	// OK answers normally.
	OK Mode = iota
	// Refuse closes the listener so connections are refused; SetMode(OK)
	// listens again at the same address. Under SetModeN the listener stays
	// open and each counted request has its connection closed without a
	// response instead, because a closed listener cannot count requests.
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

// The shared frame knows OK and Refuse by number.
var _ = [1]int{}[OK-fakeupstream.ModeOK] + [1]int{}[Refuse-fakeupstream.ModeRefuse]

var modeNames = [numModes]string{
	OK:                  "ok",
	Refuse:              "refuse",
	Error500:            "500",
	Overloaded529:       "529",
	RateLimit429:        "429",
	Stall:               "stall",
	CutMidStream:        "cut",
	MalformedJSON:       "malformed",
	PromptTooLong:       "prompt_too_long",
	Unauthorized:        "401",
	OverloadedMidStream: "overloaded_mid_stream",
}

// modeAliases are extra spellings ParseMode accepts.
var modeAliases = map[string]Mode{
	"error500":      Error500,
	"overloaded":    Overloaded529,
	"overloaded529": Overloaded529,
	"ratelimit":     RateLimit429,
	"ratelimit429":  RateLimit429,
	"cutmidstream":  CutMidStream,
	"malformedjson": MalformedJSON,
	"prompttoolong": PromptTooLong,
	"context":       PromptTooLong,
	"unauthorized":  Unauthorized,
	"refused":       Refuse,
	"hang":          Stall,
	"error_event":   OverloadedMidStream,
}

// String returns the mode's short name as ParseMode accepts it.
func (m Mode) String() string { return fakeupstream.ModeName(modeNames[:], m) }

// ParseMode turns a name ("ok", "refuse", "500", "529", "429", "stall",
// "cut", "malformed", "prompt_too_long", "401", "overloaded_mid_stream",
// or a long form such as "ratelimit") into a Mode. It is
// case-insensitive.
func ParseMode(s string) (Mode, error) {
	return fakeupstream.ParseMode("anthropictest", modeNames[:], modeAliases, s)
}
