package pricing

import (
	"math"
	"testing"

	"github.com/edgeway/edgeway/edge/llm"
)

func TestCatalogLookup(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Source == "" {
		t.Fatal("catalog names no source")
	}
	for _, tc := range []struct {
		typ, url, model string
		ok              bool
	}{
		{"openai", "https://api.openai.com/v1", "gpt-4o-mini", true},
		{"openai", "https://api.openai.com/v1", "gpt-4o-mini-2024-07-18", true},
		{"anthropic", "https://api.anthropic.com", "claude-sonnet-4-5", true},
		{"gemini", "https://generativelanguage.googleapis.com", "gemini-2.5-flash", true},
		{"openai-compatible", "https://api.mistral.ai/v1", "mistral-large-latest", true},
		{"openai-compatible", "https://api.groq.com/openai/v1", "llama-3.3-70b-versatile", true},
		{"openai", "https://api.openai.com/v1", "no-such-model-xyz", false},
		{"openai-compatible", "http://10.0.0.5:8000/v1", "gpt-4o-mini", false},
	} {
		p, ok := c.Lookup(c.ProviderFor(tc.typ, tc.url), tc.model)
		if ok != tc.ok {
			t.Errorf("%s %s %s: found %v", tc.typ, tc.url, tc.model, ok)
		}
		if ok && (p.Input <= 0 || p.Output <= 0) {
			t.Errorf("%s: price %+v", tc.model, p)
		}
	}
}

func TestTableCost(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	tbl := NewTable(c, map[string]Upstream{
		"ollama": {Type: "ollama", Local: true},
		"up":     {Type: "openai", BaseURL: "http://127.0.0.1:9/v1"},
		"cloud":  {Type: "openai", BaseURL: "https://api.openai.com/v1"},
	}, map[string]Price{"up/fake-model": {Input: 1, Output: 2}, "ollama/priced": {Input: 0.5, Output: 0.5}},
		map[string][]string{"chat": {"ollama/qwen3", "up/fake-model", "cloud/mystery"}})
	u := llm.Usage{PromptTokens: 1000, CompletionTokens: 500}
	gp, _ := c.Lookup("openai", "gpt-4o-mini")
	for _, tc := range []struct {
		provider, model string
		want            float64
		known           bool
	}{
		{"up", "fake-model", (1000*1.0 + 500*2.0) / 1e6, true},
		{"ollama", "qwen3", 0, true},
		{"ollama", "priced", 1500 * 0.5 / 1e6, true},
		{"cloud", "gpt-4o-mini", (1000*gp.Input + 500*gp.Output) / 1e6, true},
		{"up", "gpt-4o-mini", (1000*gp.Input + 500*gp.Output) / 1e6, true}, // type openai: the catalog's price
		{"cloud", "mystery", 0, false},
		{"nobody", "x", 0, false},
	} {
		got, known := tbl.Cost(tc.provider, tc.model, u)
		if known != tc.known || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s/%s: %v %v, want %v %v", tc.provider, tc.model, got, known, tc.want, tc.known)
		}
	}
	if got, want := tbl.Estimate("chat", u), (1000*1.0+500*2.0)/1e6; got != want {
		t.Errorf("alias estimate %v, want the dearest target's %v", got, want)
	}
	if got := tbl.Estimate("cloud/mystery", u); got != 0 {
		t.Errorf("unpriced estimate %v", got)
	}
}

func TestPriceCachedTokens(t *testing.T) {
	p := Price{Input: 2, Output: 8, CacheRead: 0.5, CacheWrite: 2.5}
	u := llm.Usage{PromptTokens: 1000, CachedTokens: 600, CacheWriteTokens: 100, CompletionTokens: 10}
	want := (300*2 + 600*0.5 + 100*2.5 + 10*8) / 1e6
	if got := p.Cost(u); math.Abs(got-want) > 1e-15 {
		t.Fatalf("%v, want %v", got, want)
	}
	plain := Price{Input: 2, Output: 8} // no cache prices: cached tokens cost as input
	if got, want := plain.Cost(u), (1000*2+10*8)/1e6; math.Abs(got-want) > 1e-15 {
		t.Fatalf("%v, want %v", got, want)
	}
}

func BenchmarkTableCost(b *testing.B) {
	c, _ := Load()
	tbl := NewTable(c, map[string]Upstream{"cloud": {Type: "openai", BaseURL: "https://api.openai.com/v1"}}, nil, nil)
	u := llm.Usage{PromptTokens: 1000, CompletionTokens: 500}
	b.ReportAllocs()
	for b.Loop() {
		tbl.Cost("cloud", "gpt-4o-mini", u)
	}
}
