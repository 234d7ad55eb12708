package openai

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"

	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
)

// reservedFields are the request fields appendChatRequest writes itself;
// an Extra entry by one of these names is dropped rather than sent twice.
var reservedFields = map[string]bool{
	"model": true, "messages": true, "stream": true, "stream_options": true, "n": true,
	"temperature": true, "top_p": true, "max_tokens": true, "max_completion_tokens": true,
	"stop": true, "seed": true, "presence_penalty": true, "frequency_penalty": true,
	"response_format": true, "tools": true, "tool_choice": true, "parallel_tool_calls": true,
	"user": true,
}

// errNotJSON is returned when raw JSON carried by a request (tool
// parameters, a schema, an Extra value) does not parse, so it cannot be
// spliced into the upstream body.
var errNotJSON = errors.New("is not valid JSON")

// wireOptions are the quirks that shape the upstream body.
type wireOptions struct {
	maxTokensField  string
	noStreamOptions bool
}

// appendChatRequest appends the upstream /chat/completions body for req.
// It streams when the client does. Extra fields are written in sorted order so
// the body is deterministic.
func appendChatRequest(dst []byte, req *llm.ChatRequest, o wireOptions) ([]byte, error) {
	dst = append(dst, `{"model":`...)
	dst = wire.AppendString(dst, req.Model)
	dst = append(dst, `,"messages":[`...)
	for i := range req.Messages {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendMessage(dst, &req.Messages[i])
	}
	if req.Stream {
		dst = append(dst, `],"stream":true`...)
		if !o.noStreamOptions {
			dst = append(dst, `,"stream_options":{"include_usage":true}`...)
		}
	} else {
		// Nothing reaches a non-streaming client before the end, so one
		// JSON answer is cheaper for both sides than an SSE stream.
		dst = append(dst, `],"stream":false`...)
	}
	dst = upstream.AppendFloatField(dst, "temperature", req.Temperature)
	dst = upstream.AppendFloatField(dst, "top_p", req.TopP)
	maxTokens := o.maxTokensField
	if maxTokens == "" {
		maxTokens = "max_tokens"
	}
	dst = upstream.AppendIntField(dst, maxTokens, req.MaxTokens)
	if len(req.Stop) > 0 {
		dst = upstream.AppendStrings(append(dst, `,"stop":`...), req.Stop)
	}
	dst = upstream.AppendIntField(dst, "seed", req.Seed)
	dst = upstream.AppendFloatField(dst, "presence_penalty", req.PresencePenalty)
	dst = upstream.AppendFloatField(dst, "frequency_penalty", req.FrequencyPenalty)
	if rf := req.ResponseFormat; rf != nil {
		var err error
		if dst, err = appendResponseFormat(dst, rf); err != nil {
			return nil, err
		}
	}
	if len(req.Tools) > 0 {
		dst = append(dst, `,"tools":[`...)
		for i := range req.Tools {
			t := &req.Tools[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"type":"function","function":{`...)
			dst = upstream.AppendNamed(dst, t.Name, t.Description)
			if len(t.Parameters) > 0 {
				if !json.Valid(t.Parameters) {
					return nil, errors.New("tools[" + strconv.Itoa(i) + "].parameters " + errNotJSON.Error())
				}
				dst = append(dst, `,"parameters":`...)
				dst = append(dst, t.Parameters...)
			}
			dst = upstream.AppendBoolField(dst, "strict", t.Strict)
			dst = append(dst, "}}"...)
		}
		dst = append(dst, ']')
	}
	if tc := req.ToolChoice; tc != nil {
		dst = append(dst, `,"tool_choice":`...)
		switch tc.Mode {
		case "function":
			dst = append(dst, `{"type":"function","function":{"name":`...)
			dst = wire.AppendString(dst, tc.Name)
			dst = append(dst, "}}"...)
		default:
			dst = wire.AppendString(dst, tc.Mode)
		}
	}
	dst = upstream.AppendBoolField(dst, "parallel_tool_calls", req.ParallelToolCalls)
	if req.User != "" {
		dst = append(dst, `,"user":`...)
		dst = wire.AppendString(dst, req.User)
	}
	if len(req.Extra) > 0 {
		keys := make([]string, 0, len(req.Extra))
		for k := range req.Extra {
			if !reservedFields[k] {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := req.Extra[k]
			if !json.Valid(v) {
				return nil, errors.New(k + " " + errNotJSON.Error())
			}
			dst = append(dst, ',')
			dst = wire.AppendString(dst, k)
			dst = append(dst, ':')
			dst = append(dst, v...)
		}
	}
	return append(dst, '}'), nil
}

func appendResponseFormat(dst []byte, rf *llm.ResponseFormat) ([]byte, error) {
	dst = append(dst, `,"response_format":{"type":`...)
	dst = wire.AppendString(dst, rf.Type)
	if rf.Type == "json_schema" {
		dst = append(dst, `,"json_schema":{`...)
		dst = upstream.AppendNamed(dst, rf.Name, rf.Description)
		if len(rf.Schema) > 0 {
			if !json.Valid(rf.Schema) {
				return nil, errors.New("response_format.json_schema.schema " + errNotJSON.Error())
			}
			dst = append(dst, `,"schema":`...)
			dst = append(dst, rf.Schema...)
		}
		dst = upstream.AppendBoolField(dst, "strict", rf.Strict)
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

// appendMessage writes one message. A single text part is sent as a plain
// string, the form every OpenAI-compatible server accepts; anything else
// as an array of parts.
func appendMessage(dst []byte, m *llm.Message) []byte {
	dst = append(dst, `{"role":`...)
	dst = wire.AppendString(dst, string(m.Role))
	dst = append(dst, `,"content":`...)
	switch {
	case len(m.Content) == 0 && len(m.ToolCalls) > 0:
		dst = append(dst, "null"...)
	case len(m.Content) == 0:
		dst = append(dst, `""`...)
	case len(m.Content) == 1 && m.Content[0].Type == llm.PartText:
		dst = wire.AppendString(dst, m.Content[0].Text)
	default:
		dst = append(dst, '[')
		for i := range m.Content {
			p := &m.Content[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			if p.Type == llm.PartImage {
				dst = append(dst, `{"type":"image_url","image_url":{"url":`...)
				dst = wire.AppendString(dst, p.ImageURL)
				if p.Detail != "" {
					dst = append(dst, `,"detail":`...)
					dst = wire.AppendString(dst, p.Detail)
				}
				dst = append(dst, "}}"...)
				continue
			}
			dst = append(dst, `{"type":"text","text":`...)
			dst = wire.AppendString(dst, p.Text)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if m.Name != "" {
		dst = append(dst, `,"name":`...)
		dst = wire.AppendString(dst, m.Name)
	}
	if len(m.ToolCalls) > 0 {
		dst = appendToolCalls(append(dst, `,"tool_calls":`...), m.ToolCalls)
	}
	if m.ToolCallID != "" {
		dst = append(dst, `,"tool_call_id":`...)
		dst = wire.AppendString(dst, m.ToolCallID)
	}
	return append(dst, '}')
}

// appendToolCalls writes calls as an OpenAI tool_calls array, the same
// in a request's history and in a completion.
func appendToolCalls(dst []byte, calls []llm.ToolCall) []byte {
	dst = append(dst, '[')
	for i := range calls {
		tc := &calls[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":`...)
		dst = wire.AppendString(dst, tc.ID)
		dst = append(dst, `,"type":"function","function":{"name":`...)
		dst = wire.AppendString(dst, tc.Name)
		dst = append(dst, `,"arguments":`...)
		dst = wire.AppendString(dst, tc.Arguments)
		dst = append(dst, "}}"...)
	}
	return append(dst, ']')
}

// appendEmbedRequest appends the upstream /embeddings body. It asks for
// floats: every compatible server speaks them, not all speak base64.
func appendEmbedRequest(dst []byte, req *llm.EmbedRequest) []byte {
	dst = append(dst, `{"model":`...)
	dst = wire.AppendString(dst, req.Model)
	dst = upstream.AppendStrings(append(dst, `,"input":`...), req.Input)
	dst = append(dst, `,"encoding_format":"float"`...)
	dst = upstream.AppendIntField(dst, "dimensions", req.Dimensions)
	if req.User != "" {
		dst = append(dst, `,"user":`...)
		dst = wire.AppendString(dst, req.User)
	}
	return append(dst, '}')
}
