package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string // substrings that must all appear
		check   func(t *testing.T, c *Config)
	}{
		{
			name: "empty file gives defaults",
			yaml: "",
			check: func(t *testing.T, c *Config) {
				if c.Listen != DefaultListen || c.DataDir != DefaultDataDir {
					t.Errorf("listen=%q data_dir=%q", c.Listen, c.DataDir)
				}
				if c.Log.Format != DefaultLogFormat || c.Log.Level != DefaultLogLevel {
					t.Errorf("log defaults not applied: %+v", c.Log)
				}
				if c.Server.MaxBodyBytes != DefaultMaxBodyBytes || c.Server.MaxConcurrency != DefaultMaxConcurrency {
					t.Errorf("server defaults not applied: %+v", c.Server)
				}
			},
		},
		{
			name: "full example",
			yaml: `
listen: 127.0.0.1:9000
data_dir: /tmp/x
server:
  read_timeout: 5s
  max_concurrency: 8
providers:
  - name: ollama
    type: ollama
    options: {num_thread: 1}
  - name: openai
    type: openai
    api_key: env:OPENAI_API_KEY
    timeout: 1m
  - name: groq
    type: openai-compatible
    base_url: https://api.groq.com/openai/v1/
models:
  chat: [ollama/llama3.2:1b, openai/gpt-4o-mini]
router:
  max_attempts: 3
`,
			check: func(t *testing.T, c *Config) {
				if c.Listen != "127.0.0.1:9000" || c.Server.ReadTimeout.D() != 5*time.Second || c.Server.MaxConcurrency != 8 {
					t.Errorf("got %+v", c)
				}
				if p := c.Providers[0]; p.BaseURL != DefaultOllamaURL || !p.Local() || p.MaxInFlight != DefaultLocalMaxInFlight {
					t.Errorf("ollama defaults: %+v", p)
				}
				if p := c.Providers[1]; p.BaseURL != "https://api.openai.com/v1" || p.Timeout.D() != time.Minute || p.Local() {
					t.Errorf("openai: %+v", p)
				}
				if p := c.Providers[2]; p.BaseURL != "https://api.groq.com/openai/v1" {
					t.Errorf("trailing slash kept: %q", p.BaseURL)
				}
				if got := c.Models["chat"]; len(got) != 2 || got[1] != "openai/gpt-4o-mini" {
					t.Errorf("models: %v", got)
				}
			},
		},
		{
			name: "fault bounds: defaults and overrides",
			yaml: `
server:
  max_answer_bytes: 65536
router:
  stall_timeout: 10s
providers:
  - name: ollama
    type: ollama
  - name: openai
    type: openai
    api_key: env:OPENAI_API_KEY
    first_token_timeout: 5s
    stall_timeout: 2s
  - name: anthropic
    type: anthropic
    api_key: env:ANTHROPIC_API_KEY
`,
			check: func(t *testing.T, c *Config) {
				if c.Server.MaxAnswerBytes != 65536 || c.Router.StallTimeout.D() != 10*time.Second {
					t.Errorf("server %+v router %+v", c.Server, c.Router)
				}
				want := []struct{ first, stall time.Duration }{
					{DefaultFirstTokenTimeout, 10 * time.Second}, // local default, router's stall
					{5 * time.Second, 2 * time.Second},           // its own
					{DefaultCloudFirstTokenTimeout, 10 * time.Second},
				}
				for i, w := range want {
					p := c.Providers[i]
					if p.FirstTokenTimeout.D() != w.first || p.StallTimeout.D() != w.stall {
						t.Errorf("%s: first_token_timeout %v stall_timeout %v, want %v %v", p.Name, p.FirstTokenTimeout.D(), p.StallTimeout.D(), w.first, w.stall)
					}
				}
			},
		},
		{
			name: "fault bounds: defaults with nothing set",
			yaml: "",
			check: func(t *testing.T, c *Config) {
				if c.Server.MaxAnswerBytes != DefaultMaxAnswerBytes || c.Router.StallTimeout.D() != DefaultStallTimeout {
					t.Errorf("server %+v router %+v", c.Server, c.Router)
				}
			},
		},
		{
			name: "fault bounds: bad values all reported",
			yaml: `
server:
  max_answer_bytes: 100
router:
  stall_timeout: -1s
providers:
  - name: openai
    type: openai
    stall_timeout: -2s
`,
			wantErr: []string{"server.max_answer_bytes: 100 is below the minimum 4096", "router: durations must not be negative", "providers[0]: timeouts must not be negative"},
		},
		{
			name:    "unknown field is an error",
			yaml:    "listen: 127.0.0.1:1\nlisten_port: 3\n",
			wantErr: []string{"listen_port"},
		},
		{
			name:    "unknown nested field",
			yaml:    "providers:\n  - name: a\n    type: ollama\n    colour: red\n",
			wantErr: []string{"colour"},
		},
		{
			name:    "bad duration",
			yaml:    "server:\n  read_timeout: soon\n",
			wantErr: []string{`"soon" is not a duration`},
		},
		{
			name: "all problems at once",
			yaml: `
listen: nope
providers:
  - name: a/b
    type: magic
  - name: x
    type: openai-compatible
  - name: x
    type: ollama
    base_url: ftp://x
models:
  chat: [nothing/here, noslash]
  empty: []
`,
			wantErr: []string{
				`listen: "nope" is not host:port`,
				`providers[0].name: "a/b" must not contain`,
				`providers[0].type: "magic" is not one of`,
				`providers[1].base_url: is required for type "openai-compatible"`,
				`providers[2].name: "x" is used twice`,
				`providers[2].base_url: "ftp://x" is not an http(s) URL`,
				`models.chat[0]: "nothing/here" names provider "nothing"`,
				`models.chat[1]: "noslash" is not "provider/model"`,
				`models.empty: needs at least one target`,
			},
		},
		{
			name: "fields a type does not use are refused, not dropped",
			yaml: `
providers:
  - name: claude
    type: anthropic
    api_key: env:K
    options: {num_ctx: 4096}
    no_stream_options: true
  - name: gem
    type: gemini
    api_key: env:K
    max_tokens_field: max_tokens
  - name: lc
    type: llamacpp
    options: {num_thread: 2}
  - name: ol
    type: ollama
    no_stream_options: true
    max_tokens_field: max_completion_tokens
`,
			wantErr: []string{
				`providers[0].options: runtime model options are sent only to type "ollama"`,
				`providers[0].no_stream_options: applies only to the OpenAI wire`,
				`providers[1].max_tokens_field: applies only to the OpenAI wire`,
				`providers[2].options: runtime model options are sent only to type "ollama"`,
				`providers[3].no_stream_options: applies only to the OpenAI wire`,
				`providers[3].max_tokens_field: applies only to the OpenAI wire`,
			},
		},
		{
			name: "pricing",
			yaml: `
providers:
  - name: up
    type: openai-compatible
    base_url: http://127.0.0.1:9/v1
pricing:
  up/fake-model: {input: 1.00, output: 2.00, cached_input: 0.5}
  nobody/x: {input: 1}
  noslash: {input: 1}
  up/neg: {input: -1}
`,
			wantErr: []string{
				`pricing: "nobody/x" is not provider/model of a configured provider`,
				`pricing: "noslash" is not provider/model`,
				`pricing.up/neg: prices must be finite and not negative`,
			},
		},
		{
			name:    "pii policies",
			yaml:    "pii:\n  default: redact\n  models:\n    chat: local-only\n    other: maybe\n",
			wantErr: []string{`pii.default: "redact" is not allow`, `pii.models.other: "maybe" is not allow`},
		},
		{
			name:    "log",
			yaml:    "log:\n  format: xml\n  level: trace\n",
			wantErr: []string{`log.format: "xml" is not text or json`, `log.level: "trace" is not debug, info, warn or error`},
		},
		{
			name: "log ok",
			yaml: "log:\n  format: json\n  level: debug\n",
			check: func(t *testing.T, c *Config) {
				if c.Log.Format != "json" || c.Log.Level != "debug" {
					t.Errorf("log %+v", c.Log)
				}
			},
		},
		{
			name: "pii policies ok",
			yaml: "pii:\n  default: redact-for-cloud\n  models:\n    chat: local-only\n",
			check: func(t *testing.T, c *Config) {
				if c.PII.Default != "redact-for-cloud" || c.PII.Models["chat"] != "local-only" {
					t.Errorf("pii %+v", c.PII)
				}
			},
		},
		{
			name:    "pricing typo",
			yaml:    "pricing:\n  up/m: {inptu: 1}\n",
			wantErr: []string{"inptu"},
		},
		{
			name: "pricing ok",
			yaml: "providers:\n  - name: up\n    type: openai-compatible\n    base_url: http://127.0.0.1:9/v1\npricing:\n  up/fake-model: {input: 1.00, output: 2.00}\n",
			check: func(t *testing.T, c *Config) {
				if p := c.Pricing["up/fake-model"]; p.Input != 1 || p.Output != 2 {
					t.Errorf("pricing %+v", c.Pricing)
				}
			},
		},
		{
			name:    "connection bound below the request bound",
			yaml:    "server:\n  max_concurrency: 8\n  max_connections: 8\n  header_timeout: -1s\n",
			wantErr: []string{"server.max_connections: 8 must be above server.max_concurrency (8)", "server.header_timeout: -1s must not be negative"},
		},
		{
			name: "connection bound and header timeout defaults",
			yaml: "server:\n  max_concurrency: 8\n",
			check: func(t *testing.T, c *Config) {
				if c.Server.MaxConnections != 8*4+256 || c.Server.HeaderTimeout.D() != DefaultHeaderTimeout {
					t.Errorf("server %+v", c.Server)
				}
			},
		},
		{
			name:    "listen port out of range",
			yaml:    "listen: 127.0.0.1:99999\n",
			wantErr: []string{`listen: port "99999" is not a number from 1 to 65535`},
		},
		{
			name: "listen port 0 lets the system pick",
			yaml: "listen: 127.0.0.1:0\n",
			check: func(t *testing.T, c *Config) {
				if c.Listen != "127.0.0.1:0" {
					t.Errorf("listen %q", c.Listen)
				}
			},
		},
		{
			name: "base_url ports, control characters and passwords",
			yaml: "providers:\n  - name: \"a\\u0007b\"\n    type: ollama\n    base_url: http://127.0.0.1:0\n" +
				"  - name: c\n    type: openai-compatible\n    base_url: http://user:hunter2secret@127.0.0.1:99999/v1\n" +
				"  - name: d\n    type: openai-compatible\n    base_url: \"http://u:hunter3secret@h\\x01/v1\"\n" +
				"models:\n  \"x\\ny\": [c/m]\n  z: [\"c/m\\u001b[31m\"]\n",
			wantErr: []string{
				`providers[0].name: "a\ab" must not contain`,
				`providers[0].base_url: "http://127.0.0.1:0": port "0" is not from 1 to 65535`,
				`providers[1].base_url: "http://user:xxxxx@127.0.0.1:99999/v1": port "99999"`,
				`providers[2].base_url: "http://xxxxx@h\x01/v1" is not an http(s) URL`,
				`models."x\ny": alias "x\ny" must not contain spaces or control characters`,
				`models.z[0]: "c/m\x1b[31m" is not "provider/model"`,
			},
		},
		{
			name: "allowed origins and hosts",
			yaml: "server:\n  allowed_origins: [\"https://app.example.com\", \"*\", \"https://a.example.com/path\", \"evil\", \"http://h:70000\"]\n" +
				"  allowed_hosts: [edge.local, \"*\", \"edge.local:8420\", \"http://x\", \"\"]\n",
			wantErr: []string{
				`server.allowed_origins[2]: "https://a.example.com/path" is not an origin`,
				`server.allowed_origins[3]: "evil" is not an origin`,
				`server.allowed_origins[4]: "http://h:70000": port "70000"`,
				`server.allowed_hosts[2]: "edge.local:8420" is not a host name`,
				`server.allowed_hosts[3]: "http://x" is not a host name`,
				`server.allowed_hosts[4]: "" is not a host name`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tc.yaml), Defaults{})
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("want error, got config %+v", c)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
				for _, leak := range []string{"hunter2secret", "hunter3secret"} {
					if strings.Contains(err.Error(), leak) {
						t.Errorf("error prints a base_url password:\n%v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestValidationErrorUnwraps(t *testing.T) {
	_, err := Parse(strings.NewReader("listen: x\nserver:\n  max_concurrency: -1\n"), Defaults{})
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 2 {
		t.Fatalf("got %v", err)
	}
}

func TestDefaultFromEnv(t *testing.T) {
	env := map[string]string{"OPENAI_API_KEY": "sk-1", "MISTRAL_API_KEY": "m", "OLLAMA_HOST": "0.0.0.0:1234"}
	c := Default(func(k string) string { return env[k] }, Defaults{})
	var got []string
	for _, p := range c.Providers {
		got = append(got, p.Name+"="+p.BaseURL)
	}
	want := "ollama=http://127.0.0.1:1234 openai=https://api.openai.com/v1 mistral=https://api.mistral.ai/v1"
	if strings.Join(got, " ") != want {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

func TestSecret(t *testing.T) {
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"K": "v"}[k]
		return v, ok
	}
	tests := []struct {
		name, in, want, str string
		err                 bool
	}{
		{"env", "env:K", "v", "env:K", false},
		{"env missing", "env:NOPE", "", "env:NOPE", true},
		{"literal", "sk-abc", "sk-abc", "[redacted]", false},
		{"empty", "", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Secret(tc.in)
			got, err := s.Resolve(lookup)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("Resolve = %q, %v", got, err)
			}
			if s.String() != tc.str {
				t.Errorf("String = %q, want %q", s.String(), tc.str)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add("listen: 127.0.0.1:1\nproviders:\n  - name: a\n    type: ollama\n")
	f.Add("models:\n  x: [a/b]\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(strings.NewReader(s), Defaults{})
		if err == nil && c.Validate() != nil {
			t.Fatal("Parse accepted a config Validate rejects")
		}
	})
}

func TestBoardDefaults(t *testing.T) {
	d := Defaults{LocalMaxInFlight: 2, MaxConcurrency: 16, OllamaNumThread: 3}
	c, err := Parse(strings.NewReader(`
providers:
  - name: a
    type: ollama
  - name: b
    type: ollama
    max_in_flight: 5
    options: {num_thread: 1}
  - name: c
    type: llamacpp
`), d)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.MaxConcurrency != 16 {
		t.Errorf("max_concurrency %d", c.Server.MaxConcurrency)
	}
	a, b, l := c.Providers[0], c.Providers[1], c.Providers[2]
	if a.MaxInFlight != 2 || a.Options["num_thread"] != 3 {
		t.Errorf("a: %d %v", a.MaxInFlight, a.Options)
	}
	if b.MaxInFlight != 5 || b.Options["num_thread"] != 1 {
		t.Errorf("explicit values must win: %d %v", b.MaxInFlight, b.Options)
	}
	if l.MaxInFlight != 2 || l.Options != nil {
		t.Errorf("llamacpp: %d %v", l.MaxInFlight, l.Options)
	}
}

func TestSemanticDefaults(t *testing.T) {
	c, err := Parse(strings.NewReader("cache:\n  semantic:\n    enabled: true\n"), Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Cache.Semantic.Embedder != "glove" || !c.Cache.On() {
		t.Errorf("semantic %+v", c.Cache.Semantic)
	}
	_, err = Parse(strings.NewReader("cache:\n  mode: sometimes\n  semantic:\n    enabled: true\n    embedder: nope/x\n    threshold: 2\n"), Defaults{})
	for _, w := range []string{`cache.mode: "sometimes"`, `cache.semantic.embedder: "nope/x"`, "cache.semantic.threshold: 2"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
}
