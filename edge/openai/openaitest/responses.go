package openaitest

import (
	"encoding/json"
	"strings"
	"time"
)

// responsesRequest is the part of a POST /v1/responses body the fake
// reads.
type responsesRequest struct {
	Model  json.RawMessage   `json:"model"`
	Input  json.RawMessage   `json:"input"`
	Tools  []json.RawMessage `json:"tools"`
	Stream bool              `json:"stream"`
}

// responses answers POST /v1/responses as OpenAI's Responses API does,
// JSON or SSE: the Reply as one message item, or, when the request offers
// tools and Options.ToolCall is set, one function_call item (the Reply
// again once the last input item is its function_call_output, under
// AnswerToolResults). Written from the API reference, apart from the
// gateway's own encoder, so the two check each other.
func (s *Server) responses(x *exchange, body []byte) {
	var r responsesRequest
	if err := json.Unmarshal(body, &r); err != nil {
		badBody(x, body, err)
		return
	}
	var model string
	if json.Unmarshal(r.Model, &model) != nil || model == "" {
		x.failMsg(400, msgNoModel, "invalid_request_error", "", "")
		return
	}
	if len(r.Input) == 0 || string(r.Input) == "null" {
		x.failMsg(400, msgNoInput, "invalid_request_error", "input", "missing_required_parameter")
		return
	}
	var items []struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(r.Input, &items) // a string input holds no items
	answered := len(items) > 0 && items[len(items)-1].Type == "function_call_output"
	tc := s.opt.ToolCall
	tool := tc != nil && len(r.Tools) > 0 && !(s.opt.AnswerToolResults && answered)
	id := "resp_" + string(x.hexID())
	created := time.Now().Unix()
	words := len(strings.Fields(string(r.Input)))
	usage := map[string]any{"input_tokens": words, "input_tokens_details": map[string]any{"cached_tokens": 0},
		"output_tokens": len(s.wire.pieces), "output_tokens_details": map[string]any{"reasoning_tokens": 0},
		"total_tokens": words + len(s.wire.pieces)}
	object := func(status string, output []any, u any) map[string]any {
		return map[string]any{"id": id, "object": "response", "created_at": created, "status": status, "error": nil,
			"incomplete_details": nil, "model": model, "output": output, "parallel_tool_calls": true, "tools": []any{},
			"usage": u, "store": false, "text": map[string]any{"format": map[string]any{"type": "text"}}}
	}
	reply := s.opt.Reply
	var item map[string]any
	if tool {
		callID := tc.ID
		if callID == "" {
			callID = "call_fake0001"
		}
		item = map[string]any{"type": "function_call", "id": "fc_" + string(x.hexID()), "call_id": callID,
			"name": tc.Name, "arguments": tc.Arguments, "status": "completed"}
	} else {
		item = map[string]any{"type": "message", "id": "msg_" + string(x.hexID()), "status": "completed", "role": "assistant",
			"content": []any{map[string]any{"type": "output_text", "text": reply, "annotations": []any{}}}}
	}
	if !r.Stream {
		x.body, _ = json.Marshal(object("completed", []any{item}, usage))
		return
	}
	x.sse, x.act = true, actStream
	x.body, x.marks = x.body[:0], x.marks[:0]
	seq := 0
	ev := func(typ string, fields map[string]any) {
		fields["type"], fields["sequence_number"] = typ, seq
		seq++
		b, _ := json.Marshal(fields)
		x.body = append(x.body, "event: "+typ+"\ndata: "...)
		x.body = append(x.body, b...)
		x.body = append(x.body, "\n\n"...)
		x.marks = append(x.marks, len(x.body))
	}
	ev("response.created", map[string]any{"response": object("in_progress", []any{}, nil)})
	ev("response.in_progress", map[string]any{"response": object("in_progress", []any{}, nil)})
	if tool {
		added := map[string]any{}
		for k, v := range item {
			added[k] = v
		}
		added["arguments"], added["status"] = "", "in_progress"
		ev("response.output_item.added", map[string]any{"output_index": 0, "item": added})
		for _, p := range s.wire.argPieces {
			var piece string
			_ = json.Unmarshal(append(append([]byte{'"'}, p...), '"'), &piece)
			ev("response.function_call_arguments.delta", map[string]any{"output_index": 0, "item_id": item["id"], "delta": piece})
		}
		ev("response.function_call_arguments.done", map[string]any{"output_index": 0, "item_id": item["id"], "arguments": tc.Arguments})
	} else {
		ev("response.output_item.added", map[string]any{"output_index": 0, "item": map[string]any{"type": "message",
			"id": item["id"], "status": "in_progress", "role": "assistant", "content": []any{}}})
		part := map[string]any{"type": "output_text", "text": "", "annotations": []any{}}
		ev("response.content_part.added", map[string]any{"output_index": 0, "item_id": item["id"], "content_index": 0, "part": part})
		for _, p := range s.wire.pieces {
			var piece string
			_ = json.Unmarshal(append(append([]byte{'"'}, p...), '"'), &piece)
			ev("response.output_text.delta", map[string]any{"output_index": 0, "item_id": item["id"], "content_index": 0, "delta": piece, "logprobs": []any{}})
		}
		ev("response.output_text.done", map[string]any{"output_index": 0, "item_id": item["id"], "content_index": 0, "text": reply, "logprobs": []any{}})
		done := map[string]any{"type": "output_text", "text": reply, "annotations": []any{}}
		ev("response.content_part.done", map[string]any{"output_index": 0, "item_id": item["id"], "content_index": 0, "part": done})
	}
	ev("response.output_item.done", map[string]any{"output_index": 0, "item": item})
	ev("response.completed", map[string]any{"response": object("completed", []any{item}, usage)})
}
