package llamacpp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
)

// fakeServer speaks the part of llama-server's wire that differs from
// OpenAI: /health answers 503 while the model loads.
func fakeServer(t *testing.T, health *atomic.Int32) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			code := int(health.Load())
			w.WriteHeader(code)
			if code == 503 {
				w.Write([]byte(`{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}`))
				return
			}
			w.Write([]byte(`{"status":"ok"}`))
		case "/v1/chat/completions":
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write([]byte("data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"model\":\"tiny\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"hi\"},\"finish_reason\":null}]}\n\n" +
				"data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"model\":\"tiny\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4},\"timings\":{\"predicted_ms\":1.2}}\n\n" +
				"data: [DONE]\n\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestPing(t *testing.T) {
	var health atomic.Int32
	s := fakeServer(t, &health)
	p, err := New(Options{Endpoint: upstream.Endpoint{BaseURL: s.URL + "/v1/"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		status int32
		kind   llm.Kind
		ok     bool
	}{
		{"ready", 200, 0, true},
		{"loading", 503, llm.KindOverloaded, false},
		{"broken", 500, llm.KindServer, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			health.Store(tc.status)
			err := p.Ping(context.Background())
			if tc.ok != (err == nil) || (!tc.ok && llm.KindOf(err) != tc.kind) {
				t.Errorf("Ping = %v (kind %v), want ok=%v kind %v", err, llm.KindOf(err), tc.ok, tc.kind)
			}
		})
	}
	s.Close()
	if err := p.Ping(context.Background()); llm.KindOf(err) != llm.KindUnavailable {
		t.Errorf("closed server: %v", err)
	}
}

func TestChatOverOpenAIWire(t *testing.T) {
	var health atomic.Int32
	health.Store(200)
	s := fakeServer(t, &health)
	p, err := New(Options{Endpoint: upstream.Endpoint{BaseURL: s.URL + "/v1"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "llamacpp" {
		t.Errorf("name %q", p.Name())
	}
	var agg llm.Aggregate
	u, err := p.Chat(context.Background(), &llm.ChatRequest{Model: "tiny", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Text: "hi"}}}}}, func(c *llm.Chunk) error {
		agg.Add(c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if agg.Text.String() != "hi" || agg.FinishReason != llm.FinishStop || u.TotalTokens != 4 {
		t.Errorf("text %q finish %q usage %+v", agg.Text.String(), agg.FinishReason, u)
	}
	if !strings.HasSuffix(p.health, "/health") || strings.Contains(p.health, "/v1") {
		t.Errorf("health URL %q", p.health)
	}
}
