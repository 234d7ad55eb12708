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

// ollamaEncoder is what ollamaapi's chat and generate encoders share;
// the methods are on *E, which the encoder value of ollamaDialect is.
type ollamaEncoder[E any] interface {
	*E
	Reset(model string, start time.Time)
	Chunk(dst []byte, c *llm.Chunk) []byte
	End(dst []byte, u llm.Usage, finish llm.FinishReason) []byte
	Whole(dst []byte, a *llm.Aggregate) []byte
	Load(dst []byte) []byte
}

// ollamaDialect renders Ollama's NDJSON: /api/chat (ollamaChat) and
// /api/generate (ollamaGenerate) differ only in the encoder. The encoder
// is held by value so that one allocation serves the request.
type ollamaDialect[E any, P ollamaEncoder[E]] struct{ enc E }

type (
	ollamaChat     = ollamaDialect[ollamaapi.ChatEncoder, *ollamaapi.ChatEncoder]
	ollamaGenerate = ollamaDialect[ollamaapi.GenerateEncoder, *ollamaapi.GenerateEncoder]
)

func (d *ollamaDialect[E, P]) streamType() string      { return "application/x-ndjson" }
func (d *ollamaDialect[E, P]) start(dst []byte) []byte { return dst }
func (d *ollamaDialect[E, P]) chunk(dst []byte, c *llm.Chunk) []byte {
	return P(&d.enc).Chunk(dst, c)
}
func (d *ollamaDialect[E, P]) end(dst []byte, u llm.Usage, f llm.FinishReason) []byte {
	return P(&d.enc).End(dst, u, f)
}
func (d *ollamaDialect[E, P]) streamError(dst []byte, e *apiError) []byte {
	return ollamaapi.AppendStreamError(dst, e.message)
}
func (d *ollamaDialect[E, P]) whole(dst []byte, a *llm.Aggregate) []byte {
	return P(&d.enc).Whole(dst, a)
}
func (d *ollamaDialect[E, P]) writeError(c *fasthttp.RequestCtx, e *apiError) {
	writeOllamaError(c, e)
}

// serve answers req, already decoded, in this dialect.
func (d *ollamaDialect[E, P]) serve(s *Server, c *fasthttp.RequestCtx, req *llm.ChatRequest) {
	enc := P(&d.enc)
	enc.Reset(req.Model, time.Now())
	if len(req.Messages) == 0 {
		// Ollama's "load the model" request (what `ollama run` sends
		// first): nothing to generate. edgeway loads models on demand.
		c.SetContentType("application/json; charset=utf-8")
		c.SetBody(enc.Load(nil))
		return
	}
	s.complete(c, req, d)
}

// writeOllamaError renders e as Ollama's {"error": "..."}.
func writeOllamaError(c *fasthttp.RequestCtx, e *apiError) {
	noteError(c, e)
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
	if generate {
		(&ollamaGenerate{}).serve(s, c, req)
	} else {
		(&ollamaChat{}).serve(s, c, req)
	}
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
