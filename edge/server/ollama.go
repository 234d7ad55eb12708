package server

import (
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/ollamaapi"
)

// OllamaAPIVersion is the Ollama API version edgeway's /api endpoints
// speak, reported by /api/version: clients check it before using newer
// features.
const OllamaAPIVersion = "0.17.4"

// ollamaChat renders Ollama's /api/chat NDJSON; ollamaGenerate /api/generate.
type ollamaChat struct{ enc ollamaapi.ChatEncoder }

type ollamaGenerate struct{ enc ollamaapi.GenerateEncoder }

func (d *ollamaChat) streamType() string      { return "application/x-ndjson" }
func (d *ollamaChat) start(dst []byte) []byte { return dst }
func (d *ollamaChat) chunk(dst []byte, c *llm.Chunk) []byte {
	return d.enc.Chunk(dst, c)
}
func (d *ollamaChat) end(dst []byte, u llm.Usage, f llm.FinishReason) []byte {
	return d.enc.End(dst, u, f)
}
func (d *ollamaChat) streamError(dst []byte, e *apiError) []byte {
	return ollamaapi.AppendStreamError(dst, e.message)
}
func (d *ollamaChat) whole(dst []byte, a *llm.Aggregate) []byte { return d.enc.Whole(dst, a) }
func (d *ollamaChat) writeError(c *fasthttp.RequestCtx, e *apiError) {
	writeOllamaError(c, e)
}

func (d *ollamaGenerate) streamType() string      { return "application/x-ndjson" }
func (d *ollamaGenerate) start(dst []byte) []byte { return dst }
func (d *ollamaGenerate) chunk(dst []byte, c *llm.Chunk) []byte {
	return d.enc.Chunk(dst, c)
}
func (d *ollamaGenerate) end(dst []byte, u llm.Usage, f llm.FinishReason) []byte {
	return d.enc.End(dst, u, f)
}
func (d *ollamaGenerate) streamError(dst []byte, e *apiError) []byte {
	return ollamaapi.AppendStreamError(dst, e.message)
}
func (d *ollamaGenerate) whole(dst []byte, a *llm.Aggregate) []byte { return d.enc.Whole(dst, a) }
func (d *ollamaGenerate) writeError(c *fasthttp.RequestCtx, e *apiError) {
	writeOllamaError(c, e)
}

// writeOllamaError renders e as Ollama's {"error": "..."}.
func writeOllamaError(c *fasthttp.RequestCtx, e *apiError) {
	c.SetStatusCode(e.status)
	if e.retryAfter > 0 {
		c.Response.Header.Set("Retry-After", strconv.Itoa(int((e.retryAfter+time.Second-1)/time.Second)))
	}
	c.SetContentType("application/json; charset=utf-8")
	c.SetBody(ollamaapi.AppendError(make([]byte, 0, 32+len(e.message)), e.message))
}

// ollamaChatHandler serves POST /api/chat and /api/generate.
func (s *Server) ollamaChatHandler(c *fasthttp.RequestCtx, generate bool) {
	s.metrics.chat.Add(1)
	req := &llm.ChatRequest{}
	var err error
	if generate {
		_, err = ollamaapi.DecodeGenerateRequest(c.PostBody(), req)
	} else {
		_, err = ollamaapi.DecodeChatRequest(c.PostBody(), req)
	}
	if err != nil {
		s.metrics.badRequest.Add(1)
		writeOllamaError(c, classify(err))
		return
	}
	var d dialect
	if generate {
		g := &ollamaGenerate{}
		g.enc.Reset(req.Model, time.Now())
		d = g
	} else {
		ch := &ollamaChat{}
		ch.enc.Reset(req.Model, time.Now())
		d = ch
	}
	if len(req.Messages) == 0 {
		// Ollama's "load the model" request (what `ollama run` sends
		// first): nothing to generate. edgeway loads models on demand.
		c.SetContentType("application/json; charset=utf-8")
		if g, ok := d.(*ollamaGenerate); ok {
			c.SetBody(g.enc.Load(nil))
		} else {
			c.SetBody(d.(*ollamaChat).enc.Load(nil))
		}
		return
	}
	s.complete(c, req, d)
}

// ollamaEmbed serves POST /api/embed and the legacy /api/embeddings.
func (s *Server) ollamaEmbed(c *fasthttp.RequestCtx, legacy bool) {
	s.metrics.embed.Add(1)
	var req llm.EmbedRequest
	var err error
	if legacy {
		err = ollamaapi.DecodeLegacyEmbeddingsRequest(c.PostBody(), &req)
	} else {
		err = ollamaapi.DecodeEmbedRequest(c.PostBody(), &req)
	}
	if err != nil {
		s.metrics.badRequest.Add(1)
		writeOllamaError(c, classify(err))
		return
	}
	var resp *llm.EmbedResponse
	if len(req.Input) == 0 {
		resp = &llm.EmbedResponse{Model: req.Model} // a load request
	} else {
		var ok bool
		if resp, ok = s.embed(c, &req, &ollamaChat{}); !ok {
			return
		}
	}
	c.SetContentType("application/json; charset=utf-8")
	if legacy {
		c.SetBody(ollamaapi.AppendLegacyEmbeddingsResponse(nil, resp))
	} else {
		c.SetBody(ollamaapi.AppendEmbedResponse(nil, req.Model, resp))
	}
}

// ollamaShow serves POST /api/show with the little clients need.
func (s *Server) ollamaShow(c *fasthttp.RequestCtx) {
	model, err := ollamaapi.DecodeShowRequest(c.PostBody())
	if err != nil {
		writeOllamaError(c, classify(err))
		return
	}
	c.SetContentType("application/json; charset=utf-8")
	c.SetBody(ollamaapi.AppendShow(nil, llm.Model{ID: model}))
}
