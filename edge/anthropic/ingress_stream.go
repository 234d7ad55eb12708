package anthropic

import (
	"strconv"

	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
)

// maxStreamTools bounds the tool calls a StreamEncoder tracks, as
// llm.Aggregate bounds them; a delta with an index beyond it continues the
// last call.
const maxStreamTools = 128

// streamBlock is the kind of the content block a StreamEncoder has open.
type streamBlock uint8

const (
	blockNone streamBlock = iota
	blockThinkingOpen
	blockTextOpen
	blockToolOpen
)

// StreamEncoder turns canonical chunks into Anthropic's SSE event
// sequence for one message:
//
//	message_start, ping,
//	per content block: content_block_start, content_block_delta…, content_block_stop,
//	message_delta (stop_reason, usage), message_stop.
//
// Blocks are opened in the order content arrives: reasoning as a thinking
// block (its signature, when the upstream signed it, as a signature_delta
// that ends the block), a redacted reasoning block as a whole
// redacted_thinking block, text as a text block, each tool call as a
// tool_use block whose arguments stream as input_json_delta. Content of a new kind, or a new
// tool call, closes the open block. Upstreams stream parallel calls one
// after another; if one interleaves them, a fragment for a call whose
// block was closed is sent as a delta to that block's index, which the
// official SDKs apply by index.
//
// Each event is "event: NAME\ndata: {json}\n\n". The Append methods write
// into dst and return it; with room in dst, Chunk does not allocate. A
// StreamEncoder is not safe for concurrent use; Reset makes it reusable.
type StreamEncoder struct {
	id, model   string
	inputTokens int
	started     bool
	ended       bool
	open        streamBlock
	openIdx     int // wire index of the open block
	next        int // wire index of the next block
	lastTool    int
	calledTools bool
	finish      llm.FinishReason
	// sealed says the open thinking block got its signature: reasoning
	// after it opens a new block.
	sealed bool
	// startUsage is what message_start reports; see SetStartUsage.
	startUsage llm.Usage
	// toolBlock holds, per tool call index, its block's wire index plus
	// one (0: not seen yet).
	toolBlock [maxStreamTools]int32
}

// Reset prepares e for a new message with the given id ("msg_…") and
// model name.
func (e *StreamEncoder) Reset(id, model string) {
	*e = StreamEncoder{id: id, model: model}
}

// SetInputTokens sets the input_tokens message_start reports; call it
// before Start. Anthropic knows the count when it starts a stream, a
// gateway usually only at the end (End reports it again in
// message_delta, which clients prefer), so a server may pass an estimate
// such as CountTokens here.
func (e *StreamEncoder) SetInputTokens(n int) { e.inputTokens = max(n, 0) }

// SetStartUsage sets the whole usage message_start reports, the
// upstream's own when it sent one (input and cache tokens as Anthropic
// counts them at the start); it replaces SetInputTokens's estimate. Call
// it before Start.
func (e *StreamEncoder) SetStartUsage(u llm.Usage) {
	e.startUsage = u
	e.inputTokens = -1
}

// Started reports whether message_start was written.
func (e *StreamEncoder) Started() bool { return e.started }

// Start appends message_start and a ping. Chunk and End call it when it
// was not called.
func (e *StreamEncoder) Start(dst []byte) []byte {
	if e.started {
		return dst
	}
	e.started = true
	dst = append(dst, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"...)
	dst = wire.AppendString(dst, e.id)
	dst = append(dst, `,"type":"message","role":"assistant","model":`...)
	dst = wire.AppendString(dst, e.model)
	dst = append(dst, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	u := e.startUsage
	if e.inputTokens >= 0 {
		u = llm.Usage{PromptTokens: e.inputTokens}
	}
	dst = appendUsage(dst, u)
	dst = append(dst, "}}\n\n"...)
	return AppendPing(dst)
}

// Chunk appends the events c calls for: zero or more block starts,
// deltas and stops. c.FinishReason is remembered for End; c.Usage is
// ignored (End takes the final usage).
func (e *StreamEncoder) Chunk(dst []byte, c *llm.Chunk) []byte {
	if e.ended {
		return dst
	}
	dst = e.Start(dst)
	if c.Reasoning != "" {
		dst = e.thinkingDelta(dst, `{"type":"thinking_delta","thinking":`, c.Reasoning)
	}
	if c.Signature != "" {
		dst = e.thinkingDelta(dst, `{"type":"signature_delta","signature":`, c.Signature)
		e.sealed = true
	}
	if c.RedactedReasoning != "" {
		// A redacted block arrives whole: start and stop at once.
		dst = e.closeBlock(dst)
		dst = e.openBlock(dst, blockThinkingOpen)
		dst = append(dst, `{"type":"redacted_thinking","data":`...)
		dst = wire.AppendString(dst, c.RedactedReasoning)
		dst = append(dst, "}}\n\n"...)
		dst = e.closeBlock(dst)
	}
	if c.Text != "" {
		if e.open != blockTextOpen {
			dst = e.closeBlock(dst)
			dst = e.openBlock(dst, blockTextOpen)
			dst = append(dst, `{"type":"text","text":""}}`+"\n\n"...)
		}
		dst = e.deltaHead(dst, e.openIdx)
		dst = append(dst, `{"type":"text_delta","text":`...)
		dst = wire.AppendString(dst, c.Text)
		dst = append(dst, "}}\n\n"...)
	}
	for i := range c.ToolCalls {
		dst = e.toolDelta(dst, &c.ToolCalls[i])
	}
	if c.FinishReason != "" {
		e.finish = c.FinishReason
	}
	return dst
}

// openThinking makes a thinking block the open one: the open block if it
// is an unsigned thinking block, else a new one.
func (e *StreamEncoder) openThinking(dst []byte) []byte {
	if e.open == blockThinkingOpen && !e.sealed {
		return dst
	}
	dst = e.closeBlock(dst)
	dst = e.openBlock(dst, blockThinkingOpen)
	return append(dst, `{"type":"thinking","thinking":"","signature":""}}`+"\n\n"...)
}

// thinkingDelta appends a delta of the open thinking block (opening one
// when needed): head, the delta object up to its string value, then v.
func (e *StreamEncoder) thinkingDelta(dst []byte, head, v string) []byte {
	dst = e.openThinking(dst)
	dst = e.deltaHead(dst, e.openIdx)
	dst = append(dst, head...)
	dst = wire.AppendString(dst, v)
	return append(dst, "}}\n\n"...)
}

// toolDelta appends the events of one tool call fragment.
func (e *StreamEncoder) toolDelta(dst []byte, d *llm.ToolCallDelta) []byte {
	t := d.Index
	if t < 0 || t >= maxStreamTools {
		t = e.lastTool
	}
	e.lastTool = t
	block := int(e.toolBlock[t]) - 1
	if block < 0 {
		dst = e.closeBlock(dst)
		dst = e.openBlock(dst, blockToolOpen)
		block = e.openIdx
		e.toolBlock[t] = int32(block + 1)
		e.calledTools = true
		dst = append(dst, `{"type":"tool_use","id":`...)
		dst = appendToolID(dst, d.ID, e.id, t)
		dst = append(dst, `,"name":`...)
		dst = wire.AppendString(dst, d.Name)
		dst = append(dst, `,"input":{}}}`+"\n\n"...)
	}
	if d.Arguments == "" {
		return dst
	}
	dst = e.deltaHead(dst, block)
	dst = append(dst, `{"type":"input_json_delta","partial_json":`...)
	dst = wire.AppendString(dst, d.Arguments)
	return append(dst, "}}\n\n"...)
}

// openBlock appends the head of a content_block_start for a new block of
// kind; the caller appends the content_block object and "}\n\n".
func (e *StreamEncoder) openBlock(dst []byte, kind streamBlock) []byte {
	e.open, e.openIdx, e.sealed = kind, e.next, false
	e.next++
	dst = append(dst, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"...)
	dst = strconv.AppendInt(dst, int64(e.openIdx), 10)
	return append(dst, `,"content_block":`...)
}

// closeBlock appends content_block_stop for the open block, if any.
func (e *StreamEncoder) closeBlock(dst []byte) []byte {
	if e.open == blockNone {
		return dst
	}
	e.open = blockNone
	dst = append(dst, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":"...)
	dst = strconv.AppendInt(dst, int64(e.openIdx), 10)
	return append(dst, "}\n\n"...)
}

// deltaHead appends the head of a content_block_delta for block idx; the
// caller appends the delta object and "}}\n\n".
func (e *StreamEncoder) deltaHead(dst []byte, idx int) []byte {
	dst = append(dst, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
	dst = strconv.AppendInt(dst, int64(idx), 10)
	return append(dst, `,"delta":`...)
}

// End closes the open block and appends message_delta, with the
// stop_reason of the last finish reason seen (see stopReason) and usage
// u, and message_stop. Later calls append nothing.
func (e *StreamEncoder) End(dst []byte, u llm.Usage) []byte {
	if e.ended {
		return dst
	}
	dst = e.Start(dst)
	e.ended = true
	dst = e.closeBlock(dst)
	dst = append(dst, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\""...)
	dst = append(dst, stopReason(e.finish, e.calledTools)...)
	dst = append(dst, `","stop_sequence":null},"usage":`...)
	dst = appendUsage(dst, u)
	return append(dst, "}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
}

// Ended reports whether End was called since the last Reset.
func (e *StreamEncoder) Ended() bool { return e.ended }
