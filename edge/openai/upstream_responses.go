package openai

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/edgeway/edgeway/edge/llm"
)

// PassthroughDialect names the Responses API in llm.Passthrough: a
// client's /v1/responses body, sent as it came to an upstream that speaks
// the Responses API too.
const PassthroughDialect = "responses"

// appendResponsesRequest writes req as a POST /v1/responses body. A
// client's own Responses body (req.Passthrough) goes as it came, with the
// model, stream and store replaced: hosted tools, reasoning items and
// whatever else the canonical form drops reach the upstream. Otherwise
// the body is built from the canonical request.
func appendResponsesRequest(dst []byte, req *llm.ChatRequest) ([]byte, error) {
	if p := req.Passthrough; p != nil && p.Dialect == PassthroughDialect {
		var body map[string]json.RawMessage
		if err := json.Unmarshal(p.Body, &body); err != nil {
			return nil, fmt.Errorf("passthrough body: %w", err)
		}
		body["model"], _ = json.Marshal(req.Model)
		body["stream"], _ = json.Marshal(req.Stream)
		// edgeway keeps the conversation (its own response ids); the
		// upstream keeps nothing.
		body["store"] = json.RawMessage("false")
		delete(body, "previous_response_id")
		b, err := json.Marshal(body)
		return append(dst, b...), err
	}
	type part struct {
		Type     string `json:"type"`
		Text     string `json:"text,omitempty"`
		ImageURL string `json:"image_url,omitempty"`
		Detail   string `json:"detail,omitempty"`
	}
	var input []any
	for i := range req.Messages {
		m := &req.Messages[i]
		if m.Role == llm.RoleTool {
			input = append(input, map[string]any{"type": "function_call_output", "call_id": m.ToolCallID, "output": m.Text()})
			continue
		}
		if len(m.Content) > 0 {
			textType := "input_text"
			if m.Role == llm.RoleAssistant {
				textType = "output_text"
			}
			parts := make([]part, 0, len(m.Content))
			for _, p := range m.Content {
				switch p.Type {
				case llm.PartText:
					parts = append(parts, part{Type: textType, Text: p.Text})
				case llm.PartImage:
					parts = append(parts, part{Type: "input_image", ImageURL: p.ImageURL, Detail: p.Detail})
				}
			}
			role := string(m.Role)
			if m.Role == llm.RoleSystem {
				role = "developer"
			}
			input = append(input, map[string]any{"type": "message", "role": role, "content": parts})
		}
		for _, tc := range m.ToolCalls {
			input = append(input, map[string]any{"type": "function_call", "call_id": tc.ID, "name": tc.Name, "arguments": tc.Arguments})
		}
	}
	body := map[string]any{"model": req.Model, "input": input, "stream": req.Stream, "store": false}
	if len(req.Tools) > 0 {
		tools := make([]map[string]any, len(req.Tools))
		for i, t := range req.Tools {
			tool := map[string]any{"type": "function", "name": t.Name, "parameters": t.Parameters}
			if t.Parameters == nil {
				tool["parameters"] = json.RawMessage(`{"type":"object","properties":{}}`)
			}
			if t.Description != "" {
				tool["description"] = t.Description
			}
			if t.Strict != nil {
				tool["strict"] = *t.Strict
			}
			tools[i] = tool
		}
		body["tools"] = tools
	}
	if tc := req.ToolChoice; tc != nil {
		if tc.Mode == "function" {
			body["tool_choice"] = map[string]any{"type": "function", "name": tc.Name}
		} else {
			body["tool_choice"] = tc.Mode
		}
	}
	if req.ParallelToolCalls != nil {
		body["parallel_tool_calls"] = *req.ParallelToolCalls
	}
	if req.MaxTokens != nil {
		body["max_output_tokens"] = *req.MaxTokens
	}
	if req.Temperature != nil {
		body["temperature"] = *req.Temperature
	}
	if req.TopP != nil {
		body["top_p"] = *req.TopP
	}
	if req.User != "" {
		body["user"] = req.User
	}
	if f := req.ResponseFormat; f != nil && f.Type != "text" {
		format := map[string]any{"type": f.Type}
		if f.Type == "json_schema" {
			format["name"], format["schema"] = f.Name, f.Schema
			if f.Description != "" {
				format["description"] = f.Description
			}
			if f.Strict != nil {
				format["strict"] = *f.Strict
			}
		}
		body["text"] = map[string]any{"format": format}
	}
	if effort, ok := req.Extra["reasoning_effort"]; ok {
		body["reasoning"] = map[string]json.RawMessage{"effort": effort}
	}
	b, err := json.Marshal(body)
	return append(dst, b...), err
}

// responsesStream turns an upstream Responses event stream (or one
// response object) into llm.Chunks. One serves one request.
type responsesStream struct {
	c     *Client
	chunk llm.Chunk
	usage llm.Usage
	calls map[string]int // function_call item id → tool call index
	done  bool
}

// responsesEvent is the part of any Responses stream event read here.
type responsesEvent struct {
	Type      string          `json:"type"`
	Delta     string          `json:"delta"`
	ItemID    string          `json:"item_id"`
	Item      *responsesItem  `json:"item"`
	Response  *responseObject `json:"response"`
	Message   string          `json:"message"`
	Code      string          `json:"code"`
	Arguments string          `json:"arguments"`
}

type responsesItem struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Arguments string `json:"arguments"`
	Input     string `json:"input"`
	Content   []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
}

type responseObject struct {
	Status            string          `json:"status"`
	Model             string          `json:"model"`
	Output            []responsesItem `json:"output"`
	Error             *struct{ Code, Message string }
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
	Usage *struct {
		InputTokens        int `json:"input_tokens"`
		OutputTokens       int `json:"output_tokens"`
		TotalTokens        int `json:"total_tokens"`
		InputTokensDetails struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"input_tokens_details"`
	} `json:"usage"`
}

// Event takes one SSE event; response.completed (or .incomplete) ends the
// stream.
func (s *responsesStream) Event(_, data []byte, emit func(*llm.Chunk) error) (bool, error) {
	var ev responsesEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return true, s.c.up.Malformed("responses", fmt.Errorf("event: %w", err))
	}
	c := &s.chunk
	*c = llm.Chunk{ToolCalls: c.ToolCalls[:0]}
	switch ev.Type {
	case "response.output_text.delta":
		c.Text = ev.Delta
	case "response.reasoning_text.delta", "response.reasoning_summary_text.delta":
		c.Reasoning = ev.Delta
	case "response.output_item.added":
		if it := ev.Item; it != nil && (it.Type == "function_call" || it.Type == "custom_tool_call") {
			c.ToolCalls = append(c.ToolCalls, s.call(it, ""))
		}
	case "response.function_call_arguments.delta":
		i, ok := s.calls[ev.ItemID]
		if !ok {
			return true, s.c.up.Malformed("responses", fmt.Errorf("arguments for unknown item %q", ev.ItemID))
		}
		c.ToolCalls = append(c.ToolCalls, llm.ToolCallDelta{Index: i, Arguments: ev.Delta})
	case "response.output_item.done":
		// A custom tool's input comes whole, here.
		if it := ev.Item; it != nil && it.Type == "custom_tool_call" {
			c.ToolCalls = append(c.ToolCalls, llm.ToolCallDelta{Index: s.calls[it.ID], Arguments: customArguments(it.Input)})
		}
	case "response.completed", "response.incomplete":
		if ev.Response == nil {
			return true, s.c.up.Malformed("responses", errors.New(ev.Type+" without a response"))
		}
		s.finish(ev.Response, c)
		return true, emit(c)
	case "response.failed":
		msg, code := "the response failed", ""
		if r := ev.Response; r != nil && r.Error != nil {
			msg, code = r.Error.Message, r.Error.Code
		}
		return true, s.c.up.EventError("responses", mustJSON(map[string]any{"error": map[string]string{"message": msg, "code": code}}))
	case "error":
		return true, s.c.up.EventError("responses", mustJSON(map[string]any{"error": map[string]string{"message": ev.Message, "code": ev.Code}}))
	default:
		return false, nil
	}
	if c.Text == "" && c.Reasoning == "" && len(c.ToolCalls) == 0 {
		return false, nil
	}
	return false, emit(c)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// call numbers a new tool call item and returns its first delta.
func (s *responsesStream) call(it *responsesItem, args string) llm.ToolCallDelta {
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	i := len(s.calls)
	s.calls[it.ID] = i
	name := it.Name
	if it.Namespace != "" {
		name = it.Namespace + namespaceSep + name
	}
	if it.Type == "custom_tool_call" {
		// Custom tools travel canonically as functions taking
		// {"input": string}: the ingress keeps the names.
		args = ""
	}
	return llm.ToolCallDelta{Index: i, ID: it.CallID, Name: name, Arguments: args}
}

// finish fills the last chunk from the final response object.
func (s *responsesStream) finish(r *responseObject, c *llm.Chunk) {
	s.done = true
	c.Model = r.Model
	c.FinishReason = llm.FinishStop
	switch {
	case len(s.calls) > 0:
		c.FinishReason = llm.FinishToolCalls
	case r.Status == "incomplete" || r.IncompleteDetails != nil && r.IncompleteDetails.Reason == "max_output_tokens":
		c.FinishReason = llm.FinishLength
	}
	if u := r.Usage; u != nil {
		s.usage = llm.Usage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: u.TotalTokens,
			CachedTokens: u.InputTokensDetails.CachedTokens}
		c.Usage = &s.usage
	}
}

// End refuses a stream cut before response.completed.
func (s *responsesStream) End(func(*llm.Chunk) error) error {
	if !s.done {
		return s.c.up.StreamCut("responses", "no response.completed", nil)
	}
	return nil
}

// Whole takes a response object: a non-streaming answer.
func (s *responsesStream) Whole(b []byte, emit func(*llm.Chunk) error) error {
	var r responseObject
	if err := json.Unmarshal(b, &r); err != nil {
		return s.c.up.Malformed("responses", err)
	}
	if r.Error != nil && r.Error.Message != "" {
		return s.c.up.EventError("responses", mustJSON(map[string]any{"error": map[string]string{"message": r.Error.Message, "code": r.Error.Code}}))
	}
	c := &s.chunk
	*c = llm.Chunk{Role: llm.RoleAssistant}
	for i := range r.Output {
		it := &r.Output[i]
		switch it.Type {
		case "message":
			for _, p := range it.Content {
				if p.Type == "output_text" {
					c.Text += p.Text
				}
			}
		case "reasoning":
			for _, p := range it.Content {
				c.Reasoning += p.Text
			}
		case "function_call":
			c.ToolCalls = append(c.ToolCalls, s.call(it, it.Arguments))
		case "custom_tool_call":
			d := s.call(it, "")
			d.Arguments = customArguments(it.Input)
			c.ToolCalls = append(c.ToolCalls, d)
		}
	}
	s.finish(&r, c)
	return emit(c)
}
