package server

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/internal/ingress"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/openai"
	"github.com/edgeway/edgeway/edge/router"
	"github.com/edgeway/edgeway/edge/upstream"
)

// apiError is a failure ready to render in any dialect.
type apiError struct {
	status     int
	typ        string // OpenAI error type
	code       string
	param      string
	message    string
	retryAfter time.Duration
}

// classify maps an error from decoding or routing onto what the client is
// told. Every path yields a status and a message a person can act on; an
// unexpected error is a 502 naming it, never a bare 500. Anything shaped
// like a credential is redacted from the message, whichever provider
// wrote it (upstream.Client redacts its own keys by value already).
func classify(err error) *apiError {
	a := classifyError(err)
	a.message = upstream.Redact(a.message)
	if len(a.message) > maxClientMessage {
		// A message may quote client input (a tool type, a field) that
		// nobody bounded on the way.
		cut := maxClientMessage
		for cut > 0 && !utf8.RuneStart(a.message[cut]) {
			cut--
		}
		a.message = a.message[:cut] + "…"
	}
	return a
}

// maxClientMessage bounds an error message sent to a client.
const maxClientMessage = 4 << 10

func classifyError(err error) *apiError {
	var (
		ie *ingress.Error
		um *router.UnknownModelError
		na *router.NotAllowedError
		ex *router.ExhaustedError
		le *llm.Error
	)
	switch {
	case errors.As(err, &ie):
		st, code := ie.Status, ie.Code
		if st == 0 {
			st = 400
		}
		if code == "" {
			code = "invalid_request"
		}
		return &apiError{status: st, typ: "invalid_request_error", param: ie.Param, code: code, message: ie.Message}
	case errors.As(err, &um):
		msg := "model " + echo([]byte(um.Model)) + " does not exist"
		if len(um.Known) > 0 {
			msg += "; available: " + strings.Join(um.Known, ", ")
		}
		msg += ` (use an alias from "models:" or "provider/model")`
		return &apiError{status: 404, typ: "invalid_request_error", param: "model", code: "model_not_found", message: msg}
	case errors.As(err, &na):
		return &apiError{status: 403, typ: "permission_error", code: "provider_not_allowed", param: "model", message: na.Error()}
	case errors.As(err, &ex):
		a := &apiError{status: ex.Status(), message: ex.Error(), retryAfter: ex.RetryAfter()}
		switch a.status {
		case 400:
			a.typ, a.code = "invalid_request_error", "unsupported"
		case 404:
			a.typ, a.code, a.param = "invalid_request_error", "model_not_found", "model"
		case 413:
			a.status, a.typ, a.code = 400, "invalid_request_error", "context_length_exceeded"
		case 429:
			a.typ, a.code = "rate_limit_error", "rate_limit_exceeded"
		case 504:
			a.typ, a.code = "server_error", "upstream_timeout"
		case 503:
			a.typ, a.code = "server_error", "no_provider_available"
		default:
			a.typ, a.code = "server_error", "upstream_error"
		}
		// A context-length failure everywhere is the caller's to fix.
		if lastKind(ex) == llm.KindContextLength {
			a.status, a.typ, a.code = 400, "invalid_request_error", "context_length_exceeded"
		}
		return a
	case errors.As(err, &le):
		switch le.Kind {
		case llm.KindBadRequest:
			return &apiError{status: 400, typ: "invalid_request_error", code: "upstream_rejected", message: le.Error()}
		case llm.KindContextLength:
			return &apiError{status: 400, typ: "invalid_request_error", code: "context_length_exceeded", message: le.Error()}
		case llm.KindUnsupported:
			return &apiError{status: 400, typ: "invalid_request_error", code: "unsupported", message: le.Error()}
		case llm.KindRateLimited:
			return &apiError{status: 429, typ: "rate_limit_error", code: "rate_limit_exceeded", message: le.Error(), retryAfter: le.RetryAfter}
		case llm.KindTimeout:
			return &apiError{status: 504, typ: "server_error", code: "upstream_timeout", message: le.Error()}
		case llm.KindUnavailable, llm.KindOverloaded:
			return &apiError{status: 503, typ: "server_error", code: "no_provider_available", message: le.Error(), retryAfter: le.RetryAfter}
		}
		return &apiError{status: 502, typ: "server_error", code: "upstream_error", message: le.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: 504, typ: "server_error", code: "timeout", message: "request timed out (server.request_timeout)"}
	case errors.Is(err, context.Canceled):
		// 499 is nginx's "client closed request": nobody reads it, but logs
		// and metrics then say what happened.
		return &apiError{status: 499, typ: "invalid_request_error", code: "client_closed", message: "client closed the request"}
	}
	return &apiError{status: 502, typ: "server_error", code: "upstream_error", message: err.Error()}
}

func lastKind(ex *router.ExhaustedError) llm.Kind {
	for i := len(ex.Attempts) - 1; i >= 0; i-- {
		if ex.Attempts[i].Skipped == "" {
			return ex.Attempts[i].Kind
		}
	}
	return llm.KindUnknown
}

// writeOpenAIError renders e as OpenAI error JSON.
func writeOpenAIError(c *fasthttp.RequestCtx, e *apiError) {
	noteError(c, e)
	c.Response.Header.Del("Content-Encoding")
	c.SetStatusCode(e.status)
	if e.retryAfter > 0 {
		secs := int((e.retryAfter + time.Second - 1) / time.Second)
		c.Response.Header.Set("Retry-After", strconv.Itoa(secs))
	}
	c.SetContentType("application/json")
	c.SetBody(openai.AppendError(make([]byte, 0, 128+len(e.message)), e.message, e.typ, e.param, e.code))
}
