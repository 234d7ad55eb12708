package server

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/upstream"
)

// The request log: one line at info per finished request, written where
// its usage record is built (account), so gathering it costs nothing
// more; a request refused or answered before accounting (401, 403, 404,
// 405, 400 decode errors, listings, health) gets its line when the
// handler returns (logDone). At debug, a second line carries the request
// headers and bodies, credentials redacted and bodies bounded.
//
//	msg=request request_id dialect method path key alias provider model
//	failovers status tokens_in tokens_out latency_ms ttft_ms cache outcome

// maxLoggedBody bounds a body quoted in the debug log.
const maxLoggedBody = 8 << 10

// loggedKey marks a request whose info line is written.
type loggedKey struct{}

// outcomeKey holds the code of the error a request was answered with,
// for the line of a request that was not accounted.
type outcomeKey struct{}

// noteError remembers e's code as the request's outcome; the dialects'
// error writers call it.
func noteError(c *fasthttp.RequestCtx, e *apiError) {
	if e.code != "" {
		c.SetUserValue(outcomeKey{}, e.code)
	}
}

// logging reports whether request lines are written at all.
func (s *Server) logging() bool { return s.log.Enabled(context.Background(), slog.LevelInfo) }

// logRequest writes the line of a request that was accounted as a.
func (s *Server) logRequest(c *fasthttp.RequestCtx, model string, a *acct) {
	c.SetUserValue(loggedKey{}, true)
	if !s.logging() {
		return
	}
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("request_id", string(requestID(c))),
		slog.String("dialect", dialectName(c.Path())),
		slog.String("method", methodName(c)),
		slog.String("path", pathShown(c)),
		slog.String("key", caller(c).ID()),
		slog.String("alias", clipShown(model)),
		slog.String("provider", a.provider),
		slog.String("model", a.model),
		slog.Int("failovers", a.failovers),
		slog.Int("status", a.status),
		slog.Int("tokens_in", a.usage.PromptTokens),
		slog.Int("tokens_out", a.usage.CompletionTokens),
		slog.Float64("latency_ms", ms(time.Since(c.Time()))),
		slog.Float64("ttft_ms", ms(a.ttft)),
		slog.String("cache", a.cache),
		slog.String("outcome", a.outcome),
	)
}

// logDone runs when the handler returns: the line of a request that was
// not accounted (a stream's comes from its end), and at debug its bodies.
func (s *Server) logDone(c *fasthttp.RequestCtx) {
	if c.UserValue(loggedKey{}) == nil && !c.IsBodyStream() {
		s.logPlain(c)
	}
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.logBodies(c)
	}
}

// logPlain writes the line of a request that reached no provider.
func (s *Server) logPlain(c *fasthttp.RequestCtx) {
	c.SetUserValue(loggedKey{}, true)
	if !s.logging() {
		return
	}
	status := c.Response.StatusCode()
	outcome, _ := c.UserValue(outcomeKey{}).(string)
	if outcome == "" {
		outcome = "ok"
		if status >= 400 {
			outcome = "error"
		}
	}
	level := slog.LevelInfo
	if probe(c.Path()) {
		level = slog.LevelDebug // a monitor's poll every few seconds is noise
	}
	s.log.LogAttrs(context.Background(), level, "request",
		slog.String("request_id", string(requestID(c))),
		slog.String("dialect", dialectName(c.Path())),
		slog.String("method", methodName(c)),
		slog.String("path", pathShown(c)),
		slog.String("key", caller(c).ID()),
		slog.Int("status", status),
		slog.Float64("latency_ms", ms(time.Since(c.Time()))),
		slog.String("outcome", outcome),
	)
}

// probe reports whether path is a health or metrics probe.
func probe(path []byte) bool {
	switch string(path) {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

// logBodies writes, at debug, what the client sent and (unless it was
// streamed) what it got, with credentials redacted: credential headers
// whole, and in bodies the providers' keys by value and anything shaped
// like a key (upstream.Redact, which knows edgeway's ew- keys too).
func (s *Server) logBodies(c *fasthttp.RequestCtx) {
	var hdr strings.Builder
	for k, v := range c.Request.Header.All() {
		if hdr.Len() > 0 {
			hdr.WriteString("; ")
		}
		hdr.Write(k)
		hdr.WriteString(": ")
		if upstream.CredentialHeader(string(k)) {
			hdr.WriteString("[redacted]")
		} else {
			hdr.WriteString(s.redactLogged(v))
		}
	}
	resp := "(streamed)"
	if !c.IsBodyStream() {
		resp = s.redactLogged(c.Response.Body())
	}
	s.log.LogAttrs(context.Background(), slog.LevelDebug, "request bodies",
		slog.String("request_id", string(requestID(c))),
		slog.String("headers", hdr.String()),
		slog.String("request_body", s.redactLogged(c.PostBody())),
		slog.String("response_body", resp),
	)
}

// redactLogged makes b fit for the debug log: at most maxLoggedBody
// bytes (cut on a character boundary, marked with the full size) and
// credentials redacted.
func (s *Server) redactLogged(b []byte) string {
	n := len(b)
	if n > maxLoggedBody {
		cut := maxLoggedBody
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		b = b[:cut]
	}
	out := upstream.Redact(strings.ToValidUTF8(string(b), "\uFFFD"), s.opts.Secrets...)
	if n > len(b) {
		out += "… (" + strconv.Itoa(n) + " bytes)"
	}
	return out
}

// methodName is the request's method as a string without a copy for the
// usual ones.
func methodName(c *fasthttp.RequestCtx) string {
	switch {
	case c.IsPost():
		return fasthttp.MethodPost
	case c.IsGet():
		return fasthttp.MethodGet
	}
	return clipShown(string(c.Method()))
}

// pathShown is the request's path for the log: the routes' own strings
// need no copy; anything else is bounded.
func pathShown(c *fasthttp.RequestCtx) string {
	p := c.Path()
	switch string(p) {
	case "/v1/chat/completions":
		return "/v1/chat/completions"
	case "/v1/messages":
		return "/v1/messages"
	case "/api/chat":
		return "/api/chat"
	case "/api/generate":
		return "/api/generate"
	}
	return clipShown(strings.ToValidUTF8(string(p), "\uFFFD"))
}
