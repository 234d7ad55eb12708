package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
)

// MaxRetryAfter caps a retry delay an upstream asks for, so a hostile or
// confused upstream cannot park requests.
const MaxRetryAfter = 10 * time.Minute

// MaxErrorMessage bounds the upstream message kept in an *llm.Error.
const MaxErrorMessage = 1024

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// maxPlainMessage bounds a plain-text error body worth showing; longer
// ones are pages, not messages.
const maxPlainMessage = 512

// minRedactedKey is the shortest configured key redacted by value: a
// shorter one is a placeholder for a local server, and replacing it
// everywhere would garble messages without protecting anything.
const minRedactedKey = 8

// redacted replaces a credential in upstream text.
const redacted = "[redacted]"

// credentials match what looks like a credential in upstream text, each
// with the part to keep in its first group. Upstreams echo keys back
// ("Incorrect API key provided: sk-abc...", a URL with ?key=), and their
// text reaches logs and clients.
var credentials = []*regexp.Regexp{
	regexp.MustCompile(`(?i)(\bbearer\s+)[A-Za-z0-9._~+/=\-]{8,}`),
	regexp.MustCompile(`()\bsk-[A-Za-z0-9_\-]{6,}`),
	regexp.MustCompile(`()\bew-[A-Za-z0-9_\-]{6,}`), // edgeway's own keys
	regexp.MustCompile(`()\bAIza[A-Za-z0-9_\-]{20,}`),
	regexp.MustCompile(`(?i)(\b(?:api[_-]?)?key=)[^&\s"'<>#]+`),
}

// Redact removes credentials from upstream text: secrets (the configured
// keys) by value, and anything shaped like a bearer token, an OpenAI or
// Anthropic key, a Google key or a key= URL parameter.
func Redact(s string, secrets ...string) string {
	for _, k := range secrets {
		if len(k) >= minRedactedKey {
			s = strings.ReplaceAll(s, k, redacted)
		}
	}
	for _, re := range credentials {
		s = re.ReplaceAllString(s, "${1}"+redacted)
	}
	return s
}

// CleanMessage makes upstream text fit to show: credentials redacted (see
// Redact), valid UTF-8, trimmed, and at most MaxErrorMessage bytes
// (cut on a character boundary, marked with "…").
func CleanMessage(s string, secrets ...string) string {
	s = Redact(strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD")), secrets...)
	if len(s) > MaxErrorMessage {
		cut := MaxErrorMessage
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func (c *Client) clean(s string) string { return CleanMessage(s, c.secrets...) }

// StatusError turns a non-2xx upstream answer into an *llm.Error, reading
// at most maxErrorBody bytes of its body. The kind is the status's,
// refined by the provider's ParseError; the retry delay is the body's,
// else retry-after-ms (OpenAI, Azure), else Retry-After, else on a 429
// the provider's rate-limit reset headers.
func (c *Client) StatusError(resp *http.Response, op string) *llm.Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	status := resp.StatusCode
	kind := llm.KindForStatus(status)
	var info ErrorInfo
	ok := false
	if c.parseError != nil {
		info, ok = c.parseError(body, status, kind)
	}
	msg := info.Message
	if !ok {
		msg = PlainMessage(body)
	}
	if status/100 == 3 {
		msg = "redirected to " + redirectTarget(resp.Header.Get("Location")) + " (not followed, so the API key stays here: set base_url to the final address)"
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	if info.Kind != llm.KindUnknown {
		kind = info.Kind
	}
	now := time.Now()
	retry := info.RetryAfter
	if retry == 0 {
		retry = retryAfterMS(resp.Header.Get("retry-after-ms"))
	}
	if retry == 0 {
		retry = llm.ParseRetryAfter(resp.Header.Get("Retry-After"), now, MaxRetryAfter)
	}
	if retry == 0 && status == http.StatusTooManyRequests && c.resetDelay != nil {
		retry = min(c.resetDelay(resp.Header, now), MaxRetryAfter)
	}
	return &llm.Error{
		Provider:   c.name,
		Status:     status,
		Kind:       kind,
		RetryAfter: retry,
		Message:    c.clean(msg),
		Err:        c.opError(op, info),
	}
}

// redirectTarget names where a redirect points, without its query or
// user info, which may carry credentials.
func redirectTarget(loc string) string {
	u, err := url.Parse(loc)
	if err != nil || loc == "" {
		return "an unreadable location"
	}
	if u.Host == "" {
		return strconv.Quote(u.Path)
	}
	return strconv.Quote(u.Scheme + "://" + u.Host + u.Path)
}

// PlainMessage is the message of an error body that is not JSON of the
// provider's shape: proxies answer with HTML or plain text, and a short
// plain answer is still worth showing. It is "" otherwise.
func PlainMessage(body []byte) string {
	if t := strings.TrimSpace(string(body)); t != "" && len(t) <= maxPlainMessage && !strings.HasPrefix(t, "<") {
		return t
	}
	return ""
}

// retryAfterMS reads retry-after-ms, capped at MaxRetryAfter.
func retryAfterMS(v string) time.Duration {
	if v == "" {
		return 0
	}
	ms, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0
	}
	return Delay(ms, time.Millisecond)
}

// Delay is a retry delay an upstream gave as n units (seconds,
// milliseconds, or the nanoseconds of a time.Duration), capped at
// MaxRetryAfter; 0 when n is not a positive number.
func Delay(n float64, unit time.Duration) time.Duration {
	switch {
	case n != n || n <= 0:
		return 0
	case n >= float64(MaxRetryAfter/unit):
		return MaxRetryAfter
	}
	return time.Duration(n * float64(unit))
}

// opError is the Err of an upstream error: the operation, the upstream's
// error type, and the provider's sentinel when it named one.
func (c *Client) opError(what string, info ErrorInfo) error {
	if info.Type != "" {
		what += ": " + c.clean(info.Type)
	}
	if info.Err != nil {
		return fmt.Errorf("%s: %w", what, info.Err)
	}
	return errors.New(what)
}

// EventError turns an error inside a 200 stream (an SSE error event, or
// an error object where an answer was due) into an *llm.Error; its kind
// comes from the body alone.
func (c *Client) EventError(op string, data []byte) *llm.Error {
	op += ": error event"
	var info ErrorInfo
	ok := false
	if c.parseError != nil {
		info, ok = c.parseError(data, 0, llm.KindUnknown)
	}
	if !ok {
		return &llm.Error{Provider: c.name, Kind: llm.KindServer, Err: fmt.Errorf("%s: %w", op, llm.ErrMalformed)}
	}
	kind := info.Kind
	if kind == llm.KindUnknown {
		kind = llm.KindServer
	}
	return &llm.Error{
		Provider:   c.name,
		Status:     info.Status,
		Kind:       kind,
		RetryAfter: min(info.RetryAfter, MaxRetryAfter),
		Message:    c.clean(info.Message),
		Err:        c.opError(op, info),
	}
}

// TransportError classifies a failure to exchange bytes with provider.
// When ctx is done, its error is the cause whatever the transport said, so
// a caller that went away is KindCanceled and a deadline KindTimeout.
func TransportError(ctx context.Context, provider, op string, err error) *llm.Error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %v", cerr, err)
	}
	return llm.TransportError(provider, fmt.Errorf("%s: %w", op, err))
}

// TransportError is the package function for this client's provider.
func (c *Client) TransportError(ctx context.Context, op string, err error) *llm.Error {
	return TransportError(ctx, c.name, op, err)
}

// Malformed reports an upstream answer the client cannot read.
func (c *Client) Malformed(op string, err error) *llm.Error {
	if err == nil {
		return &llm.Error{Provider: c.name, Kind: llm.KindServer, Err: fmt.Errorf("%s: %w", op, llm.ErrMalformed)}
	}
	return &llm.Error{Provider: c.name, Kind: llm.KindServer, Err: fmt.Errorf("%s: %w: %w", op, llm.ErrMalformed, err)}
}

// StreamCut reports an answer that ended before its end marker; why says
// what was missing, err is the read error when there was one.
func (c *Client) StreamCut(op, why string, err error) *llm.Error {
	if err != nil {
		return &llm.Error{Provider: c.name, Kind: llm.KindServer, Err: fmt.Errorf("%s: %w: %s: %w", op, llm.ErrStreamCut, why, err)}
	}
	return &llm.Error{Provider: c.name, Kind: llm.KindServer, Err: fmt.Errorf("%s: %w: %s", op, llm.ErrStreamCut, why)}
}

// BadRequest reports a request the provider cannot express; it is never
// sent.
func (c *Client) BadRequest(op string, err error) *llm.Error {
	return &llm.Error{Provider: c.name, Kind: llm.KindBadRequest, Err: fmt.Errorf("%s: %w", op, err)}
}

// StreamError classifies a failure to read the next SSE event.
func (c *Client) StreamError(ctx context.Context, op string, err error) *llm.Error {
	switch {
	case ctx.Err() != nil:
		return c.TransportError(ctx, op, err)
	case errors.Is(err, wire.ErrEventTooLarge):
		return c.Malformed(op, fmt.Errorf("one SSE event exceeds %d bytes", c.maxBytes))
	case errors.Is(err, io.ErrUnexpectedEOF):
		// The connection closed mid-body: the server died or a proxy
		// cut the stream.
		return c.StreamCut(op, "connection closed", err)
	}
	return c.TransportError(ctx, op, err)
}

// FirstOfArray returns b without surrounding space, or its first element
// when b is a JSON array: Gemini (and its OpenAI endpoint) wraps error
// objects in one. ok is false for an empty or broken array.
func FirstOfArray(b []byte) (_ []byte, ok bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '[' {
		return b, true
	}
	var list []json.RawMessage
	if json.Unmarshal(b, &list) != nil || len(list) == 0 {
		return nil, false
	}
	return list[0], true
}
