package server

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/edgeway/edgeway/edge/keys"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/router"
	"github.com/edgeway/edgeway/sync/usage"
)

// memLedger collects records.
type memLedger struct {
	mu   sync.Mutex
	recs []usage.Record
}

func (m *memLedger) Append(r *usage.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, *r)
	return nil
}

func (m *memLedger) last(t *testing.T) usage.Record {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.recs) == 0 {
		t.Fatal("no usage record")
	}
	return m.recs[len(m.recs)-1]
}

func (m *memLedger) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.recs)
}

// flatPrice charges $1 per million input tokens and $2 per million output
// tokens for "local/tiny" and knows no other model.
type flatPrice struct{}

func (p flatPrice) Estimate(model string, u llm.Usage) float64 {
	c, _ := p.Cost("local", "tiny", u)
	return c
}

func (flatPrice) Cost(provider, model string, u llm.Usage) (float64, bool) {
	if provider+"/"+model != "local/tiny" {
		return 0, false
	}
	return (float64(u.PromptTokens) + 2*float64(u.CompletionTokens)) / 1e6, true
}

func TestUsageRecordsEveryDialectStreamedAndWhole(t *testing.T) {
	led := &memLedger{}
	url := startServer(t, &fakeRouter{route: replyWords}, Options{Ledger: led, Pricer: flatPrice{}})
	const want = (5 + 2*3) / 1e6
	for _, tc := range []struct {
		dialect, path, body string
	}{
		{"openai", "/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`},
		{"openai", "/v1/chat/completions", `{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"anthropic", "/v1/messages", `{"model":"chat","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}`},
		{"anthropic", "/v1/messages", `{"model":"chat","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"ollama", "/api/chat", `{"model":"chat","stream":false,"messages":[{"role":"user","content":"hi"}]}`},
		{"ollama", "/api/chat", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`},
	} {
		resp, b := post(t, url+tc.path, tc.body, "x-edgeway-tags", "app=notes, env = test")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", tc.path, resp.StatusCode, b)
		}
		r := led.last(t)
		stream := strings.Contains(tc.body, `"stream":true`) || tc.dialect == "ollama" && !strings.Contains(tc.body, `"stream":false`)
		if r.Dialect != tc.dialect || r.Alias != "chat" || r.Provider != "local" || r.Model != "tiny" || r.Outcome != "ok" || r.Status != 200 {
			t.Errorf("%s stream=%v: %+v", tc.dialect, stream, r)
		}
		if r.TokensIn != 5 || r.TokensOut != 3 || !r.CostKnown || r.CostUSD != want || r.Estimated {
			t.Errorf("%s stream=%v: tokens %d/%d cost %v %v, want 5/3 %v", tc.dialect, stream, r.TokensIn, r.TokensOut, r.CostUSD, r.CostKnown, want)
		}
		if r.ID == "" || r.ID != resp.Header.Get("x-request-id") || r.Tags["app"] != "notes" || r.Tags["env"] != "test" {
			t.Errorf("%s: id %q tags %v", tc.dialect, r.ID, r.Tags)
		}
		if stream && r.TTFTMS <= 0 || r.LatencyMS <= 0 {
			t.Errorf("%s stream=%v: ttft %v latency %v", tc.dialect, stream, r.TTFTMS, r.LatencyMS)
		}
	}
}

func TestUsageRecordsFailuresAndRefusals(t *testing.T) {
	led := &memLedger{}
	st := keyStore(t)
	narrow := mustKey(t, st, keys.KeySpec{Name: "n", Policy: keys.Policy{Models: []string{"chat"}}})
	fail := &fakeRouter{route: func(context.Context, *llm.ChatRequest, *router.Status, func(*llm.Chunk) error) (llm.Usage, error) {
		return llm.Usage{}, &llm.Error{Provider: "cloud", Kind: llm.KindRateLimited, Status: 429}
	}}
	url := startServer(t, fail, Options{Ledger: led, Auth: keys.NewAuth(st, testAdminKey)})
	auth := []string{"Authorization", "Bearer " + narrow}

	resp, _ := post(t, url+"/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`, auth...)
	r := led.last(t)
	if resp.StatusCode != 429 || r.Status != 429 || r.Outcome != "rate_limit_exceeded" || !r.CostKnown || r.CostUSD != 0 || r.Key == "" {
		t.Errorf("rate limited: %d %+v", resp.StatusCode, r)
	}
	post(t, url+"/v1/chat/completions", `{"model":"other","messages":[{"role":"user","content":"hi"}]}`, auth...)
	if r := led.last(t); r.Status != 403 || r.Outcome != "model_not_allowed" || r.Alias != "other" {
		t.Errorf("refused model: %+v", r)
	}
	n := led.len()
	post(t, url+"/v1/chat/completions", `{"model":"chat","messages":[]}`) // no key: not a caller's usage
	if led.len() != n {
		t.Error("an unauthenticated request was recorded as usage")
	}
}

func TestUsageEstimatedWhenProviderReportsNone(t *testing.T) {
	led := &memLedger{}
	silent := &fakeRouter{route: func(ctx context.Context, req *llm.ChatRequest, st *router.Status, emit func(*llm.Chunk) error) (llm.Usage, error) {
		st.Provider, st.Model = "local", "tiny"
		return llm.Usage{}, emit(&llm.Chunk{Role: llm.RoleAssistant, Text: "sixteen bytes!!!", FinishReason: llm.FinishStop})
	}}
	url := startServer(t, silent, Options{Ledger: led, Pricer: flatPrice{}})
	post(t, url+"/v1/chat/completions", `{"model":"chat","stream":true,"messages":[{"role":"user","content":"hello there"}]}`)
	r := led.last(t)
	if !r.Estimated || r.TokensOut != 4 || r.TokensIn == 0 || !r.CostKnown {
		t.Fatalf("%+v", r)
	}
}
