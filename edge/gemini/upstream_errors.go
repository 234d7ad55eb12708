package gemini

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
)

// ErrQuotaExhausted is wrapped inside the *llm.Error of a 429 that names
// a per-day quota. The Kind stays KindRateLimited, but retrying after
// RetryAfter will not help before the quota resets. Test with errors.Is.
var ErrQuotaExhausted = errors.New("daily quota exhausted")

// Type URLs of the google.rpc error details the client reads.
const (
	typeRetryInfo    = "type.googleapis.com/google.rpc.RetryInfo"
	typeErrorInfo    = "type.googleapis.com/google.rpc.ErrorInfo"
	typeQuotaFailure = "type.googleapis.com/google.rpc.QuotaFailure"
)

// wireStatus is google.rpc.Status as the REST API renders it:
// {"error":{"code":429,"message":"...","status":"RESOURCE_EXHAUSTED","details":[...]}}.
type wireStatus struct {
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Status  string            `json:"status"`
	Details []json.RawMessage `json:"details"`
}

type wireDetail struct {
	Type       string `json:"@type"`
	RetryDelay string `json:"retryDelay"` // RetryInfo
	Reason     string `json:"reason"`     // ErrorInfo
	Violations []struct {
		QuotaID string `json:"quotaId"`
	} `json:"violations"` // QuotaFailure
}

// errorInfo is what an upstream error body says.
type errorInfo struct {
	code       int    // HTTP status the body repeats; 0 when absent
	status     string // canonical code name: "RESOURCE_EXHAUSTED", ...
	message    string
	reason     string // ErrorInfo.reason: "API_KEY_INVALID", ...
	retryDelay time.Duration
	perDay     bool // a QuotaFailure names a per-day quota
}

// parseErrorBody extracts what it can from an error body; ok is false when
// it is not JSON of the known shape. The API sometimes wraps the object in
// an array (streams without alt=sse do).
func parseErrorBody(b []byte) (info errorInfo, ok bool) {
	b, ok = upstream.FirstOfArray(b)
	if !ok {
		return info, false
	}
	var w struct {
		Error *wireStatus `json:"error"`
	}
	if json.Unmarshal(b, &w) != nil || w.Error == nil {
		return info, false
	}
	e := w.Error
	info.code, info.status, info.message = e.Code, strings.ToUpper(e.Status), e.Message
	for _, raw := range e.Details {
		var d wireDetail
		if json.Unmarshal(raw, &d) != nil {
			continue
		}
		switch d.Type {
		case typeRetryInfo:
			info.retryDelay = parseDuration(d.RetryDelay)
		case typeErrorInfo:
			if info.reason == "" {
				info.reason = d.Reason
			}
		case typeQuotaFailure:
			for _, v := range d.Violations {
				if strings.Contains(v.QuotaID, "PerDay") {
					info.perDay = true
				}
			}
		}
	}
	return info, info.message != "" || info.status != "" || info.code != 0
}

// parseDuration reads a protobuf Duration in its JSON form ("13s",
// "0.5s", "1.000340s"), capped at upstream.MaxRetryAfter; 0 when unreadable.
func parseDuration(s string) time.Duration {
	v, ok := strings.CutSuffix(strings.TrimSpace(s), "s")
	if !ok {
		return 0
	}
	secs, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0
	}
	return upstream.Delay(secs, time.Second)
}

// statusKinds maps the canonical google.rpc code names to kinds.
// FAILED_PRECONDITION is the API's answer for "the free tier is not
// available in your country, enable billing": a fault of the gateway's
// account that every request to this target will hit, not of the caller,
// so it is KindAuth and fails over. UNIMPLEMENTED means the model does not
// offer the method, which another target may.
var statusKinds = map[string]llm.Kind{
	"INVALID_ARGUMENT":    llm.KindBadRequest,
	"OUT_OF_RANGE":        llm.KindBadRequest,
	"ALREADY_EXISTS":      llm.KindBadRequest,
	"FAILED_PRECONDITION": llm.KindAuth,
	"UNAUTHENTICATED":     llm.KindAuth,
	"PERMISSION_DENIED":   llm.KindAuth,
	"NOT_FOUND":           llm.KindNotFound,
	"UNIMPLEMENTED":       llm.KindNotFound,
	"RESOURCE_EXHAUSTED":  llm.KindRateLimited,
	"UNAVAILABLE":         llm.KindOverloaded,
	"DEADLINE_EXCEEDED":   llm.KindTimeout,
	"INTERNAL":            llm.KindServer,
	"UNKNOWN":             llm.KindServer,
	"DATA_LOSS":           llm.KindServer,
	"ABORTED":             llm.KindServer,
	"CANCELLED":           llm.KindServer,
}

// kindOf decides the kind of an upstream error from the HTTP status (0
// for an error inside a 200 stream) and what the body says. The body's
// status name is more specific than the HTTP status; the message refines
// both where Google reuses INVALID_ARGUMENT for a bad key or an
// oversized prompt.
func kindOf(status int, info errorInfo) llm.Kind {
	msg := strings.ToLower(info.message)
	if info.reason == "API_KEY_INVALID" || info.reason == "API_KEY_EXPIRED" ||
		strings.Contains(msg, "api key not valid") || strings.Contains(msg, "api key expired") {
		return llm.KindAuth
	}
	k, ok := statusKinds[info.status]
	if !ok {
		if status == 0 && info.code >= 400 && info.code <= 599 {
			status = info.code
		}
		k = llm.KindServer
		if status != 0 {
			k = llm.KindForStatus(status)
		}
	}
	if (k == llm.KindBadRequest || k == llm.KindServer) && isContextLength(msg) {
		return llm.KindContextLength
	}
	return k
}

// isContextLength recognises Google's "The input token count (N) exceeds
// the maximum number of tokens allowed (M)." and the request-size limit.
func isContextLength(msg string) bool {
	return strings.Contains(msg, "exceeds the maximum number of tokens") ||
		(strings.Contains(msg, "input token count") && strings.Contains(msg, "exceeds")) ||
		strings.Contains(msg, "payload size exceeds the limit")
}

// parseError is the upstream.ErrorParser of google.rpc.Status bodies. The
// body's status name is more specific than the HTTP status (see kindOf);
// validation messages start with "* " per violation, and the bullet goes.
func parseError(body []byte, status int, _ llm.Kind) (upstream.ErrorInfo, bool) {
	info, ok := parseErrorBody(body)
	out := upstream.ErrorInfo{
		Kind:       kindOf(status, info),
		Type:       info.status,
		Message:    strings.TrimPrefix(strings.TrimSpace(info.message), "* "),
		RetryAfter: info.retryDelay,
	}
	if status == 0 && info.code >= 400 && info.code <= 599 {
		out.Status = info.code
	}
	if info.perDay {
		out.Err = ErrQuotaExhausted
	}
	return out, ok
}
