package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/llm"
)

// Errors the client wraps inside the *llm.Error it returns; test with
// errors.Is.
var (
	// ErrInsufficientQuota: the upstream answered 429 because the
	// account is out of credit, not because of a burst. The Kind stays
	// KindRateLimited, but waiting will not help.
	ErrInsufficientQuota = errors.New("insufficient quota")
	// ErrStreamCut: the stream ended (or the connection dropped) before
	// [DONE] or a finish_reason arrived.
	ErrStreamCut = errors.New("stream cut")
	// ErrMalformed: the upstream sent JSON (or SSE) the client cannot
	// read, or a body larger than the configured bound.
	ErrMalformed = errors.New("malformed upstream response")
)

// MaxRetryAfter caps a retry delay an upstream asks for, so a hostile or
// confused upstream cannot park requests.
const MaxRetryAfter = 10 * time.Minute

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// maxErrorMessage bounds the upstream message kept in an *llm.Error.
const maxErrorMessage = 1024

// errorInfo is what an upstream error body says.
type errorInfo struct {
	message string
	typ     string
	code    string
	// status is a numeric code some servers (OpenRouter, vLLM) put in
	// "code" instead of a string; 0 when absent.
	status int
}

type wireErrorObject struct {
	Message json.RawMessage `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"`
}

// wireErrorBody covers the shapes OpenAI-compatible servers answer with:
// {"error":{...}} (OpenAI, Mistral, Groq, llama-server), {"error":"text"},
// {"object":"error","message",...} (vLLM), {"detail":...} (FastAPI).
type wireErrorBody struct {
	Error   json.RawMessage `json:"error"`
	Message json.RawMessage `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"`
	Detail  json.RawMessage `json:"detail"`
}

// parseErrorBody extracts what it can from an error body; ok is false
// when it is not JSON of a known shape.
func parseErrorBody(b []byte) (info errorInfo, ok bool) {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		// Gemini's OpenAI endpoint wraps the error object in an array.
		var list []json.RawMessage
		if json.Unmarshal(b, &list) != nil || len(list) == 0 {
			return info, false
		}
		b = list[0]
	}
	var w wireErrorBody
	if json.Unmarshal(b, &w) != nil {
		return info, false
	}
	switch {
	case len(w.Error) > 0 && w.Error[0] == '{':
		var o wireErrorObject
		if json.Unmarshal(w.Error, &o) != nil {
			return info, false
		}
		info.message, info.typ = text(o.Message), o.Type
		info.code, info.status = code(o.Code)
	case len(w.Error) > 0 && w.Error[0] == '"':
		info.message = text(w.Error)
	default:
		info.message, info.typ = text(w.Message), w.Type
		info.code, info.status = code(w.Code)
		if info.message == "" {
			info.message = text(w.Detail)
		}
	}
	return info, info.message != "" || info.code != "" || info.typ != ""
}

// text renders a JSON string as itself and anything else as its JSON.
func text(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// code reads an error code that is a string or a number.
func code(raw json.RawMessage) (string, int) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", 0
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, 0
	}
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return strconv.Itoa(n), n
	}
	return "", 0
}

// refineKind corrects the status-derived kind from what the body says:
// a 400 about the context window is KindContextLength, a 400 naming an
// unknown model is KindNotFound, and an error event in a stream (status
// 0) gets a kind from its type.
func refineKind(k llm.Kind, info errorInfo) llm.Kind {
	code := strings.ToLower(info.code)
	typ := strings.ToLower(info.typ)
	msg := strings.ToLower(info.message)
	open := k == llm.KindBadRequest || k == llm.KindServer || k == llm.KindUnknown || k == llm.KindContextLength
	switch {
	case open && isContextLength(code, typ, msg):
		return llm.KindContextLength
	case (open || k == llm.KindNotFound) && (code == "model_not_found" || typ == "not_found_error"):
		return llm.KindNotFound
	case k != llm.KindUnknown:
		return k
	case code == "rate_limit_exceeded" || code == "insufficient_quota" || typ == "rate_limit_error" ||
		typ == "insufficient_quota" || typ == "requests" || typ == "tokens":
		return llm.KindRateLimited
	case typ == "overloaded_error" || code == "overloaded" || strings.Contains(msg, "overloaded"):
		return llm.KindOverloaded
	case code == "invalid_api_key" || typ == "authentication_error" || typ == "permission_error":
		return llm.KindAuth
	case typ == "invalid_request_error":
		return llm.KindBadRequest
	}
	return llm.KindServer
}

func isContextLength(code, typ, msg string) bool {
	return code == "context_length_exceeded" || typ == "exceed_context_size_error" ||
		strings.Contains(msg, "maximum context length") ||
		strings.Contains(msg, "context length exceeded") ||
		strings.Contains(msg, "context_length_exceeded") ||
		strings.Contains(msg, "exceeds the available context size") ||
		strings.Contains(msg, "context window")
}

func isQuota(info errorInfo) bool {
	return info.code == "insufficient_quota" || info.typ == "insufficient_quota"
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
	info, ok := parseErrorBody(body)
	msg := info.message
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
		Kind:       refineKind(llm.KindForStatus(status), info),
		RetryAfter: retryAfter(resp.Header, status, time.Now()),
		Message:    cleanMessage(msg),
	}
	switch {
	case isQuota(info):
		e.Err = fmt.Errorf("%s: %w", op, ErrInsufficientQuota)
	case info.code != "":
		e.Err = errors.New(op + ": " + cleanMessage(info.code))
	default:
		e.Err = errors.New(op)
	}
	return e
}

// eventError turns an SSE error event into an *llm.Error. The HTTP status
// was 200, so the kind comes from the body.
func (c *Client) eventError(data []byte, op string) *llm.Error {
	info, ok := parseErrorBody(data)
	if !ok {
		return &llm.Error{Provider: c.name, Kind: llm.KindServer, Err: fmt.Errorf("%s: error event: %w", op, ErrMalformed)}
	}
	k := llm.KindUnknown
	status := 0
	if info.status >= 400 && info.status <= 599 {
		status = info.status
		k = llm.KindForStatus(status)
	}
	e := &llm.Error{Provider: c.name, Status: status, Kind: refineKind(k, info), Message: cleanMessage(info.message)}
	if isQuota(info) {
		e.Err = fmt.Errorf("%s: error event: %w", op, ErrInsufficientQuota)
	} else {
		e.Err = errors.New(op + ": error event")
	}
	return e
}

// retryAfter reads the delay an upstream asks for: retry-after-ms (sent by
// OpenAI and Azure), then Retry-After, then, on a 429, OpenAI's
// x-ratelimit-reset-* durations ("1s", "6m0s", "20ms") for whichever limit
// is exhausted. The result is capped at MaxRetryAfter.
func retryAfter(h http.Header, status int, now time.Time) time.Duration {
	if v := h.Get("retry-after-ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms == ms {
			if ms >= float64(MaxRetryAfter/time.Millisecond) {
				return MaxRetryAfter
			}
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	if d := llm.ParseRetryAfter(h.Get("Retry-After"), now, MaxRetryAfter); d > 0 {
		return d
	}
	if status != http.StatusTooManyRequests {
		return 0
	}
	reqs, toks := resetDelay(h.Get("x-ratelimit-reset-requests")), resetDelay(h.Get("x-ratelimit-reset-tokens"))
	reqsOut := h.Get("x-ratelimit-remaining-requests") == "0"
	toksOut := h.Get("x-ratelimit-remaining-tokens") == "0"
	switch {
	case reqsOut && !toksOut && reqs > 0:
		return reqs
	case toksOut && !reqsOut && toks > 0:
		return toks
	}
	return max(reqs, toks)
}

// resetDelay parses an x-ratelimit-reset value: a Go-style duration, or
// bare seconds as some compatible servers send.
func resetDelay(v string) time.Duration {
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs != secs {
			return 0
		}
		if secs >= MaxRetryAfter.Seconds() {
			return MaxRetryAfter
		}
		d = time.Duration(secs * float64(time.Second))
	}
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
