package ollamaapi

import (
	"encoding/json"
	"strconv"
	"strings"

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
// Every error is a *RequestError naming the offending field; req is then
// unspecified. See the package documentation for how fields map.
func DecodeChatRequest(body []byte, req *llm.ChatRequest) (stream bool, err error) {
	resetChatRequest(req)
	if err := checkBody(body); err != nil {
		return false, err
	}
	var d decoder
	d.reset(body)
	stream, err = d.chat(req)
	if err != nil {
		return false, requestError(err)
	}
	req.Stream = stream
	return stream, nil
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
	resetChatRequest(req)
	if err := checkBody(body); err != nil {
		return false, err
	}
	var d decoder
	d.reset(body)
	stream, err = d.generate(req)
	if err != nil {
		return false, requestError(err)
	}
	req.Stream = stream
	return stream, nil
}

func resetChatRequest(req *llm.ChatRequest) {
	msgs, stop, tools := req.Messages[:0], req.Stop[:0], req.Tools[:0]
	*req = llm.ChatRequest{Messages: msgs, Stop: stop, Tools: tools}
}

// common reads a top-level member both /api/chat and /api/generate take.
// It reports false when key is not one of them.
func (d *decoder) common(key []byte, req *llm.ChatRequest, stream *bool) (bool, error) {
	var err error
	switch string(key) {
	case "model":
		req.Model, err = d.optString("model")
	case "format":
		req.ResponseFormat, err = d.format()
	case "options":
		err = d.options(req)
	case "stream":
		var v, ok bool
		if v, ok, err = d.optBool("stream"); ok {
			*stream = v
		} else if err == nil {
			*stream = true // null is the default
		}
	case "think":
		err = d.think()
	case "keep_alive":
		err = d.keepAlive()
	case "truncate":
		_, _, err = d.optBool("truncate")
	case "shift":
		_, _, err = d.optBool("shift")
	case "logprobs":
		_, _, err = d.optBool("logprobs")
	case "top_logprobs":
		_, _, err = d.optInt("top_logprobs")
	default:
		return false, nil
	}
	return true, err
}

func (d *decoder) chat(req *llm.ChatRequest) (bool, error) {
	r := &d.r
	if err := d.openBody(); err != nil {
		return false, err
	}
	stream := true
	var n int
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return false, err
		}
		if !more {
			break
		}
		var known bool
		if known, err = d.common(key, req, &stream); !known {
			switch string(key) {
			case "messages":
				err = d.messages(req)
			case "tools":
				err = d.tools(req)
			default:
				err = r.Skip()
			}
		}
		if err != nil {
			return false, err
		}
	}
	if err := r.End(); err != nil {
		return false, err
	}
	if req.Model == "" {
		return false, d.missing("model")
	}
	return stream, nil
}

func (d *decoder) generate(req *llm.ChatRequest) (bool, error) {
	r := &d.r
	if err := d.openBody(); err != nil {
		return false, err
	}
	var (
		stream                           = true
		n                                int
		prompt, system, suffix, template string
		raw                              bool
		images                           []llm.Part
	)
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return false, err
		}
		if !more {
			break
		}
		var known bool
		if known, err = d.common(key, req, &stream); !known {
			switch string(key) {
			case "prompt":
				prompt, err = d.optString("prompt")
			case "system":
				system, err = d.optString("system")
			case "suffix":
				suffix, err = d.optString("suffix")
			case "template":
				template, err = d.optString("template")
			case "raw":
				raw, _, err = d.optBool("raw")
			case "images":
				images, err = d.images(images[:0])
			case "context":
				err = d.context()
			default:
				err = r.Skip()
			}
		}
		if err != nil {
			return false, err
		}
	}
	if err := r.End(); err != nil {
		return false, err
	}
	switch {
	case req.Model == "":
		return false, d.missing("model")
	case suffix != "":
		return false, badRequest("suffix is not supported: edgeway serves /api/generate as a chat, which has no fill-in-the-middle")
	case raw && (system != "" || template != ""):
		// Ollama's own rule and words.
		return false, badRequest("raw mode does not support template, system, or context")
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
	r := &d.r
	ok, err := d.array("context", "an array of integers")
	if !ok || err != nil {
		return err
	}
	var n int
	more, err := r.ArrNext(&n)
	if err != nil || !more {
		return err
	}
	return badRequest("context is not supported; use /api/chat and send the conversation as messages")
}

// think validates Ollama's think switch. edgeway's canonical request has
// no reasoning control, so the value is then dropped; reasoning a model
// produces still reaches the client as "thinking".
func (d *decoder) think() error {
	r := &d.r
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
		return badRequest("think " + want)
	}
	if !wire.StartsValue(r.Peek()) {
		return r.Unexpected()
	}
	return badRequest("think " + want)
}

// keepAlive checks the type of keep_alive: a duration string ("5m") or
// seconds. How long a model stays loaded is the runtime's configuration in
// edgeway, so the value is then dropped.
func (d *decoder) keepAlive() error {
	r := &d.r
	switch c := r.Peek(); {
	case c == '"':
		return r.SkipStr()
	case c == 'n':
		return r.Literal("null")
	case isNumberStart(c):
		_, _, err := r.Number()
		return err
	}
	return d.wrongType("keep_alive", "a duration string or a number of seconds")
}

// format maps Ollama's format: "json" is JSON mode, an object is a JSON
// schema, "" and null ask for nothing.
func (d *decoder) format() (*llm.ResponseFormat, error) {
	r := &d.r
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
		return nil, badRequest("format must be " + want)
	case '{':
		raw, err := r.Raw()
		if err != nil {
			return nil, err
		}
		return &llm.ResponseFormat{Type: "json_schema", Name: formatName, Schema: append(json.RawMessage(nil), raw...)}, nil
	}
	return nil, d.wrongType("format", want)
}

// options maps the sampling options with a canonical field; Ollama's
// runtime options (num_ctx, num_thread, num_gpu, ...) and its other
// sampling knobs (min_p, repeat_penalty, ...) are skipped. Values Ollama
// accepts but only its runtime gives a meaning to are mapped to that
// meaning, so they stay valid for any upstream.
func (d *decoder) options(req *llm.ChatRequest) error {
	r := &d.r
	if ok, err := d.object("options", "an object"); !ok || err != nil {
		return err
	}
	d.enter("options", -1)
	defer d.leave()
	var n int
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil || !more {
			return err
		}
		switch string(key) {
		case "temperature":
			if req.Temperature, err = d.floatOption("temperature"); req.Temperature != nil {
				// Below 0 llama.cpp samples greedily, as at 0.
				*req.Temperature = max(*req.Temperature, 0)
			}
		case "top_p":
			if req.TopP, err = d.floatOption("top_p"); req.TopP != nil {
				// Outside [0, 1] llama.cpp clamps.
				*req.TopP = min(max(*req.TopP, 0), 1)
			}
		case "presence_penalty":
			req.PresencePenalty, err = d.floatOption("presence_penalty")
		case "frequency_penalty":
			req.FrequencyPenalty, err = d.floatOption("frequency_penalty")
		case "top_k":
			var v int64
			var ok bool
			if v, ok, err = d.optInt("top_k"); ok {
				// 0 and below switch top-k sampling off in llama.cpp.
				k := int(min(max(v, 0), 1<<31-1))
				req.TopK = &k
			}
		case "num_predict":
			var v int64
			var ok bool
			if v, ok, err = d.optInt("num_predict"); ok {
				switch {
				case v > 1<<31-1:
					err = d.fail("num_predict", "is out of range")
				case v > 0:
					m := int(v)
					req.MaxTokens = &m
				default:
					// -1 (no limit), -2 (until the context is full) and 0
					// all leave the length to the model in Ollama.
					req.MaxTokens = nil
				}
			}
		case "seed":
			var v int64
			var ok bool
			if v, ok, err = d.optInt("seed"); ok {
				req.Seed = nil
				if v != -1 { // -1 is Ollama's "random"
					req.Seed = &v
				}
			}
		case "stop":
			err = d.stop(req)
		default:
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
}

// floatOption reads a number option, or null as nil.
func (d *decoder) floatOption(field string) (*float64, error) {
	v, ok, err := d.optFloat(field)
	if !ok || err != nil {
		return nil, err
	}
	return &v, nil
}

// stop reads options.stop: an array of strings, or (leniently) one string.
func (d *decoder) stop(req *llm.ChatRequest) error {
	r := &d.r
	req.Stop = req.Stop[:0]
	if r.Peek() == '"' {
		s, err := r.Str()
		req.Stop = append(req.Stop, s)
		return err
	}
	ok, err := d.array("stop", "an array of strings")
	if !ok || err != nil {
		req.Stop = nil
		return err
	}
	var n int
	for {
		more, err := r.ArrNext(&n)
		if err != nil || !more {
			if len(req.Stop) == 0 {
				req.Stop = nil
			}
			return err
		}
		if len(req.Stop) == MaxStop {
			return d.fail("stop", "may hold at most "+strconv.Itoa(MaxStop)+" sequences")
		}
		if r.Peek() != '"' {
			d.enter("stop", n-1)
			err := d.wrongType("", "a string")
			d.leave()
			return err
		}
		s, err := r.Str()
		if err != nil {
			return err
		}
		req.Stop = append(req.Stop, s)
	}
}

// images reads an array of base64 images into parts appended to dst.
func (d *decoder) images(dst []llm.Part) ([]llm.Part, error) {
	r := &d.r
	if ok, err := d.array("images", "an array of base64 strings"); !ok || err != nil {
		return dst, err
	}
	var n int
	for {
		more, err := r.ArrNext(&n)
		if err != nil || !more {
			return dst, err
		}
		if r.Peek() != '"' {
			d.enter("images", n-1)
			err := d.wrongType("", "a base64 string")
			d.leave()
			return dst, err
		}
		b, err := r.StrBytes()
		if err != nil {
			return dst, err
		}
		url, why := imageDataURL(b)
		if why != "" {
			d.enter("images", n-1)
			err := d.fail("", why)
			d.leave()
			return dst, err
		}
		dst = append(dst, llm.Part{Type: llm.PartImage, ImageURL: url})
	}
}

// messages decodes the messages array, reusing the message slots (and
// their Content and ToolCalls capacity) already in req.Messages.
func (d *decoder) messages(req *llm.ChatRequest) error {
	r := &d.r
	msgs := req.Messages[:0]
	defer func() { req.Messages = msgs }()
	d.calls = d.calls[:0]
	if ok, err := d.array("messages", "an array of message objects"); !ok || err != nil {
		return err
	}
	var n int
	for {
		more, err := r.ArrNext(&n)
		if err != nil || !more {
			return err
		}
		i := len(msgs)
		if i < cap(msgs) {
			msgs = msgs[:i+1]
			old := &msgs[i]
			*old = llm.Message{Content: old.Content[:0], ToolCalls: old.ToolCalls[:0]}
		} else {
			msgs = append(msgs, llm.Message{})
		}
		d.enter("messages", i)
		err = d.message(&msgs[i], i)
		d.leave()
		if err != nil {
			return err
		}
	}
}

func (d *decoder) message(m *llm.Message, turn int) error {
	r := &d.r
	if r.Peek() != '{' {
		return d.wrongType("", "an object")
	}
	r.OpenObject()
	var (
		n                               int
		role, content, toolName, callID string
		// Images are read into the message's own Content, reusing its
		// capacity; the text part goes in front of them at the end.
		images = m.Content[:0]
		calls  = m.ToolCalls[:0]
	)
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch string(key) {
		case "role":
			role, err = d.optString("role")
		case "content":
			content, err = d.optString("content")
		case "images":
			images, err = d.images(images[:0])
		case "tool_calls":
			calls, err = d.toolCalls(calls[:0])
		case "tool_name":
			toolName, err = d.optString("tool_name")
		case "tool_call_id":
			callID, err = d.optString("tool_call_id")
		case "thinking":
			// Earlier reasoning has no canonical slot; upstreams do not
			// want it back anyway.
			_, err = d.optString("thinking")
		default:
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
	// Ollama lowercases roles.
	switch {
	case role == "":
		return d.missing("role")
	case strings.EqualFold(role, "system"):
		m.Role = llm.RoleSystem
	case strings.EqualFold(role, "user"):
		m.Role = llm.RoleUser
	case strings.EqualFold(role, "assistant"):
		m.Role = llm.RoleAssistant
	case strings.EqualFold(role, "tool"):
		m.Role = llm.RoleTool
	default:
		return d.fail("role", "must be one of system, user, assistant, tool")
	}
	if len(calls) > 0 && m.Role != llm.RoleAssistant {
		return d.fail("tool_calls", "is only allowed in assistant messages")
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

func (d *decoder) toolCalls(dst []llm.ToolCall) ([]llm.ToolCall, error) {
	r := &d.r
	if ok, err := d.array("tool_calls", "an array of tool calls"); !ok || err != nil {
		return dst, err
	}
	var n int
	for {
		more, err := r.ArrNext(&n)
		if err != nil || !more {
			return dst, err
		}
		j := len(dst)
		dst = append(dst, llm.ToolCall{})
		d.enter("tool_calls", j)
		err = d.toolCall(&dst[j])
		d.leave()
		if err != nil {
			return dst, err
		}
	}
}

func (d *decoder) toolCall(tc *llm.ToolCall) error {
	r := &d.r
	if r.Peek() != '{' {
		return d.wrongType("", "an object")
	}
	r.OpenObject()
	var (
		n       int
		hasFunc bool
	)
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch string(key) {
		case "id":
			tc.ID, err = d.optString("id")
		case "type":
			err = d.functionType()
		case "function":
			hasFunc = true
			d.enter("function", -1)
			err = d.toolCallFunction(tc)
			d.leave()
		default:
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
	switch {
	case !hasFunc:
		return d.missing("function")
	case tc.Name == "":
		return d.missing("function.name")
	}
	if tc.Arguments == "" {
		tc.Arguments = "{}"
	}
	return nil
}

// functionType checks a "type" member that must say "function" when set.
func (d *decoder) functionType() error {
	r := &d.r
	switch r.Peek() {
	case 'n':
		return r.Literal("null")
	case '"':
	default:
		return d.wrongType("type", "a string")
	}
	b, err := r.StrBytes()
	if err != nil || string(b) == "function" || len(b) == 0 {
		return err
	}
	return d.fail("type", `"`+string(b)+`" is not supported; only "function" is`)
}

func (d *decoder) toolCallFunction(tc *llm.ToolCall) error {
	r := &d.r
	if r.Peek() != '{' {
		return d.wrongType("", "an object")
	}
	r.OpenObject()
	var n int
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil || !more {
			return err
		}
		switch string(key) {
		case "name":
			tc.Name, err = d.optString("name")
		case "arguments":
			tc.Arguments, err = d.arguments()
		case "index":
			_, _, err = d.optInt("index")
		default:
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
}

// arguments reads a call's arguments object and returns its JSON text, the
// form llm.ToolCall carries. null means none. A string holding an object's
// JSON text, as OpenAI-style clients send, is accepted too.
func (d *decoder) arguments() (string, error) {
	r := &d.r
	const want = "a JSON object"
	switch r.Peek() {
	case 'n':
		return "", r.Literal("null")
	case '{':
		raw, err := r.Raw()
		return string(raw), err
	case '"':
		s, err := r.Str()
		if err != nil {
			return "", err
		}
		if !isJSONObject([]byte(s)) {
			return "", d.fail("arguments", "must be "+want)
		}
		return s, nil
	}
	return "", d.wrongType("arguments", want)
}

// isJSONObject reports whether b is exactly one JSON object.
func isJSONObject(b []byte) bool {
	var r wire.Reader
	r.Reset(b)
	return r.Peek() == '{' && r.Skip() == nil && r.End() == nil
}

func (d *decoder) tools(req *llm.ChatRequest) error {
	r := &d.r
	req.Tools = req.Tools[:0]
	ok, err := d.array("tools", "an array of tools")
	if !ok || err != nil {
		req.Tools = nil
		return err
	}
	var n int
	for {
		more, err := r.ArrNext(&n)
		if err != nil || !more {
			if len(req.Tools) == 0 {
				req.Tools = nil
			}
			return err
		}
		if len(req.Tools) == MaxTools {
			return badRequest("tools may hold at most " + strconv.Itoa(MaxTools) + " tools")
		}
		j := len(req.Tools)
		req.Tools = append(req.Tools, llm.Tool{})
		d.enter("tools", j)
		err = d.tool(&req.Tools[j])
		d.leave()
		if err != nil {
			return err
		}
	}
}

func (d *decoder) tool(t *llm.Tool) error {
	r := &d.r
	if r.Peek() != '{' {
		return d.wrongType("", "an object")
	}
	r.OpenObject()
	var (
		n       int
		hasFunc bool
	)
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch string(key) {
		case "type":
			err = d.functionType()
		case "function":
			hasFunc = true
			d.enter("function", -1)
			err = d.toolFunction(t)
			d.leave()
		default:
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
	switch {
	case !hasFunc:
		return d.missing("function")
	case t.Name == "":
		return d.missing("function.name")
	}
	return nil
}

func (d *decoder) toolFunction(t *llm.Tool) error {
	r := &d.r
	if r.Peek() != '{' {
		return d.wrongType("", "an object")
	}
	r.OpenObject()
	var n int
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil || !more {
			return err
		}
		switch string(key) {
		case "name":
			t.Name, err = d.optString("name")
		case "description":
			t.Description, err = d.optString("description")
		case "parameters":
			switch r.Peek() {
			case 'n':
				t.Parameters, err = nil, r.Literal("null")
			case '{':
				var raw []byte
				if raw, err = r.Raw(); err == nil {
					t.Parameters = append(json.RawMessage(nil), raw...)
				}
			default:
				err = d.wrongType("parameters", "a JSON Schema object")
			}
		default:
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
}
