package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/anthropic/anthropictest"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/edge/upstream/upstreamtest"
)

func fakeClient(t *testing.T, fake *anthropictest.Server, mod ...func(*Options)) *Client {
	t.Helper()
	mods := append([]func(*Options){func(o *Options) { o.Headers = nil }}, mod...)
	return newTestClient(t, strings.TrimSuffix(fake.URL(), "/v1"), mods...)
}

func TestChatAgainstFake(t *testing.T) {
	tool := &anthropictest.ToolUse{Name: "get_weather", Input: `{"location": "San Francisco, CA", "unit": "celsius"}`, Preamble: "Let me check."}
	tests := []struct {
		name     string
		opts     anthropictest.Options
		mode     anthropictest.Mode
		client   func(*Options)
		req      func(*llm.ChatRequest)
		wantKind llm.Kind
		wantIs   error
		check    func(t *testing.T, agg *llm.Aggregate, u llm.Usage)
	}{
		{name: "text", opts: anthropictest.Options{Reply: "One two three.", CacheReadTokens: 5, CacheCreationTokens: 2}, check: func(t *testing.T, a *llm.Aggregate, u llm.Usage) {
			want := llm.Usage{PromptTokens: 1 + 5 + 2, CompletionTokens: 3, TotalTokens: 11, CachedTokens: 5, CacheWriteTokens: 2}
			if a.Text.String() != "One two three." || a.FinishReason != llm.FinishStop || u != want {
				t.Errorf("text %q finish %q usage %+v", a.Text.String(), a.FinishReason, u)
			}
		}},
		{name: "max tokens", opts: anthropictest.Options{Reply: "One two three."}, req: func(r *llm.ChatRequest) { r.MaxTokens = new(2) },
			check: func(t *testing.T, a *llm.Aggregate, u llm.Usage) {
				if a.Text.String() != "One two" || a.FinishReason != llm.FinishLength {
					t.Errorf("text %q finish %q", a.Text.String(), a.FinishReason)
				}
			}},
		{name: "stop sequence", opts: anthropictest.Options{Reply: "One two three."}, req: func(r *llm.ChatRequest) { r.Stop = []string{" three"} },
			check: func(t *testing.T, a *llm.Aggregate, u llm.Usage) {
				if a.Text.String() != "One two" || a.FinishReason != llm.FinishStop {
					t.Errorf("text %q finish %q", a.Text.String(), a.FinishReason)
				}
			}},
		{name: "thinking", opts: anthropictest.Options{Thinking: "Hmm, let me see.", Reply: "Yes."}, check: func(t *testing.T, a *llm.Aggregate, u llm.Usage) {
			if a.Reasoning.String() != "Hmm, let me see." || a.Text.String() != "Yes." {
				t.Errorf("reasoning %q text %q", a.Reasoning.String(), a.Text.String())
			}
		}},
		{name: "tool use split across many deltas", opts: anthropictest.Options{ToolUse: tool, Chunks: 11},
			req: func(r *llm.ChatRequest) { r.Tools = []llm.Tool{{Name: "get_weather"}} },
			check: func(t *testing.T, a *llm.Aggregate, u llm.Usage) {
				want := []llm.ToolCall{{ID: anthropictest.DefaultToolUseID, Name: "get_weather", Arguments: tool.Input}}
				if !reflect.DeepEqual(a.ToolCalls, want) || a.Text.String() != "Let me check." || a.FinishReason != llm.FinishToolCalls || u.CompletionTokens != 11 {
					t.Errorf("calls %+v text %q finish %q usage %+v", a.ToolCalls, a.Text.String(), a.FinishReason, u)
				}
			}},
		{name: "tool choice none gets text", opts: anthropictest.Options{ToolUse: tool, Reply: "No tools."},
			req: func(r *llm.ChatRequest) {
				r.Tools = []llm.Tool{{Name: "get_weather"}}
				r.ToolChoice = &llm.ToolChoice{Mode: "none"}
			},
			check: func(t *testing.T, a *llm.Aggregate, u llm.Usage) {
				if len(a.ToolCalls) != 0 || a.Text.String() != "No tools." {
					t.Errorf("calls %+v text %q", a.ToolCalls, a.Text.String())
				}
			}},
		{name: "bearer auth", opts: anthropictest.Options{APIKey: "sk-ant-bearer"},
			client: func(o *Options) { o.APIKey, o.Headers = "", map[string]string{"Authorization": "Bearer sk-ant-bearer"} }},
		{name: "wrong key", opts: anthropictest.Options{APIKey: "other"}, wantKind: llm.KindAuth},
		{name: "no key", opts: anthropictest.Options{APIKey: "other"}, client: func(o *Options) { o.APIKey = "" }, wantKind: llm.KindAuth},
		{name: "refuse", mode: anthropictest.Refuse, wantKind: llm.KindUnavailable},
		{name: "500", mode: anthropictest.Error500, wantKind: llm.KindServer},
		{name: "529", mode: anthropictest.Overloaded529, wantKind: llm.KindOverloaded},
		{name: "429", mode: anthropictest.RateLimit429, wantKind: llm.KindRateLimited},
		{name: "stall", mode: anthropictest.Stall, client: func(o *Options) { o.Timeout = 100 * time.Millisecond }, wantKind: llm.KindTimeout},
		{name: "cut mid-stream", mode: anthropictest.CutMidStream, wantKind: llm.KindServer, wantIs: llm.ErrStreamCut},
		{name: "malformed", mode: anthropictest.MalformedJSON, wantKind: llm.KindServer, wantIs: llm.ErrMalformed},
		{name: "prompt too long", mode: anthropictest.PromptTooLong, wantKind: llm.KindContextLength},
		{name: "401", mode: anthropictest.Unauthorized, wantKind: llm.KindAuth},
		{name: "overloaded mid-stream", mode: anthropictest.OverloadedMidStream, wantKind: llm.KindOverloaded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.opts.APIKey == "" {
				tt.opts.APIKey = "sk-ant-test"
			}
			fake := anthropictest.NewT(t, tt.opts)
			fake.SetModeN(tt.mode, 1)
			c := fakeClient(t, fake, tt.client)
			req := simpleRequest()
			if tt.req != nil {
				tt.req(req)
			}
			chunks, agg, u, err := upstreamtest.Collect(c.Chat, req)
			if tt.wantKind != llm.KindUnknown {
				var le *llm.Error
				if !errors.As(err, &le) || le.Kind != tt.wantKind {
					t.Fatalf("error = %v, want kind %v", err, tt.wantKind)
				}
				if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
					t.Errorf("error %v is not %v", err, tt.wantIs)
				}
				if tt.mode == anthropictest.RateLimit429 && (le.RetryAfter != time.Second) {
					t.Errorf("RetryAfter = %v, want the fake's retry-after of 1s", le.RetryAfter)
				}
				if tt.mode == anthropictest.OverloadedMidStream && len(chunks) != 1 {
					t.Errorf("%d chunks before the error, want 1", len(chunks))
				}
				return
			}
			if err != nil {
				t.Fatalf("Chat: %v", err)
			}
			if h := fake.LastHeader(); h.Get("Anthropic-Version") != DefaultVersion {
				t.Errorf("anthropic-version = %q", h.Get("Anthropic-Version"))
			}
			if tt.check != nil {
				tt.check(t, agg, u)
			}
		})
	}
}

func TestChatCanceledAbortsUpstream(t *testing.T) {
	fake := anthropictest.NewT(t, anthropictest.Options{Reply: strings.Repeat("word ", 50), ChunkDelay: 20 * time.Millisecond})
	c := fakeClient(t, fake)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	_, err := c.Chat(ctx, simpleRequest(), func(ch *llm.Chunk) error {
		n++
		cancel() // the edgeway client disconnected
		return nil
	})
	if n != 1 {
		t.Errorf("emitted %d chunks before the cancel, want 1", n)
	}
	if k := llm.KindOf(err); k != llm.KindCanceled {
		t.Errorf("Kind = %v, want canceled (%v)", k, err)
	}
	testkit.Until(t, "the fake to see the disconnect", func() bool { return fake.Aborted() == 1 })
}

// TestRoundTrip runs a request the whole way: an Anthropic client's body is
// decoded by the ingress, sent upstream by the Client to the fake (which
// validates it like Anthropic), the chunks come back through the Client
// and are encoded by StreamEncoder, and a strict parse of that stream
// gives back what the fake said.
func TestRoundTrip(t *testing.T) {
	ingress := `{
		"model": "claude-sonnet-4-5", "max_tokens": 256, "stream": true,
		"system": [{"type":"text","text":"You are a weather bot."}],
		"messages": [
			{"role":"user","content":[{"type":"text","text":"Weather in SF?"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]},
			{"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"location":"SF"}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01","content":"15 C"},{"type":"text","text":"And now Paris?"}]}
		],
		"tools": [{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"location":{"type":"string"}}}}],
		"tool_choice": {"type":"auto","disable_parallel_tool_use":true},
		"temperature": 0.2, "top_k": 5, "stop_sequences": ["END"], "metadata": {"user_id":"u-1"}
	}`
	for _, withTool := range []bool{false, true} {
		name := map[bool]string{false: "text", true: "tool_use"}[withTool]
		t.Run(name, func(t *testing.T) {
			o := anthropictest.Options{APIKey: "sk-ant-test", Reply: "It is 18 C in Paris.", Thinking: "Paris, then."}
			if withTool {
				o.ToolUse = &anthropictest.ToolUse{ID: "toolu_02", Name: "get_weather", Input: `{"location":"Paris","unit":"celsius"}`, Preamble: "Let me look."}
				o.Chunks = 7
			}
			fake := anthropictest.NewT(t, o)
			var req llm.ChatRequest
			if err := DecodeMessagesRequest([]byte(ingress), &req); err != nil {
				t.Fatal(err)
			}
			c := fakeClient(t, fake)
			var enc StreamEncoder
			enc.Reset("msg_edgeway_1", req.Model)
			out := enc.Start(nil)
			u, err := c.Chat(context.Background(), &req, func(ch *llm.Chunk) error {
				out = enc.Chunk(out, ch)
				return nil
			})
			if err != nil {
				t.Fatalf("Chat: %v", err)
			}
			out = enc.End(out, u)

			// What the fake received decodes to the same request.
			var again llm.ChatRequest
			if err := DecodeMessagesRequest(fake.LastRequest(), &again); err != nil {
				t.Fatalf("upstream body does not decode: %v\n%s", err, fake.LastRequest())
			}
			// The passthrough differs (the upstream got the model and
			// stream edgeway set); the canonical request must not.
			again.Passthrough, req.Passthrough = nil, nil
			if !reflect.DeepEqual(again, req) {
				g, _ := json.Marshal(again)
				w, _ := json.Marshal(req)
				t.Errorf("upstream body decodes to a different request\ngot:  %s\nwant: %s", g, w)
			}

			// What the client gets is what the fake said.
			r := rebuild(t, parseSSE(t, out))
			if r.Blocks[0]["type"] != "thinking" || r.Blocks[0]["thinking"] != "Paris, then." {
				t.Errorf("block 0 = %v", r.Blocks[0])
			}
			if withTool {
				if len(r.Blocks) != 3 || r.Blocks[1]["text"] != "Let me look." || r.Blocks[2]["id"] != "toolu_02" ||
					!reflect.DeepEqual(r.Blocks[2]["input"], map[string]any{"location": "Paris", "unit": "celsius"}) || r.StopReason != "tool_use" {
					t.Errorf("blocks %v stop %q", r.Blocks, r.StopReason)
				}
			} else if len(r.Blocks) != 2 || r.Blocks[1]["text"] != "It is 18 C in Paris." || r.StopReason != "end_turn" {
				t.Errorf("blocks %v stop %q", r.Blocks, r.StopReason)
			}
			if r.Usage["input_tokens"] != json.Number("14") {
				t.Errorf("usage = %v, want the fake's word count of the prompt (14)", r.Usage)
			}
		})
	}
}
