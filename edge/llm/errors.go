package llm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"
)

// Errors an upstream client wraps inside the *Error it returns, the same
// for every provider so callers test them once with errors.Is.
var (
	// ErrStreamCut: the answer ended (or the connection dropped) before the
	// provider's end-of-stream marker arrived.
	ErrStreamCut = errors.New("stream cut")
	// ErrMalformed: the upstream sent JSON (or SSE) the client cannot read,
	// or a body larger than the configured bound.
	ErrMalformed = errors.New("malformed upstream response")
	// ErrTooLarge: the answer passed the gateway's bound on what it holds
	// (a whole response body, or an answer collected for a client that
	// did not stream). The request was canceled upstream; it is not
	// retried nor failed over, since another try costs as much again.
	ErrTooLarge = errors.New("upstream answer too large")
)

// Kind classifies an upstream failure. The router decides failover from it.
type Kind uint8

// Error kinds.
const (
	// KindUnknown is a failure nothing more is known about; it fails over.
	KindUnknown Kind = iota
	// KindUnavailable: the upstream could not be reached (refused, DNS,
	// reset before any response) or said it is not ready.
	KindUnavailable
	// KindTimeout: the upstream did not answer in time (connect, first
	// token, or whole request).
	KindTimeout
	// KindRateLimited: HTTP 429 or the provider's equivalent.
	KindRateLimited
	// KindOverloaded: 503/529 and "server busy" answers.
	KindOverloaded
	// KindServer: other 5xx answers and malformed upstream responses.
	KindServer
	// KindAuth: the gateway's credentials were refused (401/403). It is a
	// configuration fault, not the caller's, so it fails over.
	KindAuth
	// KindNotFound: the target does not serve this model.
	KindNotFound
	// KindContextLength: the prompt does not fit the target's context; only
	// a target with a larger context can serve it.
	KindContextLength
	// KindUnsupported: this target cannot serve the request as asked (a
	// model without tool or vision support, chat on an embedding model).
	// Another target may, so it fails over; it says nothing about the
	// target's health.
	KindUnsupported
	// KindBadRequest: the request itself is wrong. Never fails over.
	KindBadRequest
	// KindCanceled: the caller went away. Never fails over.
	KindCanceled
)

var kindNames = [...]string{
	KindUnknown:       "unknown",
	KindUnavailable:   "unavailable",
	KindTimeout:       "timeout",
	KindRateLimited:   "rate_limited",
	KindOverloaded:    "overloaded",
	KindServer:        "server_error",
	KindAuth:          "auth",
	KindNotFound:      "not_found",
	KindContextLength: "context_length",
	KindUnsupported:   "unsupported",
	KindBadRequest:    "bad_request",
	KindCanceled:      "canceled",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Failover reports whether another target may serve a request that failed
// with this kind. Caller faults and cancellation never fail over.
func (k Kind) Failover() bool {
	return k != KindBadRequest && k != KindCanceled
}

// Retryable reports whether retrying the same target may succeed.
func (k Kind) Retryable() bool {
	switch k {
	case KindUnavailable, KindTimeout, KindRateLimited, KindOverloaded, KindServer:
		return true
	}
	return false
}

// Error is an upstream failure. Providers return it for every failure of
// the upstream; Status is the upstream's HTTP status (0 when none arrived).
type Error struct {
	Provider   string
	Status     int
	Kind       Kind
	RetryAfter time.Duration
	// Message is the upstream's own error message, when it sent one.
	Message string
	Err     error
}

func (e *Error) Error() string {
	s := e.Provider + ": " + e.Kind.String()
	if e.Status != 0 {
		s += " (HTTP " + strconv.Itoa(e.Status) + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of err: the Kind of an *Error in its chain,
// KindCanceled for context.Canceled, KindTimeout for deadlines and network
// timeouts, KindUnavailable for refused or unreachable connections, and
// KindUnknown otherwise.
func KindOf(err error) Kind {
	if err == nil {
		return KindUnknown
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return classifyTransport(err)
}

func classifyTransport(err error) Kind {
	switch {
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return KindTimeout
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EPIPE):
		return KindUnavailable
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return KindTimeout
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return KindUnavailable
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return KindUnavailable
	}
	return KindUnknown
}

// TransportError wraps a failure to talk to provider at all (dial, TLS,
// read) in an *Error with the kind the failure implies.
func TransportError(provider string, err error) *Error {
	k := classifyTransport(err)
	if k == KindUnknown {
		k = KindUnavailable
	}
	return &Error{Provider: provider, Kind: k, Err: err}
}

// KindForStatus maps an upstream HTTP status to a Kind. Dialect clients
// refine it from the error body (for example a 400 that says the context
// is too long becomes KindContextLength).
func KindForStatus(status int) Kind {
	switch {
	case status == http.StatusTooManyRequests:
		return KindRateLimited
	case status == http.StatusUnauthorized, status == http.StatusForbidden, status == http.StatusPaymentRequired:
		return KindAuth
	case status == http.StatusNotFound:
		return KindNotFound
	case status == http.StatusRequestEntityTooLarge:
		return KindContextLength
	case status == http.StatusRequestTimeout, status == http.StatusGatewayTimeout:
		return KindTimeout
	case status == http.StatusServiceUnavailable, status == 529:
		return KindOverloaded
	case status >= 500:
		return KindServer
	case status >= 400:
		return KindBadRequest
	}
	return KindUnknown
}

// ParseRetryAfter reads a Retry-After header value: delay-seconds or an
// HTTP date. It returns 0 when v is empty or unparseable, and caps the
// result at max so a hostile upstream cannot park a request.
func ParseRetryAfter(v string, now time.Time, max time.Duration) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		switch {
		case math.IsNaN(secs) || secs <= 0:
			return 0
		case secs >= max.Seconds():
			// Also catches +Inf, whose conversion to Duration differs
			// between CPU architectures.
			return max
		}
		d = time.Duration(secs * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		return 0
	}
	if d > max {
		return max
	}
	return d
}

// Errorf builds an *Error of kind k for provider.
func Errorf(provider string, k Kind, format string, args ...any) *Error {
	return &Error{Provider: provider, Kind: k, Err: fmt.Errorf(format, args...)}
}
