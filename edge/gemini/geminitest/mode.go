package geminitest

import "github.com/edgeway/edgeway/edge/internal/fakeupstream"

// Mode is a fault the fake injects into the requests it serves. Modes apply
// to the work endpoints (generateContent, streamGenerateContent,
// embedContent, batchEmbedContents); the model list only feels Refuse,
// because health probes must not eat SetModeN budgets.
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

	numModes
)

// The shared frame knows OK and Refuse by number.
var _ = [1]int{}[OK-fakeupstream.ModeOK] + [1]int{}[Refuse-fakeupstream.ModeRefuse]

var modeNames = [numModes]string{
	OK:             "ok",
	Refuse:         "refuse",
	Error500:       "500",
	Unavailable503: "503",
	RateLimit429:   "429",
	Stall:          "stall",
	CutMidStream:   "cut",
	MalformedJSON:  "malformed",
	TooManyTokens:  "tokens",
	Unauthorized:   "401",
	Blocked:        "blocked",
}

// modeAliases are extra spellings ParseMode accepts.
var modeAliases = map[string]Mode{
	"refused":        Refuse,
	"error500":       Error500,
	"internal":       Error500,
	"unavailable":    Unavailable503,
	"unavailable503": Unavailable503,
	"overloaded":     Unavailable503,
	"ratelimit":      RateLimit429,
	"ratelimit429":   RateLimit429,
	"hang":           Stall,
	"cutmidstream":   CutMidStream,
	"malformedjson":  MalformedJSON,
	"toomanytokens":  TooManyTokens,
	"context":        TooManyTokens,
	"unauthorized":   Unauthorized,
	"safety":         Blocked,
}

// String returns the mode's short name as ParseMode accepts it.
func (m Mode) String() string { return fakeupstream.ModeName(modeNames[:], m) }

// ParseMode turns a name ("ok", "refuse", "500", "503", "429", "stall",
// "cut", "malformed", "tokens", "401", "blocked", or a long form such as
// "ratelimit") into a Mode. It is case-insensitive.
func ParseMode(s string) (Mode, error) {
	return fakeupstream.ParseMode("geminitest", modeNames[:], modeAliases, s)
}
