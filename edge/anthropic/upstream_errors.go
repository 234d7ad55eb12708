package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/llm"
)

// Errors the client wraps inside the *llm.Error it returns; test with
// errors.Is.
var (
	// ErrStreamCut: the stream ended (or the connection dropped) before
	// message_stop.
	ErrStreamCut = errors.New("stream cut")
	// ErrMalformed: the upstream sent JSON (or SSE) the client cannot
	// read, or a body larger than the configured bound.
	ErrMalformed = errors.New("malformed upstream response")
	// ErrBilling: the account cannot pay for the request (billing_error,
	// or a 400 saying the credit balance is too low). The Kind is
	// KindAuth: a configuration fault another provider may not have.
	ErrBilling = errors.New("billing")
)

// MaxRetryAfter caps a retry delay an upstream asks for, so a hostile or
// confused upstream cannot park requests.
const MaxRetryAfter = 10 * time.Minute

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// maxErrorMessage bounds the upstream message kept in an *llm.Error.
const maxErrorMessage = 1024

// wireError is Anthropic's error body:
// {"type":"error","error":{"type":…,"message":…},"request_id":…}.
type wireError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

// parseErrorBody extracts the error type and message; ok is false when b
// is not Anthropic's error shape.
func parseErrorBody(b []byte) (typ, msg string, ok bool) {
	var w wireError
	if json.Unmarshal(b, &w) != nil {
		return "", "", false
	}
	return w.Error.Type, w.Error.Message, w.Error.Type != "" || w.Error.Message != ""
}

// kindForType maps an Anthropic error type to a Kind, for error events
// that arrive with HTTP 200.
func kindForType(typ string) llm.Kind {
	switch typ {
	case TypeInvalidRequest:
		return llm.KindBadRequest
	case TypeAuthentication, TypePermission, TypeBilling:
		return llm.KindAuth
	case TypeNotFound:
		return llm.KindNotFound
	case TypeRequestTooLarge:
		return llm.KindContextLength
	case TypeRateLimit:
		return llm.KindRateLimited
	case TypeTimeout:
		return llm.KindTimeout
	case TypeOverloaded:
		return llm.KindOverloaded
	}
	return llm.KindServer
}

// refineKind corrects a kind from what the error body says: a prompt too
// long for the model is KindContextLength whatever the status, and a
// spent credit balance is a billing fault (KindAuth), not the caller's.
func refineKind(k llm.Kind, typ, msg string) llm.Kind {
	switch {
	case isContextLength(msg):
		return llm.KindContextLength
	case isBilling(typ, msg):
		return llm.KindAuth
	case k == llm.KindUnknown || k == llm.KindServer && typ == TypeOverloaded:
		return kindForType(typ)
	}
	return k
}

func isContextLength(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "prompt is too long") ||
		strings.Contains(m, "exceed context limit") ||
		strings.Contains(m, "exceeds the context window") ||
		strings.Contains(m, "context window")
}

func isBilling(typ, msg string) bool {
	return typ == TypeBilling || strings.Contains(strings.ToLower(msg), "credit balance is too low")
}

// cleanMessage bounds an upstream message and makes it valid UTF-8.
func cleanMessage(s string) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) > maxErrorMessage {
		cut := maxErrorMessage
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// statusError turns a non-2xx upstream answer into an *llm.Error, reading
// at most maxErrorBody bytes of its body.
func (c *Client) statusError(resp *http.Response, op string) *llm.Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	status := resp.StatusCode
	typ, msg, ok := parseErrorBody(body)
	if !ok {
		// Proxies answer with HTML or plain text; a short plain answer
		// is still worth showing.
		if t := strings.TrimSpace(string(body)); t != "" && len(t) <= 512 && !strings.HasPrefix(t, "<") {
			msg = t
		}
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	e := &llm.Error{
		Provider:   c.name,
		Status:     status,
		Kind:       refineKind(llm.KindForStatus(status), typ, msg),
		RetryAfter: retryAfter(resp.Header, status, time.Now()),
		Message:    cleanMessage(msg),
	}
	e.Err = opError(op, typ, msg)
	return e
}

// opError is the Err of an *llm.Error: the operation, the upstream's
// error type, and ErrBilling when it applies.
func opError(op, typ, msg string) error {
	if isBilling(typ, msg) {
		return fmt.Errorf("%s: %w", op, ErrBilling)
	}
	if typ != "" {
		return errors.New(op + ": " + cleanMessage(typ))
	}
	return errors.New(op)
}

// eventError turns an SSE error event (or an error object sent with HTTP
// 200) into an *llm.Error; the kind comes from the error type.
func (c *Client) eventError(data []byte, op string) *llm.Error {
	typ, msg, ok := parseErrorBody(data)
	if !ok {
		return &llm.Error{Provider: c.name, Kind: llm.KindServer, Err: fmt.Errorf("%s: error event: %w", op, ErrMalformed)}
	}
	return &llm.Error{
		Provider: c.name,
		Kind:     refineKind(llm.KindUnknown, typ, msg),
		Message:  cleanMessage(msg),
		Err:      opError(op+": error event", typ, msg),
	}
}

// rateLimitResets are the anthropic-ratelimit-* families a 429 may be
// waiting on, each with a -remaining and a -reset (RFC 3339) header.
var rateLimitResets = [...]string{"requests", "tokens", "input-tokens", "output-tokens"}

// retryAfter reads the delay an upstream asks for: retry-after (seconds
// or an HTTP date), then, on a 429, the anthropic-ratelimit-*-reset time
// of whichever limit is exhausted (the latest of them when none says
// so). The result is capped at MaxRetryAfter.
func retryAfter(h http.Header, status int, now time.Time) time.Duration {
	if d := llm.ParseRetryAfter(h.Get("Retry-After"), now, MaxRetryAfter); d > 0 {
		return d
	}
	if status != http.StatusTooManyRequests {
		return 0
	}
	var exhausted, any time.Duration
	for _, family := range rateLimitResets {
		d := resetDelay(h.Get("anthropic-ratelimit-"+family+"-reset"), now)
		any = max(any, d)
		if h.Get("anthropic-ratelimit-"+family+"-remaining") == "0" {
			exhausted = max(exhausted, d)
		}
	}
	if exhausted > 0 {
		return exhausted
	}
	return any
}

// resetDelay is the time from now until an RFC 3339 reset time, capped;
// 0 when v is empty, unparseable or past.
func resetDelay(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return min(d, MaxRetryAfter)
}

// transportError classifies a failure to exchange bytes with the upstream.
// When ctx is done, its error is the cause whatever the transport said, so
// a caller that went away is KindCanceled and a deadline KindTimeout.
func (c *Client) transportError(ctx context.Context, op string, err error) *llm.Error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %v", cerr, err)
	}
	return llm.TransportError(c.name, fmt.Errorf("%s: %w", op, err))
}

// malformed reports an upstream answer the client cannot read.
func (c *Client) malformed(op string, err error) *llm.Error {
	if err == nil {
		return &llm.Error{Provider: c.name, Kind: llm.KindServer, Err: fmt.Errorf("%s: %w", op, ErrMalformed)}
	}
	return &llm.Error{Provider: c.name, Kind: llm.KindServer, Err: fmt.Errorf("%s: %w: %v", op, ErrMalformed, err)}
}

// streamCut reports a stream that ended early.
func (c *Client) streamCut(op, why string, err error) *llm.Error {
	if err != nil {
		return &llm.Error{Provider: c.name, Kind: llm.KindServer, Err: fmt.Errorf("%s: %w: %s: %w", op, ErrStreamCut, why, err)}
	}
	return &llm.Error{Provider: c.name, Kind: llm.KindServer, Err: fmt.Errorf("%s: %w: %s", op, ErrStreamCut, why)}
}
