package openai

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
)

// Limits the decoder enforces beyond the body size bound the server sets.
const (
	// MaxStop is how many stop sequences OpenAI accepts.
	MaxStop = 4
	// MaxTools is how many tools OpenAI accepts in one request.
	MaxTools = 128
	// MaxExtraFields bounds the unmodelled top-level fields kept in Extra.
	MaxExtraFields = 64
	// MaxEmbedInputs is how many inputs OpenAI accepts in one embeddings
	// request.
	MaxEmbedInputs = 2048
	// maxNameLen is OpenAI's limit on function and schema names.
	maxNameLen = 64
)

// Error codes RequestError carries, in OpenAI's vocabulary.
const (
	CodeInvalidJSON     = "invalid_json"
	CodeInvalidType     = "invalid_type"
	CodeInvalidValue    = "invalid_value"
	CodeMissingRequired = "missing_required_parameter"
	CodeUnsupported     = "unsupported_value"
)

// RequestError is a client fault found while decoding a request. The
// server renders it as OpenAI error JSON with type invalid_request_error.
type RequestError struct {
	// Status is the HTTP status to answer with (400).
	Status int
	// Param names the offending field ("messages[2].content"), or is empty
	// when the fault is not one field's.
	Param   string
	Message string
	// Code is one of the Code constants.
	Code string
}

func (e *RequestError) Error() string { return e.Message }

func badRequest(param, code, msg string) *RequestError {
	return &RequestError{Status: 400, Param: param, Message: msg, Code: code}
}

func typeError(param, want string) *RequestError {
	return badRequest(param, CodeInvalidType, param+" must be "+want)
}

func valueError(param, msg string) *RequestError {
	return badRequest(param, CodeInvalidValue, param+" "+msg)
}

func missing(param string) *RequestError {
	return badRequest(param, CodeMissingRequired, param+" is required")
}

// requestError turns a syntax error from the reader into a RequestError
// and passes RequestErrors through.
func requestError(err error) error {
	var se *wire.SyntaxError
	if errors.As(err, &se) {
		return badRequest("", CodeInvalidJSON, se.Error())
	}
	return err
}

// checkUTF8 rejects a body that is not valid UTF-8, naming the offset.
// encoding/json would silently replace such bytes; a gateway should not
// forward text its client did not mean.
func checkUTF8(body []byte) error {
	if utf8.Valid(body) {
		return nil
	}
	i := 0
	for i < len(body) {
		r, n := utf8.DecodeRune(body[i:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		i += n
	}
	return badRequest("", CodeInvalidJSON, "request body is not valid UTF-8 (byte offset "+strconv.Itoa(i)+")")
}

// DecodeChatRequest parses and validates a /v1/chat/completions body into
// req, which it resets first. It reuses the capacity of req's slices, so
// nothing may still refer to req's previous contents; req keeps no
// reference to body. It also returns stream_options.include_usage.
//
// Every error is a *RequestError naming the offending field. Fields it
// does not model are kept verbatim in req.Extra; stream, stream_options
// and n are consumed.
func DecodeChatRequest(body []byte, req *llm.ChatRequest) (includeUsage bool, err error) {
	resetChatRequest(req)
	if err := checkUTF8(body); err != nil {
		return false, err
	}
	d := chatDecoder{req: req}
	d.r.Reset(body)
	if err := d.decode(); err != nil {
		return false, requestError(err)
	}
	return d.includeUsage, nil
}

func resetChatRequest(req *llm.ChatRequest) {
	msgs, stop, tools := req.Messages[:0], req.Stop[:0], req.Tools[:0]
	*req = llm.ChatRequest{Messages: msgs, Stop: stop, Tools: tools}
}

type chatDecoder struct {
	r            wire.Reader
	req          *llm.ChatRequest
	includeUsage bool
	// path is the stack of fields being decoded, formatted only when an
	// error names one, so the happy path builds no strings.
	path  [maxPathDepth]pathSeg
	depth int
}

const maxPathDepth = 6

// pathSeg is one field of a parameter path; idx is -1 when not an element.
type pathSeg struct {
	name string
	idx  int
}

func (d *chatDecoder) enter(name string, i int) {
	if d.depth < maxPathDepth {
		d.path[d.depth] = pathSeg{name, i}
	}
	d.depth++
}

func (d *chatDecoder) leave() { d.depth-- }

// param formats the current path followed by field (which may be empty).
func (d *chatDecoder) param(field string) string {
	var b []byte
	for _, s := range d.path[:min(d.depth, maxPathDepth)] {
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, s.name...)
		if s.idx >= 0 {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(s.idx), 10)
			b = append(b, ']')
		}
	}
	if field != "" {
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, field...)
	}
	return string(b)
}

func (d *chatDecoder) missing(field string) error { return missing(d.param(field)) }

func (d *chatDecoder) invalid(field, msg string) error { return valueError(d.param(field), msg) }

func (d *chatDecoder) unsupported(field, msg string) error {
	p := d.param(field)
	return badRequest(p, CodeUnsupported, p+" "+msg)
}

func (d *chatDecoder) decode() error {
	r, req := &d.r, d.req
	if c := r.Peek(); c != '{' {
		if wire.StartsValue(c) {
			return badRequest("", CodeInvalidType, "request body must be a JSON object")
		}
		return r.Unexpected()
	}
	r.OpenObject()
	var (
		n         int
		maxTokens *int
		maxCompl  *int
		choices   int64 = 1
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
		case "model":
			req.Model, err = d.optString("model")
		case "messages":
			err = d.messages()
		case "stream":
			req.Stream, err = d.optBool("stream")
		case "stream_options":
			err = d.streamOptions()
		case "n":
			var v int64
			var ok bool
			if v, ok, err = d.intValue("n"); ok {
				choices = v
			}
		case "temperature":
			req.Temperature, err = d.optFloat("temperature", 0, 2)
		case "top_p":
			req.TopP, err = d.optFloat("top_p", 0, 1)
		case "presence_penalty":
			req.PresencePenalty, err = d.optFloat("presence_penalty", -2, 2)
		case "frequency_penalty":
			req.FrequencyPenalty, err = d.optFloat("frequency_penalty", -2, 2)
		case "max_tokens":
			maxTokens, err = d.optTokens("max_tokens")
		case "max_completion_tokens":
			maxCompl, err = d.optTokens("max_completion_tokens")
		case "stop":
			err = d.stop()
		case "seed":
			req.Seed, err = d.optInt("seed")
		case "response_format":
			req.ResponseFormat, err = d.responseFormat()
		case "tools":
			err = d.tools()
		case "tool_choice":
			req.ToolChoice, err = d.toolChoice()
		case "parallel_tool_calls":
			req.ParallelToolCalls, err = d.optBoolPtr("parallel_tool_calls")
		case "user":
			req.User, err = d.optString("user")
		default:
			err = d.extra(key)
		}
		if err != nil {
			return err
		}
	}
	if err := r.End(); err != nil {
		return err
	}
	// max_completion_tokens replaced max_tokens; when both are sent the
	// newer field is the one the client meant.
	req.MaxTokens = maxTokens
	if maxCompl != nil {
		req.MaxTokens = maxCompl
	}
	switch {
	case req.Model == "":
		return missing("model")
	case len(req.Messages) == 0:
		return missing("messages")
	case choices != 1:
		if choices > 1 {
			return badRequest("n", CodeUnsupported, "n > 1 is not supported")
		}
		return valueError("n", "must be 1")
	case req.ToolChoice != nil && req.ToolChoice.Mode != "none" && len(req.Tools) == 0:
		return badRequest("tool_choice", CodeInvalidValue, "tool_choice is only allowed when tools are specified")
	}
	return nil
}

// wrongType reports that field (relative to the current path) is not of
// the wanted type, unless the value is not even valid JSON.
func (d *chatDecoder) wrongType(field, want string) error {
	if c := d.r.Peek(); !wire.StartsValue(c) {
		return d.r.Unexpected()
	}
	return typeError(d.param(field), want)
}

// optString reads a string, or null as "".
func (d *chatDecoder) optString(field string) (string, error) {
	switch d.r.Peek() {
	case '"':
		return d.r.Str()
	case 'n':
		return "", d.r.Literal("null")
	}
	return "", d.wrongType(field, "a string")
}

// optBool reads a boolean, or null as false.
func (d *chatDecoder) optBool(field string) (bool, error) {
	switch d.r.Peek() {
	case 't', 'f':
		return d.r.Boolean()
	case 'n':
		return false, d.r.Literal("null")
	}
	return false, d.wrongType(field, "a boolean")
}

// optBoolPtr reads a boolean, or null as nil.
func (d *chatDecoder) optBoolPtr(field string) (*bool, error) {
	if null, err := d.r.Null(); null || err != nil {
		return nil, err
	}
	if c := d.r.Peek(); c != 't' && c != 'f' {
		return nil, d.wrongType(field, "a boolean")
	}
	v, err := d.r.Boolean()
	return &v, err
}

func (d *chatDecoder) optFloat(field string, lo, hi float64) (*float64, error) {
	if null, err := d.r.Null(); null || err != nil {
		return nil, err
	}
	if c := d.r.Peek(); c != '-' && (c < '0' || c > '9') {
		return nil, d.wrongType(field, "a number")
	}
	text, _, err := d.r.Number()
	if err != nil {
		return nil, err
	}
	v, err := strconv.ParseFloat(string(text), 64)
	if err != nil || v < lo || v > hi {
		return nil, d.invalid(field, "must be between "+strconv.FormatFloat(lo, 'g', -1, 64)+" and "+strconv.FormatFloat(hi, 'g', -1, 64))
	}
	return &v, nil
}

// intValue reads an integer; present is false for null.
func (d *chatDecoder) intValue(field string) (v int64, present bool, err error) {
	if null, err := d.r.Null(); null || err != nil {
		return 0, false, err
	}
	if c := d.r.Peek(); c != '-' && (c < '0' || c > '9') {
		return 0, false, d.wrongType(field, "an integer")
	}
	text, integer, err := d.r.Number()
	if err != nil {
		return 0, false, err
	}
	if !integer {
		return 0, false, typeError(d.param(field), "an integer")
	}
	v, ok := wire.ParseInt(text)
	if !ok {
		return 0, false, d.invalid(field, "is out of range")
	}
	return v, true, nil
}

func (d *chatDecoder) optInt(field string) (*int64, error) {
	v, ok, err := d.intValue(field)
	if !ok || err != nil {
		return nil, err
	}
	return &v, nil
}

// optTokens reads a count of at least 1 that fits an int32.
func (d *chatDecoder) optTokens(field string) (*int, error) {
	v, ok, err := d.intValue(field)
	if !ok || err != nil {
		return nil, err
	}
	if v < 1 {
		return nil, d.invalid(field, "must be at least 1")
	}
	if v > 1<<31-1 {
		return nil, d.invalid(field, "is out of range")
	}
	n := int(v)
	return &n, nil
}

// object consumes '{' of a value that must be an object or null; it
// reports false for null.
func (d *chatDecoder) object(field, want string) (bool, error) {
	switch d.r.Peek() {
	case '{':
		d.r.OpenObject()
		return true, nil
	case 'n':
		return false, d.r.Literal("null")
	}
	return false, d.wrongType(field, want)
}

// array is object's twin for arrays.
func (d *chatDecoder) array(field, want string) (bool, error) {
	switch d.r.Peek() {
	case '[':
		d.r.OpenArray()
		return true, nil
	case 'n':
		return false, d.r.Literal("null")
	}
	return false, d.wrongType(field, want)
}

func (d *chatDecoder) streamOptions() error {
	r := &d.r
	if ok, err := d.object("stream_options", "an object"); !ok || err != nil {
		return err
	}
	d.enter("stream_options", -1)
	defer d.leave()
	var n int
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil || !more {
			return err
		}
		if string(key) == "include_usage" {
			d.includeUsage, err = d.optBool("include_usage")
		} else {
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
}

func (d *chatDecoder) stop() error {
	r, req := &d.r, d.req
	req.Stop = req.Stop[:0]
	if r.Peek() == '"' {
		s, err := r.Str()
		req.Stop = append(req.Stop, s)
		return err
	}
	ok, err := d.array("stop", "a string or an array of strings")
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
			return valueError("stop", "may hold at most "+strconv.Itoa(MaxStop)+" sequences")
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

func (d *chatDecoder) extra(key []byte) error {
	req := d.req
	k := string(key)
	raw, err := d.r.Raw()
	if err != nil {
		return err
	}
	if req.Extra == nil {
		req.Extra = make(map[string]json.RawMessage, 4)
	}
	if _, dup := req.Extra[k]; !dup && len(req.Extra) >= MaxExtraFields {
		return badRequest(k, CodeInvalidValue, "request has more than "+strconv.Itoa(MaxExtraFields)+" unrecognized fields")
	}
	req.Extra[k] = append(json.RawMessage(nil), raw...)
	return nil
}

// messages decodes the messages array, reusing the message slots (and
// their Content and ToolCalls capacity) already in req.Messages.
func (d *chatDecoder) messages() error {
	r, req := &d.r, d.req
	msgs := req.Messages[:0]
	defer func() { req.Messages = msgs }()
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
		err = d.message(&msgs[i])
		d.leave()
		if err != nil {
			return err
		}
	}
}

func (d *chatDecoder) message(m *llm.Message) error {
	r := &d.r
	if r.Peek() != '{' {
		return d.wrongType("", "an object")
	}
	r.OpenObject()
	var (
		n          int
		hasContent bool
		imagePart  = -1
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
			err = d.role(m)
		case "content":
			hasContent, imagePart, err = d.content(m)
		case "name":
			m.Name, err = d.optString("name")
		case "tool_call_id":
			m.ToolCallID, err = d.optString("tool_call_id")
		case "tool_calls":
			err = d.toolCalls(m)
		default:
			// refusal, audio, reasoning_content echoed back by clients:
			// nothing a provider can use.
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
	switch {
	case m.Role == "":
		return d.missing("role")
	case !hasContent && !(m.Role == llm.RoleAssistant && len(m.ToolCalls) > 0):
		return d.missing("content")
	case imagePart >= 0 && m.Role != llm.RoleUser:
		d.enter("content", imagePart)
		defer d.leave()
		return d.invalid("", "is an image part; image parts are only allowed in user messages")
	case len(m.ToolCalls) > 0 && m.Role != llm.RoleAssistant:
		return d.invalid("tool_calls", "is only allowed in assistant messages")
	case m.Role == llm.RoleTool && m.ToolCallID == "":
		return d.missing("tool_call_id")
	}
	return nil
}

func (d *chatDecoder) role(m *llm.Message) error {
	if d.r.Peek() != '"' {
		return d.wrongType("role", "a string")
	}
	b, err := d.r.StrBytes()
	if err != nil {
		return err
	}
	switch string(b) {
	case "system", "developer":
		// developer is the newer name of system; every upstream accepts
		// system.
		m.Role = llm.RoleSystem
	case "user":
		m.Role = llm.RoleUser
	case "assistant":
		m.Role = llm.RoleAssistant
	case "tool":
		m.Role = llm.RoleTool
	case "function":
		return d.unsupported("role", `"function" is not supported; use "tool"`)
	default:
		return d.invalid("role", "must be one of system, developer, user, assistant, tool")
	}
	return nil
}

// content decodes a message's content: a string, null, or an array of
// parts. It reports whether content was present and the index of the
// first image part (-1 when none).
func (d *chatDecoder) content(m *llm.Message) (present bool, image int, err error) {
	r := &d.r
	m.Content = m.Content[:0]
	if r.Peek() == '"' {
		s, err := r.Str()
		m.Content = append(m.Content, llm.Part{Type: llm.PartText, Text: s})
		return true, -1, err
	}
	if ok, err := d.array("content", "a string or an array of content parts"); !ok || err != nil {
		return false, -1, err
	}
	image = -1
	var n int
	for {
		more, err := r.ArrNext(&n)
		if err != nil {
			return false, -1, err
		}
		if !more {
			break
		}
		j := len(m.Content)
		m.Content = append(m.Content, llm.Part{})
		d.enter("content", j)
		err = d.part(&m.Content[j])
		d.leave()
		if err != nil {
			return false, -1, err
		}
		if m.Content[j].Type == llm.PartImage && image < 0 {
			image = j
		}
	}
	if len(m.Content) == 0 {
		return false, -1, d.invalid("content", "must not be an empty array")
	}
	return true, image, nil
}

// Content part types a part object may name.
const (
	partNone = iota
	partText
	partImage
	partRefusal
	partOther
)

func (d *chatDecoder) part(p *llm.Part) error {
	r := &d.r
	if r.Peek() != '{' {
		return d.wrongType("", "a content part object")
	}
	r.OpenObject()
	var (
		n               int
		typ             = partNone
		other           string
		text            string
		hasText, hasURL bool
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
			if r.Peek() != '"' {
				return d.wrongType("type", "a string")
			}
			var b []byte
			if b, err = r.StrBytes(); err == nil {
				switch string(b) {
				case "text":
					typ = partText
				case "image_url":
					typ = partImage
				case "refusal":
					typ = partRefusal
				case "":
					typ = partNone
				default:
					typ, other = partOther, string(b)
				}
			}
		case "text", "refusal":
			// A refusal part is a refusal the model gave earlier,
			// replayed as history: text to every upstream.
			if r.Peek() != '"' {
				return d.wrongType(string(key), "a string")
			}
			text, err = r.Str()
			hasText = true
		case "image_url":
			hasURL = true
			d.enter("image_url", -1)
			err = d.imageURL(p)
			d.leave()
		default:
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
	switch typ {
	case partText, partRefusal:
		if !hasText {
			if typ == partText {
				return d.missing("text")
			}
			return d.missing("refusal")
		}
		p.Type, p.Text, p.ImageURL, p.Detail = llm.PartText, text, "", ""
	case partImage:
		if !hasURL || p.ImageURL == "" {
			return d.missing("image_url.url")
		}
		p.Type, p.Text = llm.PartImage, ""
	case partNone:
		return d.missing("type")
	default:
		return d.unsupported("type", `"`+other+`" is not supported`)
	}
	return nil
}

// imageURL reads {"url","detail"}, or a bare URL string as some clients send.
func (d *chatDecoder) imageURL(p *llm.Part) error {
	r := &d.r
	if r.Peek() == '"' {
		s, err := r.Str()
		p.ImageURL = s
		return err
	}
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
		case "url":
			p.ImageURL, err = d.optString("url")
		case "detail":
			if p.Detail, err = d.optString("detail"); err == nil {
				switch p.Detail {
				case "", "auto", "low", "high":
				default:
					return d.invalid("detail", "must be one of auto, low, high")
				}
			}
		default:
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
}

func (d *chatDecoder) toolCalls(m *llm.Message) error {
	r := &d.r
	m.ToolCalls = m.ToolCalls[:0]
	if ok, err := d.array("tool_calls", "an array of tool calls"); !ok || err != nil {
		return err
	}
	var n int
	for {
		more, err := r.ArrNext(&n)
		if err != nil || !more {
			return err
		}
		j := len(m.ToolCalls)
		m.ToolCalls = append(m.ToolCalls, llm.ToolCall{})
		d.enter("tool_calls", j)
		err = d.toolCall(&m.ToolCalls[j])
		d.leave()
		if err != nil {
			return err
		}
	}
}

func (d *chatDecoder) toolCall(tc *llm.ToolCall) error {
	r := &d.r
	if r.Peek() != '{' {
		return d.wrongType("", "an object")
	}
	r.OpenObject()
	var n int
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
	case tc.ID == "":
		return d.missing("id")
	case tc.Name == "":
		return d.missing("function.name")
	}
	return nil
}

// functionType checks a "type" member that must say "function".
func (d *chatDecoder) functionType() error {
	if d.r.Peek() != '"' {
		return d.wrongType("type", "a string")
	}
	b, err := d.r.StrBytes()
	if err != nil || string(b) == "function" {
		return err
	}
	return d.unsupported("type", `"`+string(b)+`" is not supported; only "function" is`)
}

func (d *chatDecoder) toolCallFunction(tc *llm.ToolCall) error {
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
			if r.Peek() == '{' {
				// Some clients send the arguments object itself rather
				// than its JSON text; its text is what upstreams want.
				var raw []byte
				raw, err = r.Raw()
				tc.Arguments = string(raw)
			} else {
				tc.Arguments, err = d.optString("arguments")
			}
		default:
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
}

// validName reports whether s fits OpenAI's function and schema name rule:
// 1 to 64 of a-z, A-Z, 0-9, '_' and '-'.
func validName(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

const nameRule = "must be 1 to 64 characters of a-z, A-Z, 0-9, underscores and dashes"

func (d *chatDecoder) tools() error {
	r, req := &d.r, d.req
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
			return valueError("tools", "may hold at most "+strconv.Itoa(MaxTools)+" tools")
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

func (d *chatDecoder) tool(t *llm.Tool) error {
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
	case !validName(t.Name):
		return d.invalid("function.name", nameRule)
	}
	return nil
}

func (d *chatDecoder) toolFunction(t *llm.Tool) error {
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
			t.Parameters, err = d.schema("parameters")
		case "strict":
			t.Strict, err = d.optBoolPtr("strict")
		default:
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
}

// schema copies a JSON Schema object, or null as nil.
func (d *chatDecoder) schema(field string) (json.RawMessage, error) {
	switch d.r.Peek() {
	case 'n':
		return nil, d.r.Literal("null")
	case '{':
		raw, err := d.r.Raw()
		if err != nil {
			return nil, err
		}
		return append(json.RawMessage(nil), raw...), nil
	}
	return nil, d.wrongType(field, "a JSON Schema object")
}

func (d *chatDecoder) responseFormat() (*llm.ResponseFormat, error) {
	r := &d.r
	if ok, err := d.object("response_format", "an object"); !ok || err != nil {
		return nil, err
	}
	d.enter("response_format", -1)
	defer d.leave()
	rf := &llm.ResponseFormat{}
	var (
		n         int
		hasSchema bool
	)
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		switch string(key) {
		case "type":
			rf.Type, err = d.optString("type")
		case "json_schema":
			var ok bool
			if ok, err = d.object("json_schema", "an object"); ok {
				hasSchema = true
				d.enter("json_schema", -1)
				err = d.jsonSchema(rf)
				d.leave()
			}
		default:
			err = r.Skip()
		}
		if err != nil {
			return nil, err
		}
	}
	switch rf.Type {
	case "text", "json_object":
		rf.Name, rf.Description, rf.Schema, rf.Strict = "", "", nil, nil
	case "json_schema":
		switch {
		case !hasSchema:
			return nil, d.missing("json_schema")
		case rf.Name == "":
			return nil, d.missing("json_schema.name")
		case !validName(rf.Name):
			return nil, d.invalid("json_schema.name", nameRule)
		}
	case "":
		return nil, d.missing("type")
	default:
		return nil, d.invalid("type", "must be one of text, json_object, json_schema")
	}
	return rf, nil
}

// jsonSchema reads the members of json_schema after its '{'.
func (d *chatDecoder) jsonSchema(rf *llm.ResponseFormat) error {
	r := &d.r
	var n int
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil || !more {
			return err
		}
		switch string(key) {
		case "name":
			rf.Name, err = d.optString("name")
		case "schema":
			rf.Schema, err = d.schema("schema")
		case "strict":
			rf.Strict, err = d.optBoolPtr("strict")
		case "description":
			rf.Description, err = d.optString("description")
		default:
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
}

func (d *chatDecoder) toolChoice() (*llm.ToolChoice, error) {
	r := &d.r
	if r.Peek() == '"' {
		b, err := r.StrBytes()
		if err != nil {
			return nil, err
		}
		switch string(b) {
		case "auto":
			return &llm.ToolChoice{Mode: "auto"}, nil
		case "none":
			return &llm.ToolChoice{Mode: "none"}, nil
		case "required":
			return &llm.ToolChoice{Mode: "required"}, nil
		}
		return nil, valueError("tool_choice", `must be "auto", "none", "required" or a function choice object`)
	}
	if ok, err := d.object("tool_choice", "a string or an object"); !ok || err != nil {
		return nil, err
	}
	d.enter("tool_choice", -1)
	defer d.leave()
	var (
		n             int
		name          string
		hasType, hasF bool
	)
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		switch string(key) {
		case "type":
			hasType = true
			err = d.functionType()
		case "function":
			var ok bool
			if ok, err = d.object("function", "an object"); ok {
				hasF = true
				var m int
				for {
					k, more, err2 := r.ObjNext(&m)
					if err2 != nil || !more {
						err = err2
						break
					}
					if string(k) == "name" {
						d.enter("function", -1)
						name, err = d.optString("name")
						d.leave()
					} else {
						err = r.Skip()
					}
					if err != nil {
						break
					}
				}
			}
		default:
			err = r.Skip()
		}
		if err != nil {
			return nil, err
		}
	}
	switch {
	case !hasType:
		return nil, d.missing("type")
	case !hasF || name == "":
		return nil, d.missing("function.name")
	}
	return &llm.ToolChoice{Mode: "function", Name: name}, nil
}

// DecodeEmbedRequest parses and validates a /v1/embeddings body into req,
// which it resets first (reusing req.Input's capacity; req keeps no
// reference to body). It returns the requested encoding format, "float"
// (the default) or "base64". Errors are *RequestError.
func DecodeEmbedRequest(body []byte, req *llm.EmbedRequest) (encodingFormat string, err error) {
	*req = llm.EmbedRequest{Input: req.Input[:0]}
	if err := checkUTF8(body); err != nil {
		return "", err
	}
	d := chatDecoder{}
	d.r.Reset(body)
	format, err := d.decodeEmbed(req)
	if err != nil {
		return "", requestError(err)
	}
	return format, nil
}

func (d *chatDecoder) decodeEmbed(req *llm.EmbedRequest) (string, error) {
	r := &d.r
	if c := r.Peek(); c != '{' {
		if wire.StartsValue(c) {
			return "", badRequest("", CodeInvalidType, "request body must be a JSON object")
		}
		return "", r.Unexpected()
	}
	r.OpenObject()
	var (
		n        int
		format   = "float"
		hasInput bool
	)
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return "", err
		}
		if !more {
			break
		}
		switch string(key) {
		case "model":
			req.Model, err = d.optString("model")
		case "input":
			hasInput = true
			err = d.embedInput(req)
		case "dimensions":
			req.Dimensions, err = d.optTokens("dimensions")
		case "encoding_format":
			var f string
			if f, err = d.optString("encoding_format"); err == nil {
				switch f {
				case "", "float":
					format = "float"
				case "base64":
					format = "base64"
				default:
					return "", valueError("encoding_format", `must be "float" or "base64"`)
				}
			}
		case "user":
			req.User, err = d.optString("user")
		default:
			err = r.Skip()
		}
		if err != nil {
			return "", err
		}
	}
	if err := r.End(); err != nil {
		return "", err
	}
	switch {
	case req.Model == "":
		return "", missing("model")
	case !hasInput || len(req.Input) == 0:
		return "", missing("input")
	}
	return format, nil
}

func (d *chatDecoder) embedInput(req *llm.EmbedRequest) error {
	r := &d.r
	const tokens = "input as token arrays is not supported; send text"
	req.Input = req.Input[:0]
	if r.Peek() == '"' {
		s, err := r.Str()
		if err != nil {
			return err
		}
		if s == "" {
			return valueError("input", "must not be an empty string")
		}
		req.Input = append(req.Input, s)
		return nil
	}
	if c := r.Peek(); c == '-' || c >= '0' && c <= '9' {
		return badRequest("input", CodeUnsupported, tokens)
	}
	if ok, err := d.array("input", "a string or an array of strings"); !ok || err != nil {
		return err
	}
	var n int
	for {
		more, err := r.ArrNext(&n)
		if err != nil || !more {
			return err
		}
		switch c := r.Peek(); {
		case c == '"':
		case c == '[' || c == '-' || c >= '0' && c <= '9':
			return badRequest("input", CodeUnsupported, tokens)
		default:
			d.enter("input", n-1)
			err := d.wrongType("", "a string")
			d.leave()
			return err
		}
		if len(req.Input) == MaxEmbedInputs {
			return valueError("input", "may hold at most "+strconv.Itoa(MaxEmbedInputs)+" items")
		}
		s, err := r.Str()
		if err != nil {
			return err
		}
		if s == "" {
			d.enter("input", n-1)
			err := d.invalid("", "must not be an empty string")
			d.leave()
			return err
		}
		req.Input = append(req.Input, s)
	}
}
