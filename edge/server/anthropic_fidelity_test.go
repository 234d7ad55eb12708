package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/edgeway/edgeway/edge/anthropic"
	"github.com/edgeway/edgeway/edge/anthropic/anthropictest"
	"github.com/edgeway/edgeway/edge/openai"
	"github.com/edgeway/edgeway/edge/openai/openaitest"
	"github.com/edgeway/edgeway/edge/router"
	"github.com/edgeway/edgeway/edge/upstream"
	"github.com/edgeway/edgeway/runtime/ollama"
)

// ollamaChatFake is a minimal Ollama /api/chat: it records the body and
// answers Ollama 0.17's NDJSON stream (runtime/ollama/testdata has the
// captured form).
type ollamaChatFake struct {
	srv  *httptest.Server
	mu   sync.Mutex
	last []byte
}

func newOllamaChatFake(t *testing.T) *ollamaChatFake {
	t.Helper()
	f := &ollamaChatFake{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/chat" {
			http.Error(w, `{"error":"404 page not found"}`, http.StatusNotFound)
			return
		}
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		f.mu.Lock()
		f.last = b
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-ndjson")
		io.WriteString(w, `{"model":"tiny","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":"ok"},"done":false}`+"\n"+
			`{"model":"tiny","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":5,"eval_count":1}`+"\n")
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *ollamaChatFake) lastBody() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// fidelityGateway serves one upstream of each wire: claude (Anthropic),
// oai (OpenAI) and olla (Ollama, local).
type fidelityGateway struct {
	url    string
	claude *anthropictest.Server
	oai    *openaitest.Server
	olla   *ollamaChatFake
}

func startFidelityGateway(t *testing.T) *fidelityGateway {
	t.Helper()
	g := &fidelityGateway{
		claude: anthropictest.NewT(t, anthropictest.Options{Reply: "Hi there.", Thinking: "Greet.", Signature: "c2ln",
			CacheReadTokens: 7, CacheCreationTokens: 2, ExtraFields: []string{"speed"}}),
		oai:  openaitest.NewT(t, openaitest.Options{Reply: "Hi there."}),
		olla: newOllamaChatFake(t),
	}
	claude, err := anthropic.New(anthropic.Options{Endpoint: upstream.Endpoint{Name: "claude", BaseURL: g.claude.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	oai, err := openai.New(openai.Options{Endpoint: upstream.Endpoint{Name: "oai", BaseURL: g.oai.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	olla, err := ollama.New(ollama.Options{Name: "olla", BaseURL: g.olla.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	r, err := router.New(router.Config{Upstreams: []router.Upstream{
		{Name: "claude", Type: "anthropic", Provider: claude},
		{Name: "oai", Type: "openai", Provider: oai},
		{Name: "olla", Type: "ollama", Provider: olla, Local: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	g.url = startServer(t, r, Options{})
	return g
}

// systemTurnBody is a Claude Code-like request: a system message in the
// middle of messages, a prompt-cache breakpoint and thinking.
const systemTurnBody = `{"model":"MODEL","max_tokens":64,"stream":STREAM,"system":"top",
	"thinking":{"type":"adaptive"},
	"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]},{"role":"system","content":"Be brief."},{"role":"assistant","content":"ok"},{"role":"user","content":"more"}]}`

func systemTurn(model string, stream bool) string {
	s := strings.Replace(systemTurnBody, "MODEL", model, 1)
	return strings.Replace(s, "STREAM", map[bool]string{false: "false", true: "true"}[stream], 1)
}

// TestMidConversationSystem: a role "system" turn is accepted and reaches
// every upstream: in place for OpenAI-wire and Ollama, in place for
// Anthropic with the client's beta and folded into the user turn before
// it without; x-edgeway-dropped names what the other dialects lost.
func TestMidConversationSystem(t *testing.T) {
	g := startFidelityGateway(t)
	systemAt := func(t *testing.T, body []byte, i int, content any) {
		t.Helper()
		var b struct{ Messages []map[string]any }
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatal(err)
		}
		if i >= len(b.Messages) || b.Messages[i]["role"] != "system" || !reflect.DeepEqual(b.Messages[i]["content"], content) {
			t.Errorf("upstream messages = %v, want a system message %v at %d", b.Messages, content, i)
		}
	}
	for _, tc := range []struct {
		name, model, beta string
		check             func(t *testing.T)
		dropped           string
	}{
		{name: "openai", model: "oai/gpt-4o-mini", dropped: "cache_control,thinking", check: func(t *testing.T) {
			systemAt(t, g.oai.LastRequest(), 2, "Be brief.") // after the top-level system and the first user turn
		}},
		{name: "ollama", model: "olla/tiny", dropped: "cache_control,thinking", check: func(t *testing.T) {
			systemAt(t, g.olla.lastBody(), 2, "Be brief.")
		}},
		{name: "anthropic with the beta", model: "claude/claude-opus-4-8", beta: anthropictest.MidConversationSystemBeta, check: func(t *testing.T) {
			systemAt(t, g.claude.LastRequest(), 1, "Be brief.")
		}},
		{name: "anthropic without the beta", model: "claude/claude-opus-4-8", check: func(t *testing.T) {
			var b struct{ Messages []map[string]any }
			_ = json.Unmarshal(g.claude.LastRequest(), &b)
			want := []any{
				map[string]any{"type": "text", "text": "hi", "cache_control": map[string]any{"type": "ephemeral"}},
				map[string]any{"type": "text", "text": "<system-reminder>\nBe brief.\n</system-reminder>"},
			}
			if len(b.Messages) != 3 || !reflect.DeepEqual(b.Messages[0]["content"], want) {
				t.Errorf("upstream messages = %v", b.Messages)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := []string{"anthropic-version", "2023-06-01"}
			if tc.beta != "" {
				hdr = append(hdr, "anthropic-beta", tc.beta)
			}
			resp, body := post(t, g.url+"/v1/messages", systemTurn(tc.model, false), hdr...)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			tc.check(t)
			want := tc.dropped
			if tc.beta != "" && want != "" {
				want = "anthropic-beta," + want
			}
			if got := resp.Header.Get("x-edgeway-dropped"); got != want {
				t.Errorf("x-edgeway-dropped = %q, want %q", got, want)
			}
		})
	}
}

// TestAnthropicStreamUsage: a streamed answer from an Anthropic upstream
// reaches an Anthropic client with the upstream's own numbers in
// message_start (not edgeway's estimate), cache tokens included, and the
// thinking block's real signature.
func TestAnthropicStreamUsage(t *testing.T) {
	g := startFidelityGateway(t)
	resp, body := post(t, g.url+"/v1/messages", systemTurn("claude/claude-opus-4-8", true), "anthropic-beta", anthropictest.MidConversationSystemBeta)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var start, sig map[string]any
	for _, line := range strings.Split(string(body), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("%v: %s", err, data)
		}
		switch ev["type"] {
		case "message_start":
			start = ev["message"].(map[string]any)["usage"].(map[string]any)
		case "content_block_delta":
			if d := ev["delta"].(map[string]any); d["type"] == "signature_delta" {
				sig = d
			}
		}
	}
	// The fake counts the words of the prompt: top, hi, Be brief., ok, more.
	want := map[string]any{"input_tokens": 6.0, "cache_read_input_tokens": 7.0, "cache_creation_input_tokens": 2.0}
	for k, v := range want {
		if start[k] != v {
			t.Errorf("message_start usage %s = %v, want %v (all: %v)", k, start[k], v, start)
		}
	}
	if sig == nil || sig["signature"] != "c2ln" {
		t.Errorf("signature_delta = %v\n%s", sig, body)
	}
}

// TestCountTokensThroughUpstream: count_tokens is the Anthropic
// upstream's count when the model's first target is Anthropic, the
// estimate otherwise.
func TestCountTokensThroughUpstream(t *testing.T) {
	g := startFidelityGateway(t)
	body := `{"model":"MODEL","system":"one two","messages":[{"role":"user","content":"three four five"}],"speed":"fast"}`
	for _, tc := range []struct {
		model, provider string
		want            float64
	}{
		{"claude/claude-haiku-4-5", "claude", 5},
		{"oai/gpt-4o-mini", "estimate", -1},
	} {
		resp, b := post(t, g.url+"/v1/messages/count_tokens", strings.Replace(body, "MODEL", tc.model, 1))
		var out map[string]float64
		if err := json.Unmarshal(b, &out); resp.StatusCode != 200 || err != nil {
			t.Fatalf("%s: status %d: %s", tc.model, resp.StatusCode, b)
		}
		if got := resp.Header.Get("x-edgeway-provider"); got != tc.provider || tc.want >= 0 && out["input_tokens"] != tc.want || out["input_tokens"] <= 0 {
			t.Errorf("%s: counted %v by %q, want %v by %q", tc.model, out["input_tokens"], got, tc.want, tc.provider)
		}
	}
	if sent, _ := g.claude.LastCount(); !strings.Contains(string(sent), `"model":"claude-haiku-4-5"`) || !strings.Contains(string(sent), `"speed":"fast"`) {
		t.Errorf("upstream count_tokens got %s", sent)
	}
}

// TestDroppedOpenAIExtra: an OpenAI client's fields edgeway passes on
// verbatim reach an OpenAI-wire upstream; any other upstream drops them,
// and the header says so.
func TestDroppedOpenAIExtra(t *testing.T) {
	g := startFidelityGateway(t)
	for _, tc := range []struct{ model, want string }{
		{"oai/gpt-4o-mini", ""},
		{"claude/claude-haiku-4-5", "logprobs,top_logprobs"},
		{"olla/tiny", "logprobs,top_logprobs"},
	} {
		resp, body := post(t, g.url+"/v1/chat/completions", `{"model":"`+tc.model+`","logprobs":true,"top_logprobs":2,"messages":[{"role":"user","content":"hi"}]}`)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d: %s", tc.model, resp.StatusCode, body)
		}
		if got := resp.Header.Get("x-edgeway-dropped"); got != tc.want {
			t.Errorf("%s: x-edgeway-dropped = %q, want %q", tc.model, got, tc.want)
		}
	}
}
