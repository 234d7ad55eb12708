package router

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
)

// ErrNoEmbeddings is returned (wrapped) by Embed when the model resolves
// only to upstreams that do not implement llm.Embedder.
var ErrNoEmbeddings = errors.New("no provider for this model computes embeddings")

// ErrStalled is wrapped in the *llm.Error (KindTimeout) of an attempt
// whose stream went silent for longer than its StallTimeout. Route
// returns it when the stream had reached the caller; otherwise the
// request fails over and it appears only in Status.Attempts.
var ErrStalled = errors.New("upstream stream stalled")

// Skip reasons recorded in Attempt.Skipped.
const (
	SkipOffline     = "offline"
	SkipCircuitOpen = "circuit open"
	SkipBusy        = "busy"
	// SkipTooHot: the device is over its thermal limit, so local runtimes
	// are spared until it cools.
	SkipTooHot          = "too hot"
	SkipContextTooSmall = "context too small"
)

// Scope limits the providers a request may reach: the caller's key policy
// (*keys.Caller implements it). Targets it refuses are never tried.
type Scope interface {
	AllowsProvider(provider string, local bool) bool
}

// NotAllowedError is returned when the Scope refuses every target of the
// requested model.
type NotAllowedError struct {
	Model  string
	Denied []string
}

func (e *NotAllowedError) Error() string {
	return "this key may not use " + strconv.Quote(clip(e.Model, maxShown)) + " through " + strings.Join(e.Denied, ", ")
}

// Status returns 403.
func (e *NotAllowedError) Status() int { return http.StatusForbidden }

// Status describes how a request was routed. Route fills it in as it goes:
// Provider, Model and Failovers are final before the first chunk is
// emitted.
type Status struct {
	// Provider and Model name the target serving (or last tried).
	Provider, Model string
	// Failovers counts how often the request moved from one target to
	// another before the one that served (a skip counts; a retry of the
	// same target does not).
	Failovers int
	// Attempts lists every attempt and skip in order, the serving attempt
	// last.
	Attempts []Attempt
	// Scope, set by the caller before routing, limits the targets; nil
	// allows all.
	Scope Scope
}

// Attempt is one try of, or skip over, a target.
type Attempt struct {
	// Target is "provider/model".
	Target string
	// Kind classifies Err. For a skip it is the kind the skip stands for:
	// KindUnavailable (offline, circuit open), KindOverloaded (busy),
	// KindContextLength (context too small).
	Kind llm.Kind
	// Err is the failure; nil for a success or a skip.
	Err error
	// Skipped is "" if the target was tried, else one of the Skip reasons.
	Skipped string
	// Duration is how long the try took.
	Duration time.Duration
}

// UnknownModelError is returned when a model name resolves to no target.
type UnknownModelError struct {
	Model string
	// Known lists aliases and provider names, sorted, at most 20.
	Known []string
}

func (e *UnknownModelError) Error() string {
	var b strings.Builder
	b.WriteString("unknown model ")
	b.WriteString(strconv.Quote(clip(e.Model, maxShown)))
	if len(e.Known) > 0 {
		b.WriteString(" (use an alias or provider/model; known: ")
		b.WriteString(strings.Join(e.Known, ", "))
		b.WriteString(")")
	}
	return b.String()
}

// Status returns 404.
func (e *UnknownModelError) Status() int { return http.StatusNotFound }

// ExhaustedError is returned when every target was skipped or failed.
type ExhaustedError struct {
	Model    string
	Attempts []Attempt
	// Offline is set when every cloud candidate was offline.
	Offline bool
	// Denied names the targets the request's Scope kept it from.
	Denied []string
}

func (e *ExhaustedError) Error() string {
	var b strings.Builder
	model := strconv.Quote(clip(e.Model, maxShown))
	if e.Offline {
		b.WriteString("offline: no local runtime could serve ")
		b.WriteString(model)
		b.WriteString(" (tried ")
		e.writeAttempts(&b)
		b.WriteString(")")
		e.writeDenied(&b)
		return b.String()
	}
	b.WriteString("no provider could serve ")
	b.WriteString(model)
	b.WriteString(": tried ")
	e.writeAttempts(&b)
	e.writeDenied(&b)
	return b.String()
}

func (e *ExhaustedError) writeDenied(b *strings.Builder) {
	if len(e.Denied) > 0 {
		b.WriteString("; not allowed for this key: ")
		b.WriteString(strings.Join(e.Denied, ", "))
	}
}

func (e *ExhaustedError) writeAttempts(b *strings.Builder) {
	if len(e.Attempts) == 0 {
		b.WriteString("nothing")
	}
	for i, a := range e.Attempts {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(a.Target)
		if a.Skipped != "" {
			b.WriteString(": skipped, ")
			b.WriteString(a.Skipped)
			continue
		}
		b.WriteString(": ")
		b.WriteString(a.Kind.String())
		var le *llm.Error
		if errors.As(a.Err, &le) && le.Status != 0 {
			b.WriteString(" (HTTP ")
			b.WriteString(strconv.Itoa(le.Status))
			b.WriteString(")")
		}
		if d := detail(a.Err); d != "" {
			b.WriteString(": ")
			b.WriteString(d)
		}
	}
}

// detail is the most specific message in err: an upstream's own message,
// or the innermost error of the chain ("connection refused" rather than the
// whole dial error).
func detail(err error) string {
	var le *llm.Error
	if errors.As(err, &le) {
		if le.Message != "" {
			return clip(le.Message, maxShown)
		}
		err = le.Err
	}
	if err == nil {
		return ""
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			break
		}
		err = next
	}
	return clip(err.Error(), maxShown)
}

// Status returns the HTTP status to answer with: 429 if every tried attempt
// was rate-limited, 404 if every tried target said it has no such model,
// 413 if every tried target said the prompt is too long, 400 if every one
// said it cannot serve such a request (KindUnsupported), 504 if the last
// attempt timed out, 503 if it was unavailable, overloaded or skipped as
// offline, busy or circuit open (or all cloud candidates were offline),
// and 502 otherwise.
func (e *ExhaustedError) Status() int {
	var tried, rateLimited, notFound, tooLong, unsupported int
	for _, a := range e.Attempts {
		if a.Skipped != "" {
			continue
		}
		tried++
		switch a.Kind {
		case llm.KindRateLimited:
			rateLimited++
		case llm.KindNotFound:
			notFound++
		case llm.KindContextLength:
			tooLong++
		case llm.KindUnsupported:
			unsupported++
		}
	}
	switch {
	case tried > 0 && rateLimited == tried:
		return http.StatusTooManyRequests
	case tried > 0 && notFound == tried:
		return http.StatusNotFound
	case tried > 0 && tooLong == tried:
		return http.StatusRequestEntityTooLarge
	case tried > 0 && unsupported == tried:
		return http.StatusBadRequest
	}
	if len(e.Attempts) > 0 {
		last := e.Attempts[len(e.Attempts)-1]
		switch {
		case last.Skipped == "" && last.Kind == llm.KindTimeout:
			return http.StatusGatewayTimeout
		case last.Skipped == SkipOffline, last.Skipped == SkipBusy, last.Skipped == SkipTooHot, last.Skipped == SkipCircuitOpen,
			last.Skipped == "" && (last.Kind == llm.KindUnavailable || last.Kind == llm.KindOverloaded):
			return http.StatusServiceUnavailable
		}
	}
	if e.Offline {
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}

// RetryAfter returns the smallest Retry-After an upstream sent, or 0.
func (e *ExhaustedError) RetryAfter() time.Duration {
	var min time.Duration
	for _, a := range e.Attempts {
		var le *llm.Error
		if errors.As(a.Err, &le) && le.RetryAfter > 0 && (min == 0 || le.RetryAfter < min) {
			min = le.RetryAfter
		}
	}
	return min
}
