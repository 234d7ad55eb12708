package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/anthropic/anthropictest"
)

// TestAnthropicNodeSDKFidelity: the official Anthropic TypeScript SDK,
// through the real binary, to an Anthropic upstream. Adaptive thinking,
// every cache_control, the mid-conversation system message and the beta
// header reach the upstream as the SDK sent them; the thinking block's
// signature, the redacted_thinking block and the cache token counts come
// back to the SDK as the upstream sent them, streamed and whole.
func TestAnthropicNodeSDKFidelity(t *testing.T) {
	modules := agentModules(t)
	fake := anthropictest.NewT(t, anthropictest.Options{APIKey: "sk-e2e", Reply: "Two files.", Thinking: "Count them.",
		Signature: "RXFRQkNnSVlBaElNMWdiY0RhOUdKd1pB", RedactedThinking: "RW1ZS0FoZ0JFZ3kzdmEzcHppeC9MYWZQ", CacheReadTokens: 40, CacheCreationTokens: 8})
	g := startEdgeway(t, providers(cloudProvider("claude", "anthropic", fake.URL()))+"models:\n  agent: [claude/claude-opus-4-8]\n")

	const beta = anthropictest.MidConversationSystemBeta
	cmd := exec.Command("node", filepath.Join("testdata", "anthropic_sdk_fidelity.cjs"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "EDGEWAY_URL="+g.URL, "MODEL=agent", "BETA="+beta)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	type block map[string]any
	var got struct {
		Streamed, Whole struct {
			Content []block        `json:"content"`
			Usage   map[string]any `json:"usage"`
		}
		Dropped  *string `json:"dropped"`
		Provider string  `json:"provider"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	// What the upstream got: the SDK's body, model replaced.
	var sent map[string]any
	if err := json.Unmarshal(fake.LastRequest(), &sent); err != nil {
		t.Fatal(err)
	}
	wantMsgs := []any{
		map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": "How many files are there?", "cache_control": map[string]any{"type": "ephemeral", "ttl": "1h"}}}},
		map[string]any{"role": "system", "content": "Answer in two words."},
	}
	wantSystem := []any{map[string]any{"type": "text", "text": "You are a coding agent.", "cache_control": map[string]any{"type": "ephemeral"}}}
	if sent["model"] != "claude-opus-4-8" || !reflect.DeepEqual(sent["thinking"], map[string]any{"type": "adaptive"}) ||
		!reflect.DeepEqual(sent["messages"], wantMsgs) || !reflect.DeepEqual(sent["system"], wantSystem) {
		t.Errorf("upstream got %s", fake.LastRequest())
	}
	if h := fake.LastHeader().Get("Anthropic-Beta"); !strings.Contains(h, beta) {
		t.Errorf("upstream anthropic-beta = %q", h)
	}

	// What the SDK got: the upstream's blocks and numbers.
	wantContent := []block{
		{"type": "thinking", "thinking": "Count them.", "signature": "RXFRQkNnSVlBaElNMWdiY0RhOUdKd1pB"},
		{"type": "redacted_thinking", "data": "RW1ZS0FoZ0JFZ3kzdmEzcHppeC9MYWZQ"},
		{"type": "text", "text": "Two files."},
	}
	for name, m := range map[string]struct {
		Content []block        `json:"content"`
		Usage   map[string]any `json:"usage"`
	}{"streamed": got.Streamed, "whole": got.Whole} {
		var content []block
		for _, b := range m.Content {
			if b["type"] == "text" {
				delete(b, "citations") // the SDK adds citations: null to text blocks
			}
			content = append(content, b)
		}
		if !reflect.DeepEqual(content, wantContent) {
			t.Errorf("%s content = %v", name, m.Content)
		}
		// input_tokens is the fake's count: the 14 words of the prompt.
		if m.Usage["cache_read_input_tokens"] != 40.0 || m.Usage["cache_creation_input_tokens"] != 8.0 || m.Usage["input_tokens"] != 14.0 {
			t.Errorf("%s usage = %v", name, m.Usage)
		}
	}
	if got.Provider != "claude" || got.Dropped != nil {
		t.Errorf("provider %q, dropped %v (nothing is dropped Anthropic to Anthropic)", got.Provider, got.Dropped)
	}
}
