package openai

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/openai/openaitest"
	"github.com/edgeway/edgeway/edge/upstream"
)

func responsesClient(t *testing.T, o openaitest.Options) (*Client, *openaitest.Server) {
	t.Helper()
	o.APIKey = "sk-r"
	fake := openaitest.NewT(t, o)
	c, err := New(Options{Endpoint: upstream.Endpoint{Name: "r", BaseURL: fake.URL(), APIKey: "sk-r"}, Responses: true})
	if err != nil {
		t.Fatal(err)
	}
	return c, fake
}

// TestResponsesUpstream: a canonical request goes to POST /v1/responses
// and the answer, streamed or whole, text or a tool call, comes back as
// chunks with the upstream's usage.
func TestResponsesUpstream(t *testing.T) {
	tool := &openaitest.ToolCall{ID: "call_r1", Name: "get_weather", Arguments: `{"city":"Paris"}`}
	for _, tc := range []struct {
		name   string
		stream bool
		tools  bool
	}{{"whole text", false, false}, {"streamed text", true, false}, {"whole call", false, true}, {"streamed call", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			c, fake := responsesClient(t, openaitest.Options{Reply: "It is sunny.", ToolCall: tool})
			req := &llm.ChatRequest{Model: "gpt-5-pro", Stream: tc.stream, Messages: []llm.Message{
				{Role: llm.RoleSystem, Content: []llm.Part{{Type: llm.PartText, Text: "Be brief."}}},
				{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "weather?"}}}}}
			if tc.tools {
				req.Tools = []llm.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object"}`)}}
			}
			var a llm.Aggregate
			u, err := c.Chat(context.Background(), req, func(ch *llm.Chunk) error { a.Add(ch); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if u.PromptTokens == 0 || u.CompletionTokens == 0 {
				t.Fatalf("usage %+v", u)
			}
			if tc.tools {
				if len(a.ToolCalls) != 1 || a.ToolCalls[0] != (llm.ToolCall{ID: "call_r1", Name: "get_weather", Arguments: `{"city":"Paris"}`}) || a.FinishReason != llm.FinishToolCalls {
					t.Fatalf("calls %+v finish %s", a.ToolCalls, a.FinishReason)
				}
			} else if a.Text.String() != "It is sunny." || a.FinishReason != llm.FinishStop {
				t.Fatalf("text %q finish %s", a.Text.String(), a.FinishReason)
			}
			var sent map[string]any
			if err := json.Unmarshal(fake.LastRequest(), &sent); err != nil {
				t.Fatal(err)
			}
			in := sent["input"].([]any)
			if sent["model"] != "gpt-5-pro" || sent["store"] != false || len(in) != 2 || in[0].(map[string]any)["role"] != "developer" {
				t.Fatalf("request %v", sent)
			}
		})
	}
}

// TestResponsesPassthrough: a Responses client's own body reaches a
// Responses upstream as it came, hosted tools included, with the model,
// stream and store replaced.
func TestResponsesPassthrough(t *testing.T) {
	c, fake := responsesClient(t, openaitest.Options{Reply: "Found it."})
	body := `{"model":"alias","input":"search","tools":[{"type":"web_search"}],"tool_choice":{"type":"web_search"},"store":true,"include":["reasoning.encrypted_content"]}`
	req := &llm.ChatRequest{Model: "gpt-5", Stream: true, Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "search"}}}},
		Passthrough: &llm.Passthrough{Dialect: PassthroughDialect, Body: []byte(body), Dropped: []string{"web_search"}}}
	var a llm.Aggregate
	if _, err := c.Chat(context.Background(), req, func(ch *llm.Chunk) error { a.Add(ch); return nil }); err != nil {
		t.Fatal(err)
	}
	var sent map[string]any
	json.Unmarshal(fake.LastRequest(), &sent)
	if sent["model"] != "gpt-5" || sent["stream"] != true || sent["store"] != false ||
		!strings.Contains(string(fake.LastRequest()), `"tool_choice":{"type":"web_search"}`) || a.Text.String() != "Found it." {
		t.Fatalf("sent %s, got %q", fake.LastRequest(), a.Text.String())
	}
}

// FuzzResponsesStream: any event data or whole body from an upstream is
// read without panicking, and an error ends the stream.
func FuzzResponsesStream(f *testing.F) {
	for _, s := range []string{
		`{"type":"response.output_text.delta","delta":"hi"}`,
		`{"type":"response.output_item.added","item":{"type":"function_call","id":"fc_1","call_id":"c","name":"f","namespace":"n"}}`,
		`{"type":"response.function_call_arguments.delta","item_id":"fc_1","delta":"{}"}`,
		`{"type":"response.output_item.done","item":{"type":"custom_tool_call","id":"x","input":"p"}}`,
		`{"type":"response.completed","response":{"status":"completed","usage":{"input_tokens":1,"output_tokens":2}}}`,
		`{"type":"response.failed","response":{"error":{"code":"server_error","message":"boom"}}}`,
		`{"output":[{"type":"message","content":[{"type":"output_text","text":"a"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"}]}`,
		`{"type":"error"}`, `[]`, `{`,
	} {
		f.Add([]byte(s))
	}
	c, err := New(Options{Endpoint: upstream.Endpoint{Name: "r", BaseURL: "http://127.0.0.1:1/v1"}, Responses: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := responsesStream{c: c}
		emit := func(*llm.Chunk) error { return nil }
		for range 2 { // an item added, then its arguments
			if done, err := s.Event(nil, data, emit); done || err != nil {
				break
			}
		}
		s.End(emit)
		(&responsesStream{c: c}).Whole(data, emit)
	})
}
