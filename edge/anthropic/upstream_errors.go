package anthropic

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
)

// ErrBilling is wrapped inside the *llm.Error of a request the account
// cannot pay for (billing_error, or a 400 saying the credit balance is too
// low). The Kind is KindAuth: a configuration fault another provider may
// not have. Test with errors.Is.
var ErrBilling = errors.New("billing")

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

// parseError is the upstream.ErrorParser of Anthropic's error body. The
// kind is refined from the message even when the body is not Anthropic's
// shape: a proxy's plain "prompt is too long" still means the context.
func parseError(body []byte, status int, k llm.Kind) (upstream.ErrorInfo, bool) {
	typ, msg, ok := parseErrorBody(body)
	if !ok {
		if status == 0 {
			return upstream.ErrorInfo{}, false
		}
		msg = upstream.PlainMessage(body)
	}
	info := upstream.ErrorInfo{Kind: refineKind(k, typ, msg), Type: typ, Message: msg}
	if isBilling(typ, msg) {
		info.Type, info.Err = "", ErrBilling
	}
	return info, ok
}

// rateLimitResets are the anthropic-ratelimit-* families a 429 may be
// waiting on, each with a -remaining and a -reset (RFC 3339) header.
var rateLimitResets = [...]string{"requests", "tokens", "input-tokens", "output-tokens"}

// resetDelay reads, on a 429 without retry-after, the
// anthropic-ratelimit-*-reset time of whichever limit is exhausted (the
// latest of them when none says so).
func resetDelay(h http.Header, now time.Time) time.Duration {
	var exhausted, any time.Duration
	for _, family := range rateLimitResets {
		d := parseReset(h.Get("anthropic-ratelimit-"+family+"-reset"), now)
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

// parseReset is the time from now until an RFC 3339 reset time, capped;
// 0 when v is empty, unparseable or past.
func parseReset(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return 0
	}
	return upstream.Delay(float64(t.Sub(now)), time.Nanosecond)
}
