package server

import (
	"context"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/anthropic"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/openai"
	"github.com/edgeway/edgeway/edge/pii"
	"github.com/edgeway/edgeway/edge/router"
)

// openaiDialect renders OpenAI's Chat Completions wire.
type openaiDialect struct {
	id           string
	created      int64
	model        string
	includeUsage bool
}

func (d *openaiDialect) streamType() string      { return "text/event-stream" }
func (d *openaiDialect) start(dst []byte) []byte { return dst }
func (d *openaiDialect) chunk(dst []byte, c *llm.Chunk) []byte {
	if c.Role == "" && c.Text == "" && c.Reasoning == "" && len(c.ToolCalls) == 0 && c.FinishReason == "" {
		// Only a reasoning signature or a redacted block, which this
		// dialect has no field for: no empty delta.
		return dst
	}
	return openai.AppendStreamChunk(dst, d.id, d.created, d.model, c)
}

func (d *openaiDialect) end(dst []byte, u llm.Usage, _ llm.FinishReason) []byte {
	if d.includeUsage {
		dst = openai.AppendStreamUsage(dst, d.id, d.created, d.model, u)
	}
	return openai.AppendStreamDone(dst)
}

func (d *openaiDialect) streamError(dst []byte, e *apiError) []byte {
	dst = openai.AppendStreamError(dst, e.status, e.message, e.typ, e.code)
	return openai.AppendStreamDone(dst)
}

func (d *openaiDialect) whole(dst []byte, a *llm.Aggregate) []byte {
	return openai.AppendChatResponse(dst, d.id, d.created, d.model, a)
}

func (d *openaiDialect) writeError(c *fasthttp.RequestCtx, e *apiError) { writeOpenAIError(c, e) }

// chatCompletions serves POST /v1/chat/completions.
func (s *Server) chatCompletions(c *fasthttp.RequestCtx, rid []byte) {
	s.metrics.chat.Add(1)
	req := &llm.ChatRequest{}
	includeUsage, err := openai.DecodeChatRequest(c.PostBody(), req)
	if err != nil {
		s.metrics.badRequest.Add(1)
		writeOpenAIError(c, classify(err))
		return
	}
	s.complete(c, req, &openaiDialect{
		id:           "chatcmpl-" + string(rid),
		created:      time.Now().Unix(),
		model:        req.Model,
		includeUsage: includeUsage,
	})
}

// embeddings serves POST /v1/embeddings.
func (s *Server) embeddings(c *fasthttp.RequestCtx) {
	s.metrics.embed.Add(1)
	var req llm.EmbedRequest
	format, err := openai.DecodeEmbedRequest(c.PostBody(), &req)
	if err != nil {
		s.metrics.badRequest.Add(1)
		writeOpenAIError(c, classify(err))
		return
	}
	resp, ok := s.embed(c, &req, &openaiDialect{})
	if !ok {
		return
	}
	c.SetContentType("application/json")
	c.SetBody(openai.AppendEmbeddingResponse(nil, req.Model, resp, format == "base64"))
}

// embed routes an embedding request, writing any failure in d's shape.
func (s *Server) embed(c *fasthttp.RequestCtx, req *llm.EmbedRequest, d dialect) (*llm.EmbedResponse, bool) {
	if !s.acquire() {
		s.shed(c, d)
		s.account(c, req.Model, &acct{status: 503, outcome: "overloaded"})
		return nil, false
	}
	defer s.release()
	scope, ok := s.permit(c, req.Model, d)
	if !ok {
		s.account(c, req.Model, &acct{status: 403, outcome: "model_not_allowed"})
		return nil, false
	}
	// Placeholders would change the vectors: for embeddings,
	// redact-for-cloud keeps the inputs on the device like local-only.
	pv, ok := s.applyPII(c, req.Model, func() (int, pii.Kinds) { return scanInputs(req) }, d)
	if !ok {
		return nil, false
	}
	var sc router.Scope
	if scope != nil {
		sc = scope
	}
	if pv.local || pv.redact {
		sc = localScope{inner: sc}
	}
	tk, ok := s.admit(c, req.Model, func() llm.Usage { return embedEstimate(req) }, d)
	if !ok {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.RequestTimeout)
	var (
		w    watcher
		st   router.Status
		resp *llm.EmbedResponse
		err  error
	)
	st.Scope = sc
	w.run(c, cancel, func() { resp, err = s.opts.Router.Embed(ctx, req, &st) })
	cancel()
	if err == nil && st.Provider != "" {
		c.Response.Header.Set("x-edgeway-provider", st.Provider)
	}
	c.Response.Header.Set("x-edgeway-failover", strconv.Itoa(st.Failovers))
	if err != nil {
		e := s.fail(c, d, err, w.gone)
		s.account(c, req.Model, &acct{ticket: &tk, failovers: st.Failovers, status: e.status, outcome: e.code})
		return nil, false
	}
	s.account(c, req.Model, &acct{ticket: &tk, provider: st.Provider, model: st.Model, usage: resp.Usage, failovers: st.Failovers, status: 200, outcome: "ok"})
	if resp.Model == "" {
		resp.Model = req.Model
	}
	return resp, true
}

// models serves GET /v1/models, in Anthropic's shape to Anthropic's
// clients (they send anthropic-version) and OpenAI's to everyone else.
func (s *Server) models(c *fasthttp.RequestCtx) {
	c.SetContentType("application/json")
	if len(c.Request.Header.Peek("anthropic-version")) > 0 {
		c.SetBody(anthropic.AppendModelList(nil, s.listModels()))
		return
	}
	c.SetBody(openai.AppendModelList(nil, s.listModels()))
}

func (s *Server) listModels() []llm.Model {
	ctx, cancel := context.WithTimeout(context.Background(), modelsTimeout)
	defer cancel()
	return s.opts.Router.Models(ctx)
}

// modelsTimeout bounds a model listing: it asks every provider.
const modelsTimeout = 5 * time.Second
