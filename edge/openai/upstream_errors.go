package openai

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
)

// ErrInsufficientQuota is wrapped inside the *llm.Error of a 429 that
// says the account is out of credit, not that a burst hit a limit. The
// Kind stays KindRateLimited, but waiting will not help; test with
// errors.Is.
var ErrInsufficientQuota = errors.New("insufficient quota")

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
	// Gemini's OpenAI endpoint wraps the error object in an array.
	b, ok = upstream.FirstOfArray(b)
	if !ok {
		return info, false
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
	case open && isUnsupported(msg):
		return llm.KindUnsupported
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

// unsupported are what servers on the OpenAI wire answer (llama-server
// with a 500, as its parser throws them) for a request this server cannot
// serve as asked but another target may: a model or build without tool,
// vision or audio support, an image URL it cannot fetch. Lower case.
var unsupported = [...]string{
	"tools param requires --jinja flag",       // llama-server without --jinja
	"tool_choice param requires --jinja flag", // the same
	"image input is not supported",            // llama-server without --mmproj
	"audio input is not supported",            // the same
	"failed to download image",                // llama-server fetching an image_url
	"does not support tools",                  // Ollama's /v1, and proxies in front of it
	"does not support vision",
}

func isUnsupported(msg string) bool {
	for _, s := range unsupported {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func isQuota(info errorInfo) bool {
	return info.code == "insufficient_quota" || info.typ == "insufficient_quota"
}

// parseError is the upstream.ErrorParser of OpenAI-compatible bodies. An
// error event in a stream (status 0) takes its status from a numeric code
// in the body, and shows no code: a stream's code repeats its type.
func parseError(body []byte, status int, k llm.Kind) (upstream.ErrorInfo, bool) {
	info, ok := parseErrorBody(body)
	out := upstream.ErrorInfo{Message: info.message}
	if status == 0 && info.status >= 400 && info.status <= 599 {
		out.Status = info.status
		k = llm.KindForStatus(info.status)
	}
	out.Kind = refineKind(k, info)
	switch {
	case isQuota(info):
		out.Err = ErrInsufficientQuota
	case status != 0:
		out.Type = info.code
	}
	return out, ok
}

// resetDelay reads OpenAI's x-ratelimit-reset-* durations ("1s", "6m0s",
// "20ms") for whichever limit is exhausted, the longer when neither or
// both say so.
func resetDelay(h http.Header, _ time.Time) time.Duration {
	reqs, toks := parseReset(h.Get("x-ratelimit-reset-requests")), parseReset(h.Get("x-ratelimit-reset-tokens"))
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

// parseReset parses an x-ratelimit-reset value: a Go-style duration, or
// bare seconds as some compatible servers send.
func parseReset(v string) time.Duration {
	if v == "" {
		return 0
	}
	if d, err := time.ParseDuration(v); err == nil {
		return upstream.Delay(float64(d), time.Nanosecond)
	}
	secs, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0
	}
	return upstream.Delay(secs, time.Second)
}
