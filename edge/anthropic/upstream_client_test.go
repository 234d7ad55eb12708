package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/anthropic/anthropictest"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/edge/upstream"
	"github.com/edgeway/edgeway/edge/upstream/upstreamtest"
)

// frame is how the fake upstream frames its answers: Anthropic types its
// event streams with a charset.
var frame = upstreamtest.Framing{JSONType: "application/json", EventType: "text/event-stream; charset=utf-8", EventSep: "\n\n"}

func newTestClient(t *testing.T, baseURL string, mod ...func(*Options)) *Client {
	t.Helper()
	o := Options{Endpoint: upstream.Endpoint{Name: "fake", BaseURL: baseURL + "/v1/", APIKey: "sk-ant-test", Headers: map[string]string{"anthropic-beta": "fake-beta"}}}
	return upstreamtest.NewClient(t, New, o, mod...)
}

func simpleRequest() *llm.ChatRequest {
	return &llm.ChatRequest{Model: "claude-sonnet-4-5", Messages: []llm.Message{{Role: llm.RoleUser, Content: textParts("Hello!")}}}
}

func TestChatStreamText(t *testing.T) {
	f, chunks, agg, usage := upstreamtest.MustChat(t, frame.SSE(string(testkit.Fixture(t, "stream_text.sse"))), newTestClient, simpleRequest())
	if got, want := agg.Text.String(), "Hello!\n\u00e9\u2028"; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
	upstreamtest.CheckAnswer(t, agg, usage, llm.FinishStop, "claude-sonnet-4-5-20250929", llm.Usage{PromptTokens: 25, CompletionTokens: 15, TotalTokens: 40})
	for i, ch := range chunks {
		if (ch.Role != "") != (i == 0) || (ch.Model != "") != (i == 0) {
			t.Errorf("chunk %d role %q model %q; they belong on the first chunk only", i, ch.Role, ch.Model)
		}
	}
	if len(chunks) != 3 {
		t.Errorf("emitted %d chunks, want 3 (two texts, finish with usage)", len(chunks))
	}
	req := f.Last(t)
	req.CheckCall(t, http.MethodPost, "/v1/messages")
	req.CheckHeaders(t, map[string]string{
		"X-Api-Key": "sk-ant-test", "Anthropic-Version": "2023-06-01", "Accept": "text/event-stream",
		"Content-Type": "application/json", "Anthropic-Beta": "fake-beta", "Authorization": "",
	})
	if body := req.JSONBody(t); body["stream"] != true || body["max_tokens"] != float64(DefaultMaxTokens) {
		t.Errorf("body = %s", req.Body)
	}
}

func TestChatToolUseStream(t *testing.T) {
	_, chunks, agg, usage := upstreamtest.MustChat(t, frame.SSE(string(testkit.Fixture(t, "stream_tool_use.sse"))), newTestClient, simpleRequest())
	want := []llm.ToolCall{
		{ID: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", Name: "get_weather", Arguments: `{"location": "San Francisco, CA", "unit": "fahrenheit"}`},
		{ID: "toolu_02", Name: "get_time", Arguments: `{}`},
	}
	if !reflect.DeepEqual(agg.ToolCalls, want) {
		t.Errorf("tool calls = %+v, want %+v", agg.ToolCalls, want)
	}
	if agg.FinishReason != llm.FinishToolCalls || agg.Text.String() != "Okay, let's check the weather for San Francisco, CA:" {
		t.Errorf("finish = %q, text = %q", agg.FinishReason, agg.Text.String())
	}
	if usage.PromptTokens != 472 || usage.CompletionTokens != 89 {
		t.Errorf("usage = %+v", usage)
	}
	// 2 texts + 2 tool starts + 8 fragments of call 0 + 1 of call 1 + finish;
	// the empty first fragment is not emitted.
	if len(chunks) != 14 {
		t.Errorf("emitted %d chunks, want 14", len(chunks))
	}
	for _, ch := range chunks {
		for _, d := range ch.ToolCalls {
			if d.Index != 0 && d.Index != 1 {
				t.Errorf("tool index %d: indexes count tool blocks from 0, not content blocks", d.Index)
			}
		}
	}
}

func TestChatThinkingAndCacheUsage(t *testing.T) {
	_, _, agg, usage := upstreamtest.MustChat(t, frame.SSE(string(testkit.Fixture(t, "stream_thinking.sse"))), newTestClient, simpleRequest())
	if agg.Reasoning.String() != "Let me solve this step by step." || agg.Text.String() != "27 * 453 = 12,231" {
		t.Errorf("reasoning %q text %q", agg.Reasoning.String(), agg.Text.String())
	}
	want := llm.Usage{PromptTokens: 2110, CompletionTokens: 42, TotalTokens: 2152, CachedTokens: 2000, CacheWriteTokens: 100}
	if usage != want {
		t.Errorf("usage = %+v, want %+v", usage, want)
	}
}

func TestChatStopReasons(t *testing.T) {
	for reason, want := range map[string]llm.FinishReason{
		"end_turn": llm.FinishStop, "stop_sequence": llm.FinishStop, "pause_turn": llm.FinishStop, "max_tokens": llm.FinishLength,
		"model_context_window_exceeded": llm.FinishLength, "tool_use": llm.FinishToolCalls, "refusal": llm.FinishContentFilter, "something_new": llm.FinishStop,
	} {
		t.Run(reason, func(t *testing.T) {
			stream := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\n\n" +
				"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"" + reason + "\"},\"usage\":{\"output_tokens\":1}}\n\n" +
				"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
			f := upstreamtest.NewFake(t, frame.SSE(stream))
			_, agg, _, err := upstreamtest.Collect(newTestClient(t, f.URL).Chat, simpleRequest())
			if err != nil || agg.FinishReason != want {
				t.Errorf("finish = %q (%v), want %q", agg.FinishReason, err, want)
			}
		})
	}
}

func TestChatJSONFallback(t *testing.T) {
	_, chunks, agg, usage := upstreamtest.MustChat(t, frame.JSON(200, nil, string(testkit.Fixture(t, "message_tool_use.json"))), newTestClient, simpleRequest())
	want := []llm.ToolCall{{ID: "toolu_01A09q90qw90lq917835lq9", Name: "get_weather", Arguments: `{"location": "San Francisco, CA", "unit": "celsius"}`}}
	if !reflect.DeepEqual(agg.ToolCalls, want) || agg.FinishReason != llm.FinishToolCalls || agg.Text.String() != "I'll check the weather." ||
		agg.Reasoning.String() != "I should look it up." || len(chunks) != 2 ||
		len(agg.ReasoningBlocks) != 1 || agg.ReasoningBlocks[0].Signature == "" || usage.PromptTokens != 502 || usage.CachedTokens != 20 {
		t.Errorf("calls %+v finish %q text %q usage %+v chunks %d", agg.ToolCalls, agg.FinishReason, agg.Text.String(), usage, len(chunks))
	}
}

// canonicalFull is an OpenAI-shaped canonical request exercising every
// translation the client makes.
func canonicalFull() *llm.ChatRequest {
	return &llm.ChatRequest{
		Model: "claude-sonnet-4-5",
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: textParts("You are terse.")},
			{Role: llm.RoleUser, Name: "alice", Content: []llm.Part{
				text("What is in these images?"),
				{Type: llm.PartImage, ImageURL: "data:image/PNG;base64,iVBORw0KGgo=", Detail: "low"},
				{Type: llm.PartImage, ImageURL: "https://example.com/cat.jpg"},
			}},
			{Role: llm.RoleUser, Content: textParts("Be quick.")},
			{Role: llm.RoleAssistant, Content: []llm.Part{text("")}, ToolCalls: []llm.ToolCall{
				{ID: "call_abc.123", Name: "get_weather", Arguments: `{"city":"Paris"}`},
				{ID: "call_2", Name: "get_time", Arguments: ``},
			}},
			{Role: llm.RoleTool, ToolCallID: "call_abc.123", Content: textParts(`{"temp_c":21}`)},
			{Role: llm.RoleTool, ToolCallID: "call_2", Content: []llm.Part{text("12:00"), text("UTC")}},
			{Role: llm.RoleUser, Content: textParts("Thanks.")},
			{Role: llm.RoleSystem, Content: textParts("Answer in French.")},
			{Role: llm.RoleAssistant, Content: textParts("Il fait ")},
		},
		Temperature:      new(0.7),
		TopP:             new(0.9),
		TopK:             new(40),
		MaxTokens:        new(512),
		Stop:             []string{"\n\nHuman:"},
		Seed:             new(int64(7)),
		PresencePenalty:  new(0.5),
		FrequencyPenalty: new(0.5),
		ResponseFormat: &llm.ResponseFormat{Type: "json_schema", Name: "report", Strict: new(true),
			Schema: json.RawMessage(`{"type":"object","properties":{"summary":{"type":"string"}},"required":["summary"],"additionalProperties":false}`)},
		Tools: []llm.Tool{
			{Name: "get_weather", Description: "Current weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`), Strict: new(true)},
			{Name: "get_time"},
		},
		ToolChoice:        &llm.ToolChoice{Mode: "function", Name: "get_weather"},
		ParallelToolCalls: new(false),
		User:              "user-1234",
		Extra:             map[string]json.RawMessage{"logprobs": json.RawMessage(`true`)},
	}
}

func TestChatRequestBodyGolden(t *testing.T) {
	body, err := appendMessagesRequest(nil, canonicalFull(), wireOptions{defaultMaxTokens: DefaultMaxTokens})
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	if err := json.Unmarshal(testkit.Fixture(t, "upstream_request_full.json"), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("upstream body differs from testdata/upstream_request_full.json:\n%s", body)
	}
	// The real wire format accepts it: the fake validates like Anthropic.
	fake := anthropictest.NewT(t, anthropictest.Options{APIKey: "sk-ant-test"})
	c := newTestClient(t, strings.TrimSuffix(fake.URL(), "/v1"))
	if _, _, _, err := upstreamtest.Collect(c.Chat, canonicalFull()); err != nil {
		t.Errorf("the fake refused the body: %v", err)
	}
}

func TestChatRequestTranslation(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(r *llm.ChatRequest)
		opts    func(o *Options)
		check   func(t *testing.T, body map[string]any)
		wantErr string
	}{
		{name: "default max_tokens", opts: func(o *Options) { o.DefaultMaxTokens = 77 }, check: func(t *testing.T, b map[string]any) {
			if b["max_tokens"] != 77.0 {
				t.Errorf("max_tokens = %v", b["max_tokens"])
			}
		}},
		{name: "no system, no tools, no extras", check: func(t *testing.T, b map[string]any) {
			for _, k := range []string{"system", "tools", "tool_choice", "metadata", "output_config", "temperature", "stop_sequences"} {
				if _, ok := b[k]; ok {
					t.Errorf("%s sent unasked", k)
				}
			}
		}},
		{name: "multi-part system becomes blocks", mod: func(r *llm.ChatRequest) {
			r.Messages = append([]llm.Message{{Role: llm.RoleSystem, Content: []llm.Part{text("a"), text("b")}}}, r.Messages...)
		}, check: func(t *testing.T, b map[string]any) {
			want := []any{map[string]any{"type": "text", "text": "a"}, map[string]any{"type": "text", "text": "b"}}
			if !reflect.DeepEqual(b["system"], want) {
				t.Errorf("system = %v", b["system"])
			}
		}},
		{name: "parallel off without a choice", mod: func(r *llm.ChatRequest) {
			r.Tools = []llm.Tool{{Name: "f"}}
			r.ParallelToolCalls = new(false)
		}, check: func(t *testing.T, b map[string]any) {
			if !reflect.DeepEqual(b["tool_choice"], map[string]any{"type": "auto", "disable_parallel_tool_use": true}) {
				t.Errorf("tool_choice = %v", b["tool_choice"])
			}
		}},
		{name: "tool choice required", mod: func(r *llm.ChatRequest) {
			r.Tools = []llm.Tool{{Name: "f"}}
			r.ToolChoice = &llm.ToolChoice{Mode: "required"}
		}, check: func(t *testing.T, b map[string]any) {
			if !reflect.DeepEqual(b["tool_choice"], map[string]any{"type": "any"}) {
				t.Errorf("tool_choice = %v", b["tool_choice"])
			}
		}},
		{name: "tool choice none takes nothing else", mod: func(r *llm.ChatRequest) {
			r.Tools = []llm.Tool{{Name: "f"}}
			r.ToolChoice = &llm.ToolChoice{Mode: "none"}
			r.ParallelToolCalls = new(false)
		}, check: func(t *testing.T, b map[string]any) {
			if !reflect.DeepEqual(b["tool_choice"], map[string]any{"type": "none"}) {
				t.Errorf("tool_choice = %v", b["tool_choice"])
			}
		}},
		{name: "tool choice without tools is dropped", mod: func(r *llm.ChatRequest) {
			r.ToolChoice = &llm.ToolChoice{Mode: "auto"}
		}, check: func(t *testing.T, b map[string]any) {
			if _, ok := b["tool_choice"]; ok {
				t.Errorf("tool_choice = %v", b["tool_choice"])
			}
		}},
		{name: "json_object is dropped", mod: func(r *llm.ChatRequest) {
			r.ResponseFormat = &llm.ResponseFormat{Type: "json_object"}
		}, check: func(t *testing.T, b map[string]any) {
			if _, ok := b["output_config"]; ok {
				t.Errorf("output_config = %v", b["output_config"])
			}
		}},
		{name: "tool result image", mod: func(r *llm.ChatRequest) {
			r.Messages = append(r.Messages,
				llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "t", Name: "shot", Arguments: "{}"}}},
				llm.Message{Role: llm.RoleTool, ToolCallID: "t", Content: []llm.Part{{Type: llm.PartImage, ImageURL: "data:image/jpg;base64,/9j/"}}})
		}, check: func(t *testing.T, b map[string]any) {
			msgs := b["messages"].([]any)
			last := msgs[len(msgs)-1].(map[string]any)["content"].([]any)[0].(map[string]any)
			want := map[string]any{"type": "tool_result", "tool_use_id": "t", "content": []any{map[string]any{"type": "image",
				"source": map[string]any{"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}}}}
			if !reflect.DeepEqual(last, want) {
				t.Errorf("tool result = %v", last)
			}
		}},
		{name: "empty turns dropped", mod: func(r *llm.ChatRequest) {
			r.Messages = append(r.Messages, llm.Message{Role: llm.RoleAssistant, Content: textParts("  \n")})
		}, check: func(t *testing.T, b map[string]any) {
			if n := len(b["messages"].([]any)); n != 1 {
				t.Errorf("%d turns: %v", n, b["messages"])
			}
		}},
		{name: "late system message folded into a user turn", mod: func(r *llm.ChatRequest) {
			r.Messages = append(r.Messages, llm.Message{Role: llm.RoleAssistant, Content: textParts("Sure: ")}, llm.Message{Role: llm.RoleSystem, Content: textParts("late")})
		}, check: func(t *testing.T, b map[string]any) {
			msgs := b["messages"].([]any)
			prev := msgs[len(msgs)-2].(map[string]any)["content"].([]any)[0].(map[string]any)
			last := msgs[len(msgs)-1].(map[string]any)
			block := last["content"].([]any)[0].(map[string]any)
			if prev["text"] != "Sure: " || last["role"] != "user" || block["text"] != "<system-reminder>\nlate\n</system-reminder>" || b["system"] == "late" {
				t.Errorf("turns %v, system = %v", msgs[len(msgs)-2:], b["system"])
			}
		}},
		{name: "late system message in place with the beta", mod: func(r *llm.ChatRequest) {
			r.Messages = append(r.Messages, llm.Message{Role: llm.RoleSystem, Content: textParts("late")})
			r.Passthrough = &llm.Passthrough{Dialect: "openai", Headers: []llm.Header{{Name: "Anthropic-Beta", Value: "x, mid-conversation-system-2026-04-07"}}}
		}, check: func(t *testing.T, b map[string]any) {
			msgs := b["messages"].([]any)
			last := msgs[len(msgs)-1].(map[string]any)
			if last["role"] != "system" || last["content"].([]any)[0].(map[string]any)["text"] != "late" {
				t.Errorf("last turn %v", last)
			}
		}},
		{name: "temperature above 1", mod: func(r *llm.ChatRequest) { r.Temperature = new(1.5) }, wantErr: "temperature 1.5 is above Anthropic's maximum of 1"},
		{name: "bad image URL", mod: func(r *llm.ChatRequest) {
			r.Messages[0].Content = append(r.Messages[0].Content, llm.Part{Type: llm.PartImage, ImageURL: "ftp://x/y.png"})
		}, wantErr: "image URL must be http(s) or a base64 data: URL"},
		{name: "unsupported image type", mod: func(r *llm.ChatRequest) {
			r.Messages[0].Content = append(r.Messages[0].Content, llm.Part{Type: llm.PartImage, ImageURL: "data:image/bmp;base64,AAAA"})
		}, wantErr: `"image/bmp" is not one Anthropic accepts`},
		{name: "tool message without id", mod: func(r *llm.ChatRequest) {
			r.Messages = append(r.Messages, llm.Message{Role: llm.RoleTool, Content: textParts("x")})
		}, wantErr: "tool message without tool_call_id"},
		{name: "bad tool schema", mod: func(r *llm.ChatRequest) {
			r.Tools = []llm.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":`)}}
		}, wantErr: "tools[0].parameters is not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := upstreamtest.NewFake(t, frame.SSE(string(testkit.Fixture(t, "stream_text.sse"))))
			c := newTestClient(t, f.URL, tt.opts)
			req := simpleRequest()
			if tt.mod != nil {
				tt.mod(req)
			}
			_, _, _, err := upstreamtest.Collect(c.Chat, req)
			if tt.wantErr != "" {
				var le *llm.Error
				if !errors.As(err, &le) || le.Kind != llm.KindBadRequest || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %v, want a bad_request containing %q", err, tt.wantErr)
				}
				if len(f.All()) != 0 {
					t.Error("an invalid request was sent upstream")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, f.Last(t).JSONBody(t))
		})
	}
}

// want is what a row of an error table expects.
type want = upstreamtest.WantError

func TestChatErrors(t *testing.T) {
	fixture := func(name string) string { return string(testkit.Fixture(t, name)) }
	const start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n"
	const delta = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n"
	tests := []upstreamtest.ErrorCase[Options]{
		{Name: "400 prompt too long", Handler: frame.JSON(400, nil, fixture("error_prompt_too_long.json")),
			Want: want{Kind: llm.KindContextLength, Status: 400, Message: "prompt is too long: 208310 tokens > 200000 maximum"}},
		{Name: "400 invalid request", Handler: frame.JSON(400, nil, fixture("error_invalid_request.json")),
			Want: want{Kind: llm.KindBadRequest, Status: 400, Message: "max_tokens: Field required"}},
		{Name: "400 low credit", Handler: frame.JSON(400, nil, `{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}`),
			Want: want{Kind: llm.KindAuth, Status: 400, Message: "credit balance", Is: ErrBilling}},
		{Name: "401", Handler: frame.JSON(401, nil, fixture("error_authentication.json")),
			Want: want{Kind: llm.KindAuth, Status: 401, Message: "invalid x-api-key"}},
		{Name: "402 billing", Handler: frame.JSON(402, nil, fixture("error_billing.json")),
			Want: want{Kind: llm.KindAuth, Status: 402, Message: "credit balance is too low", Is: ErrBilling}},
		{Name: "403", Handler: frame.JSON(403, nil, fixture("error_permission.json")),
			Want: want{Kind: llm.KindAuth, Status: 403, Message: "does not have permission"}},
		{Name: "404 model", Handler: frame.JSON(404, nil, fixture("error_not_found.json")),
			Want: want{Kind: llm.KindNotFound, Status: 404, Message: "model: claude-3-opus-latest"}},
		{Name: "413", Handler: frame.JSON(413, nil, fixture("error_request_too_large.json")),
			Want: want{Kind: llm.KindContextLength, Status: 413, Message: "maximum allowed number of bytes"}},
		{Name: "429 retry-after", Handler: frame.JSON(429, map[string]string{"Retry-After": "7"}, fixture("error_rate_limit.json")),
			Want: want{Kind: llm.KindRateLimited, Status: 429, Retry: 7 * time.Second, Message: "rate limit"}},
		{Name: "500", Handler: frame.JSON(500, nil, fixture("error_api.json")),
			Want: want{Kind: llm.KindServer, Status: 500, Message: "Internal server error"}},
		{Name: "504 timeout_error", Handler: frame.JSON(504, nil, fixture("error_timeout.json")),
			Want: want{Kind: llm.KindTimeout, Status: 504, Message: "Request timed out"}},
		{Name: "529 overloaded", Handler: frame.JSON(529, map[string]string{"Retry-After": "3"}, fixture("error_overloaded.json")),
			Want: want{Kind: llm.KindOverloaded, Status: 529, Retry: 3 * time.Second, Message: "Overloaded"}},
		{Name: "500 saying overloaded", Handler: frame.JSON(500, nil, fixture("error_overloaded.json")),
			Want: want{Kind: llm.KindOverloaded, Status: 500}},
		{Name: "SSE overloaded mid-stream", Handler: frame.SSE(fixture("stream_error.sse")),
			Want: want{Kind: llm.KindOverloaded, Message: "Overloaded"}},
		{Name: "SSE prompt too long", Handler: frame.SSE(start + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"prompt is too long\"}}\n\n"),
			Want: want{Kind: llm.KindContextLength}},
		{Name: "SSE rate limit", Handler: frame.SSE("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}\n\n"),
			Want: want{Kind: llm.KindRateLimited, Message: "slow down"}},
		{Name: "SSE unknown error type", Handler: frame.SSE("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"brand_new_error\",\"message\":\"?\"}}\n\n"),
			Want: want{Kind: llm.KindServer}},
		{Name: "SSE error not JSON", Handler: frame.SSE("event: error\ndata: oops\n\n"), Want: want{Kind: llm.KindServer, Is: llm.ErrMalformed}},
		{Name: "event not JSON", Handler: frame.SSE(start + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\"\n\n"),
			Want: want{Kind: llm.KindServer, Is: llm.ErrMalformed}},
		{Name: "delta without index", Handler: frame.SSE(start + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n"),
			Want: want{Kind: llm.KindServer, Is: llm.ErrMalformed}},
		{Name: "hostile block index", Handler: frame.SSE(start + "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":99999999,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}\n\n"),
			Want: want{Kind: llm.KindServer, Is: llm.ErrMalformed}},
		{Name: "stream cut without message_stop", Handler: frame.SSE(start + delta),
			Want: want{Kind: llm.KindServer, Is: llm.ErrStreamCut}},
		{Name: "stream cut after message_delta", Handler: frame.SSE(start + delta + "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n"),
			Want: want{Kind: llm.KindServer, Is: llm.ErrStreamCut}},
		{Name: "empty stream", Handler: frame.SSE(""), Want: want{Kind: llm.KindServer, Is: llm.ErrStreamCut}},
		{Name: "JSON error with 200", Handler: frame.JSON(200, nil, fixture("error_overloaded.json")), Want: want{Kind: llm.KindOverloaded, Message: "Overloaded"}},
		{Name: "JSON body cut", Handler: frame.JSON(200, nil, `{"id":"msg","type":"message","content":[{"type":"text","text":"Hel`), Want: want{Kind: llm.KindServer, Is: llm.ErrMalformed}},
		// Reset times have one-second resolution: allow for it.
		{Name: "429 tokens reset", Handler: func(w http.ResponseWriter, r *http.Request) {
			now := time.Now().UTC()
			frame.JSON(429, map[string]string{
				"anthropic-ratelimit-requests-remaining": "10", "anthropic-ratelimit-requests-reset": now.Add(50 * time.Second).Format(time.RFC3339),
				"anthropic-ratelimit-tokens-remaining": "0", "anthropic-ratelimit-tokens-reset": now.Add(20 * time.Second).Format(time.RFC3339),
			}, fixture("error_rate_limit.json"))(w, r)
		}, Want: want{Kind: llm.KindRateLimited, Status: 429, Retry: 20 * time.Second, RetrySlack: time.Second}},
	}
	upstreamtest.CheckErrors(t, tests, simpleRequest, newTestClient)
}

func TestResetDelay(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"none", nil, 0},
		{"requests exhausted", map[string]string{"anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": at(30 * time.Second),
			"anthropic-ratelimit-tokens-reset": at(5 * time.Minute)}, 30 * time.Second},
		{"output tokens exhausted", map[string]string{"anthropic-ratelimit-output-tokens-remaining": "0", "anthropic-ratelimit-output-tokens-reset": at(12 * time.Second),
			"anthropic-ratelimit-requests-reset": at(time.Minute)}, 12 * time.Second},
		{"none exhausted: latest", map[string]string{"anthropic-ratelimit-requests-reset": at(3 * time.Second), "anthropic-ratelimit-tokens-reset": at(8 * time.Second)}, 8 * time.Second},
		{"reset capped", map[string]string{"anthropic-ratelimit-tokens-reset": at(24 * time.Hour)}, upstream.MaxRetryAfter},
		{"reset in the past", map[string]string{"anthropic-ratelimit-tokens-reset": at(-time.Minute)}, 0},
		{"reset garbage", map[string]string{"anthropic-ratelimit-tokens-reset": "soon"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resetDelay(upstreamtest.Header(tt.header), now); got != tt.want {
				t.Errorf("resetDelay = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestChatEmitErrorPassesThrough(t *testing.T) {
	fake := anthropictest.NewT(t, anthropictest.Options{ChunkDelay: 20 * time.Millisecond})
	c := newTestClient(t, strings.TrimSuffix(fake.URL(), "/v1"))
	stop := errors.New("client write failed")
	_, err := c.Chat(context.Background(), simpleRequest(), func(*llm.Chunk) error { return stop })
	if err != stop {
		t.Errorf("error = %v, want the emit error unchanged", err)
	}
	testkit.Until(t, "the fake to see the client leave", func() bool { return fake.Aborted() == 1 })
}

func TestModels(t *testing.T) {
	page := 0
	f := upstreamtest.NewFake(t, func(w http.ResponseWriter, r *http.Request) {
		page++
		switch r.URL.Query().Get("after_id") {
		case "":
			frame.JSON(200, nil, `{"data":[{"type":"model","id":"claude-sonnet-4-5-20250929","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"},{"type":"model","id":""}],"has_more":true,"first_id":"claude-sonnet-4-5-20250929","last_id":"claude-sonnet-4-5-20250929"}`)(w, r)
		default:
			frame.JSON(200, nil, `{"data":[{"type":"model","id":"claude-haiku-4-5","created_at":"bad"}],"has_more":false,"last_id":"claude-haiku-4-5"}`)(w, r)
		}
	})
	c := newTestClient(t, f.URL)
	got, err := c.Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []llm.Model{
		{ID: "claude-sonnet-4-5-20250929", Provider: "fake", OwnedBy: "anthropic", Created: time.Date(2025, 9, 29, 0, 0, 0, 0, time.UTC)},
		{ID: "claude-haiku-4-5", Provider: "fake", OwnedBy: "anthropic"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("models = %+v, want %+v", got, want)
	}
	r := f.Last(t)
	if r.Method != http.MethodGet || r.Path != "/v1/models" || r.Query != "after_id=claude-sonnet-4-5-20250929&limit=1000" || r.Header.Get("X-Api-Key") != "sk-ant-test" {
		t.Errorf("request = %s %s?%s %v", r.Method, r.Path, r.Query, r.Header)
	}
	t.Run("pages are bounded", func(t *testing.T) {
		n := 0
		f := upstreamtest.NewFake(t, func(w http.ResponseWriter, r *http.Request) {
			n++
			frame.JSON(200, nil, fmt.Sprintf(`{"data":[{"id":"m%d"}],"has_more":true,"last_id":"m%d"}`, n, n))(w, r)
		})
		got, err := newTestClient(t, f.URL).Models(context.Background())
		if err != nil || len(got) != maxModelPages || n != maxModelPages {
			t.Errorf("%d models from %d pages (%v), want %d", len(got), n, err, maxModelPages)
		}
	})
	t.Run("against the fake", func(t *testing.T) {
		fake := anthropictest.NewT(t, anthropictest.Options{APIKey: "sk-ant-test"})
		got, err := newTestClient(t, strings.TrimSuffix(fake.URL(), "/v1")).Models(context.Background())
		if err != nil || len(got) != len(anthropictest.DefaultModels) || got[0].ID != anthropictest.DefaultModels[0] || got[0].Created.IsZero() {
			t.Errorf("models = %+v (%v)", got, err)
		}
	})
	t.Run("auth error", func(t *testing.T) {
		f := upstreamtest.NewFake(t, frame.JSON(401, nil, string(testkit.Fixture(t, "error_authentication.json"))))
		if _, err := newTestClient(t, f.URL).Models(context.Background()); llm.KindOf(err) != llm.KindAuth {
			t.Errorf("error = %v", err)
		}
	})
}

func TestPing(t *testing.T) {
	upstreamtest.CheckPing(t, newTestClient, func(o *Options) { o.APIKey = "" }, func(t *testing.T, r upstreamtest.Request) {
		if r.Path != "/v1/models" || r.Query != "limit=1" || r.Header.Get("X-Api-Key") != "" {
			t.Errorf("request %s?%s with key %q", r.Path, r.Query, r.Header.Get("X-Api-Key"))
		}
	},
		upstreamtest.Answer{Name: "200", Handler: frame.JSON(200, nil, `{"data":[]}`)},
		upstreamtest.Answer{Name: "401 still proves the link", Handler: frame.JSON(401, nil, `{"type":"error","error":{"type":"authentication_error","message":"x"}}`)},
		upstreamtest.Answer{Name: "529 still proves the link", Handler: frame.JSON(529, nil, `oops`)},
	)
}

func TestNew(t *testing.T) {
	c, err := New(Options{})
	if err != nil || c.Name() != DefaultName || c.up.BaseURL() != DefaultBaseURL || c.wire.defaultMaxTokens != DefaultMaxTokens {
		t.Fatalf("defaults not applied: %v", err)
	}
	_, err = New(Options{
		Endpoint:         upstream.Endpoint{APIKey: "k", Headers: map[string]string{"x-api-key": "other", "Anthropic-Version": "2024-01-01"}},
		DefaultMaxTokens: -1,
		Version:          "2023\n",
	})
	for _, w := range []string{`anthropic: new "anthropic"`, "DefaultMaxTokens -1", "Version: contains control characters",
		"x-api-key conflicts with APIKey", "anthropic-version is set by Version"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not mention %q", err, w)
		}
	}
}
