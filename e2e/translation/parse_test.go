package translation

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// reassembled is what a client of one dialect reads out of a response.
type reassembled struct {
	Role      string
	Text      string
	ToolCalls []call
	// Finish is the finish or stop reason in the dialect's own words.
	Finish           string
	PromptTokens     int
	CompletionTokens int
	// TotalTokens is -1 for dialects that do not report a total.
	TotalTokens int
	// TextEvents and ArgEvents count the stream events that carried text
	// and tool-argument fragments (0 for whole responses).
	TextEvents, ArgEvents int
}

// call is a tool call as the client sees it; Args is compacted JSON.
type call struct {
	ID, Name, Args string
}

// strictDecode decodes one JSON value from b into v, refusing fields the
// dialect's reference does not define and anything after the value.
func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}

func compact(raw []byte) (string, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", err
	}
	return b.String(), nil
}

// ---- OpenAI Chat Completions ----

// Field names from OpenAI's API reference for the chat completion chunk
// and chat completion objects.
type oaUsage struct {
	PromptTokens            int             `json:"prompt_tokens"`
	CompletionTokens        int             `json:"completion_tokens"`
	TotalTokens             int             `json:"total_tokens"`
	PromptTokensDetails     *oaPromptDetail `json:"prompt_tokens_details"`
	CompletionTokensDetails json.RawMessage `json:"completion_tokens_details"`
}

type oaPromptDetail struct {
	CachedTokens int `json:"cached_tokens"`
	AudioTokens  int `json:"audio_tokens"`
}

type oaFunction struct {
	Name      string  `json:"name"`
	Arguments *string `json:"arguments"`
}

type oaToolCall struct {
	Index    *int       `json:"index"`
	ID       string     `json:"id"`
	Type     string     `json:"type"`
	Function oaFunction `json:"function"`
}

// oaHead is what a chunk and a whole completion both carry.
type oaHead struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	SystemFingerprint *string  `json:"system_fingerprint"`
	ServiceTier       *string  `json:"service_tier"`
	Usage             *oaUsage `json:"usage"`
}

type oaChunk struct {
	oaHead
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role      string       `json:"role"`
			Content   *string      `json:"content"`
			Refusal   *string      `json:"refusal"`
			ToolCalls []oaToolCall `json:"tool_calls"`
		} `json:"delta"`
		Logprobs     json.RawMessage `json:"logprobs"`
		FinishReason *string         `json:"finish_reason"`
	} `json:"choices"`
}

type oaCompletion struct {
	oaHead
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role        string          `json:"role"`
			Content     *string         `json:"content"`
			Refusal     *string         `json:"refusal"`
			ToolCalls   []oaToolCall    `json:"tool_calls"`
			Annotations json.RawMessage `json:"annotations"`
		} `json:"message"`
		Logprobs     json.RawMessage `json:"logprobs"`
		FinishReason string          `json:"finish_reason"`
	} `json:"choices"`
}

// parseOpenAIStream reads an OpenAI SSE stream: "data: {chunk}\n\n"
// events, an optional usage chunk with empty choices, then "data: [DONE]".
func parseOpenAIStream(b []byte) (reassembled, error) {
	var r reassembled
	r.TotalTokens = -1
	if !bytes.HasSuffix(b, []byte("data: [DONE]\n\n")) {
		return r, fmt.Errorf("stream does not end with data: [DONE]")
	}
	events := strings.Split(strings.TrimSuffix(string(b), "\n\n"), "\n\n")
	var id, model string
	sawUsage, sawFinish := false, false
	calls := map[int]*call{}
	var order []int
	for n, ev := range events {
		data, ok := strings.CutPrefix(ev, "data: ")
		if !ok || strings.Contains(data, "\n") {
			return r, fmt.Errorf("event %d is not one data line: %q", n, ev)
		}
		if data == "[DONE]" {
			if n != len(events)-1 {
				return r, fmt.Errorf("[DONE] is not the last event")
			}
			break
		}
		if sawUsage {
			return r, fmt.Errorf("event %d after the usage chunk", n)
		}
		var c oaChunk
		if err := strictDecode([]byte(data), &c); err != nil {
			return r, fmt.Errorf("event %d: %w: %s", n, err, data)
		}
		if c.Object != "chat.completion.chunk" || c.ID == "" || c.Created == 0 || c.Model == "" {
			return r, fmt.Errorf("event %d: bad head %q %q %d %q", n, c.Object, c.ID, c.Created, c.Model)
		}
		if id == "" {
			id, model = c.ID, c.Model
		} else if c.ID != id || c.Model != model {
			return r, fmt.Errorf("event %d: id/model changed mid-stream", n)
		}
		if len(c.Choices) == 0 {
			if c.Usage == nil {
				return r, fmt.Errorf("event %d: no choices and no usage", n)
			}
			sawUsage = true
			r.PromptTokens, r.CompletionTokens, r.TotalTokens = c.Usage.PromptTokens, c.Usage.CompletionTokens, c.Usage.TotalTokens
			continue
		}
		if c.Usage != nil {
			return r, fmt.Errorf("event %d: usage on a chunk with choices", n)
		}
		if len(c.Choices) != 1 || c.Choices[0].Index != 0 {
			return r, fmt.Errorf("event %d: want one choice of index 0", n)
		}
		ch := c.Choices[0]
		if sawFinish {
			return r, fmt.Errorf("event %d: content after finish_reason", n)
		}
		if ch.Delta.Role != "" {
			if n != 0 || r.Role != "" {
				return r, fmt.Errorf("event %d: role after the first chunk", n)
			}
			r.Role = ch.Delta.Role
		}
		if ch.Delta.Content != nil && *ch.Delta.Content != "" {
			r.Text += *ch.Delta.Content
			r.TextEvents++
		}
		for _, tc := range ch.Delta.ToolCalls {
			if tc.Index == nil {
				return r, fmt.Errorf("event %d: tool call without index", n)
			}
			cl := calls[*tc.Index]
			if cl == nil {
				if tc.ID == "" || tc.Type != "function" || tc.Function.Name == "" {
					return r, fmt.Errorf("event %d: first fragment of call %d lacks id, type or name", n, *tc.Index)
				}
				cl = &call{ID: tc.ID, Name: tc.Function.Name}
				calls[*tc.Index] = cl
				order = append(order, *tc.Index)
			} else if tc.ID != "" || tc.Function.Name != "" {
				return r, fmt.Errorf("event %d: later fragment of call %d repeats id or name", n, *tc.Index)
			}
			if tc.Function.Arguments == nil {
				return r, fmt.Errorf("event %d: fragment without arguments", n)
			}
			if *tc.Function.Arguments != "" {
				cl.Args += *tc.Function.Arguments
				r.ArgEvents++
			}
		}
		if ch.FinishReason != nil {
			r.Finish = *ch.FinishReason
			sawFinish = true
		}
	}
	if !sawFinish {
		return r, fmt.Errorf("no finish_reason")
	}
	for _, i := range order {
		c := *calls[i]
		var err error
		if c.Args, err = compact([]byte(c.Args)); err != nil {
			return r, fmt.Errorf("call %d arguments: %w", i, err)
		}
		r.ToolCalls = append(r.ToolCalls, c)
	}
	return r, nil
}

// parseOpenAIWhole reads a chat.completion object.
func parseOpenAIWhole(b []byte) (reassembled, error) {
	var r reassembled
	var c oaCompletion
	if err := strictDecode(b, &c); err != nil {
		return r, err
	}
	if c.Object != "chat.completion" || c.ID == "" || c.Created == 0 || c.Model == "" || len(c.Choices) != 1 || c.Usage == nil {
		return r, fmt.Errorf("bad completion head or shape: %s", b)
	}
	m := c.Choices[0].Message
	r.Role = m.Role
	if m.Content != nil {
		r.Text = *m.Content
	} else if len(m.ToolCalls) == 0 {
		return r, fmt.Errorf("content null without tool calls")
	}
	for _, tc := range m.ToolCalls {
		if tc.Index != nil {
			return r, fmt.Errorf("message tool call carries a stream index")
		}
		if tc.ID == "" || tc.Type != "function" || tc.Function.Arguments == nil {
			return r, fmt.Errorf("tool call lacks id, type or arguments")
		}
		args, err := compact([]byte(*tc.Function.Arguments))
		if err != nil {
			return r, fmt.Errorf("arguments: %w", err)
		}
		r.ToolCalls = append(r.ToolCalls, call{ID: tc.ID, Name: tc.Function.Name, Args: args})
	}
	r.Finish = c.Choices[0].FinishReason
	r.PromptTokens, r.CompletionTokens, r.TotalTokens = c.Usage.PromptTokens, c.Usage.CompletionTokens, c.Usage.TotalTokens
	return r, nil
}

// ---- Anthropic Messages ----

// Field names from Anthropic's Messages API reference and its streaming
// guide.
type anUsage struct {
	InputTokens              *int            `json:"input_tokens"`
	OutputTokens             int             `json:"output_tokens"`
	CacheCreationInputTokens *int            `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int            `json:"cache_read_input_tokens"`
	CacheCreation            json.RawMessage `json:"cache_creation"`
	ServerToolUse            json.RawMessage `json:"server_tool_use"`
	ServiceTier              *string         `json:"service_tier"`
}

type anBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text"`
	Citations json.RawMessage `json:"citations"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	Thinking  *string         `json:"thinking"`
	Signature *string         `json:"signature"`
}

type anMessage struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	Role         string          `json:"role"`
	Model        string          `json:"model"`
	Content      []anBlock       `json:"content"`
	StopReason   *string         `json:"stop_reason"`
	StopSequence *string         `json:"stop_sequence"`
	Usage        anUsage         `json:"usage"`
	Container    json.RawMessage `json:"container"`
}

type anEvent struct {
	Type         string     `json:"type"`
	Message      *anMessage `json:"message"`
	Index        *int       `json:"index"`
	ContentBlock *anBlock   `json:"content_block"`
	Delta        *struct {
		Type         string  `json:"type"`
		Text         *string `json:"text"`
		PartialJSON  *string `json:"partial_json"`
		Thinking     *string `json:"thinking"`
		Signature    *string `json:"signature"`
		StopReason   *string `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	} `json:"delta"`
	Usage *anUsage `json:"usage"`
}

// allowedKeys lists, per event type, the top-level keys Anthropic's
// streaming reference gives it, so an event carrying another type's
// fields is caught even though anEvent is a union.
var allowedKeys = map[string][]string{
	"message_start":       {"type", "message"},
	"ping":                {"type"},
	"content_block_start": {"type", "index", "content_block"},
	"content_block_delta": {"type", "index", "delta"},
	"content_block_stop":  {"type", "index"},
	"message_delta":       {"type", "delta", "usage"},
	"message_stop":        {"type"},
}

// parseAnthropicStream reads Anthropic's SSE event sequence and checks its
// grammar: message_start, then blocks opened, extended and closed in index
// order, one message_delta and a final message_stop; pings anywhere.
func parseAnthropicStream(b []byte) (reassembled, error) {
	var r reassembled
	r.TotalTokens = -1
	if !bytes.HasSuffix(b, []byte("\n\n")) {
		return r, fmt.Errorf("stream does not end with a blank line")
	}
	events := strings.Split(strings.TrimSuffix(string(b), "\n\n"), "\n\n")
	const (
		stBegin = iota
		stMessage
		stBlock
		stDelta
		stStopped
	)
	state, open, next := stBegin, -1, 0
	var openType string
	var cur *call
	var args strings.Builder
	for n, ev := range events {
		name, data, ok := strings.Cut(ev, "\n")
		name, ok1 := strings.CutPrefix(name, "event: ")
		data, ok2 := strings.CutPrefix(data, "data: ")
		if !ok || !ok1 || !ok2 || strings.Contains(data, "\n") {
			return r, fmt.Errorf("event %d is not one event and one data line: %q", n, ev)
		}
		keys, known := allowedKeys[name]
		if !known {
			return r, fmt.Errorf("event %d: unknown event %q", n, name)
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal([]byte(data), &top); err != nil {
			return r, fmt.Errorf("event %d: %w", n, err)
		}
		for k := range top {
			found := false
			for _, a := range keys {
				found = found || a == k
			}
			if !found {
				return r, fmt.Errorf("event %d (%s): unexpected key %q", n, name, k)
			}
		}
		var e anEvent
		if err := strictDecode([]byte(data), &e); err != nil {
			return r, fmt.Errorf("event %d: %w: %s", n, err, data)
		}
		if e.Type != name {
			return r, fmt.Errorf("event %d: event name %q but data type %q", n, name, e.Type)
		}
		if name == "ping" {
			continue
		}
		switch name {
		case "message_start":
			if state != stBegin || e.Message == nil {
				return r, fmt.Errorf("event %d: message_start out of place", n)
			}
			m := e.Message
			if m.Type != "message" || m.Role != "assistant" || m.ID == "" || m.Model == "" || len(m.Content) != 0 || m.StopReason != nil {
				return r, fmt.Errorf("event %d: bad message_start %s", n, data)
			}
			r.Role = m.Role
			state = stMessage
		case "content_block_start":
			if state != stMessage || open >= 0 || e.Index == nil || *e.Index != next || e.ContentBlock == nil {
				return r, fmt.Errorf("event %d: content_block_start out of place: %s", n, data)
			}
			open, next = *e.Index, next+1
			openType = e.ContentBlock.Type
			switch openType {
			case "text":
				if e.ContentBlock.Text == nil || *e.ContentBlock.Text != "" {
					return r, fmt.Errorf("event %d: text block must start empty", n)
				}
			case "tool_use":
				in, err := compact(e.ContentBlock.Input)
				if err != nil || in != "{}" || e.ContentBlock.ID == "" || e.ContentBlock.Name == "" {
					return r, fmt.Errorf("event %d: tool_use block must start with id, name and input {}: %s", n, data)
				}
				cur = &call{ID: e.ContentBlock.ID, Name: e.ContentBlock.Name}
				args.Reset()
			default:
				return r, fmt.Errorf("event %d: unexpected block type %q", n, openType)
			}
		case "content_block_delta":
			if open < 0 || e.Index == nil || *e.Index != open || e.Delta == nil {
				return r, fmt.Errorf("event %d: delta for a block that is not open: %s", n, data)
			}
			switch {
			case e.Delta.Type == "text_delta" && openType == "text" && e.Delta.Text != nil:
				r.Text += *e.Delta.Text
				r.TextEvents++
			case e.Delta.Type == "input_json_delta" && openType == "tool_use" && e.Delta.PartialJSON != nil:
				args.WriteString(*e.Delta.PartialJSON)
				r.ArgEvents++
			default:
				return r, fmt.Errorf("event %d: delta %q does not fit a %s block", n, e.Delta.Type, openType)
			}
		case "content_block_stop":
			if open < 0 || e.Index == nil || *e.Index != open {
				return r, fmt.Errorf("event %d: stop for a block that is not open", n)
			}
			if openType == "tool_use" {
				a := args.String()
				if a == "" {
					a = "{}"
				}
				c, err := compact([]byte(a))
				if err != nil {
					return r, fmt.Errorf("event %d: tool input: %w", n, err)
				}
				cur.Args = c
				r.ToolCalls = append(r.ToolCalls, *cur)
			}
			open = -1
		case "message_delta":
			if state != stMessage || open >= 0 || e.Delta == nil || e.Delta.StopReason == nil || e.Usage == nil {
				return r, fmt.Errorf("event %d: message_delta out of place: %s", n, data)
			}
			r.Finish = *e.Delta.StopReason
			r.CompletionTokens = e.Usage.OutputTokens
			if e.Usage.InputTokens != nil {
				r.PromptTokens = *e.Usage.InputTokens
			}
			state = stDelta
		case "message_stop":
			if state != stDelta || n != len(events)-1 {
				return r, fmt.Errorf("event %d: message_stop out of place", n)
			}
			state = stStopped
		}
	}
	if state != stStopped {
		return r, fmt.Errorf("stream ended without message_stop")
	}
	return r, nil
}

// parseAnthropicWhole reads a message object.
func parseAnthropicWhole(b []byte) (reassembled, error) {
	var r reassembled
	r.TotalTokens = -1
	var m anMessage
	if err := strictDecode(b, &m); err != nil {
		return r, err
	}
	if m.Type != "message" || m.ID == "" || m.Model == "" || m.StopReason == nil || m.Usage.InputTokens == nil {
		return r, fmt.Errorf("bad message: %s", b)
	}
	r.Role = m.Role
	for _, bl := range m.Content {
		switch bl.Type {
		case "text":
			if bl.Text == nil {
				return r, fmt.Errorf("text block without text")
			}
			r.Text += *bl.Text
		case "tool_use":
			in, err := compact(bl.Input)
			if err != nil || bl.ID == "" || bl.Name == "" {
				return r, fmt.Errorf("bad tool_use block")
			}
			r.ToolCalls = append(r.ToolCalls, call{ID: bl.ID, Name: bl.Name, Args: in})
		default:
			return r, fmt.Errorf("unexpected block type %q", bl.Type)
		}
	}
	r.Finish = *m.StopReason
	r.PromptTokens, r.CompletionTokens = *m.Usage.InputTokens, m.Usage.OutputTokens
	return r, nil
}

// ---- Ollama /api/chat ----

// Field names from Ollama's API reference (api.ChatResponse).
type olLine struct {
	Model     string `json:"model"`
	CreatedAt string `json:"created_at"`
	Message   *struct {
		Role      string   `json:"role"`
		Content   *string  `json:"content"`
		Thinking  string   `json:"thinking"`
		Images    []string `json:"images"`
		ToolCalls []struct {
			ID       string `json:"id"`
			Function struct {
				Index     *int            `json:"index"`
				Name      string          `json:"name"`
				Arguments json.RawMessage `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
		ToolName string `json:"tool_name"`
	} `json:"message"`
	Done               bool   `json:"done"`
	DoneReason         string `json:"done_reason"`
	TotalDuration      *int64 `json:"total_duration"`
	LoadDuration       *int64 `json:"load_duration"`
	PromptEvalCount    *int   `json:"prompt_eval_count"`
	PromptEvalDuration *int64 `json:"prompt_eval_duration"`
	EvalCount          *int   `json:"eval_count"`
	EvalDuration       *int64 `json:"eval_duration"`
}

// parseOllama reads an /api/chat NDJSON stream (or, with one line, the
// whole non-streamed answer): every line a message from the assistant, the
// last one done:true with the counts.
func parseOllama(b []byte, whole bool) (reassembled, error) {
	var r reassembled
	r.TotalTokens = -1
	if !bytes.HasSuffix(b, []byte("\n")) && !whole {
		return r, fmt.Errorf("stream does not end with a newline")
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	var lines [][]byte
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			return r, fmt.Errorf("empty line")
		}
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	if whole && len(lines) != 1 {
		return r, fmt.Errorf("whole answer has %d lines", len(lines))
	}
	for n, raw := range lines {
		var l olLine
		if err := strictDecode(raw, &l); err != nil {
			return r, fmt.Errorf("line %d: %w: %s", n, err, raw)
		}
		if l.Model == "" || l.CreatedAt == "" || l.Message == nil || l.Message.Role != "assistant" || l.Message.Content == nil {
			return r, fmt.Errorf("line %d: lacks model, created_at or an assistant message: %s", n, raw)
		}
		r.Role = l.Message.Role
		if *l.Message.Content != "" {
			r.Text += *l.Message.Content
			if !whole {
				r.TextEvents++
			}
		}
		for _, tc := range l.Message.ToolCalls {
			if len(tc.Function.Arguments) == 0 || tc.Function.Arguments[0] != '{' {
				return r, fmt.Errorf("line %d: arguments are not an object", n)
			}
			args, err := compact(tc.Function.Arguments)
			if err != nil {
				return r, fmt.Errorf("line %d: %w", n, err)
			}
			r.ToolCalls = append(r.ToolCalls, call{ID: tc.ID, Name: tc.Function.Name, Args: args})
			if !whole {
				r.ArgEvents++
			}
		}
		last := n == len(lines)-1
		if l.Done != last {
			return r, fmt.Errorf("line %d: done = %v", n, l.Done)
		}
		if last {
			if l.DoneReason == "" || l.PromptEvalCount == nil || l.EvalCount == nil || l.TotalDuration == nil || l.EvalDuration == nil {
				return r, fmt.Errorf("final line lacks done_reason, counts or durations: %s", raw)
			}
			r.Finish = l.DoneReason
			r.PromptTokens, r.CompletionTokens = *l.PromptEvalCount, *l.EvalCount
		} else if l.DoneReason != "" || l.PromptEvalCount != nil || l.EvalCount != nil {
			return r, fmt.Errorf("line %d: counts before the final line", n)
		}
	}
	return r, nil
}
