package router

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/config"
	"github.com/edgeway/edgeway/edge/llm"
)

func resolveRouter(tb testing.TB) *Router {
	tb.Helper()
	p := func(n string) llm.Provider { return chatOnly{newFake(n)} }
	return newTestRouter(tb, []Upstream{
		{Name: "openai", Type: "openai", Provider: p("openai")},
		{Name: "ollama", Type: "ollama", Provider: p("ollama"), Local: true},
		{Name: "anthropic", Type: "anthropic", Provider: p("anthropic")},
		{Name: "gemini", Type: "gemini", Provider: p("gemini")},
		{Name: "mistral", Type: "openai-compatible", Provider: p("mistral")},
		{Name: "openrouter", Type: "openai-compatible", Provider: p("openrouter")},
		{Name: "llamacpp", Type: "llamacpp", Provider: p("llamacpp"), Local: true},
	}, map[string][]string{
		"chat":   {"openai/gpt-4o-mini", "ollama/llama3.2:1b", "anthropic/claude-3-5-haiku", "llamacpp/tiny"},
		"ollama": {"openai/gpt-4o"}, // an alias may shadow a provider name
	}, nil)
}

func TestResolve(t *testing.T) {
	cases := []struct {
		name      string
		model     string
		ollama    []string // ollama's model list; nil = unknown
		llamacpp  []string
		want      []string // targets
		wantModel string   // the upstream model of the first target
		wantErr   bool
	}{
		{name: "alias puts locals first", model: "chat",
			want: []string{"ollama/llama3.2:1b", "llamacpp/tiny", "openai/gpt-4o-mini", "anthropic/claude-3-5-haiku"}, wantModel: "llama3.2:1b"},
		{name: "alias wins over provider name", model: "ollama", want: []string{"openai/gpt-4o"}},
		{name: "provider/model with a colon", model: "ollama/llama3.2:1b", want: []string{"ollama/llama3.2:1b"}, wantModel: "llama3.2:1b"},
		{name: "provider/model with slashes", model: "openrouter/meta-llama/llama-3-8b",
			want: []string{"openrouter/meta-llama/llama-3-8b"}, wantModel: "meta-llama/llama-3-8b"},
		{name: "provider with empty model is bare", model: "openai/", ollama: []string{}, llamacpp: []string{}, wantErr: true},
		{name: "bare goes to locals that have it", model: "qwen2.5:0.5b",
			ollama: []string{"qwen2.5:0.5b"}, llamacpp: []string{"tiny"}, want: []string{"ollama/qwen2.5:0.5b"}},
		{name: "bare untagged matches latest", model: "llama3.2",
			ollama: []string{"llama3.2:latest"}, llamacpp: []string{}, want: []string{"ollama/llama3.2"}, wantModel: "llama3.2"},
		{name: "bare goes to locals with unknown lists", model: "phi3",
			want: []string{"ollama/phi3", "llamacpp/phi3"}},
		{name: "bare with slash and unknown prefix", model: "hf.co/org/model:Q4", ollama: []string{"hf.co/org/model:Q4"},
			llamacpp: []string{}, want: []string{"ollama/hf.co/org/model:Q4"}},
		{name: "gpt claimed by openai after locals", model: "gpt-4o-mini",
			want: []string{"ollama/gpt-4o-mini", "llamacpp/gpt-4o-mini", "openai/gpt-4o-mini"}},
		{name: "gpt claimed by openai only", model: "gpt-4o", ollama: []string{}, llamacpp: []string{}, want: []string{"openai/gpt-4o"}},
		{name: "o3", model: "o3-mini", ollama: []string{}, llamacpp: []string{}, want: []string{"openai/o3-mini"}},
		{name: "o1", model: "o1", ollama: []string{}, llamacpp: []string{}, want: []string{"openai/o1"}},
		{name: "o4", model: "o4-mini", ollama: []string{}, llamacpp: []string{}, want: []string{"openai/o4-mini"}},
		{name: "chatgpt", model: "chatgpt-4o-latest", ollama: []string{}, llamacpp: []string{}, want: []string{"openai/chatgpt-4o-latest"}},
		{name: "openai embedding", model: "text-embedding-3-small", ollama: []string{}, llamacpp: []string{},
			want: []string{"openai/text-embedding-3-small"}},
		{name: "gemini embedding 004", model: "text-embedding-004", ollama: []string{}, llamacpp: []string{},
			want: []string{"gemini/text-embedding-004"}},
		{name: "gemini embedding", model: "gemini-embedding-001", ollama: []string{}, llamacpp: []string{},
			want: []string{"gemini/gemini-embedding-001"}},
		{name: "gemini", model: "gemini-2.0-flash", ollama: []string{}, llamacpp: []string{}, want: []string{"gemini/gemini-2.0-flash"}},
		{name: "claude", model: "claude-3-5-sonnet-latest", ollama: []string{}, llamacpp: []string{},
			want: []string{"anthropic/claude-3-5-sonnet-latest"}},
		{name: "mistral", model: "mistral-large-latest", ollama: []string{}, llamacpp: []string{},
			want: []string{"mistral/mistral-large-latest"}},
		{name: "ministral", model: "ministral-8b-latest", ollama: []string{}, llamacpp: []string{}, want: []string{"mistral/ministral-8b-latest"}},
		{name: "codestral", model: "codestral-latest", ollama: []string{}, llamacpp: []string{}, want: []string{"mistral/codestral-latest"}},
		{name: "open-mistral", model: "open-mistral-nemo", ollama: []string{}, llamacpp: []string{}, want: []string{"mistral/open-mistral-nemo"}},
		{name: "pixtral", model: "pixtral-12b", ollama: []string{}, llamacpp: []string{}, want: []string{"mistral/pixtral-12b"}},
		{name: "openrouter claims nothing bare", model: "meta-llama/llama-3-8b", ollama: []string{}, llamacpp: []string{}, wantErr: true},
		{name: "unknown", model: "no-such", ollama: []string{"a"}, llamacpp: []string{"b"}, wantErr: true},
		{name: "empty", model: "", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := resolveRouter(t)
			if tc.ollama != nil {
				r.byName["ollama"].setModels(tc.ollama)
			}
			if tc.llamacpp != nil {
				r.byName["llamacpp"].setModels(tc.llamacpp)
			}
			cands, err := r.resolve(tc.model, nil)
			if tc.wantErr {
				var ue *UnknownModelError
				if !errors.As(err, &ue) {
					t.Fatalf("resolve = %v, %v; want *UnknownModelError", cands, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cands {
				got = append(got, c.target)
				if c.target != c.up.Name+"/"+c.model {
					t.Errorf("candidate %q has upstream %q model %q", c.target, c.up.Name, c.model)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("targets\n got %q\nwant %q", got, tc.want)
			}
			if tc.wantModel != "" && cands[0].model != tc.wantModel {
				t.Errorf("first model %q, want %q", cands[0].model, tc.wantModel)
			}
		})
	}
}

func TestUnknownModelError(t *testing.T) {
	r := resolveRouter(t)
	r.byName["ollama"].setModels(nil)
	r.byName["llamacpp"].setModels(nil)
	_, err := r.resolve("nope", nil)
	var ue *UnknownModelError
	if !errors.As(err, &ue) {
		t.Fatal(err)
	}
	want := []string{"anthropic", "chat", "gemini", "llamacpp", "mistral", "ollama", "openai", "openrouter"}
	if !slices.Equal(ue.Known, want) {
		t.Errorf("Known = %q, want %q", ue.Known, want)
	}
	if ue.Status() != 404 || !strings.Contains(err.Error(), `unknown model "nope"`) {
		t.Errorf("error %q status %d", err, ue.Status())
	}

	// Known is bounded, and a huge name is not quoted whole.
	aliases := map[string][]string{}
	for i := range 50 {
		aliases[string(rune('a'+i%26))+strings.Repeat("x", i)] = []string{"openai/gpt-4o"}
	}
	r = newTestRouter(t, []Upstream{{Name: "openai", Type: "openai", Provider: newFake("openai")}}, aliases, nil)
	_, err = r.resolve(strings.Repeat("é", 10000), nil)
	if !errors.As(err, &ue) || len(ue.Known) != maxKnown || len(err.Error()) > 2000 {
		t.Fatalf("known %d, message length %d", len(ue.Known), len(err.Error()))
	}
}

func TestNewValidates(t *testing.T) {
	p := newFake("p")
	cases := []struct {
		name  string
		cfg   Config
		wants []string // substrings of the joined error; nil = valid
	}{
		{name: "valid", cfg: Config{Upstreams: []Upstream{{Name: "a", Provider: p}}, Aliases: map[string][]string{"x": {"a/m"}}}},
		{name: "no upstreams", cfg: Config{}, wants: []string{"no upstreams"}},
		{name: "all problems at once", cfg: Config{
			Upstreams: []Upstream{
				{Name: "", Provider: p},
				{Name: "a/b", Provider: p},
				{Name: "c", Provider: nil, MaxInFlight: -1, ContextLength: -5, FirstTokenTimeout: -time.Second},
				{Name: "c", Provider: p},
			},
			Aliases: map[string][]string{
				"":      {"c/m"},
				"empty": {},
				"bad":   {"nomodel", "c/", "/m", "zz/m"},
			},
			MaxAttempts: -1, RetryBase: -1, RetryMax: -1, Deadline: -1, BreakerThreshold: -1,
			BreakerCooldown: -1, ProbeInterval: -1, ProbeTimeout: -1,
		}, wants: []string{
			"upstreams[0]: name is empty", `upstreams[1]: name "a/b" contains "/"`, "upstreams[2] (c): provider is nil",
			"upstreams[2] (c): ContextLength is -5", "upstreams[2].MaxInFlight is -1", "upstreams[2].FirstTokenTimeout is -1s",
			`upstreams[3]: name "c" is used twice`, "alias with an empty name", `alias "empty" has no targets`,
			`target "nomodel" is not "provider/model"`, `target "c/" is not`, `target "/m" is not`,
			`target "zz/m" names unknown provider "zz" (configured: a/b, c, c)`,
			"MaxAttempts is -1", "RetryBase is -1ns", "RetryMax is -1ns", "Deadline is -1ns", "BreakerThreshold is -1",
			"BreakerCooldown is -1ns", "ProbeInterval is -1ns", "ProbeTimeout is -1ns",
		}},
		{name: "retry max below base", cfg: Config{Upstreams: []Upstream{{Name: "a", Provider: p}}, RetryBase: time.Second, RetryMax: time.Millisecond},
			wants: []string{"RetryMax 1ms is below RetryBase 1s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.cfg)
			if tc.wants == nil {
				if err != nil || r == nil {
					t.Fatalf("New = %v, %v", r, err)
				}
				return
			}
			if err == nil {
				t.Fatal("New accepted an invalid config")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	r, err := New(Config{Upstreams: []Upstream{
		{Name: "l", Provider: newFake("l"), Local: true},
		{Name: "c", Provider: newFake("c")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	c := r.cfg
	if c.MaxAttempts != DefaultMaxAttempts || c.RetryBase != DefaultRetryBase || c.RetryMax != DefaultRetryMax ||
		c.Deadline != DefaultDeadline || c.BreakerThreshold != DefaultBreakerThreshold ||
		c.BreakerCooldown != DefaultBreakerCooldown || c.ProbeInterval != DefaultProbeInterval || c.ProbeTimeout != DefaultProbeTimeout {
		t.Errorf("defaults not applied: %+v", c)
	}
	if l := r.ups[0]; l.MaxInFlight != config.DefaultLocalMaxInFlight || l.FirstTokenTimeout != config.DefaultFirstTokenTimeout {
		t.Errorf("local defaults: %+v", l.Upstream)
	}
	if c := r.ups[1]; c.MaxInFlight != config.DefaultCloudMaxInFlight {
		t.Errorf("cloud defaults: %+v", c.Upstream)
	}
}

// FuzzResolve feeds client-supplied model names to the resolver: it must
// not panic, and whatever it returns must be consistent.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"chat", "ollama/llama3.2:1b", "openrouter/a/b", "gpt-4o", "/", "ollama/", "/x", "", "é/é", "text-embedding-004"} {
		f.Add(s)
	}
	r := resolveRouter(f)
	f.Fuzz(func(t *testing.T, model string) {
		cands, err := r.resolve(model, nil)
		if err != nil {
			var ue *UnknownModelError
			if !errors.As(err, &ue) || len(cands) != 0 {
				t.Fatalf("resolve(%q) = %v, %v", model, cands, err)
			}
			_ = err.Error()
			return
		}
		if len(cands) == 0 {
			t.Fatalf("resolve(%q) gave no candidates and no error", model)
		}
		for _, c := range cands {
			if c.up == nil || c.model == "" || c.target != c.up.Name+"/"+c.model {
				t.Fatalf("resolve(%q): bad candidate %+v", model, c)
			}
		}
	})
}
