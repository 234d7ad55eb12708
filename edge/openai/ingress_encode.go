package openai

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"

	"github.com/edgeway/edgeway/edge/internal/ingress"
	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
)

// OpenAI error types, for AppendError and AppendStreamError.
const (
	TypeInvalidRequest = ingress.TypeInvalidRequest
	TypeAuthentication = ingress.TypeAuthentication
	TypePermission     = ingress.TypePermission
	TypeNotFound       = ingress.TypeNotFound
	TypeRateLimit      = ingress.TypeRateLimit
	TypeAPI            = ingress.TypeAPI
	TypeOverloaded     = ingress.TypeOverloaded
)

// ErrorType returns the OpenAI error type for an HTTP status.
func ErrorType(status int) string { return ingress.ErrorType(status) }

// reasoningField is the delta and message field reasoning text travels in.
// OpenAI's Chat Completions has none; DeepSeek's name is the one most
// OpenAI-compatible clients (Open WebUI, LibreChat, LiteLLM) read.
const reasoningField = "reasoning_content"

// appendHead appends `{"id":…,"object":…,"created":…,"model":…,`.
func appendHead(dst []byte, id, object string, created int64, model string) []byte {
	dst = append(dst, `{"id":`...)
	dst = wire.AppendString(dst, id)
	dst = append(dst, `,"object":"`...)
	dst = append(dst, object...)
	dst = append(dst, `","created":`...)
	dst = strconv.AppendInt(dst, created, 10)
	dst = append(dst, `,"model":`...)
	dst = wire.AppendString(dst, model)
	return append(dst, ',')
}

// AppendStreamChunk appends one SSE event "data: {chat.completion.chunk}\n\n"
// carrying c to dst and returns the extended buffer. id, created and model
// identify the completion and are the same on every chunk. The delta holds
// the role only when c.Role is set (the caller sets it on the first chunk),
// content, reasoning_content and tool call fragments. c.Usage is not
// written here: usage goes in its own final chunk (AppendStreamUsage).
// It does not allocate when dst has room.
func AppendStreamChunk(dst []byte, id string, created int64, model string, c *llm.Chunk) []byte {
	dst = append(dst, "data: "...)
	dst = appendHead(dst, id, "chat.completion.chunk", created, model)
	dst = append(dst, `"choices":[{"index":0,"delta":{`...)
	comma := false
	if c.Role != "" {
		dst = append(dst, `"role":`...)
		dst = wire.AppendString(dst, string(c.Role))
		comma = true
	}
	// The first chunk carries content "" even when empty, as OpenAI's does:
	// some clients look for the key to start a message.
	if c.Text != "" || (c.Role != "" && c.Reasoning == "" && len(c.ToolCalls) == 0) {
		if comma {
			dst = append(dst, ',')
		}
		dst = append(dst, `"content":`...)
		dst = wire.AppendString(dst, c.Text)
		comma = true
	}
	if c.Reasoning != "" {
		if comma {
			dst = append(dst, ',')
		}
		dst = append(dst, `"`+reasoningField+`":`...)
		dst = wire.AppendString(dst, c.Reasoning)
		comma = true
	}
	if len(c.ToolCalls) > 0 {
		if comma {
			dst = append(dst, ',')
		}
		dst = append(dst, `"tool_calls":[`...)
		for i := range c.ToolCalls {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendToolCallDelta(dst, &c.ToolCalls[i])
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `},"logprobs":null,"finish_reason":`...)
	if c.FinishReason != "" {
		dst = wire.AppendString(dst, string(c.FinishReason))
	} else {
		dst = append(dst, "null"...)
	}
	return append(dst, "}]}\n\n"...)
}

// appendToolCallDelta writes one tool_calls element. The first fragment of
// a call (the one with an ID) carries id, type and name, as OpenAI's do;
// later fragments carry only arguments.
func appendToolCallDelta(dst []byte, d *llm.ToolCallDelta) []byte {
	dst = append(dst, `{"index":`...)
	dst = strconv.AppendInt(dst, int64(d.Index), 10)
	if d.ID != "" {
		dst = append(dst, `,"id":`...)
		dst = wire.AppendString(dst, d.ID)
		dst = append(dst, `,"type":"function"`...)
	}
	dst = append(dst, `,"function":{`...)
	if d.Name != "" {
		dst = append(dst, `"name":`...)
		dst = wire.AppendString(dst, d.Name)
		dst = append(dst, ',')
	}
	dst = append(dst, `"arguments":`...)
	dst = wire.AppendString(dst, d.Arguments)
	return append(dst, "}}"...)
}

// appendUsage appends the usage object.
func appendUsage(dst []byte, u llm.Usage) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokens), 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CompletionTokens), 10)
	dst = append(dst, `,"total_tokens":`...)
	total := u.TotalTokens
	if total == 0 {
		total = u.PromptTokens + u.CompletionTokens
	}
	dst = strconv.AppendInt(dst, int64(total), 10)
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CachedTokens), 10)
	return append(dst, "}}"...)
}

// AppendStreamUsage appends the final usage chunk OpenAI sends when the
// client asked for stream_options.include_usage: empty choices and the
// usage of the whole request.
func AppendStreamUsage(dst []byte, id string, created int64, model string, u llm.Usage) []byte {
	dst = append(dst, "data: "...)
	dst = appendHead(dst, id, "chat.completion.chunk", created, model)
	dst = append(dst, `"choices":[],"usage":`...)
	dst = appendUsage(dst, u)
	return append(dst, "}\n\n"...)
}

// AppendStreamDone appends the event that ends an OpenAI stream.
func AppendStreamDone(dst []byte) []byte {
	return append(dst, "data: [DONE]\n\n"...)
}

// AppendStreamError appends an SSE event carrying an error object, for a
// failure after the stream has started (the HTTP status is already sent).
// An empty typ is derived from status.
func AppendStreamError(dst []byte, status int, message, typ, code string) []byte {
	if typ == "" {
		typ = ErrorType(status)
	}
	dst = append(dst, "data: "...)
	dst = AppendError(dst, message, typ, "", code)
	return append(dst, "\n\n"...)
}

// AppendError appends OpenAI's error body
// {"error":{"message","type","param","code"}}; an empty param or code is
// written as null.
func AppendError(dst []byte, message, typ, param, code string) []byte {
	dst = append(dst, `{"error":{"message":`...)
	dst = wire.AppendString(dst, message)
	dst = append(dst, `,"type":`...)
	dst = wire.AppendString(dst, typ)
	dst = append(dst, `,"param":`...)
	dst = appendStringOrNull(dst, param)
	dst = append(dst, `,"code":`...)
	dst = appendStringOrNull(dst, code)
	return append(dst, "}}"...)
}

func appendStringOrNull(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return wire.AppendString(dst, s)
}

// AppendChatResponse appends a whole "chat.completion" object built from a
// for a client that did not stream. Content is null when the model only
// called tools; finish_reason defaults to "stop".
func AppendChatResponse(dst []byte, id string, created int64, model string, a *llm.Aggregate) []byte {
	dst = appendHead(dst, id, "chat.completion", created, model)
	dst = append(dst, `"choices":[{"index":0,"message":{"role":`...)
	role := string(a.Role)
	if role == "" {
		role = string(llm.RoleAssistant)
	}
	dst = wire.AppendString(dst, role)
	dst = append(dst, `,"content":`...)
	if text := a.Text.String(); text != "" || len(a.ToolCalls) == 0 {
		dst = wire.AppendString(dst, text)
	} else {
		dst = append(dst, "null"...)
	}
	if r := a.Reasoning.String(); r != "" {
		dst = append(dst, `,"`+reasoningField+`":`...)
		dst = wire.AppendString(dst, r)
	}
	if len(a.ToolCalls) > 0 {
		dst = appendToolCalls(append(dst, `,"tool_calls":`...), a.ToolCalls)
	}
	dst = append(dst, `,"refusal":null},"logprobs":null,"finish_reason":`...)
	fr := string(a.FinishReason)
	if fr == "" {
		fr = string(llm.FinishStop)
	}
	dst = wire.AppendString(dst, fr)
	dst = append(dst, `}],"usage":`...)
	dst = appendUsage(dst, a.Usage)
	return append(dst, '}')
}

// AppendEmbeddingResponse appends an embeddings "list" object. With
// base64 set each vector is the base64 of its little-endian float32 bytes,
// as OpenAI encodes it; otherwise a JSON array of numbers.
func AppendEmbeddingResponse(dst []byte, model string, r *llm.EmbedResponse, base64 bool) []byte {
	dst = append(dst, `{"object":"list","data":[`...)
	for i, v := range r.Vectors {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"object":"embedding","index":`...)
		dst = strconv.AppendInt(dst, int64(i), 10)
		dst = append(dst, `,"embedding":`...)
		if base64 {
			dst = appendBase64Floats(dst, v)
		} else {
			dst = wire.AppendFloats(dst, v)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `],"model":`...)
	dst = wire.AppendString(dst, model)
	dst = append(dst, `,"usage":{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, int64(r.Usage.PromptTokens), 10)
	dst = append(dst, `,"total_tokens":`...)
	total := r.Usage.TotalTokens
	if total == 0 {
		total = r.Usage.PromptTokens
	}
	dst = strconv.AppendInt(dst, int64(total), 10)
	return append(dst, "}}"...)
}

// appendBase64Floats writes v as a quoted base64 string. It encodes three
// floats (12 bytes, a multiple of base64's 3-byte group) at a time, so the
// pieces join into the encoding of the whole without a temporary buffer.
func appendBase64Floats(dst []byte, v []float32) []byte {
	dst = append(dst, '"')
	var group [12]byte
	for len(v) > 0 {
		n := min(len(v), 3)
		for k := range n {
			binary.LittleEndian.PutUint32(group[4*k:], math.Float32bits(v[k]))
		}
		dst = base64.StdEncoding.AppendEncode(dst, group[:4*n])
		v = v[n:]
	}
	return append(dst, '"')
}

// AppendModelList appends a models "list" object. owned_by is the model's
// OwnedBy, else its provider's name.
func AppendModelList(dst []byte, models []llm.Model) []byte {
	dst = append(dst, `{"object":"list","data":[`...)
	for i := range models {
		m := &models[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":`...)
		dst = wire.AppendString(dst, m.ID)
		dst = append(dst, `,"object":"model","created":`...)
		var created int64
		if !m.Created.IsZero() {
			created = m.Created.Unix()
		}
		dst = strconv.AppendInt(dst, created, 10)
		dst = append(dst, `,"owned_by":`...)
		owner := m.OwnedBy
		if owner == "" {
			owner = m.Provider
		}
		dst = wire.AppendString(dst, owner)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}
