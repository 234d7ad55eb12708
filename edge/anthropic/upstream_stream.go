package anthropic

import (
	"errors"
	"strconv"

	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
)

// maxStreamBlocks bounds the content block indexes a stream may use, so a
// hostile index cannot make the block table grow without limit.
const maxStreamBlocks = 1024

// maxSignatureBytes bounds a thinking block's signature collected from
// signature_delta events (real ones are a few hundred bytes to a few KB).
const maxSignatureBytes = 64 << 10

// evType is a stream event's type.
type evType uint8

const (
	evUnknown evType = iota
	evMessageStart
	evBlockStart
	evBlockDelta
	evBlockStop
	evMessageDelta
	evMessageStop
	evPing
	evError
)

func eventType(b []byte) evType {
	switch string(b) {
	case "message_start":
		return evMessageStart
	case "content_block_start":
		return evBlockStart
	case "content_block_delta":
		return evBlockDelta
	case "content_block_stop":
		return evBlockStop
	case "message_delta":
		return evMessageDelta
	case "message_stop":
		return evMessageStop
	case "ping":
		return evPing
	case "error":
		return evError
	}
	return evUnknown
}

// Content block and delta types the stream acts on; others (server tool
// blocks, citation deltas, ...) are skipped.
const (
	kindOther uint8 = iota
	kindText
	kindToolUse
	kindThinking
	kindTextDelta
	kindInputJSON
	kindThinkingDelta
	kindRedacted
	kindSignatureDelta
)

func contentKind(b []byte) uint8 {
	switch string(b) {
	case "text":
		return kindText
	case "tool_use":
		return kindToolUse
	case "thinking":
		return kindThinking
	case "text_delta":
		return kindTextDelta
	case "input_json_delta":
		return kindInputJSON
	case "thinking_delta":
		return kindThinkingDelta
	case "redacted_thinking":
		return kindRedacted
	case "signature_delta":
		return kindSignatureDelta
	}
	return kindOther
}

// wireUsage is Anthropic's usage; a field is -1 until reported. Counts
// are cumulative: a later report replaces an earlier one.
type wireUsage struct {
	input, output, cacheRead, cacheWrite int64
}

func (u *wireUsage) reset() { *u = wireUsage{-1, -1, -1, -1} }

// merge takes the fields o reports.
func (u *wireUsage) merge(o wireUsage) {
	if o.input >= 0 {
		u.input = o.input
	}
	if o.output >= 0 {
		u.output = o.output
	}
	if o.cacheRead >= 0 {
		u.cacheRead = o.cacheRead
	}
	if o.cacheWrite >= 0 {
		u.cacheWrite = o.cacheWrite
	}
}

// canonical converts to llm.Usage, whose PromptTokens include the cached
// and cache-written tokens that Anthropic counts apart.
func (u *wireUsage) canonical() llm.Usage {
	n := func(v int64) int { return int(max(v, 0)) }
	out := llm.Usage{
		PromptTokens:     n(u.input) + n(u.cacheRead) + n(u.cacheWrite),
		CompletionTokens: n(u.output),
		CachedTokens:     n(u.cacheRead),
		CacheWriteTokens: n(u.cacheWrite),
	}
	out.TotalTokens = out.PromptTokens + out.CompletionTokens
	return out
}

// event is one parsed stream event. Strings are copies the chunk may
// carry.
type event struct {
	typ      evType
	index    int
	hasIndex bool
	// content_block (start) or delta.
	kind     uint8
	id, name string
	text     string // text, thinking, or partial_json
	sig      string // signature (a thinking block or signature_delta)
	data     string // a redacted_thinking block's data
	// message_delta.
	stop     llm.FinishReason
	usage    wireUsage
	hasUsage bool
	model    string
}

// msgStream turns an upstream Messages event stream (or one message
// object) into llm.Chunks. One msgStream serves one request; it reuses a
// single Chunk for every emit.
type msgStream struct {
	c        *Client
	r        wire.Reader
	chunk    llm.Chunk
	ev       event
	wire     wireUsage
	usage    llm.Usage
	started  bool // a chunk was emitted (role and model go on the first)
	stopped  bool // message_stop arrived
	model    string
	tools    int
	blockMap []int32 // content block index → tool call index + 1
	// thinking holds a whole message's reasoning blocks; signed says one
	// of them has a signature or is redacted.
	thinking []thinkingBlock
	signed   bool
	// sig collects the open thinking block's signature_delta events.
	sig []byte
}

// Event takes one SSE event; message_stop ends the stream.
func (s *msgStream) Event(name, data []byte, emit func(*llm.Chunk) error) (bool, error) {
	err := s.consume(name, data, emit)
	return s.stopped, err
}

// End reports a stream cut before message_stop.
func (s *msgStream) End(func(*llm.Chunk) error) error {
	return s.c.up.StreamCut("chat", "no message_stop", nil)
}

// consume parses one event and acts on it. name is the SSE event name,
// used when the data has no "type".
func (s *msgStream) consume(name, data []byte, emit func(*llm.Chunk) error) error {
	ev := &s.ev
	if err := s.parseEvent(data); err != nil {
		return s.c.up.Malformed("chat", err)
	}
	if ev.typ == evUnknown && len(name) > 0 {
		ev.typ = eventType(name)
	}
	c := s.chunk.ToolCalls[:0]
	s.chunk = llm.Chunk{ToolCalls: c}
	switch ev.typ {
	case evError:
		return s.c.up.EventError("chat", data)
	case evMessageStart:
		if ev.model != "" {
			s.model = ev.model
		}
		if ev.hasUsage {
			s.wire.merge(ev.usage)
			s.usage = s.wire.canonical()
		}
		return nil
	case evBlockStart:
		if !ev.hasIndex {
			return s.c.up.Malformed("chat", errors.New("content_block_start without index"))
		}
		switch ev.kind {
		case kindText:
			s.chunk.Text = ev.text
		case kindThinking:
			// A signature in the start event (Anthropic sends "") waits
			// for the block's stop, like a signature_delta.
			s.chunk.Reasoning = ev.text
			s.sig = append(s.sig[:0], ev.sig[:min(len(ev.sig), maxSignatureBytes)]...)
		case kindRedacted:
			s.chunk.RedactedReasoning = ev.data
		case kindToolUse:
			t, err := s.newTool(ev.index)
			if err != nil {
				return s.c.up.Malformed("chat", err)
			}
			s.chunk.ToolCalls = append(s.chunk.ToolCalls, llm.ToolCallDelta{Index: t, ID: ev.id, Name: ev.name})
		}
	case evBlockDelta:
		if !ev.hasIndex {
			return s.c.up.Malformed("chat", errors.New("content_block_delta without index"))
		}
		switch ev.kind {
		case kindTextDelta:
			s.chunk.Text = ev.text
		case kindThinkingDelta:
			s.chunk.Reasoning = ev.text
		case kindSignatureDelta:
			// Collected until the block stops: a signature ends its
			// block (llm.Chunk.Signature), and nothing promises it
			// comes in one delta.
			if len(s.sig)+len(ev.sig) > maxSignatureBytes {
				return s.c.up.Malformed("chat", errors.New("thinking signature exceeds "+strconv.Itoa(maxSignatureBytes)+" bytes"))
			}
			s.sig = append(s.sig, ev.sig...)
			return nil
		case kindInputJSON:
			if t := s.toolOf(ev.index); t >= 0 && ev.text != "" {
				s.chunk.ToolCalls = append(s.chunk.ToolCalls, llm.ToolCallDelta{Index: t, Arguments: ev.text})
			}
		}
	case evMessageDelta:
		s.chunk.FinishReason = ev.stop
		if ev.hasUsage {
			s.wire.merge(ev.usage)
			s.usage = s.wire.canonical()
			s.chunk.Usage = &s.usage
		}
	case evBlockStop:
		if len(s.sig) == 0 {
			return nil
		}
		s.chunk.Signature = string(s.sig)
		s.sig = s.sig[:0]
	case evMessageStop:
		s.stopped = true
		return nil
	default:
		// ping, and event types added after this
		// was written (Anthropic's versioning policy allows new ones).
		return nil
	}
	return s.emit(emit)
}

// emit sends the chunk if it carries anything.
func (s *msgStream) emit(emit func(*llm.Chunk) error) error {
	return s.emitChunk(&s.chunk, emit)
}

// emitChunk sends c if it carries anything; the first chunk sent carries
// the role, the model and message_start's usage.
func (s *msgStream) emitChunk(c *llm.Chunk, emit func(*llm.Chunk) error) error {
	if c.Text == "" && c.Reasoning == "" && len(c.ToolCalls) == 0 && c.FinishReason == "" && c.Usage == nil &&
		c.Signature == "" && c.RedactedReasoning == "" {
		return nil
	}
	if !s.started {
		s.started = true
		c.Role, c.Model = llm.RoleAssistant, s.model
		if c.Usage == nil && s.wire.input >= 0 {
			// message_start's usage (input and cache tokens, known
			// before any output) rides on the first chunk, so a client
			// of the same dialect hears the upstream's count at once.
			c.Usage = &s.usage
		}
	}
	return emit(c)
}

// newTool numbers the tool_use block at a content index.
func (s *msgStream) newTool(index int) (int, error) {
	if index < 0 || index >= maxStreamBlocks {
		return 0, errors.New("content block index " + strconv.Itoa(index) + " out of range")
	}
	for len(s.blockMap) <= index {
		s.blockMap = append(s.blockMap, 0)
	}
	if s.blockMap[index] == 0 {
		s.blockMap[index] = int32(s.tools + 1)
		s.tools++
	}
	return int(s.blockMap[index] - 1), nil
}

// toolOf returns the tool call index of the block at index, or -1 when it
// is not a tool_use block (server tool input deltas are skipped).
func (s *msgStream) toolOf(index int) int {
	if index < 0 || index >= len(s.blockMap) {
		return -1
	}
	return int(s.blockMap[index]) - 1
}

// parseEvent reads one event's JSON into s.ev.
func (s *msgStream) parseEvent(data []byte) error {
	ev := &s.ev
	*ev = event{}
	ev.usage.reset()
	r := &s.r
	r.Reset(data)
	if r.Peek() != '{' {
		return errors.New("event is not a JSON object")
	}
	r.OpenObject()
	var it wire.Iter
	for r.Member(&it) {
		switch string(it.Key) {
		case "type":
			var b []byte
			if b, it.Err = r.StrBytes(); it.Err == nil {
				ev.typ = eventType(b)
			}
		case "index":
			var v int64
			if v, it.Err = s.r.Count(); it.Err == nil {
				ev.index, ev.hasIndex = int(v), true
			}
		case "content_block", "delta":
			it.Err = s.block()
		case "usage":
			it.Err = s.usageObject(&ev.usage)
			ev.hasUsage = it.Err == nil
		case "message":
			it.Err = s.messageObject()
		default:
			// error is parsed again by eventError; other members are
			// not needed.
			it.Err = r.Skip()
		}
	}
	if it.Err != nil {
		return it.Err
	}
	return r.End()
}

// block reads a content_block or delta object.
func (s *msgStream) block() error {
	r, ev := &s.r, &s.ev
	if ok, err := upstream.Object(r, "content block"); !ok {
		return err
	}
	var it wire.Iter
	for r.Member(&it) {
		switch string(it.Key) {
		case "type":
			var b []byte
			if b, it.Err = r.StrBytes(); it.Err == nil {
				ev.kind = contentKind(b)
			}
		case "text", "thinking", "partial_json":
			ev.text, it.Err = s.r.OptStr()
		case "id":
			ev.id, it.Err = s.r.OptStr()
		case "name":
			ev.name, it.Err = s.r.OptStr()
		case "signature":
			ev.sig, it.Err = s.r.OptStr()
		case "data":
			ev.data, it.Err = s.r.OptStr()
		case "stop_reason":
			var b []byte
			if null, err2 := r.Null(); null || err2 != nil {
				it.Err = err2
				break
			}
			if b, it.Err = r.StrBytes(); it.Err == nil {
				ev.stop = finishReason(b)
			}
		default:
			// input ({} at start), stop_sequence, citations, ...
			it.Err = r.Skip()
		}
	}
	return it.Err
}

// finishReason maps Anthropic's stop_reason to the canonical one.
func finishReason(b []byte) llm.FinishReason {
	switch string(b) {
	case "max_tokens", "model_context_window_exceeded":
		return llm.FinishLength
	case "tool_use":
		return llm.FinishToolCalls
	case "refusal":
		return llm.FinishContentFilter
	}
	// end_turn, stop_sequence, pause_turn, and reasons added later.
	return llm.FinishStop
}

// messageObject reads message_start's message: its model and usage.
func (s *msgStream) messageObject() error {
	r, ev := &s.r, &s.ev
	if r.Peek() != '{' {
		return errors.New("message is not an object")
	}
	r.OpenObject()
	var it wire.Iter
	for r.Member(&it) {
		switch string(it.Key) {
		case "model":
			ev.model, it.Err = upstream.Reuse(&s.r, s.model)
		case "usage":
			it.Err = s.usageObject(&ev.usage)
			ev.hasUsage = it.Err == nil
		default:
			it.Err = r.Skip()
		}
	}
	return it.Err
}

// usageObject reads a usage object into u; absent and null fields stay -1.
func (s *msgStream) usageObject(u *wireUsage) error {
	r := &s.r
	if ok, err := upstream.Object(r, "usage"); !ok {
		return err
	}
	var it wire.Iter
	for r.Member(&it) {
		var field *int64
		switch string(it.Key) {
		case "input_tokens":
			field = &u.input
		case "output_tokens":
			field = &u.output
		case "cache_read_input_tokens":
			field = &u.cacheRead
		case "cache_creation_input_tokens":
			field = &u.cacheWrite
		default:
			// cache_creation breakdown, server_tool_use, service_tier.
			if err := r.Skip(); err != nil {
				return it.Err
			}
			continue
		}
		if r.Peek() == 'n' {
			it.Err = r.Literal("null")
		} else {
			*field, it.Err = s.r.Count()
		}
	}
	return it.Err
}

// Whole handles a complete message object, which a proxy that ignored
// stream:true may answer with: it emits one chunk holding everything.
func (s *msgStream) Whole(data []byte, emit func(*llm.Chunk) error) error {
	s.wire.reset()
	r := &s.r
	r.Reset(data)
	if r.Peek() != '{' {
		return s.c.up.Malformed("chat", errors.New("response is not a JSON object"))
	}
	r.OpenObject()
	var (
		it       wire.Iter
		text     []byte
		thinking []byte
		stopped  bool
	)
	c := &s.chunk
	*c = llm.Chunk{}
	for r.Member(&it) {
		switch string(it.Key) {
		case "type":
			var b []byte
			if b, it.Err = r.StrBytes(); it.Err == nil && string(b) == "error" {
				return s.c.up.EventError("chat", data)
			}
		case "model":
			s.model, it.Err = upstream.Reuse(&s.r, s.model)
		case "content":
			it.Err = s.wholeContent(&text, &thinking)
		case "stop_reason":
			if null, err2 := r.Null(); null || err2 != nil {
				it.Err = err2
				break
			}
			var b []byte
			if b, it.Err = r.StrBytes(); it.Err == nil {
				c.FinishReason, stopped = finishReason(b), true
			}
		case "usage":
			var u wireUsage
			u.reset()
			if it.Err = s.usageObject(&u); it.Err == nil {
				s.wire.merge(u)
				s.usage = s.wire.canonical()
				c.Usage = &s.usage
			}
		default:
			it.Err = r.Skip()
		}
	}
	if it.Err != nil {
		return s.c.up.Malformed("chat", it.Err)
	}
	if err := r.End(); err != nil {
		return s.c.up.Malformed("chat", err)
	}
	if !stopped {
		return s.c.up.Malformed("chat", errors.New("message has no stop_reason"))
	}
	if s.signed {
		// Signed or redacted blocks go first, one chunk each, so each
		// keeps its signature.
		for i := range s.thinking {
			b := &s.thinking[i]
			tc := llm.Chunk{Reasoning: b.text, Signature: b.sig, RedactedReasoning: b.data}
			if err := s.emitChunk(&tc, emit); err != nil {
				return err
			}
		}
		thinking = nil
	}
	c.Text, c.Reasoning = string(text), string(thinking)
	return s.emit(emit)
}

// thinkingBlock is a reasoning block of a whole message.
type thinkingBlock struct{ text, sig, data string }

// wholeContent reads a message's content blocks, appending text and
// thinking and collecting tool calls in the chunk.
func (s *msgStream) wholeContent(text, thinking *[]byte) error {
	return upstream.EachObject(&s.r, "content", "content block", func() error {
		return s.wholeBlock(text, thinking)
	})
}

// wholeBlock reads one content block of a message.
func (s *msgStream) wholeBlock(text, thinking *[]byte) error {
	r := &s.r
	var (
		it    wire.Iter
		kind  uint8
		d     llm.ToolCallDelta
		input []byte
		txt   string
		sig   string
		data  string
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "type":
			var b []byte
			if b, it.Err = r.StrBytes(); it.Err == nil {
				kind = contentKind(b)
			}
		case "text", "thinking":
			txt, it.Err = s.r.OptStr()
		case "signature":
			sig, it.Err = s.r.OptStr()
		case "data":
			data, it.Err = s.r.OptStr()
		case "id":
			d.ID, it.Err = s.r.OptStr()
		case "name":
			d.Name, it.Err = s.r.OptStr()
		case "input":
			input, it.Err = r.Raw()
			if it.Err == nil {
				d.Arguments = string(input)
			}
		default:
			it.Err = r.Skip()
		}
	}
	if it.Err != nil {
		return it.Err
	}
	switch kind {
	case kindText:
		*text = append(*text, txt...)
	case kindThinking, kindRedacted:
		*thinking = append(*thinking, txt...)
		if len(s.thinking) >= maxStreamBlocks {
			return errors.New("too many thinking blocks")
		}
		s.thinking = append(s.thinking, thinkingBlock{text: txt, sig: sig, data: data})
		s.signed = s.signed || sig != "" || data != ""
	case kindToolUse:
		if len(s.chunk.ToolCalls) >= maxStreamBlocks {
			return errors.New("too many tool calls")
		}
		d.Index = len(s.chunk.ToolCalls)
		s.chunk.ToolCalls = append(s.chunk.ToolCalls, d)
	}
	return nil
}
