package server

import (
	"cmp"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/openai"
)

// responsesDialect renders OpenAI's Responses API wire.
type responsesDialect struct {
	s    *Server
	c    *fasthttp.RequestCtx
	head openai.ResponseHead
	rs   openai.Responses
	enc  openai.ResponsesStream
	// conv is the conversation the answer continues, kept with the
	// response when it is stored.
	conv []llm.Message
}

func (d *responsesDialect) streamType() string { return "text/event-stream" }
func (d *responsesDialect) start(dst []byte) []byte {
	d.enc.Reset(&d.head)
	return d.enc.Start(dst)
}
func (d *responsesDialect) chunk(dst []byte, c *llm.Chunk) []byte { return d.enc.Chunk(dst, c) }
func (d *responsesDialect) end(dst []byte, u llm.Usage, finish llm.FinishReason) []byte {
	start := len(dst)
	dst = d.enc.End(dst, u, finish)
	d.keep(d.enc.Aggregate(), dst[start:])
	return dst
}
func (d *responsesDialect) streamError(dst []byte, e *apiError) []byte {
	return d.enc.Error(dst, cmp.Or(e.code, e.typ), e.message)
}
func (d *responsesDialect) whole(dst []byte, a *llm.Aggregate) []byte {
	start := len(dst)
	dst = openai.AppendResponse(dst, &d.head, a, "", "")
	d.keep(a, dst[start:])
	return dst
}
func (d *responsesDialect) writeError(c *fasthttp.RequestCtx, e *apiError) { writeOpenAIError(c, e) }

// keep stores the finished response when the client asked for it. body
// is the response object, or the stream's last event holding it.
func (d *responsesDialect) keep(a *llm.Aggregate, body []byte) {
	if !d.rs.Store || d.s.opts.Responses == nil {
		return
	}
	if i := strings.Index(string(body), `"response":`); i >= 0 && body[0] == 'e' {
		body = body[i+len(`"response":`) : len(body)-3] // event: …data: {…,"response":{…}}\n\n
	}
	conv := append(d.conv, assistantTurn(a))
	d.s.opts.Responses.Put(d.head.ID, caller(d.c).ID(), append([]byte(nil), body...), conv)
}

// assistantTurn is the answer as the assistant message a continuation
// sends back.
func assistantTurn(a *llm.Aggregate) llm.Message {
	m := llm.Message{Role: llm.RoleAssistant, ToolCalls: append([]llm.ToolCall(nil), a.ToolCalls...)}
	if a.Text.Len() > 0 {
		m.Content = []llm.Part{{Type: llm.PartText, Text: a.Text.String()}}
	}
	return m
}

// responses serves POST /v1/responses.
func (s *Server) responses(c *fasthttp.RequestCtx, rid []byte) {
	s.metrics.chat.Add(1)
	d := &responsesDialect{s: s, c: c}
	req := &llm.ChatRequest{}
	if err := openai.DecodeResponsesRequest(c.PostBody(), req, &d.rs); err != nil {
		s.metrics.badRequest.Add(1)
		writeOpenAIError(c, classify(err))
		return
	}
	if d.rs.PreviousResponseID != "" {
		prev, ok := s.previousTurns(c, d.rs.PreviousResponseID)
		if !ok {
			return
		}
		// The previous conversation goes first; this request's
		// instructions (a leading system message) stay in front of it.
		var lead []llm.Message
		if d.rs.Instructions != "" {
			lead, req.Messages = req.Messages[:1:1], req.Messages[1:]
		}
		req.Messages = append(append(lead, prev...), req.Messages...)
	}
	if len(req.Messages) == 0 {
		writeOpenAIError(c, &apiError{status: 400, typ: "invalid_request_error", code: "missing_required_parameter", param: "input",
			message: "input must hold at least one item"})
		return
	}
	d.conv = req.Messages
	if d.rs.Instructions != "" {
		d.conv = req.Messages[1:] // instructions are not carried over
	}
	// A Responses upstream gets the client's body as it came (hosted
	// tools and reasoning items included), unless a previous response is
	// continued: that conversation is edgeway's, in the canonical form.
	req.Passthrough = &llm.Passthrough{Dialect: openai.PassthroughDialect, Dropped: d.rs.Dropped}
	if d.rs.PreviousResponseID == "" {
		req.Passthrough.Body = append([]byte(nil), c.PostBody()...)
	}
	if len(d.rs.Files) > 0 && (req.Passthrough.Body == nil || !s.servedByResponsesWire(req.Model)) {
		writeOpenAIError(c, &apiError{status: 400, typ: "invalid_request_error", code: "unsupported_value", param: "input",
			message: "input_file parts of " + strings.Join(d.rs.Files, ", ") + " can be read only by OpenAI's Responses API: route this model to a provider with wire: responses (without previous_response_id), or send the file's text as input_text (text files are read here)"})
		return
	}
	if f := d.rs.Forced; f != "" && (req.Passthrough.Body == nil || !s.servedByResponsesWire(req.Model)) {
		writeOpenAIError(c, &apiError{status: 400, typ: "invalid_request_error", code: "unsupported_value", param: "tool_choice",
			message: "tool_choice forces the hosted tool " + f + ", which only OpenAI's Responses API runs: route this model to a provider with wire: responses (without previous_response_id), or let the model choose"})
		return
	}
	d.head = openai.ResponseHead{ID: "resp_" + string(rid), Created: time.Now().Unix(), Model: req.Model, Req: req, R: &d.rs}
	s.complete(c, req, d)
}

// servedByResponsesWire reports whether model's first target speaks the
// Responses API.
func (s *Server) servedByResponsesWire(model string) bool {
	tr, ok := s.opts.Router.(targetRouter)
	if !ok {
		return false
	}
	ts, err := tr.Targets(model, nil)
	return err == nil && len(ts) > 0 && ts[0].Type == openai.PassthroughDialect
}

// previousTurns loads the conversation a previous response ended, or
// answers 404 as OpenAI does for an unknown id.
func (s *Server) previousTurns(c *fasthttp.RequestCtx, id string) ([]llm.Message, bool) {
	if s.opts.Responses != nil {
		if conv, ok := s.opts.Responses.Conversation(id, caller(c).ID()); ok {
			return conv, true
		}
	}
	writeOpenAIError(c, &apiError{status: 404, typ: "invalid_request_error", code: "previous_response_not_found", param: "previous_response_id",
		message: "Previous response with id '" + clipShown(id) + "' not found."})
	return nil, false
}

// storedResponse serves GET and DELETE /v1/responses/{id}.
func (s *Server) storedResponse(c *fasthttp.RequestCtx, id string) {
	notFound := func() {
		writeOpenAIError(c, &apiError{status: 404, typ: "invalid_request_error", code: "not_found",
			message: "No response found with id '" + clipShown(id) + "'."})
	}
	if s.opts.Responses == nil || !validResponseID(id) {
		notFound()
		return
	}
	owner := caller(c).ID()
	switch string(c.Method()) {
	case fasthttp.MethodGet:
		body, ok := s.opts.Responses.Get(id, owner)
		if !ok {
			notFound()
			return
		}
		c.SetContentType("application/json")
		c.SetBody(body)
	case fasthttp.MethodDelete:
		if !s.opts.Responses.Delete(id, owner) {
			notFound()
			return
		}
		c.SetContentType("application/json")
		c.SetBodyString(`{"id":"` + id + `","object":"response.deleted","deleted":true}`)
	default:
		s.method(c, fasthttp.MethodGet, fasthttp.MethodDelete)
	}
}

// validResponseID reports whether id can be one this gateway made:
// resp_ and a request id.
func validResponseID(id string) bool {
	if !strings.HasPrefix(id, "resp_") || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ResponseStore keeps Responses API answers for GET /v1/responses/{id}
// and previous_response_id, each readable only by the key that made it.
type ResponseStore interface {
	Put(id, owner string, body []byte, conv []llm.Message)
	Get(id, owner string) ([]byte, bool)
	Conversation(id, owner string) ([]llm.Message, bool)
	Delete(id, owner string) bool
}
