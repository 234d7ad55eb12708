package server

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/anthropic"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/router"
)

// anthropicDialect renders Anthropic's Messages wire.
type anthropicDialect struct {
	id    string
	model string
	enc   anthropic.StreamEncoder
}

func (d *anthropicDialect) streamType() string { return "text/event-stream" }

// start writes nothing: message_start goes out with the first chunk,
// which may carry the upstream's own start usage (see chunk).
func (d *anthropicDialect) start(dst []byte) []byte { return dst }
func (d *anthropicDialect) chunk(dst []byte, c *llm.Chunk) []byte {
	if !d.enc.Started() && c.Usage != nil {
		// An Anthropic upstream's message_start usage rides on its first
		// chunk: the client hears the upstream's count, cache tokens
		// included, instead of edgeway's estimate.
		d.enc.SetStartUsage(*c.Usage)
	}
	return d.enc.Chunk(dst, c)
}
func (d *anthropicDialect) end(dst []byte, u llm.Usage, _ llm.FinishReason) []byte {
	return d.enc.End(dst, u)
}
func (d *anthropicDialect) streamError(dst []byte, e *apiError) []byte {
	return anthropic.AppendStreamError(d.enc.Start(dst), anthropic.ErrorType(e.status), e.message)
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
	forwardBeta(c, req)
	d := &anthropicDialect{id: "msg_" + string(rid), model: req.Model}
	d.enc.Reset(d.id, req.Model)
	// message_start carries input_tokens before the upstream has counted
	// them; an estimate beats a zero when the upstream does not say
	// (message_delta has the real count).
	d.enc.SetInputTokens(anthropic.CountTokens(req))
	s.complete(c, req, d)
}

// forwardBeta adds the client's anthropic-beta headers to req's
// passthrough, for an Anthropic upstream, and names them as dropped for
// every other.
func forwardBeta(c *fasthttp.RequestCtx, req *llm.ChatRequest) {
	p := req.Passthrough
	if p == nil {
		return
	}
	for _, v := range c.Request.Header.PeekAll(anthropic.BetaHeader) {
		p.Headers = append(p.Headers, llm.Header{Name: anthropic.BetaHeader, Value: string(v)})
	}
	if len(p.Headers) > 0 && !slices.Contains(p.Dropped, anthropic.BetaHeader) {
		p.Dropped = append(p.Dropped, anthropic.BetaHeader)
		slices.Sort(p.Dropped)
	}
}

// tokenCounter is a provider that counts a request's input tokens itself
// (the Anthropic upstream's /v1/messages/count_tokens).
type tokenCounter interface {
	CountTokens(ctx context.Context, req *llm.ChatRequest) (int, error)
}

// targetRouter is the router's optional ability to name the upstreams a
// model resolves to and the wire each speaks (*router.Router has it).
type targetRouter interface {
	Targets(model string, scope router.Scope) ([]router.Target, error)
	ProviderType(name string) string
}

// countTokens serves POST /v1/messages/count_tokens: the upstream counts
// when the request's first target is one that can (an Anthropic
// upstream) and the caller may send it the prompt; otherwise, or when
// the upstream is unreachable, the local estimate answers.
// x-edgeway-provider says which upstream counted ("estimate" for none).
func (s *Server) countTokens(c *fasthttp.RequestCtx) {
	var req llm.ChatRequest
	if err := anthropic.DecodeCountTokensRequest(c.PostBody(), &req); err != nil {
		s.metrics.badRequest.Add(1)
		writeAnthropicError(c, classify(err))
		return
	}
	forwardBeta(c, &req)
	n, served, err := s.upstreamCount(c, &req)
	if err != nil {
		writeAnthropicError(c, classify(err))
		return
	}
	if served == "" {
		n, served = anthropic.CountTokens(&req), "estimate"
	}
	c.Response.Header.Set("x-edgeway-provider", served)
	c.SetContentType("application/json")
	c.SetBody(anthropic.AppendCountTokens(nil, n))
}

// upstreamCount asks req's first target to count its tokens. It returns
// served "" when the estimate is to answer, and an error only for one
// the client must see (the upstream refused the request as invalid).
func (s *Server) upstreamCount(c *fasthttp.RequestCtx, req *llm.ChatRequest) (n int, served string, err error) {
	tr, ok := s.opts.Router.(targetRouter)
	k := caller(c)
	if !ok || k.Key != nil && !k.AllowsModel(req.Model) || s.piiPolicy(k, req.Model) != "" {
		// A caller with a PII policy has its prompt scanned before it
		// may leave the device; a count is not worth that.
		return 0, "", nil
	}
	var scope router.Scope
	if k.Key != nil {
		scope = k
	}
	targets, err := tr.Targets(req.Model, scope)
	if err != nil || len(targets) == 0 {
		return 0, "", nil
	}
	t := targets[0]
	tc, ok := t.Provider.(tokenCounter)
	if !ok {
		return 0, "", nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.RequestTimeout)
	defer cancel()
	model := req.Model
	req.Model = t.Model
	n, err = tc.CountTokens(ctx, req)
	req.Model = model
	if err != nil {
		if llm.KindOf(err) == llm.KindBadRequest {
			return 0, "", err
		}
		s.log.Debug("count_tokens: upstream failed, answering with the estimate", "provider", t.Name, "err", err)
		return 0, "", nil
	}
	return n, t.Name, nil
}
