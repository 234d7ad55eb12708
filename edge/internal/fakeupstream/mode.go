package fakeupstream

import (
	"fmt"
	"strings"
)

// The faults every fake injects, numbered alike in each fake's Mode type.
// A fake's own faults follow from ModeOwn on.
const (
	// ModeOK answers normally.
	ModeOK = iota
	// ModeRefuse under SetMode closes the listener and every connection;
	// leaving it listens again at the same address. Under SetModeN the
	// listener stays open and each counted request has its connection
	// closed without a response instead, because a closed listener cannot
	// count requests.
	ModeRefuse
	// ModeError500 answers 500 with the provider's internal error.
	ModeError500
	// ModeOverloaded answers the provider's "overloaded" status (503 or
	// 529).
	ModeOverloaded
	// ModeRateLimit answers 429 with the provider's rate-limit headers.
	ModeRateLimit
	// ModeStall reads the request and then sends nothing until the client
	// goes away, the server closes, or StallLimit passes.
	ModeStall
	// ModeCut sends the start of a stream and then closes the connection;
	// a non-streaming answer is cut halfway through its Content-Length.
	ModeCut
	// ModeMalformed answers 200 with a body (or stream event) that is not
	// JSON.
	ModeMalformed
	// ModeTooLong answers 400 in the provider's words for a prompt over
	// the context window.
	ModeTooLong
	// ModeUnauthorized answers the provider's bad-key error whatever key
	// was sent.
	ModeUnauthorized
	// ModeOwn is the first mode a fake defines for itself.
	ModeOwn
)

// sharedNames name the shared modes whose name does not depend on the
// provider's status codes or words.
var sharedNames = [ModeOwn]string{
	ModeOK:           "ok",
	ModeRefuse:       "refuse",
	ModeError500:     "500",
	ModeRateLimit:    "429",
	ModeStall:        "stall",
	ModeCut:          "cut",
	ModeMalformed:    "malformed",
	ModeUnauthorized: "401",
}

// sharedAliases are the long forms every fake's ParseMode accepts.
var sharedAliases = map[string]int{
	"refused":       ModeRefuse,
	"error500":      ModeError500,
	"overloaded":    ModeOverloaded,
	"ratelimit":     ModeRateLimit,
	"ratelimit429":  ModeRateLimit,
	"hang":          ModeStall,
	"cutmidstream":  ModeCut,
	"malformedjson": ModeMalformed,
	"context":       ModeTooLong,
	"unauthorized":  ModeUnauthorized,
}

// Modes names a fake's modes for its String and ParseMode.
type Modes[M ~int] struct {
	pkg     string
	names   []string
	aliases map[string]M
}

// NewModes builds the names of a fake's modes: own holds, indexed by mode,
// the fake's names for ModeOverloaded, ModeTooLong and its own modes (the
// others may be left empty for the shared name); aliases are its extra
// spellings besides the shared ones. pkg prefixes ParseMode's error.
func NewModes[M ~int](pkg string, own []string, aliases map[string]M) *Modes[M] {
	names := make([]string, max(len(own), ModeOwn))
	copy(names, sharedNames[:])
	for m, n := range own {
		if n != "" {
			names[m] = n
		}
	}
	return &Modes[M]{pkg: pkg, names: names, aliases: aliases}
}

// Name returns the name of m, or "Mode(m)" outside the table.
func (t *Modes[M]) Name(m M) string {
	if m >= 0 && int(m) < len(t.names) {
		return t.names[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Parse turns a name or an alias into a mode, case-insensitively.
func (t *Modes[M]) Parse(s string) (M, error) {
	key := strings.ToLower(strings.TrimSpace(s))
	for m, n := range t.names {
		if n == key {
			return M(m), nil
		}
	}
	if m, ok := t.aliases[key]; ok {
		return m, nil
	}
	if m, ok := sharedAliases[key]; ok {
		return M(m), nil
	}
	return ModeOK, fmt.Errorf("%s: unknown mode %q (want one of %s)", t.pkg, s, strings.Join(t.names, ", "))
}
