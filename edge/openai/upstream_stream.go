package openai

import (
	"bytes"
	"errors"

	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
)

// maxStreamToolCalls bounds the tool call ids a stream tracks for servers
// that omit tool call indexes.
const maxStreamToolCalls = 128

var doneData = []byte("[DONE]")

// chatStream turns an upstream chat.completion.chunk stream (or one
// chat.completion object) into llm.Chunks. One chatStream serves one
// request; it reuses a single Chunk for every emit.
type chatStream struct {
	c        *Client
	r        wire.Reader
	chunk    llm.Chunk
	usage    llm.Usage
	started  bool // a chunk was emitted (the role goes on the first only)
	finished bool // a finish_reason arrived
	model    string
	// toolIDs numbers tool calls by id for servers that send no index.
	toolIDs  []string
	lastTool int
}

// Event takes one SSE event; [DONE] ends the stream.
func (s *chatStream) Event(name, data []byte, emit func(*llm.Chunk) error) (bool, error) {
	if bytes.Equal(data, doneData) {
		return true, nil
	}
	if string(name) == "error" {
		return true, s.c.up.EventError("chat", data)
	}
	return false, s.consume(data, emit)
}

// End accepts a stream without [DONE] when a finish_reason arrived.
func (s *chatStream) End(func(*llm.Chunk) error) error {
	if !s.finished {
		return s.c.up.StreamCut("chat", "no [DONE] and no finish_reason", nil)
	}
	return nil
}

// Whole takes a chat.completion object: a non-streaming answer, or a
// server's that ignored stream:true.
func (s *chatStream) Whole(b []byte, emit func(*llm.Chunk) error) error {
	return s.consume(b, emit)
}

// consume parses one chunk (or a whole completion) and emits it when it
// carries anything.
func (s *chatStream) consume(data []byte, emit func(*llm.Chunk) error) error {
	c := &s.chunk
	tools := c.ToolCalls[:0]
	*c = llm.Chunk{ToolCalls: tools}
	r := &s.r
	r.Reset(data)
	if r.Peek() != '{' {
		return s.c.up.Malformed("chat", errors.New("chunk is not a JSON object"))
	}
	r.OpenObject()
	var it wire.Iter
	for r.Member(&it) {
		switch string(it.Key) {
		case "error":
			if r.Peek() == 'n' {
				it.Err = r.Literal("null")
				break
			}
			return s.c.up.EventError("chat", data)
		case "model":
			it.Err = s.modelName()
		case "choices":
			it.Err = s.choices()
		case "usage":
			it.Err = s.usageObject()
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
	if c.Role == "" && c.Text == "" && c.Reasoning == "" && len(c.ToolCalls) == 0 && c.FinishReason == "" && c.Usage == nil {
		return nil
	}
	// The role goes on the first chunk only, whether or not the upstream
	// sent one (some repeat it, some never send it).
	c.Role = ""
	if !s.started {
		c.Role = llm.RoleAssistant
		s.started = true
	}
	return emit(c)
}

// modelName keeps the model the upstream reports, allocating only when it
// changes.
func (s *chatStream) modelName() error {
	m, err := upstream.Reuse(&s.r, s.model)
	s.model, s.chunk.Model = m, m
	return err
}

// choices reads the choices array. edgeway never asks for n > 1, so every
// choice is the one choice.
func (s *chatStream) choices() error {
	return upstream.EachObject(&s.r, "choices", "choice", s.choice)
}

func (s *chatStream) choice() error {
	r := &s.r
	var it wire.Iter
	for r.Member(&it) {
		switch string(it.Key) {
		case "delta", "message":
			it.Err = s.delta()
		case "finish_reason":
			it.Err = s.finishReason()
		default:
			it.Err = r.Skip()
		}
	}
	return it.Err
}

func (s *chatStream) delta() error {
	r, c := &s.r, &s.chunk
	if ok, err := upstream.Object(r, "delta"); !ok {
		return err
	}
	var (
		it      wire.Iter
		refusal string
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "role":
			var role string
			if role, it.Err = s.r.OptStr(); role != "" {
				c.Role = llm.RoleAssistant
			}
		case "content":
			c.Text, it.Err = s.r.OptStr()
		case "refusal":
			refusal, it.Err = s.r.OptStr()
		case "reasoning_content", "reasoning":
			// DeepSeek and llama-server say reasoning_content; vLLM and
			// OpenRouter say reasoning.
			var t string
			if t, it.Err = s.r.OptStr(); t != "" {
				c.Reasoning = t
			}
		case "tool_calls":
			it.Err = s.toolCalls()
		default:
			it.Err = r.Skip()
		}
	}
	if it.Err != nil {
		return it.Err
	}
	if c.Text == "" && refusal != "" {
		// A refusal is what the model said; clients must see it.
		c.Text = refusal
	}
	return nil
}

func (s *chatStream) finishReason() error {
	b, err := upstream.StrBytes(&s.r)
	if err != nil {
		return err
	}
	c := &s.chunk
	switch string(b) {
	case "":
		return nil
	case "length":
		c.FinishReason = llm.FinishLength
	case "tool_calls", "function_call":
		c.FinishReason = llm.FinishToolCalls
	case "content_filter":
		c.FinishReason = llm.FinishContentFilter
	default:
		// "stop", and the "eos" or "end_turn" some servers invent.
		c.FinishReason = llm.FinishStop
	}
	s.finished = true
	return nil
}

func (s *chatStream) toolCalls() error {
	return upstream.EachObject(&s.r, "tool_calls", "tool call", s.toolCall)
}

func (s *chatStream) toolCall() error {
	r := &s.r
	var (
		it       wire.Iter
		d        llm.ToolCallDelta
		hasIndex bool
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "index":
			var v int64
			if v, it.Err = s.r.Count(); it.Err == nil {
				d.Index, hasIndex = int(v), true
			}
		case "id":
			d.ID, it.Err = s.r.OptStr()
		case "function":
			it.Err = s.toolFunction(&d)
		default:
			it.Err = r.Skip()
		}
	}
	if it.Err != nil {
		return it.Err
	}
	if !hasIndex {
		d.Index = s.indexFor(d.ID)
	}
	s.lastTool = d.Index
	s.chunk.ToolCalls = append(s.chunk.ToolCalls, d)
	return nil
}

// indexFor numbers a call that came without an index: a new id is the
// next call, no id continues the last one.
func (s *chatStream) indexFor(id string) int {
	if id == "" {
		return s.lastTool
	}
	for i, seen := range s.toolIDs {
		if seen == id {
			return i
		}
	}
	if len(s.toolIDs) < maxStreamToolCalls {
		s.toolIDs = append(s.toolIDs, id)
		return len(s.toolIDs) - 1
	}
	return s.lastTool
}

func (s *chatStream) toolFunction(d *llm.ToolCallDelta) error {
	r := &s.r
	if ok, err := upstream.Object(r, "function"); !ok {
		return err
	}
	var it wire.Iter
	for r.Member(&it) {
		switch string(it.Key) {
		case "name":
			d.Name, it.Err = s.r.OptStr()
		case "arguments":
			if r.Peek() == '{' {
				// Some servers send the arguments object, not its text.
				var raw []byte
				raw, it.Err = r.Raw()
				d.Arguments = string(raw)
			} else {
				d.Arguments, it.Err = s.r.OptStr()
			}
		default:
			it.Err = r.Skip()
		}
	}
	return it.Err
}

func (s *chatStream) usageObject() error {
	r := &s.r
	if ok, err := upstream.Object(r, "usage"); !ok {
		return err
	}
	var (
		it wire.Iter
		u  llm.Usage
	)
	for r.Member(&it) {
		var v int64
		switch string(it.Key) {
		case "prompt_tokens":
			v, it.Err = s.r.Count()
			u.PromptTokens = int(v)
		case "completion_tokens":
			v, it.Err = s.r.Count()
			u.CompletionTokens = int(v)
		case "total_tokens":
			v, it.Err = s.r.Count()
			u.TotalTokens = int(v)
		case "prompt_cache_hit_tokens":
			// DeepSeek's name for cached prompt tokens.
			v, it.Err = s.r.Count()
			u.CachedTokens = int(v)
		case "prompt_tokens_details":
			it.Err = s.cachedTokens(&u)
		default:
			it.Err = r.Skip()
		}
	}
	if it.Err != nil {
		return it.Err
	}
	if u.TotalTokens == 0 {
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	s.usage = u
	s.chunk.Usage = &s.usage
	return nil
}

func (s *chatStream) cachedTokens(u *llm.Usage) error {
	r := &s.r
	if ok, err := upstream.Object(r, "prompt_tokens_details"); !ok {
		return err
	}
	var it wire.Iter
	for r.Member(&it) {
		if string(it.Key) == "cached_tokens" {
			var v int64
			v, it.Err = s.r.Count()
			u.CachedTokens = int(v)
		} else {
			it.Err = r.Skip()
		}
	}
	return it.Err
}
