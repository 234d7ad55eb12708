package ollamaapi

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
)

// Bounds on what an encoder buffers while tool calls stream in.
const (
	// maxPendingCalls bounds the tool calls waiting for more arguments;
	// past it the oldest is given up and written as it stands.
	maxPendingCalls = 128
	// maxCallArgs bounds the arguments text kept for one call. A call
	// whose arguments grow past it is dropped: it could not be valid.
	maxCallArgs = 1 << 20
)

// shape says which endpoint's lines an encoder writes.
type shape uint8

const (
	shapeChat     shape = iota // /api/chat: "message":{...}
	shapeGenerate              // /api/generate: "response":"..."
)

// ChatEncoder renders an /api/chat response the way Ollama does: while
// streaming, one NDJSON line per chunk that carries text, thinking or
// finished tool calls, then a final line with done:true, done_reason and
// the timing and token counts; without streaming, one object holding the
// whole message (Whole).
//
// Ollama sends each tool call whole, with its arguments as a JSON object,
// so the encoder buffers canonical tool-call deltas and writes a call once
// it is complete: as soon as its arguments text parses as a whole JSON
// object (no further fragment could keep it valid), when the next call
// starts if it has no arguments at all, and otherwise at End. A call whose
// arguments are not a JSON object (a model cut off mid-call) cannot be
// written as an Ollama call; its text goes into content instead, as
// Ollama's own tool parser passes through output it cannot parse.
//
// Durations are measured on the gateway: total_duration from the start
// given to Reset to End; prompt_eval_duration from that start to the first
// chunk (time to first token); eval_duration from the first chunk to End.
// Whole sees no chunks, so its eval_duration is the total. load_duration
// is 0, since loading is the upstream's business. Token counts are the
// usage the upstream reported.
//
// Every method appends to dst and returns the extended buffer; Chunk does
// not allocate for a text chunk when dst has room. The zero value is
// ready after Reset. An encoder is not safe for concurrent use; Reset it
// to reuse it for another response.
type ChatEncoder struct{ e encoder }

// Reset prepares e for a response from model (the name the client asked
// for, which Ollama echoes) whose request arrived at start.
func (e *ChatEncoder) Reset(model string, start time.Time) { e.e.reset(model, start) }

// Chunk appends the stream line for c, or nothing when c carries nothing
// an Ollama client would see yet (a role, a finish reason, usage, or part
// of a tool call). c is not retained.
func (e *ChatEncoder) Chunk(dst []byte, c *llm.Chunk) []byte { return e.e.chunk(dst, c, shapeChat) }

// End appends a line with any tool calls still buffered, then the final
// line: done_reason ("length" for llm.FinishLength, else "stop", which is
// what Ollama says after tool calls too), token counts from u and the
// durations.
func (e *ChatEncoder) End(dst []byte, u llm.Usage, finish llm.FinishReason) []byte {
	return e.e.end(dst, u, finish, shapeChat)
}

// Whole appends the non-streaming response for a: one object with
// done:true, the whole message and the final line's fields.
func (e *ChatEncoder) Whole(dst []byte, a *llm.Aggregate) []byte {
	return e.e.whole(dst, a, shapeChat)
}

// Load appends the answer to a load request (a request with no
// messages): done:true with done_reason "load".
func (e *ChatEncoder) Load(dst []byte) []byte { return e.e.load(dst, shapeChat) }

// GenerateEncoder is ChatEncoder for /api/generate: the text travels in
// "response" (thinking and tool calls at the top level), and "context",
// the deprecated token memory, is never sent.
type GenerateEncoder struct{ e encoder }

// Reset is ChatEncoder.Reset.
func (e *GenerateEncoder) Reset(model string, start time.Time) { e.e.reset(model, start) }

// Chunk is ChatEncoder.Chunk.
func (e *GenerateEncoder) Chunk(dst []byte, c *llm.Chunk) []byte {
	return e.e.chunk(dst, c, shapeGenerate)
}

// End is ChatEncoder.End.
func (e *GenerateEncoder) End(dst []byte, u llm.Usage, finish llm.FinishReason) []byte {
	return e.e.end(dst, u, finish, shapeGenerate)
}

// Whole is ChatEncoder.Whole.
func (e *GenerateEncoder) Whole(dst []byte, a *llm.Aggregate) []byte {
	return e.e.whole(dst, a, shapeGenerate)
}

// Load is ChatEncoder.Load.
func (e *GenerateEncoder) Load(dst []byte) []byte { return e.e.load(dst, shapeGenerate) }

// encoder is what ChatEncoder and GenerateEncoder share.
type encoder struct {
	model string
	start time.Time
	// first is when the first chunk arrived; zero until then.
	first time.Time
	// clock is time.Now unless a test pins it.
	clock func() time.Time
	// calls are tool calls still receiving deltas, in the order they
	// started.
	calls []pendingCall
	// written counts the calls written so far; it is the next call's index.
	written int
}

// pendingCall is a tool call being assembled from deltas.
type pendingCall struct {
	index    int // the deltas' Index
	id, name string
	args     []byte
	state    callState
	// depth, inString and escaped follow the arguments text as it
	// arrives, so completeness is checked once the outer object closes
	// rather than after every fragment.
	depth             int
	inString, escaped bool
}

// scan follows fragment and reports whether it closed the outermost
// object or array.
func (c *pendingCall) scan(fragment string) (closed bool) {
	for i := 0; i < len(fragment); i++ {
		switch ch := fragment[i]; {
		case c.inString:
			switch {
			case c.escaped:
				c.escaped = false
			case ch == '\\':
				c.escaped = true
			case ch == '"':
				c.inString = false
			}
		case ch == '"':
			c.inString = true
		case ch == '{' || ch == '[':
			c.depth++
		case ch == '}' || ch == ']':
			c.depth--
			closed = closed || c.depth == 0
		}
	}
	return closed
}

// callState is where a buffered call stands.
type callState uint8

const (
	callOpen    callState = iota // may still receive arguments
	callValid                    // complete; written as a tool call
	callText                     // complete but not a valid call; written as content
	callDropped                  // complete, with nothing to write (arguments past maxCallArgs)
)

// finish closes c, deciding how it will be written.
func (c *pendingCall) finish() {
	switch {
	case c.state != callOpen:
	case c.name != "" && (len(c.args) == 0 || utf8.Valid(c.args) && wire.IsObject(c.args)):
		c.state = callValid
	case len(c.args) == 0:
		c.state = callDropped
	default:
		c.state = callText
	}
}

func (e *encoder) reset(model string, start time.Time) {
	e.model, e.start, e.first = model, start, time.Time{}
	clear(e.calls)
	e.calls = e.calls[:0]
	e.written = 0
}

func (e *encoder) now() time.Time {
	if e.clock != nil {
		return e.clock()
	}
	return time.Now()
}

// head appends `{"model":…,"created_at":"…",`.
func (e *encoder) head(dst []byte, now time.Time) []byte {
	dst = append(dst, `{"model":`...)
	dst = wire.AppendString(dst, e.model)
	dst = append(dst, `,"created_at":"`...)
	dst = now.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, `",`...)
}

func (e *encoder) chunk(dst []byte, c *llm.Chunk, s shape) []byte {
	now := e.now()
	if e.first.IsZero() {
		e.first = now
	}
	for k := range c.ToolCalls {
		e.addDelta(&c.ToolCalls[k])
	}
	if c.Text == "" && c.Reasoning == "" && !e.ready() {
		e.writeCalls(nil) // drop finished calls with nothing to show
		return dst
	}
	dst = e.head(dst, now)
	dst = e.body(dst, c.Text, c.Reasoning, s)
	return append(dst, `"done":false}`+"\n"...)
}

// body appends the message (chat) or response fields (generate) holding
// text, reasoning and the finished buffered calls, which it drops from
// the buffer, followed by a comma.
func (e *encoder) body(dst []byte, text, reasoning string, s shape) []byte {
	for j := range e.calls {
		if c := &e.calls[j]; c.state == callText {
			text += string(c.args) // rare: allocation is fine
		}
	}
	if s == shapeChat {
		dst = append(dst, `"message":{"role":"assistant","content":`...)
	} else {
		dst = append(dst, `"response":`...)
	}
	dst = wire.AppendString(dst, text)
	if reasoning != "" {
		dst = append(dst, `,"thinking":`...)
		dst = wire.AppendString(dst, reasoning)
	}
	dst = e.writeCalls(dst)
	if s == shapeChat {
		dst = append(dst, '}')
	}
	return append(dst, ',')
}

// addDelta folds one delta into the buffered calls.
func (e *encoder) addDelta(d *llm.ToolCallDelta) {
	var c *pendingCall
	for j := range e.calls {
		if e.calls[j].index == d.Index && e.calls[j].state == callOpen {
			c = &e.calls[j]
			break
		}
	}
	if c == nil {
		e.startCall()
		e.calls = append(e.calls, pendingCall{index: d.Index})
		c = &e.calls[len(e.calls)-1]
	}
	if c.id == "" && d.ID != "" {
		c.id = strings.Clone(d.ID)
	}
	if c.name == "" && d.Name != "" {
		c.name = strings.Clone(d.Name)
	}
	if c.state == callDropped {
		return
	}
	if len(c.args)+len(d.Arguments) > maxCallArgs {
		c.args, c.state = nil, callDropped
		return
	}
	c.args = append(c.args, d.Arguments...)
	// A call whose arguments parse as a whole object cannot grow further
	// and stay valid, so it is complete.
	if c.scan(d.Arguments) && wire.IsObject(c.args) {
		c.finish()
	}
}

// startCall makes room for a new call. A call that has no arguments yet
// is finished when another starts (upstreams send calls one after the
// other); one holding part of an object may still get the rest from an
// upstream that interleaves calls, so it waits, until End at the latest.
// At most maxPendingCalls wait: past that the oldest is given up.
func (e *encoder) startCall() {
	open, oldest := 0, -1
	for j := range e.calls {
		c := &e.calls[j]
		if c.state != callOpen {
			continue
		}
		if len(c.args) == 0 {
			c.finish()
			continue
		}
		if oldest < 0 {
			oldest = j
		}
		open++
	}
	if open >= maxPendingCalls {
		e.calls[oldest].finish()
	}
}

// ready reports whether a finished call has something to write.
func (e *encoder) ready() bool {
	for j := range e.calls {
		if s := e.calls[j].state; s == callValid || s == callText {
			return true
		}
	}
	return false
}

// writeCalls appends `,"tool_calls":[…]` for the finished valid calls and
// drops every finished call from the buffer.
func (e *encoder) writeCalls(dst []byte) []byte {
	open := false
	keep := e.calls[:0]
	for j := range e.calls {
		c := e.calls[j]
		switch c.state {
		case callOpen:
			keep = append(keep, c)
			continue
		case callValid:
		default:
			continue
		}
		if !open {
			dst = append(dst, `,"tool_calls":[`...)
			open = true
		} else {
			dst = append(dst, ',')
		}
		dst = appendToolCall(dst, e.written, c.id, c.name, c.args)
		e.written++
	}
	clear(e.calls[len(keep):])
	e.calls = keep
	if open {
		dst = append(dst, ']')
	}
	return dst
}

// appendToolCall writes one call as Ollama does:
// {"id":…,"function":{"index":n,"name":…,"arguments":{…}}}. args must be
// empty or a valid JSON object; it is written compacted, which also keeps
// any newline in it from breaking the NDJSON line.
func appendToolCall(dst []byte, n int, id, name string, args []byte) []byte {
	if id == "" {
		id = syntheticCallID(n)
	}
	dst = append(dst, `{"id":`...)
	dst = wire.AppendString(dst, id)
	dst = append(dst, `,"function":{"index":`...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, `,"name":`...)
	dst = wire.AppendString(dst, name)
	dst = append(dst, `,"arguments":`...)
	if len(args) == 0 {
		dst = append(dst, "{}"...)
	} else {
		dst = appendCompact(dst, args)
	}
	return append(dst, "}}"...)
}

// appendCompact appends the valid JSON text b without the whitespace
// between its tokens.
func appendCompact(dst, b []byte) []byte {
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

func (e *encoder) end(dst []byte, u llm.Usage, finish llm.FinishReason, s shape) []byte {
	now := e.now()
	for j := range e.calls {
		e.calls[j].finish()
	}
	if e.ready() {
		dst = e.head(dst, now)
		dst = e.body(dst, "", "", s)
		dst = append(dst, `"done":false}`+"\n"...)
	}
	dst = e.head(dst, now)
	dst = e.body(dst, "", "", s)
	dst = e.tail(dst, now, u, finish, false)
	return append(dst, '\n')
}

func (e *encoder) whole(dst []byte, a *llm.Aggregate, s shape) []byte {
	now := e.now()
	clear(e.calls)
	e.calls = e.calls[:0]
	for _, tc := range a.ToolCalls {
		e.calls = append(e.calls, pendingCall{id: tc.ID, name: tc.Name, args: []byte(tc.Arguments)})
		e.calls[len(e.calls)-1].finish()
	}
	dst = e.head(dst, now)
	dst = e.body(dst, a.Text.String(), a.Reasoning.String(), s)
	dst = e.tail(dst, now, a.Usage, a.FinishReason, true)
	return append(dst, '\n')
}

// tail appends `"done_reason":…,"done":true,<metrics>}`.
func (e *encoder) tail(dst []byte, now time.Time, u llm.Usage, finish llm.FinishReason, whole bool) []byte {
	reason := "stop"
	if finish == llm.FinishLength {
		reason = "length"
	}
	dst = append(dst, `"done_reason":"`...)
	dst = append(dst, reason...)
	dst = append(dst, `","done":true,"total_duration":`...)
	var total, prompt, eval time.Duration
	if !e.start.IsZero() {
		total = max(now.Sub(e.start), 0)
		switch {
		case whole || e.first.IsZero():
			// Nothing timed the first token: the whole time was spent
			// producing what the client gets.
			eval = total
		default:
			prompt = min(max(e.first.Sub(e.start), 0), total)
			eval = total - prompt
		}
	}
	dst = strconv.AppendInt(dst, int64(total), 10)
	dst = append(dst, `,"load_duration":0,"prompt_eval_count":`...)
	dst = strconv.AppendInt(dst, int64(max(u.PromptTokens, 0)), 10)
	dst = append(dst, `,"prompt_eval_duration":`...)
	dst = strconv.AppendInt(dst, int64(prompt), 10)
	dst = append(dst, `,"eval_count":`...)
	dst = strconv.AppendInt(dst, int64(max(u.CompletionTokens, 0)), 10)
	dst = append(dst, `,"eval_duration":`...)
	dst = strconv.AppendInt(dst, int64(eval), 10)
	return append(dst, '}')
}

func (e *encoder) load(dst []byte, s shape) []byte {
	dst = e.head(dst, e.now())
	dst = e.body(dst, "", "", s)
	return append(dst, `"done_reason":"load","done":true}`+"\n"...)
}

// AppendError appends Ollama's error body {"error":message}, for an answer
// before any of the response has been sent (the status carries the kind).
func AppendError(dst []byte, message string) []byte {
	dst = append(dst, `{"error":`...)
	dst = wire.AppendString(dst, message)
	return append(dst, '}')
}

// AppendStreamError appends the NDJSON line {"error":message} that Ollama
// sends when a stream fails after it started (the 200 is already out).
// Ollama's client returns it as an error.
func AppendStreamError(dst []byte, message string) []byte {
	return append(AppendError(dst, message), '\n')
}
