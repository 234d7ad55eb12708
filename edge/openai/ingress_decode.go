package openai

import (
	"encoding/json"
	"strconv"

	"github.com/edgeway/edgeway/edge/internal/ingress"
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

// Error codes of the *ingress.Error values the decoders return, in
// OpenAI's vocabulary.
const (
	CodeInvalidJSON     = "invalid_json"
	CodeInvalidType     = "invalid_type"
	CodeInvalidValue    = "invalid_value"
	CodeMissingRequired = "missing_required_parameter"
	CodeUnsupported     = "unsupported_value"
)

// dialect words and codes errors as OpenAI does.
var dialect = func() ingress.Dialect {
	l := ingress.Plain()
	l.Codes = [...]string{
		ingress.FaultSyntax:      CodeInvalidJSON,
		ingress.FaultType:        CodeInvalidType,
		ingress.FaultValue:       CodeInvalidValue,
		ingress.FaultMissing:     CodeMissingRequired,
		ingress.FaultUnsupported: CodeUnsupported,
	}
	return l
}()

// functions are OpenAI's rules for function tools and calls.
var functions = ingress.Functions{MaxTools: MaxTools, NameRule: nameRule, MaxName: maxNameLen}

// inputs are OpenAI's rules for an embeddings request's input.
var inputs = ingress.Inputs{
	Max:    MaxEmbedInputs,
	Empty:  "must not be an empty string",
	Tokens: "input as token arrays is not supported; send text",
}

// nameRule is OpenAI's rule for function and schema names.
// DecodeChatRequest parses and validates a /v1/chat/completions body into
// req, which it resets first. It reuses the capacity of req's slices, so
// nothing may still refer to req's previous contents; req keeps no
// reference to body. It also returns stream_options.include_usage.
//
// Every error is an *ingress.Error naming the offending field, with one
// of the Code constants. Fields it does not model are kept verbatim in
// req.Extra; stream, stream_options and n are consumed.
func DecodeChatRequest(body []byte, req *llm.ChatRequest) (includeUsage bool, err error) {
	ingress.ResetChat(req)
	if err := dialect.CheckUTF8(body); err != nil {
		return false, err
	}
	d := chatDecoder{req: req}
	d.Reset(&dialect, body)
	if err := d.decode(); err != nil {
		return false, dialect.Wrap(err)
	}
	return d.includeUsage, nil
}

type chatDecoder struct {
	ingress.Decoder
	req          *llm.ChatRequest
	includeUsage bool
}

func (d *chatDecoder) decode() error {
	r, req := &d.R, d.req
	if err := d.OpenBody(); err != nil {
		return err
	}
	var (
		it        wire.Iter
		maxTokens *int
		maxCompl  *int
		choices   int64 = 1
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "model":
			req.Model, it.Err = d.OptString("model")
		case "messages":
			req.Messages, it.Err = d.Messages(req.Messages, func(m *llm.Message, _ int) error {
				return d.message(m)
			})
		case "stream":
			req.Stream, it.Err = d.OptBool("stream")
		case "stream_options":
			it.Err = d.streamOptions()
		case "n":
			var v int64
			var ok bool
			if v, ok, it.Err = d.Int("n"); ok {
				choices = v
			}
		case "temperature":
			req.Temperature, it.Err = optFloat(&d.Decoder, "temperature", 0, 2)
		case "top_p":
			req.TopP, it.Err = optFloat(&d.Decoder, "top_p", 0, 1)
		case "presence_penalty":
			req.PresencePenalty, it.Err = optFloat(&d.Decoder, "presence_penalty", -2, 2)
		case "frequency_penalty":
			req.FrequencyPenalty, it.Err = optFloat(&d.Decoder, "frequency_penalty", -2, 2)
		case "max_tokens":
			maxTokens, it.Err = optTokens(&d.Decoder, "max_tokens")
		case "max_completion_tokens":
			maxCompl, it.Err = optTokens(&d.Decoder, "max_completion_tokens")
		case "stop":
			it.Err = d.stop()
		case "seed":
			var v int64
			var ok bool
			if v, ok, it.Err = d.Int("seed"); ok {
				req.Seed = &v
			}
		case "response_format":
			req.ResponseFormat, it.Err = d.responseFormat()
		case "tools":
			req.Tools, it.Err = d.Tools(req.Tools, &functions)
		case "tool_choice":
			req.ToolChoice, it.Err = d.toolChoice()
		case "parallel_tool_calls":
			req.ParallelToolCalls, it.Err = d.OptBoolPtr("parallel_tool_calls")
		case "user":
			req.User, it.Err = d.OptString("user")
		default:
			it.Err = d.extra(it.Key)
		}
	}
	if err := d.EndBody(it.Err); err != nil {
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
		return d.Missing("model")
	case len(req.Messages) == 0:
		return d.Missing("messages")
	case choices != 1:
		if choices > 1 {
			return ingress.NewError("n", CodeUnsupported, "n > 1 is not supported")
		}
		return d.Fail("n", "must be 1")
	case req.ToolChoice != nil && req.ToolChoice.Mode != "none" && len(req.Tools) == 0:
		return d.Fail("tool_choice", "is only allowed when tools are specified")
	}
	return nil
}

// optFloat reads a number in [lo, hi], or null as nil.
func optFloat(d *ingress.Decoder, field string, lo, hi float64) (*float64, error) {
	v, ok, err := d.Float(field)
	if !ok || err != nil {
		return nil, err
	}
	if v < lo || v > hi {
		return nil, d.Fail(field, "must be between "+strconv.FormatFloat(lo, 'g', -1, 64)+" and "+strconv.FormatFloat(hi, 'g', -1, 64))
	}
	return &v, nil
}

// optTokens reads a count of at least 1 that fits an int32.
func optTokens(d *ingress.Decoder, field string) (*int, error) {
	v, ok, err := d.Int(field)
	if !ok || err != nil {
		return nil, err
	}
	if v < 1 {
		return nil, d.Fail(field, "must be at least 1")
	}
	if v > 1<<31-1 {
		return nil, d.Fail(field, "is out of range")
	}
	n := int(v)
	return &n, nil
}

func (d *chatDecoder) streamOptions() error {
	r := &d.R
	if ok, err := d.EnterObject("stream_options", "an object"); !ok || err != nil {
		return err
	}
	defer d.Leave()
	var it wire.Iter
	for r.Member(&it) {
		if string(it.Key) == "include_usage" {
			d.includeUsage, it.Err = d.OptBool("include_usage")
		} else {
			it.Err = r.Skip()
		}
	}
	return it.Err
}

func (d *chatDecoder) stop() (err error) {
	r, req := &d.R, d.req
	if r.Peek() == '"' {
		s, err := r.Str()
		req.Stop = append(req.Stop[:0], s)
		return err
	}
	req.Stop, err = d.Strings(req.Stop, "stop", "a string or an array of strings", MaxStop, "sequences")
	return err
}

func (d *chatDecoder) extra(key []byte) error {
	req := d.req
	k := string(key)
	raw, err := d.R.Raw()
	if err != nil {
		return err
	}
	if req.Extra == nil {
		req.Extra = make(map[string]json.RawMessage, 4)
	}
	if _, dup := req.Extra[k]; !dup && len(req.Extra) >= MaxExtraFields {
		return ingress.NewError(k, CodeInvalidValue, "request has more than "+strconv.Itoa(MaxExtraFields)+" unrecognized fields")
	}
	req.Extra[k] = append(json.RawMessage(nil), raw...)
	return nil
}

func (d *chatDecoder) message(m *llm.Message) error {
	r := &d.R
	if err := d.OpenObject("", ""); err != nil {
		return err
	}
	var (
		it         wire.Iter
		hasContent bool
		imagePart  = -1
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "role":
			it.Err = d.role(m)
		case "content":
			hasContent, imagePart, it.Err = d.content(m)
		case "name":
			m.Name, it.Err = d.OptString("name")
		case "tool_call_id":
			m.ToolCallID, it.Err = d.OptString("tool_call_id")
		case "tool_calls":
			m.ToolCalls, it.Err = d.ToolCalls(m.ToolCalls, &functions)
		default:
			// refusal, audio, reasoning_content echoed back by clients:
			// nothing a provider can use.
			it.Err = r.Skip()
		}
	}
	if it.Err != nil {
		return it.Err
	}
	switch {
	case m.Role == "":
		return d.Missing("role")
	case !hasContent && !(m.Role == llm.RoleAssistant && len(m.ToolCalls) > 0):
		return d.Missing("content")
	case imagePart >= 0 && m.Role != llm.RoleUser:
		d.Enter("content", imagePart)
		defer d.Leave()
		return d.Fail("", "is an image part; image parts are only allowed in user messages")
	case len(m.ToolCalls) > 0 && m.Role != llm.RoleAssistant:
		return d.Fail("tool_calls", "is only allowed in assistant messages")
	case m.Role == llm.RoleTool && m.ToolCallID == "":
		return d.Missing("tool_call_id")
	}
	return nil
}

func (d *chatDecoder) role(m *llm.Message) error {
	if d.R.Peek() != '"' {
		return d.WrongType("role", "a string")
	}
	b, err := d.R.StrBytes()
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
		return d.Unsupported("role", `"function" is not supported; use "tool"`)
	default:
		return d.Fail("role", "must be one of system, developer, user, assistant, tool")
	}
	return nil
}

// content decodes a message's content: a string, null, or an array of
// parts. It reports whether content was present and the index of the
// first image part (-1 when none).
func (d *chatDecoder) content(m *llm.Message) (present bool, image int, err error) {
	r := &d.R
	m.Content = m.Content[:0]
	if r.Peek() == '"' {
		s, err := r.Str()
		m.Content = append(m.Content, llm.Part{Type: llm.PartText, Text: s})
		return true, -1, err
	}
	if ok, err := d.Array("content", "a string or an array of content parts"); !ok || err != nil {
		return false, -1, err
	}
	image = -1
	var it wire.Iter
	for r.Elem(&it) {
		j := len(m.Content)
		m.Content = append(m.Content, llm.Part{})
		d.Enter("content", j)
		it.Err = d.part(&m.Content[j])
		d.Leave()
		if it.Err != nil {
			return false, -1, it.Err
		}
		if m.Content[j].Type == llm.PartImage && image < 0 {
			image = j
		}
	}
	if it.Err != nil {
		return false, -1, it.Err
	}
	if len(m.Content) == 0 {
		return false, -1, d.Fail("content", "must not be an empty array")
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
	r := &d.R
	if err := d.OpenObject("", "a content part object"); err != nil {
		return err
	}
	var (
		it              wire.Iter
		typ             = partNone
		other           string
		text            string
		hasText, hasURL bool
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "type":
			if r.Peek() != '"' {
				return d.WrongType("type", "a string")
			}
			var b []byte
			if b, it.Err = r.StrBytes(); it.Err == nil {
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
				return d.WrongType(string(it.Key), "a string")
			}
			text, it.Err = r.Str()
			hasText = true
		case "image_url":
			hasURL = true
			d.Enter("image_url", -1)
			it.Err = d.imageURL(p)
			d.Leave()
		default:
			it.Err = r.Skip()
		}
	}
	if it.Err != nil {
		return it.Err
	}
	switch typ {
	case partText, partRefusal:
		if !hasText {
			if typ == partText {
				return d.Missing("text")
			}
			return d.Missing("refusal")
		}
		p.Type, p.Text, p.ImageURL, p.Detail = llm.PartText, text, "", ""
	case partImage:
		if !hasURL || p.ImageURL == "" {
			return d.Missing("image_url.url")
		}
		p.Type, p.Text = llm.PartImage, ""
	case partNone:
		return d.Missing("type")
	default:
		return d.Unsupported("type", `"`+other+`" is not supported`)
	}
	return nil
}

// imageURL reads {"url","detail"}, or a bare URL string as some clients send.
func (d *chatDecoder) imageURL(p *llm.Part) error {
	r := &d.R
	if r.Peek() == '"' {
		s, err := r.Str()
		p.ImageURL = s
		return err
	}
	if err := d.OpenObject("", ""); err != nil {
		return err
	}
	var it wire.Iter
	for r.Member(&it) {
		switch string(it.Key) {
		case "url":
			p.ImageURL, it.Err = d.OptString("url")
		case "detail":
			if p.Detail, it.Err = d.OptString("detail"); it.Err == nil {
				switch p.Detail {
				case "", "auto", "low", "high":
				default:
					return d.Fail("detail", "must be one of auto, low, high")
				}
			}
		default:
			it.Err = r.Skip()
		}
	}
	return it.Err
}

const nameRule = "must be 1 to 64 characters of a-z, A-Z, 0-9, underscores and dashes"

func (d *chatDecoder) responseFormat() (*llm.ResponseFormat, error) {
	r := &d.R
	if ok, err := d.EnterObject("response_format", "an object"); !ok || err != nil {
		return nil, err
	}
	defer d.Leave()
	rf := &llm.ResponseFormat{}
	var (
		it        wire.Iter
		hasSchema bool
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "type":
			rf.Type, it.Err = d.OptString("type")
		case "json_schema":
			var ok bool
			if ok, it.Err = d.Object("json_schema", "an object"); ok {
				hasSchema = true
				d.Enter("json_schema", -1)
				it.Err = d.jsonSchema(rf)
				d.Leave()
			}
		default:
			it.Err = r.Skip()
		}
	}
	if it.Err != nil {
		return nil, it.Err
	}
	switch rf.Type {
	case "text", "json_object":
		rf.Name, rf.Description, rf.Schema, rf.Strict = "", "", nil, nil
	case "json_schema":
		switch {
		case !hasSchema:
			return nil, d.Missing("json_schema")
		case rf.Name == "":
			return nil, d.Missing("json_schema.name")
		case !ingress.ValidName(rf.Name, maxNameLen):
			return nil, d.Fail("json_schema.name", nameRule)
		}
	case "":
		return nil, d.Missing("type")
	default:
		return nil, d.Fail("type", "must be one of text, json_object, json_schema")
	}
	return rf, nil
}

// jsonSchema reads the members of json_schema after its '{'.
func (d *chatDecoder) jsonSchema(rf *llm.ResponseFormat) error {
	r := &d.R
	var it wire.Iter
	for r.Member(&it) {
		switch string(it.Key) {
		case "name":
			rf.Name, it.Err = d.OptString("name")
		case "schema":
			rf.Schema, it.Err = d.RawObject("schema", "a JSON Schema object")
		case "strict":
			rf.Strict, it.Err = d.OptBoolPtr("strict")
		case "description":
			rf.Description, it.Err = d.OptString("description")
		default:
			it.Err = r.Skip()
		}
	}
	return it.Err
}

func (d *chatDecoder) toolChoice() (*llm.ToolChoice, error) {
	r := &d.R
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
		return nil, d.Fail("tool_choice", `must be "auto", "none", "required" or a function choice object`)
	}
	if ok, err := d.EnterObject("tool_choice", "a string or an object"); !ok || err != nil {
		return nil, err
	}
	defer d.Leave()
	var (
		it            wire.Iter
		name          string
		hasType, hasF bool
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "type":
			hasType = true
			it.Err = d.FunctionType(&functions)
		case "function":
			var ok bool
			if ok, it.Err = d.Object("function", "an object"); ok {
				hasF = true
				var fn wire.Iter
				for r.Member(&fn) {
					if string(fn.Key) == "name" {
						d.Enter("function", -1)
						name, fn.Err = d.OptString("name")
						d.Leave()
					} else {
						fn.Err = r.Skip()
					}
				}
				it.Err = fn.Err
			}
		default:
			it.Err = r.Skip()
		}
	}
	if it.Err != nil {
		return nil, it.Err
	}
	switch {
	case !hasType:
		return nil, d.Missing("type")
	case !hasF || name == "":
		return nil, d.Missing("function.name")
	}
	return &llm.ToolChoice{Mode: "function", Name: name}, nil
}

// DecodeEmbedRequest parses and validates a /v1/embeddings body into req,
// which it resets first (reusing req.Input's capacity; req keeps no
// reference to body). It returns the requested encoding format, "float"
// (the default) or "base64". Errors are *ingress.Error.
func DecodeEmbedRequest(body []byte, req *llm.EmbedRequest) (encodingFormat string, err error) {
	*req = llm.EmbedRequest{Input: req.Input[:0]}
	if err := dialect.CheckUTF8(body); err != nil {
		return "", err
	}
	var d chatDecoder
	d.Reset(&dialect, body)
	format, err := d.decodeEmbed(req)
	if err != nil {
		return "", dialect.Wrap(err)
	}
	return format, nil
}

func (d *chatDecoder) decodeEmbed(req *llm.EmbedRequest) (string, error) {
	r := &d.R
	if err := d.OpenBody(); err != nil {
		return "", err
	}
	var (
		it       wire.Iter
		format   = "float"
		hasInput bool
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "model":
			req.Model, it.Err = d.OptString("model")
		case "input":
			hasInput = true
			req.Input, it.Err = d.Inputs(req.Input, &inputs)
		case "dimensions":
			req.Dimensions, it.Err = optTokens(&d.Decoder, "dimensions")
		case "encoding_format":
			var f string
			if f, it.Err = d.OptString("encoding_format"); it.Err == nil {
				switch f {
				case "", "float":
					format = "float"
				case "base64":
					format = "base64"
				default:
					return "", d.Fail("encoding_format", `must be "float" or "base64"`)
				}
			}
		case "user":
			req.User, it.Err = d.OptString("user")
		default:
			it.Err = r.Skip()
		}
	}
	if err := d.EndBody(it.Err); err != nil {
		return "", err
	}
	switch {
	case req.Model == "":
		return "", d.Missing("model")
	case !hasInput || len(req.Input) == 0:
		return "", d.Missing("input")
	}
	return format, nil
}
