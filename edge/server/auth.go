package server

import (
	"bytes"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/anthropic"
	"github.com/edgeway/edgeway/edge/keys"
	"github.com/edgeway/edgeway/edge/limits"
	"github.com/edgeway/edgeway/edge/llm"
)

// callerKey is the user-value key under which handle leaves the request's
// caller for the handlers.
type callerKey struct{}

// open reports whether path is served to anyone: probes and health. All
// else (models, chat, embeddings, admin) needs a key once keys exist.
func open(path []byte) bool {
	switch string(path) {
	case "/", "/healthz", "/readyz", "/metrics", "/api/version":
		return true
	}
	return false
}

// authenticate finds the caller of a request to path, or answers 401 in
// the client's dialect and reports false.
func (s *Server) authenticate(c *fasthttp.RequestCtx, path []byte) bool {
	if s.opts.Auth == nil || open(path) {
		return true
	}
	secret := keys.FromHeaders(c.Request.Header.Peek)
	caller, ok := s.opts.Auth.Check(secret)
	if !ok {
		s.metrics.unauthorized.Add(1)
		s.auditAuth(c, secret)
		msg := "missing API key: send an edgeway key as Authorization: Bearer, x-api-key or api-key"
		if len(secret) > 0 {
			msg = "invalid API key " + strconv.Quote(shown(secret)) + ": it is unknown, revoked or expired"
		}
		c.Response.Header.Set("WWW-Authenticate", `Bearer realm="edgeway"`)
		errorDialect(path).writeError(c, &apiError{status: 401, typ: "invalid_request_error", code: "invalid_api_key", message: msg})
		return false
	}
	c.SetUserValue(callerKey{}, caller)
	return true
}

// shown is the part of a presented key an error may echo: enough to tell
// which key it was, never the secret part.
func shown(secret []byte) string {
	const keep = 9 // "ew-" and six characters, the prefix keys are listed by
	if len(secret) <= keep || !bytes.HasPrefix(secret, []byte(keys.SecretPrefix)) {
		return "…"
	}
	return string(secret[:keep]) + "…"
}

// caller returns the request's caller (keys.Anyone on an open gateway).
func caller(c *fasthttp.RequestCtx) *keys.Caller {
	if k, ok := c.UserValue(callerKey{}).(*keys.Caller); ok {
		return k
	}
	return keys.Anyone
}

// permit checks that the caller may use model, answering 403 in d when it
// may not, and returns the routing scope its key imposes (nil for none).
func (s *Server) permit(c *fasthttp.RequestCtx, model string, d dialect) (scope *keys.Caller, ok bool) {
	k := caller(c)
	if k.Key == nil {
		return nil, true
	}
	if !k.AllowsModel(model) {
		s.metrics.forbidden.Add(1)
		d.writeError(c, &apiError{status: 403, typ: "permission_error", code: "model_not_allowed", param: "model",
			message: "key " + k.Key.Prefix + "… (" + k.Key.Name + ") may not use model " + strconv.Quote(clipShown(model))})
		return nil, false
	}
	return k, true
}

// clipShown bounds a client-supplied value echoed in an error.
func clipShown(s string) string {
	const max = 128
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// defaultReplyTokens is what a request without max_tokens is assumed to
// generate when its tokens and cost are reserved at admission; the real
// usage settles it.
const defaultReplyTokens = 1024

// chatEstimate is what a chat request may use: its prompt by the
// count_tokens estimate and its max_tokens (or defaultReplyTokens).
func chatEstimate(req *llm.ChatRequest) llm.Usage {
	est := llm.Usage{PromptTokens: anthropic.CountTokens(req), CompletionTokens: defaultReplyTokens}
	if req.MaxTokens != nil && *req.MaxTokens > 0 {
		est.CompletionTokens = *req.MaxTokens
	}
	return est
}

// embedEstimate is what an embedding request may use: about four bytes
// a token of input.
func embedEstimate(req *llm.EmbedRequest) llm.Usage {
	n := 0
	for _, in := range req.Input {
		n += (len(in) + 3) / 4
	}
	return llm.Usage{PromptTokens: n}
}

// admit holds the caller's rate limits and budget for a request for model
// estimated by estimate, answering 429 in d (naming the limit, with
// Retry-After) when they are spent. A caller without limits pays for no
// estimate, one without a budget for no price lookup.
func (s *Server) admit(c *fasthttp.RequestCtx, model string, estimate func() llm.Usage, d dialect) (limits.Ticket, bool) {
	k := caller(c)
	if s.opts.Limits == nil || k.Key == nil {
		return limits.Ticket{}, true
	}
	limited, budgeted := limits.Applies(k)
	if !limited {
		return limits.Ticket{}, true
	}
	est := estimate()
	cost := 0.0
	if budgeted && s.opts.Pricer != nil {
		cost = s.opts.Pricer.Estimate(model, est)
	}
	tk, refused := s.opts.Limits.Admit(k, est.PromptTokens+est.CompletionTokens, cost)
	if refused != nil {
		s.metrics.limited.Add(1)
		s.auditLimit(k, refused.Code)
		d.writeError(c, &apiError{status: 429, typ: "rate_limit_error", code: refused.Code, message: refused.Message, retryAfter: refused.RetryAfter})
		s.account(c, model, &acct{status: 429, outcome: refused.Code})
		return tk, false
	}
	if tk.Warning != "" {
		c.Response.Header.Set("x-edgeway-budget-warning", tk.Warning)
	}
	return tk, true
}
