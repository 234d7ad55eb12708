package geminitest

import "github.com/edgeway/edgeway/edge/internal/fakeupstream"

// Mode is a fault the fake injects into the requests it serves. Modes apply
// to the work endpoints (generateContent, streamGenerateContent,
// embedContent, batchEmbedContents); the model list only feels Refuse,
// because health probes must not eat SetModeN budgets.
type Mode int

// Fault modes: first the faults every fake injects, as
// fakeupstream.ModeOK to ModeUnauthorized describe them, in Google's
// words.
const (
	// OK answers normally.
	OK Mode = iota
	// Refuse refuses connections (see SetMode and SetModeN).
	Refuse
	// Error500 answers 500 INTERNAL.
	Error500
	// Unavailable503 answers 503 UNAVAILABLE ("The model is overloaded").
	Unavailable503
	// RateLimit429 answers 429 RESOURCE_EXHAUSTED with QuotaFailure, Help
	// and RetryInfo (retryDelay "1s") details and Retry-After: 1.
	RateLimit429
	// Stall reads the request and then sends nothing until the client goes
	// away, the server closes, or StallLimit passes.
	Stall
	// CutMidStream sends the first two events of a stream and then closes
	// the connection; a non-streaming answer is cut halfway through its
	// declared Content-Length.
	CutMidStream
	// MalformedJSON answers 200 whose body (or first SSE event) is not
	// JSON.
	MalformedJSON
	// TooManyTokens answers 400 INVALID_ARGUMENT "The input token count
	// (N) exceeds the maximum number of tokens allowed (M)."
	TooManyTokens
	// Unauthorized answers what Google sends for a bad key: 400
	// INVALID_ARGUMENT "API key not valid" with ErrorInfo reason
	// API_KEY_INVALID, whatever key was sent.
	Unauthorized
	// Blocked answers 200 with promptFeedback.blockReason SAFETY and no
	// candidates, as for a prompt the safety filters refuse.
	Blocked
)

// The shared frame knows the modes up to Unauthorized by number.
var _ = [1]int{}[Blocked-fakeupstream.ModeOwn]

var modes = fakeupstream.NewModes("geminitest", []string{
	Unavailable503: "503",
	TooManyTokens:  "tokens",
	Blocked:        "blocked",
}, map[string]Mode{
	"internal":       Error500,
	"unavailable":    Unavailable503,
	"unavailable503": Unavailable503,
	"toomanytokens":  TooManyTokens,
	"safety":         Blocked,
})

// String returns the mode's short name as ParseMode accepts it.
func (m Mode) String() string { return modes.Name(m) }

// ParseMode turns a name ("ok", "refuse", "500", "503", "429", "stall",
// "cut", "malformed", "tokens", "401", "blocked", or a long form such as
// "ratelimit") into a Mode. It is case-insensitive.
func ParseMode(s string) (Mode, error) { return modes.Parse(s) }
