package anthropic

import (
	"encoding/json"
	"strconv"

	"github.com/edgeway/edgeway/edge/internal/ingress"
	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
)

// Anthropic error types, for AppendError and AppendStreamError.
const (
	TypeInvalidRequest  = ingress.TypeInvalidRequest
	TypeAuthentication  = ingress.TypeAuthentication
	TypeBilling         = "billing_error"
	TypePermission      = ingress.TypePermission
	TypeNotFound        = ingress.TypeNotFound
	TypeRequestTooLarge = "request_too_large"
	TypeRateLimit       = ingress.TypeRateLimit
	TypeAPI             = ingress.TypeAPI
	TypeTimeout         = "timeout_error"
	TypeOverloaded      = ingress.TypeOverloaded
)

// ErrorType returns the Anthropic error type for an HTTP status, as
// Anthropic's error reference pairs them: OpenAI's pairs (see
// ingress.ErrorType) and 402 billing_error, 413 request_too_large, 504
// timeout_error.
func ErrorType(status int) string {
	switch status {
	case 402:
		return TypeBilling
	case 413:
		return TypeRequestTooLarge
	case 504:
		return TypeTimeout
	}
	return ingress.ErrorType(status)
}

// AppendError appends Anthropic's error body
// {"type":"error","error":{"type":…,"message":…}} to dst.
func AppendError(dst []byte, typ, message string) []byte {
	dst = append(dst, `{"type":"error","error":{"type":`...)
	dst = wire.AppendString(dst, typ)
	dst = append(dst, `,"message":`...)
	dst = wire.AppendString(dst, message)
	return append(dst, "}}"...)
}

// AppendStreamError appends an "error" SSE event, for a failure after the
// stream has started (the HTTP status is already sent), as Anthropic
// sends overloaded_error mid-stream.
func AppendStreamError(dst []byte, typ, message string) []byte {
	dst = append(dst, "event: error\ndata: "...)
	dst = AppendError(dst, typ, message)
	return append(dst, "\n\n"...)
}

// AppendPing appends a "ping" SSE event, which Anthropic clients ignore;
// a server may send it to keep an idle stream open.
func AppendPing(dst []byte) []byte {
	return append(dst, "event: ping\ndata: {\"type\":\"ping\"}\n\n"...)
}

// AppendCountTokens appends the /v1/messages/count_tokens answer
// {"input_tokens":n}.
func AppendCountTokens(dst []byte, n int) []byte {
	dst = append(dst, `{"input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '}')
}

// appendUsage appends Anthropic's usage object. Anthropic counts cache
// reads and writes apart from input_tokens; llm.Usage counts them inside
// PromptTokens, so they are taken out again.
func appendUsage(dst []byte, u llm.Usage) []byte {
	input := max(u.PromptTokens-u.CachedTokens-u.CacheWriteTokens, 0)
	dst = append(dst, `{"input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(input), 10)
	dst = append(dst, `,"cache_creation_input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CacheWriteTokens), 10)
	dst = append(dst, `,"cache_read_input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CachedTokens), 10)
	dst = append(dst, `,"output_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CompletionTokens), 10)
	return append(dst, '}')
}

// stopReason maps a canonical finish reason to Anthropic's stop_reason.
// A model that called tools but said "stop" (several local runtimes do)
// is reported as tool_use, because Anthropic clients run tools on that.
// Which stop sequence matched is not carried by llm.Chunk, so
// "stop_sequence" is never reported.
func stopReason(fr llm.FinishReason, calledTools bool) string {
	switch fr {
	case llm.FinishLength:
		return "max_tokens"
	case llm.FinishToolCalls:
		return "tool_use"
	case llm.FinishContentFilter:
		return "refusal"
	}
	if calledTools {
		return "tool_use"
	}
	return "end_turn"
}

// appendToolInput appends a tool call's arguments as the input object
// Anthropic requires. Arguments that are not a JSON object (empty, cut
// off by max_tokens, or a model's malformed output) become {}: the block
// must stay valid JSON, and stop_reason tells a client when output was
// cut.
func appendToolInput(dst []byte, args string) []byte {
	if isJSONObject(args) {
		return append(dst, args...)
	}
	return append(dst, "{}"...)
}

// isJSONObject reports whether s is one valid JSON object.
func isJSONObject(s string) bool {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i < len(s) && s[i] == '{' && json.Valid([]byte(s))
}

// appendToolID appends a tool_use id, making one up from the message id
// and the call's position when the upstream gave none.
func appendToolID(dst []byte, id, msgID string, i int) []byte {
	if id != "" {
		return wire.AppendString(dst, id)
	}
	dst = append(dst, `"toolu_`...)
	for j := 0; j < len(msgID); j++ {
		if c := msgID[j]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			dst = append(dst, c)
		}
	}
	dst = append(dst, '_')
	dst = strconv.AppendInt(dst, int64(i), 10)
	return append(dst, '"')
}

// appendReasoningBlock appends one thinking or redacted_thinking block;
// text is the aggregate's whole reasoning, which b indexes.
func appendReasoningBlock(dst []byte, text string, b *llm.ReasoningBlock) []byte {
	if b.Redacted != "" {
		dst = append(dst, `{"type":"redacted_thinking","data":`...)
		dst = wire.AppendString(dst, b.Redacted)
		return append(dst, '}')
	}
	dst = append(dst, `{"type":"thinking","thinking":`...)
	dst = wire.AppendString(dst, text[b.Start:b.End])
	dst = append(dst, `,"signature":`...)
	dst = wire.AppendString(dst, b.Signature)
	return append(dst, '}')
}

// AppendMessageResponse appends a whole Anthropic "message" object built
// from a, for a client that did not stream. Content holds, in order, the
// reasoning blocks (thinking with the upstream's signature, and
// redacted_thinking, as a.ReasoningBlocks has them; one unsigned thinking
// block when the upstream reasoned without signing, as only Anthropic
// models sign), a text block (when there is
// text) and one tool_use block per call. A call's input is its arguments
// when they are a JSON object and {} otherwise (see appendToolInput).
func AppendMessageResponse(dst []byte, id, model string, a *llm.Aggregate) []byte {
	dst = append(dst, `{"id":`...)
	dst = wire.AppendString(dst, id)
	dst = append(dst, `,"type":"message","role":"assistant","model":`...)
	dst = wire.AppendString(dst, model)
	dst = append(dst, `,"content":[`...)
	comma := false
	r := a.Reasoning.String()
	switch {
	case len(a.ReasoningBlocks) > 0:
		for i := range a.ReasoningBlocks {
			if comma {
				dst = append(dst, ',')
			}
			dst = appendReasoningBlock(dst, r, &a.ReasoningBlocks[i])
			comma = true
		}
	case r != "":
		dst = append(dst, `{"type":"thinking","thinking":`...)
		dst = wire.AppendString(dst, r)
		dst = append(dst, `,"signature":""}`...)
		comma = true
	}
	if t := a.Text.String(); t != "" {
		if comma {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"type":"text","text":`...)
		dst = wire.AppendString(dst, t)
		dst = append(dst, '}')
		comma = true
	}
	for i := range a.ToolCalls {
		tc := &a.ToolCalls[i]
		if comma {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"type":"tool_use","id":`...)
		dst = appendToolID(dst, tc.ID, id, i)
		dst = append(dst, `,"name":`...)
		dst = wire.AppendString(dst, tc.Name)
		dst = append(dst, `,"input":`...)
		dst = appendToolInput(dst, tc.Arguments)
		dst = append(dst, '}')
		comma = true
	}
	dst = append(dst, `],"stop_reason":"`...)
	dst = append(dst, stopReason(a.FinishReason, len(a.ToolCalls) > 0)...)
	dst = append(dst, `","stop_sequence":null,"usage":`...)
	dst = appendUsage(dst, a.Usage)
	return append(dst, '}')
}
