package openaitest

import "github.com/edgeway/edgeway/edge/internal/fakeupstream"

// Mode is a fault the fake injects into the requests it serves. Modes apply
// to the work endpoints (chat completions and embeddings); /v1/models only
// feels Refuse, because health probes must not eat SetModeN budgets.
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
	// Error500 answers 500 with OpenAI's server_error body.
	Error500
	// Overloaded503 answers 503 with OpenAI's "model is overloaded" body.
	Overloaded503
	// RateLimit429 answers 429 rate_limit_exceeded with retry-after: 1 and
	// exhausted x-ratelimit-* headers.
	RateLimit429
	// Stall reads the request and then sends nothing until the client goes
	// away, the server closes, or StallLimit passes.
	Stall
	// CutMidStream sends the role chunk and two content chunks of a stream
	// and then closes the connection without [DONE]; a non-streaming answer
	// is cut halfway through its declared Content-Length.
	CutMidStream
	// MalformedJSON answers 200 whose body (or first SSE event) is not JSON.
	MalformedJSON
	// ContextTooLong answers 400 context_length_exceeded.
	ContextTooLong
	// Unauthorized answers 401 invalid_api_key whatever key was sent.
	Unauthorized

	numModes
)

// The shared frame knows OK and Refuse by number.
var _ = [1]int{}[OK-fakeupstream.ModeOK] + [1]int{}[Refuse-fakeupstream.ModeRefuse]

var modeNames = [numModes]string{
	OK:             "ok",
	Refuse:         "refuse",
	Error500:       "500",
	Overloaded503:  "503",
	RateLimit429:   "429",
	Stall:          "stall",
	CutMidStream:   "cut",
	MalformedJSON:  "malformed",
	ContextTooLong: "context",
	Unauthorized:   "401",
}

// modeAliases are extra spellings ParseMode accepts.
var modeAliases = map[string]Mode{
	"error500":         Error500,
	"overloaded":       Overloaded503,
	"overloaded503":    Overloaded503,
	"ratelimit":        RateLimit429,
	"ratelimit429":     RateLimit429,
	"cutmidstream":     CutMidStream,
	"malformedjson":    MalformedJSON,
	"contexttoolong":   ContextTooLong,
	"context_length":   ContextTooLong,
	"unauthorized":     Unauthorized,
	"refused":          Refuse,
	"connrefused":      Refuse,
	"stalled":          Stall,
	"hang":             Stall,
	"malformed_json":   MalformedJSON,
	"cut_mid_stream":   CutMidStream,
	"context_too_long": ContextTooLong,
}

// String returns the mode's short name as ParseMode accepts it.
func (m Mode) String() string { return fakeupstream.ModeName(modeNames[:], m) }

// ParseMode turns a name ("ok", "refuse", "500", "503", "429", "stall",
// "cut", "malformed", "context", "401", or a long form such as
// "ratelimit") into a Mode. It is case-insensitive.
func ParseMode(s string) (Mode, error) {
	return fakeupstream.ParseMode("openaitest", modeNames[:], modeAliases, s)
}
