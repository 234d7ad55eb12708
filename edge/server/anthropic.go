package server

import (
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/anthropic"
	"github.com/edgeway/edgeway/edge/llm"
)

// anthropicDialect renders Anthropic's Messages wire.
type anthropicDialect struct {
	id    string
	model string
	enc   anthropic.StreamEncoder
}

func (d *anthropicDialect) streamType() string      { return "text/event-stream" }
func (d *anthropicDialect) start(dst []byte) []byte { return d.enc.Start(dst) }
func (d *anthropicDialect) chunk(dst []byte, c *llm.Chunk) []byte {
	return d.enc.Chunk(dst, c)
}
func (d *anthropicDialect) end(dst []byte, u llm.Usage, _ llm.FinishReason) []byte {
	return d.enc.End(dst, u)
}
func (d *anthropicDialect) streamError(dst []byte, e *apiError) []byte {
	return anthropic.AppendStreamError(dst, anthropic.ErrorType(e.status), e.message)
}
func (d *anthropicDialect) whole(dst []byte, a *llm.Aggregate) []byte {
	return anthropic.AppendMessageResponse(dst, d.id, d.model, a)
}
func (d *anthropicDialect) writeError(c *fasthttp.RequestCtx, e *apiError) { writeAnthropicError(c, e) }

// writeAnthropicError renders e as Anthropic's error JSON. Anthropic's
// SDKs read the request id from request-id.
func writeAnthropicError(c *fasthttp.RequestCtx, e *apiError) {
	noteError(c, e)
	c.SetStatusCode(e.status)
	c.Response.Header.SetBytesV("request-id", requestID(c))
	if e.retryAfter > 0 {
		c.Response.Header.Set("Retry-After", strconv.Itoa(int((e.retryAfter+time.Second-1)/time.Second)))
	}
	c.SetContentType("application/json")
	c.SetBody(anthropic.AppendError(make([]byte, 0, 64+len(e.message)), anthropic.ErrorType(e.status), e.message))
}

// messages serves POST /v1/messages.
func (s *Server) messages(c *fasthttp.RequestCtx, rid []byte) {
	s.metrics.chat.Add(1)
	c.Response.Header.SetBytesV("request-id", rid)
	req := &llm.ChatRequest{}
	if err := anthropic.DecodeMessagesRequest(c.PostBody(), req); err != nil {
		s.metrics.badRequest.Add(1)
		writeAnthropicError(c, classify(err))
		return
	}
	d := &anthropicDialect{id: "msg_" + string(rid), model: req.Model}
	d.enc.Reset(d.id, req.Model)
	// message_start carries input_tokens before the upstream has counted
	// them; an estimate beats a zero, and message_delta has the real count.
	d.enc.SetInputTokens(anthropic.CountTokens(req))
	s.complete(c, req, d)
}

// countTokens serves POST /v1/messages/count_tokens from an estimate.
func (s *Server) countTokens(c *fasthttp.RequestCtx) {
	var req llm.ChatRequest
	if err := anthropic.DecodeCountTokensRequest(c.PostBody(), &req); err != nil {
		s.metrics.badRequest.Add(1)
		writeAnthropicError(c, classify(err))
		return
	}
	c.SetContentType("application/json")
	c.SetBody(anthropic.AppendCountTokens(nil, anthropic.CountTokens(&req)))
}
