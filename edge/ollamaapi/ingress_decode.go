package ollamaapi

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/edgeway/edgeway/edge/internal/ingress"
	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
)

// Limits the decoder enforces beyond the body size bound the server sets.
// Ollama itself has none; these keep one request from holding an
// unreasonable amount of decoded state.
const (
	// MaxStop bounds options.stop.
	MaxStop = 16
	// MaxTools bounds tools, as OpenAI does.
	MaxTools = 128
	// MaxEmbedInputs bounds the inputs of one /api/embed request.
	MaxEmbedInputs = 2048
)

// formatName is the schema name a JSON-schema format travels under:
// llm.ResponseFormat wants one and Ollama's format has none.
const formatName = "response"

// DecodeChatRequest parses and validates an /api/chat body into req, which
// it resets first. It reuses the capacity of req's slices, so nothing may
// still refer to req's previous contents; req keeps no reference to body.
// Ollama streams unless the body says "stream": false; stream reports it
// and req.Stream is set to match.
//
// A request with no messages is Ollama's "load the model" request: it is
// accepted with len(req.Messages) == 0 and the caller answers it with
// ChatEncoder.Load instead of generating.
//
// Every error is an *ingress.Error naming the offending field; req is then
// unspecified. See the package documentation for how fields map.
func DecodeChatRequest(body []byte, req *llm.ChatRequest) (stream bool, err error) {
	return decodeChat(body, req, false)
}

// DecodeGenerateRequest parses and validates an /api/generate body into
// req, which it resets first (see DecodeChatRequest for reuse and
// errors). The prompt becomes one user message carrying the images, after
// a system message when system is set. An empty prompt is Ollama's "load
// the model" request: it is accepted with len(req.Messages) == 0, to be
// answered with GenerateEncoder.Load.
//
// suffix (fill-in-the-middle) and a non-empty context (the deprecated
// token memory) have no canonical form and are refused; template is
// ignored, since templating is the upstream's business; raw is accepted
// and the prompt is sent as a user message like any other.
func DecodeGenerateRequest(body []byte, req *llm.ChatRequest) (stream bool, err error) {
	return decodeChat(body, req, true)
}

// decodeChat serves both decoders; a flag rather than a method value
// keeps the decoder on the stack.
func decodeChat(body []byte, req *llm.ChatRequest, generate bool) (stream bool, err error) {
	ingress.ResetChat(req)
	if err := checkBody(body); err != nil {
		return false, err
	}
	var d decoder
	d.Reset(&dialect, body)
	if generate {
		stream, err = d.generate(req)
	} else {
		stream, err = d.chat(req)
	}
	if err != nil {
		return false, dialect.Wrap(err)
	}
	req.Stream = stream
	return stream, nil
}

// decoder reads one Ollama request body.
type decoder struct {
	ingress.Decoder
	// calls are the assistant tool calls read so far, in order, so that a
	// tool result can be linked to the call it answers.
	calls []callRef
}

// common reads a top-level member both /api/chat and /api/generate take.
// It reports false when key is not one of them.
func (d *decoder) common(key []byte, req *llm.ChatRequest, stream *bool) (bool, error) {
	var err error
	switch string(key) {
	case "model":
		req.Model, err = d.OptString("model")
	case "format":
		req.ResponseFormat, err = d.format()
	case "options":
		err = d.options(req)
	case "stream":
		var v, ok bool
		if v, ok, err = d.Bool("stream"); ok {
			*stream = v
		} else if err == nil {
			*stream = true // null is the default
		}
	case "think":
		err = d.think()
	case "keep_alive":
		err = d.keepAlive()
	case "truncate":
		_, err = d.OptBool("truncate")
	case "shift":
		_, err = d.OptBool("shift")
	case "logprobs":
		_, err = d.OptBool("logprobs")
	case "top_logprobs":
		_, _, err = d.Int("top_logprobs")
	default:
		return false, nil
	}
	return true, err
}

func (d *decoder) chat(req *llm.ChatRequest) (bool, error) {
	r := &d.R
	if err := d.OpenBody(); err != nil {
		return false, err
	}
	stream := true
	var it wire.Iter
	for r.Member(&it) {
		var known bool
		if known, it.Err = d.common(it.Key, req, &stream); !known {
			switch string(it.Key) {
			case "messages":
				d.calls = d.calls[:0]
				req.Messages, it.Err = d.Messages(req.Messages, d.message)
			case "tools":
				req.Tools, it.Err = d.Tools(req.Tools, &functions)
			default:
				it.Err = r.Skip()
			}
		}
	}
	if err := d.EndBody(it.Err); err != nil {
		return false, err
	}
	if req.Model == "" {
		return false, d.Missing("model")
	}
	return stream, nil
}

func (d *decoder) generate(req *llm.ChatRequest) (bool, error) {
	r := &d.R
	if err := d.OpenBody(); err != nil {
		return false, err
	}
	var (
		stream                           = true
		it                               wire.Iter
		prompt, system, suffix, template string
		raw                              bool
		images                           []llm.Part
	)
	for r.Member(&it) {
		var known bool
		if known, it.Err = d.common(it.Key, req, &stream); !known {
			switch string(it.Key) {
			case "prompt":
				prompt, it.Err = d.OptString("prompt")
			case "system":
				system, it.Err = d.OptString("system")
			case "suffix":
				suffix, it.Err = d.OptString("suffix")
			case "template":
				template, it.Err = d.OptString("template")
			case "raw":
				raw, it.Err = d.OptBool("raw")
			case "images":
				images, it.Err = d.images(images[:0])
			case "context":
				it.Err = d.context()
			default:
				it.Err = r.Skip()
			}
		}
	}
	if err := d.EndBody(it.Err); err != nil {
		return false, err
	}
	switch {
	case req.Model == "":
		return false, d.Missing("model")
	case suffix != "":
		return false, d.Fail("suffix", "is not supported: edgeway serves /api/generate as a chat, which has no fill-in-the-middle")
	case raw && (system != "" || template != ""):
		// Ollama's own rule and words.
		return false, ingress.NewError("raw", "", "raw mode does not support template, system, or context")
	case prompt == "":
		return stream, nil // a load request
	}
	msgs := req.Messages[:0]
	if system != "" {
		msgs = append(msgs, llm.Message{Role: llm.RoleSystem, Content: []llm.Part{{Type: llm.PartText, Text: system}}})
	}
	content := make([]llm.Part, 0, 1+len(images))
	content = append(content, llm.Part{Type: llm.PartText, Text: prompt})
	content = append(content, images...)
	req.Messages = append(msgs, llm.Message{Role: llm.RoleUser, Content: content})
	return stream, nil
}

// context refuses the deprecated token memory of /api/generate. An empty
// array or null is what a client sends before it has any, so it passes.
func (d *decoder) context() error {
	r := &d.R
	ok, err := d.Array("context", "an array of integers")
	if !ok || err != nil {
		return err
	}
	var it wire.Iter
	if !r.Elem(&it) {
		return it.Err
	}
	return d.Fail("context", "is not supported; use /api/chat and send the conversation as messages")
}

// think validates Ollama's think switch. edgeway's canonical request has
// no reasoning control, so the value is then dropped; reasoning a model
// produces still reaches the client as "thinking".
func (d *decoder) think() error {
	r := &d.R
	const want = `must be true, false, "high", "medium" or "low"`
	switch r.Peek() {
	case 't', 'f':
		_, err := r.Boolean()
		return err
	case 'n':
		return r.Literal("null")
	case '"':
		b, err := r.StrBytes()
		if err != nil {
			return err
		}
		switch string(b) {
		case "high", "medium", "low":
			return nil
		}
		return d.Fail("think", want)
	}
	if !wire.StartsValue(r.Peek()) {
		return r.Unexpected()
	}
	return d.Fail("think", want)
}

// keepAlive checks the type of keep_alive: a duration string ("5m") or
// seconds. How long a model stays loaded is the runtime's configuration in
// edgeway, so the value is then dropped.
func (d *decoder) keepAlive() error {
	r := &d.R
	switch c := r.Peek(); {
	case c == '"':
		return r.SkipStr()
	case c == 'n':
		return r.Literal("null")
	case c == '-' || c >= '0' && c <= '9':
		_, _, err := r.Number()
		return err
	}
	return d.WrongType("keep_alive", "a duration string or a number of seconds")
}

// format maps Ollama's format: "json" is JSON mode, an object is a JSON
// schema, "" and null ask for nothing.
func (d *decoder) format() (*llm.ResponseFormat, error) {
	r := &d.R
	const want = `"json" or a JSON schema object`
	switch r.Peek() {
	case 'n':
		return nil, r.Literal("null")
	case '"':
		b, err := r.StrBytes()
		if err != nil {
			return nil, err
		}
		switch string(b) {
		case "json":
			return &llm.ResponseFormat{Type: "json_object"}, nil
		case "":
			return nil, nil
		}
		return nil, d.Fail("format", "must be "+want)
	case '{':
		raw, err := r.Raw()
		if err != nil {
			return nil, err
		}
		return &llm.ResponseFormat{Type: "json_schema", Name: formatName, Schema: append(json.RawMessage(nil), raw...)}, nil
	}
	return nil, d.WrongType("format", want)
}

// options maps the sampling options with a canonical field; Ollama's
// runtime options (num_ctx, num_thread, num_gpu, ...) and its other
// sampling knobs (min_p, repeat_penalty, ...) are skipped. Values Ollama
// accepts but only its runtime gives a meaning to are mapped to that
// meaning, so they stay valid for any upstream.
func (d *decoder) options(req *llm.ChatRequest) error {
	r := &d.R
	if ok, err := d.EnterObject("options", "an object"); !ok || err != nil {
		return err
	}
	defer d.Leave()
	var it wire.Iter
	for r.Member(&it) {
		switch string(it.Key) {
		case "temperature":
			if req.Temperature, it.Err = d.floatOption("temperature"); req.Temperature != nil {
				// Below 0 llama.cpp samples greedily, as at 0.
				*req.Temperature = max(*req.Temperature, 0)
			}
		case "top_p":
			if req.TopP, it.Err = d.floatOption("top_p"); req.TopP != nil {
				// Outside [0, 1] llama.cpp clamps.
				*req.TopP = min(max(*req.TopP, 0), 1)
			}
		case "presence_penalty":
			req.PresencePenalty, it.Err = d.floatOption("presence_penalty")
		case "frequency_penalty":
			req.FrequencyPenalty, it.Err = d.floatOption("frequency_penalty")
		case "top_k":
			var v int64
			var ok bool
			if v, ok, it.Err = d.Int("top_k"); ok {
				// 0 and below switch top-k sampling off in llama.cpp.
				k := int(min(max(v, 0), 1<<31-1))
				req.TopK = &k
			}
		case "num_predict":
			// -1 (no limit), -2 (until the context is full) and 0 all
			// leave the length to the model in Ollama.
			it.Err = d.limit("num_predict", &req.MaxTokens)
		case "seed":
			var v int64
			var ok bool
			if v, ok, it.Err = d.Int("seed"); ok {
				req.Seed = nil
				if v != -1 { // -1 is Ollama's "random"
					req.Seed = &v
				}
			}
		case "stop":
			it.Err = d.stop(req)
		default:
			it.Err = r.Skip()
		}
	}
	return it.Err
}

// limit reads an integer where 0 and below mean no limit (nil), as
// num_predict and dimensions are; null leaves *dst as it is.
func (d *decoder) limit(field string, dst **int) error {
	v, ok, err := d.Int(field)
	switch {
	case !ok:
		return err
	case v > 1<<31-1:
		return d.Fail(field, "is out of range")
	case v > 0:
		n := int(v)
		*dst = &n
	default:
		*dst = nil
	}
	return nil
}

// floatOption reads a finite number option, or null as nil.
func (d *decoder) floatOption(field string) (*float64, error) {
	v, ok, err := d.Float(field)
	if !ok || err != nil {
		return nil, err
	}
	if math.IsInf(v, 0) {
		return nil, d.Fail(field, "is out of range")
	}
	return &v, nil
}

// skipObject validates and skips a value that must be an object or null.
func (d *decoder) skipObject(field string) error {
	if ok, err := d.Object(field, ""); !ok || err != nil {
		return err
	}
	return d.SkipMembers()
}

// stop reads options.stop: an array of strings, or (leniently) one string.
func (d *decoder) stop(req *llm.ChatRequest) (err error) {
	r := &d.R
	if r.Peek() == '"' {
		s, err := r.Str()
		req.Stop = append(req.Stop[:0], s)
		return err
	}
	req.Stop, err = d.Strings(req.Stop, "stop", "an array of strings", MaxStop, "sequences")
	return err
}

// images reads an array of base64 images into parts appended to dst.
func (d *decoder) images(dst []llm.Part) ([]llm.Part, error) {
	r := &d.R
	if ok, err := d.Array("images", "an array of base64 strings"); !ok || err != nil {
		return dst, err
	}
	var it wire.Iter
	for r.Elem(&it) {
		if r.Peek() != '"' {
			return dst, d.WrongTypeAt("images", it.Index(), "a base64 string")
		}
		var b []byte
		if b, it.Err = r.StrBytes(); it.Err != nil {
			break
		}
		url, why := ingress.ImageDataURL(b)
		if why != "" {
			return dst, d.FailAt("images", it.Index(), why)
		}
		dst = append(dst, llm.Part{Type: llm.PartImage, ImageURL: url})
	}
	return dst, it.Err
}

func (d *decoder) message(m *llm.Message, turn int) error {
	r := &d.R
	if err := d.OpenObject("", ""); err != nil {
		return err
	}
	var (
		it                              wire.Iter
		role, content, toolName, callID string
		// Images are read into the message's own Content, reusing its
		// capacity; the text part goes in front of them at the end.
		images = m.Content[:0]
		calls  = m.ToolCalls[:0]
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "role":
			role, it.Err = d.OptString("role")
		case "content":
			content, it.Err = d.OptString("content")
		case "images":
			images, it.Err = d.images(images[:0])
		case "tool_calls":
			calls, it.Err = d.ToolCalls(calls, &functions)
		case "tool_name":
			toolName, it.Err = d.OptString("tool_name")
		case "tool_call_id":
			callID, it.Err = d.OptString("tool_call_id")
		case "thinking":
			// Earlier reasoning has no canonical slot; upstreams do not
			// want it back anyway.
			_, it.Err = d.OptString("thinking")
		default:
			it.Err = r.Skip()
		}
	}
	if it.Err != nil {
		return it.Err
	}
	// Ollama lowercases roles.
	switch {
	case role == "":
		return d.Missing("role")
	case strings.EqualFold(role, "system"):
		m.Role = llm.RoleSystem
	case strings.EqualFold(role, "user"):
		m.Role = llm.RoleUser
	case strings.EqualFold(role, "assistant"):
		m.Role = llm.RoleAssistant
	case strings.EqualFold(role, "tool"):
		m.Role = llm.RoleTool
	default:
		return d.Fail("role", "must be one of system, user, assistant, tool")
	}
	if len(calls) > 0 && m.Role != llm.RoleAssistant {
		return d.Fail("tool_calls", "is only allowed in assistant messages")
	}
	m.ToolCalls = calls
	// An assistant turn that only called tools has no text part, as in
	// every other dialect; otherwise the text comes first.
	m.Content = images
	if content != "" || (len(images) == 0 && len(calls) == 0) {
		m.Content = append(m.Content, llm.Part{})
		copy(m.Content[1:], m.Content)
		m.Content[0] = llm.Part{Type: llm.PartText, Text: content}
	}
	switch m.Role {
	case llm.RoleAssistant:
		for j := range m.ToolCalls {
			tc := &m.ToolCalls[j]
			if tc.ID == "" {
				tc.ID = syntheticCallID(len(d.calls))
			}
			d.calls = append(d.calls, callRef{id: tc.ID, name: tc.Name, turn: turn})
		}
	case llm.RoleTool:
		m.Name, m.ToolCallID = toolName, callID
		if callID != "" {
			d.answer(callID)
		} else if c := d.link(toolName); c != nil {
			m.ToolCallID = c.id
			if m.Name == "" {
				m.Name = c.name
			}
		} else {
			// A result for a call the history does not show: Ollama
			// accepts it, so it gets an id of its own.
			m.ToolCallID = syntheticCallID(len(d.calls))
			d.calls = append(d.calls, callRef{id: m.ToolCallID, name: toolName, turn: turn, answered: true})
		}
	}
	return nil
}

// callRef is an assistant tool call a later tool result may answer.
type callRef struct {
	id, name string
	turn     int
	answered bool
}

// syntheticCallID names the n-th tool call of a request that came without
// an id. The ids depend only on the request, so the same conversation
// always maps to the same canonical request (and the same cache key).
func syntheticCallID(n int) string { return "call_" + strconv.Itoa(n) }

// answer marks the call with id answered.
func (d *decoder) answer(id string) {
	for i := range d.calls {
		if c := &d.calls[i]; c.id == id && !c.answered {
			c.answered = true
			return
		}
	}
}

// link finds the call a tool result answers. Ollama links results by
// tool name only (or not at all), so the result goes to the first
// unanswered call of that name (of any name when name is empty), looking
// at the latest assistant turn first: a call an earlier turn left
// unanswered must not capture a result meant for a newer one.
func (d *decoder) link(name string) *callRef {
	for end := len(d.calls); end > 0; {
		turn := d.calls[end-1].turn
		start := end - 1
		for start > 0 && d.calls[start-1].turn == turn {
			start--
		}
		for i := start; i < end; i++ {
			if c := &d.calls[i]; !c.answered && (name == "" || c.name == name) {
				c.answered = true
				return c
			}
		}
		end = start
	}
	return nil
}
