package openaitest

import "github.com/edgeway/edgeway/edge/internal/fakeupstream"

// Mode is a fault the fake injects into the requests it serves. Modes apply
// to the work endpoints (chat completions and embeddings); /v1/models only
// feels Refuse, because health probes must not eat SetModeN budgets.
type Mode int

// Fault modes: the faults every fake injects, as fakeupstream.ModeOK to
// ModeUnauthorized describe them, in OpenAI's words.
const (
	// OK answers normally.
	OK Mode = iota
	// Refuse refuses connections (see SetMode and SetModeN).
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
	// StallMidStream answers with the stream (whatever the request asked)
	// and stops sending after the role chunk and two content chunks,
	// holding the connection silent until the client leaves.
	StallMidStream
	// Endless answers with the stream (whatever the request asked) and
	// repeats a content chunk without end until the client leaves.
	Endless
	// NoJinja answers a request that offers tools as llama-server started
	// without --jinja does: 500 "tools param requires --jinja flag". Other
	// requests are answered normally.
	NoJinja
)

// The shared frame knows the modes by number.
var _ = [1]int{}[Unauthorized-fakeupstream.ModeUnauthorized]

var modes = fakeupstream.NewModes("openaitest", []string{
	Overloaded503:  "503",
	ContextTooLong: "context",
	StallMidStream: "stall-mid-stream",
	Endless:        "endless",
	NoJinja:        "no-jinja",
}, map[string]Mode{
	"overloaded503":    Overloaded503,
	"contexttoolong":   ContextTooLong,
	"context_length":   ContextTooLong,
	"connrefused":      Refuse,
	"stalled":          Stall,
	"malformed_json":   MalformedJSON,
	"cut_mid_stream":   CutMidStream,
	"context_too_long": ContextTooLong,
})

// String returns the mode's short name as ParseMode accepts it.
func (m Mode) String() string { return modes.Name(m) }

// ParseMode turns a name ("ok", "refuse", "500", "503", "429", "stall",
// "cut", "malformed", "context", "401", or a long form such as
// "ratelimit") into a Mode. It is case-insensitive.
func ParseMode(s string) (Mode, error) { return modes.Parse(s) }
