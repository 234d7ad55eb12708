package anthropic

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/anthropic/anthropictest"
	"github.com/edgeway/edgeway/edge/llm"
)

// fullBody is what Claude Code sends, more or less: everything the
// canonical form has no place for.
const fullBody = `{
	"model": "claude-opus-4-8", "max_tokens": 1024, "stream": false,
	"system": [{"type":"text","text":"You are Claude Code."},{"type":"text","text":"Stable prefix.","cache_control":{"type":"ephemeral","ttl":"1h"}}],
	"messages": [
		{"role":"user","content":[{"type":"text","text":"List the files.","cache_control":{"type":"ephemeral"}}]},
		{"role":"assistant","content":[
			{"type":"thinking","thinking":"I will call ls.","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxB"},
			{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix/LafPsn4aDFIT"},
			{"type":"tool_use","id":"toolu_01","name":"Bash","input":{"command":"ls"}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01","content":"a.go b.go","cache_control":{"type":"ephemeral"}}]},
		{"role":"system","content":"The user switched to plan mode."}
	],
	"tools": [{"name":"Bash","description":"Run a command","input_schema":{"type":"object","properties":{"command":{"type":"string"}}},"cache_control":{"type":"ephemeral"}}],
	"thinking": {"type":"adaptive"},
	"output_config": {"effort":"high"},
	"context_management": {"edits":[{"type":"clear_thinking_20251015","keep":{"type":"thinking_turns","value":1}}]},
	"metadata": {"user_id":"user_abc"},
	"service_tier": "auto",
	"speed": "fast",
	"future_field": {"x":[1,2]}
}`

// midConversationBeta is the beta header value Claude Code sends.
const midConversationBeta = "interleaved-thinking-2025-05-14," + anthropictest.MidConversationSystemBeta

// decodeWithBeta decodes body as the server does, with the client's
// anthropic-beta header in the passthrough.
func decodeWithBeta(t *testing.T, body, beta string) *llm.ChatRequest {
	t.Helper()
	req := &llm.ChatRequest{}
	if err := DecodeMessagesRequest([]byte(body), req); err != nil {
		t.Fatal(err)
	}
	if beta != "" {
		req.Passthrough.Headers = append(req.Passthrough.Headers, llm.Header{Name: BetaHeader, Value: beta})
	}
	return req
}

func jsonMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return m
}

// TestPassthroughFields: each field an Anthropic client sends reaches an
// Anthropic upstream JSON-equal to what the client wrote; only model
// (the upstream's name) and stream (always true upstream) differ.
func TestPassthroughFields(t *testing.T) {
	fake := anthropictest.NewT(t, anthropictest.Options{ExtraFields: []string{"speed", "future_field"}})
	req := decodeWithBeta(t, fullBody, midConversationBeta)
	req.Model = "claude-opus-4-8-20260528" // the router's upstream name
	if _, err := fakeClient(t, fake).Chat(context.Background(), req, func(*llm.Chunk) error { return nil }); err != nil {
		t.Fatal(err)
	}
	sent, got := jsonMap(t, []byte(fullBody)), jsonMap(t, fake.LastRequest())
	for _, field := range []string{"system", "messages", "tools", "thinking", "output_config", "context_management", "metadata", "service_tier", "speed", "future_field", "max_tokens"} {
		t.Run(field, func(t *testing.T) {
			if !reflect.DeepEqual(got[field], sent[field]) {
				t.Errorf("upstream got %s = %v, client sent %v", field, got[field], sent[field])
			}
		})
	}
	if got["model"] != "claude-opus-4-8-20260528" || got["stream"] != true || len(got) != len(sent) {
		t.Errorf("model %v stream %v, %d fields (client sent %d)", got["model"], got["stream"], len(got), len(sent))
	}
	if h := fake.LastHeader().Get("Anthropic-Beta"); h != midConversationBeta {
		t.Errorf("anthropic-beta upstream = %q, want %q", h, midConversationBeta)
	}
	// metadata.user_id maps (to User), so it is not dropped.
	want := []string{"cache_control", "context_management", "future_field", "output_config.effort",
		"redacted_thinking", "service_tier", "speed", "thinking"}
	if !slices.Equal(req.Passthrough.Dropped, want) {
		t.Errorf("dropped = %q, want %q", req.Passthrough.Dropped, want)
	}
}

// TestSystemTurnToAnthropic: a mid-conversation system turn stands in
// place when the client's beta allows it, and is otherwise folded into
// the user turn before it as a <system-reminder> block (the fake refuses
// system turns without the beta, as models without the feature do).
func TestSystemTurnToAnthropic(t *testing.T) {
	body := `{"model":"m","max_tokens":64,"system":"top","messages":[{"role":"user","content":"hi"},{"role":"system","content":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}]},{"role":"assistant","content":"ok"},{"role":"user","content":"more"}]}`
	for _, tc := range []struct {
		name, beta string
		canonical  bool // the request lost its body (PII redaction)
		want       string
	}{
		{name: "beta: in place", beta: midConversationBeta,
			want: `[{"role":"user","content":"hi"},{"role":"system","content":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}]},{"role":"assistant","content":"ok"},{"role":"user","content":"more"}]`},
		{name: "no beta: folded",
			want: `[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"text","text":"<system-reminder>\nBe brief.\n</system-reminder>","cache_control":{"type":"ephemeral"}}]},{"role":"assistant","content":"ok"},{"role":"user","content":"more"}]`},
		{name: "canonical, beta: in place", beta: midConversationBeta, canonical: true,
			want: `[{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"system","content":[{"type":"text","text":"Be brief."}]},{"role":"assistant","content":[{"type":"text","text":"ok"}]},{"role":"user","content":[{"type":"text","text":"more"}]}]`},
		{name: "canonical, no beta: folded", canonical: true,
			want: `[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"text","text":"<system-reminder>\nBe brief.\n</system-reminder>"}]},{"role":"assistant","content":[{"type":"text","text":"ok"}]},{"role":"user","content":[{"type":"text","text":"more"}]}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := anthropictest.NewT(t, anthropictest.Options{})
			req := decodeWithBeta(t, body, tc.beta)
			if tc.canonical {
				req.Passthrough.Body = nil
			}
			if _, err := fakeClient(t, fake).Chat(context.Background(), req, func(*llm.Chunk) error { return nil }); err != nil {
				t.Fatal(err)
			}
			got := jsonMap(t, fake.LastRequest())
			var want any
			_ = json.Unmarshal([]byte(tc.want), &want)
			if !reflect.DeepEqual(got["messages"], want) || got["system"] != "top" {
				g, _ := json.Marshal(got["messages"])
				t.Errorf("messages upstream:\n%s\nwant:\n%s\nsystem %v", g, tc.want, got["system"])
			}
		})
	}
}

// TestAnswerFields: what an Anthropic upstream answers reaches an
// Anthropic client: thinking with its real signature, redacted_thinking,
// and usage with cache tokens, streamed (message_start and
// message_delta) and whole.
func TestAnswerFields(t *testing.T) {
	fake := anthropictest.NewT(t, anthropictest.Options{Reply: "Two files.", Thinking: "Count them.",
		Signature: "c2lnbmVkLWJ5LWZha2U=", RedactedThinking: "RW5jcnlwdGVk", CacheReadTokens: 100, CacheCreationTokens: 20})
	c := fakeClient(t, fake)
	body := `{"model":"m","max_tokens":64,"messages":[{"role":"user","content":"How many files?"}]}`

	t.Run("stream", func(t *testing.T) {
		req := decodeWithBeta(t, body, "")
		var enc StreamEncoder
		enc.Reset("msg_1", "m")
		enc.SetInputTokens(999) // the estimate, which the upstream's count replaces
		var out []byte
		u, err := c.Chat(context.Background(), req, func(ch *llm.Chunk) error {
			if !enc.Started() && ch.Usage != nil {
				enc.SetStartUsage(*ch.Usage)
			}
			out = enc.Chunk(out, ch)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		r := rebuild(t, parseSSE(t, enc.End(out, u)))
		checkBlocks(t, r.Blocks)
		for name, usage := range map[string]map[string]any{"message_start": r.StartUsage, "message_delta": r.Usage} {
			if usage["input_tokens"] != json.Number("3") || usage["cache_read_input_tokens"] != json.Number("100") || usage["cache_creation_input_tokens"] != json.Number("20") {
				t.Errorf("%s usage = %v", name, usage)
			}
		}
	})
	t.Run("whole", func(t *testing.T) {
		req := decodeWithBeta(t, body, "")
		var a llm.Aggregate
		u, err := c.Chat(context.Background(), req, func(ch *llm.Chunk) error { a.Add(ch); return nil })
		if err != nil {
			t.Fatal(err)
		}
		a.Usage = u
		var msg struct {
			Content []map[string]any `json:"content"`
			Usage   map[string]any   `json:"usage"`
		}
		if err := json.Unmarshal(AppendMessageResponse(nil, "msg_1", "m", &a), &msg); err != nil {
			t.Fatal(err)
		}
		checkBlocks(t, msg.Content)
		if msg.Usage["input_tokens"] != 3.0 || msg.Usage["cache_read_input_tokens"] != 100.0 || msg.Usage["cache_creation_input_tokens"] != 20.0 {
			t.Errorf("usage = %v", msg.Usage)
		}
	})
}

// checkBlocks checks the content blocks of TestAnswerFields's answer.
func checkBlocks(t *testing.T, blocks []map[string]any) {
	t.Helper()
	want := []map[string]any{
		{"type": "thinking", "thinking": "Count them.", "signature": "c2lnbmVkLWJ5LWZha2U="},
		{"type": "redacted_thinking", "data": "RW5jcnlwdGVk"},
		{"type": "text", "text": "Two files."},
	}
	if !reflect.DeepEqual(blocks, want) {
		t.Errorf("blocks = %v\nwant     %v", blocks, want)
	}
}

// TestCountTokensUpstream: count_tokens goes to the upstream with the
// client's body (model replaced, no stream) and beta header, and its
// count comes back.
func TestCountTokensUpstream(t *testing.T) {
	fake := anthropictest.NewT(t, anthropictest.Options{})
	req := &llm.ChatRequest{}
	body := `{"model":"alias","system":"one two","messages":[{"role":"user","content":"three four five"}],"thinking":{"type":"adaptive"}}`
	if err := DecodeCountTokensRequest([]byte(body), req); err != nil {
		t.Fatal(err)
	}
	req.Passthrough.Headers = []llm.Header{{Name: BetaHeader, Value: "token-counting-2024-11-01"}}
	req.Model = "claude-haiku-4-5"
	n, err := fakeClient(t, fake).CountTokens(context.Background(), req)
	if err != nil || n != 5 {
		t.Fatalf("CountTokens = %d, %v; want the fake's 5 words", n, err)
	}
	got, h := fake.LastCount()
	m := jsonMap(t, got)
	if m["model"] != "claude-haiku-4-5" || m["stream"] != nil || m["thinking"] == nil || h.Get("Anthropic-Beta") != "token-counting-2024-11-01" {
		t.Errorf("upstream got %s with beta %q", got, h.Get("Anthropic-Beta"))
	}
	req.Passthrough = nil
	if _, err := fakeClient(t, fake).CountTokens(context.Background(), req); err == nil || llm.KindOf(err) != llm.KindBadRequest {
		t.Errorf("without a body: %v", err)
	}
}

// TestDroppedNames: what each body holds beyond the canonical form.
func TestDroppedNames(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"plain", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"a"}]}`, nil},
		{"system turn maps", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"a"},{"role":"system","content":"s"}]}`, nil},
		{"thinking config", `{"model":"m","max_tokens":1,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"a"}]}`, []string{"thinking"}},
		{"cache_control on a tool", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"a"}],"tools":[{"name":"f","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}]}`, []string{"cache_control"}},
		{"effort", `{"model":"m","max_tokens":1,"output_config":{"effort":"low"},"messages":[{"role":"user","content":"a"}]}`, []string{"output_config.effort"}},
		{"citations and a system turn's clear_at", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":"a","citations":[]}]},{"role":"system","content":"s","clear_at":"next_turn"}]}`, []string{"citations", "clear_at"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := decodeWithBeta(t, tc.body, "")
			if !slices.Equal(req.Passthrough.Dropped, tc.want) {
				t.Errorf("dropped = %q, want %q", req.Passthrough.Dropped, tc.want)
			}
			if strings.Contains(tc.name, "system turn") && req.Messages[len(req.Messages)-1].Role != llm.RoleSystem {
				t.Errorf("system turn not in place: %+v", req.Messages)
			}
		})
	}
}
