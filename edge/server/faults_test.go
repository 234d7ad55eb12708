package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/anthropic"
	"github.com/edgeway/edgeway/edge/anthropic/anthropictest"
	"github.com/edgeway/edgeway/edge/gemini"
	"github.com/edgeway/edgeway/edge/gemini/geminitest"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/openai"
	"github.com/edgeway/edgeway/edge/openai/openaitest"
	"github.com/edgeway/edgeway/edge/router"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/edge/upstream"
	"github.com/edgeway/edgeway/runtime/llamacpp"
	"github.com/edgeway/edgeway/runtime/ollama"
	"github.com/edgeway/edgeway/runtime/ollama/ollamatest"
)

// Fault tests: the real server, router and provider clients in front of
// the fake upstreams, which stall, stream without end or refuse what they
// cannot do. Durations below are inputs (short timeouts), never asserted.
const (
	faultTimeout = 200 * time.Millisecond
	// faultPatience bounds a whole exchange, so a regression that hangs
	// fails instead of hanging the suite.
	faultPatience = 30 * time.Second
)

// faultTarget is the primary target of a fault test: one provider type in
// front of its fake.
type faultTarget struct {
	up      router.Upstream
	model   string
	aborted func() int64 // requests whose client (the gateway) left
	// requests counts the requests the fake received.
	requests func() int64
}

// stalledTarget starts the fake of provider type typ in its stall mode
// (nothing sent after the request) and returns the target.
func stalledTarget(t *testing.T, typ string) faultTarget {
	t.Helper()
	ep := func(base string) upstream.Endpoint {
		return upstream.Endpoint{Name: "primary", BaseURL: base, APIKey: "sk-test-primary-key"}
	}
	var (
		p     llm.Provider
		err   error
		model = "gpt-4o-mini"
		ab    func() int64
		local bool
	)
	switch typ {
	case "openai", "openai-compatible", "llamacpp":
		f := openaitest.NewT(t, openaitest.Options{})
		f.SetMode(openaitest.Stall)
		ab = f.Aborted
		if typ == "llamacpp" {
			p, err = llamacpp.New(llamacpp.Options{Endpoint: ep(f.URL())})
			local = true
		} else {
			p, err = openai.New(openai.Options{Endpoint: ep(f.URL())})
		}
	case "anthropic":
		f := anthropictest.NewT(t, anthropictest.Options{})
		f.SetMode(anthropictest.Stall)
		ab, model = f.Aborted, anthropictest.DefaultModels[0]
		p, err = anthropic.New(anthropic.Options{Endpoint: ep(f.URL())})
	case "gemini":
		f := geminitest.NewT(t, geminitest.Options{})
		f.SetMode(geminitest.Stall)
		ab, model = f.Aborted, geminitest.DefaultModels[0]
		p, err = gemini.New(gemini.Options{Endpoint: ep(f.URL())})
	case "ollama":
		f := ollamatest.NewFake(t)
		f.SetMode(ollamatest.FakeStall)
		ab, model, local = f.Aborted, ollamatest.Model, true
		p, err = ollama.New(ollama.Options{Name: "primary", BaseURL: f.URL})
	default:
		t.Fatalf("no fake for type %q", typ)
	}
	if err != nil {
		t.Fatal(err)
	}
	return faultTarget{up: router.Upstream{Name: "primary", Type: typ, Provider: p, Local: local}, model: model, aborted: ab}
}

// openaiPrimary is an OpenAI target in front of openaitest in mode m.
func openaiPrimary(t *testing.T, m openaitest.Mode) faultTarget {
	t.Helper()
	f := openaitest.NewT(t, openaitest.Options{})
	f.SetMode(m)
	p, err := openai.New(openai.Options{Endpoint: upstream.Endpoint{Name: "primary", BaseURL: f.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	return faultTarget{up: router.Upstream{Name: "primary", Type: "openai", Provider: p}, model: "gpt-4o-mini", aborted: f.Aborted, requests: f.Requests}
}

// ollamaPrimary is a local Ollama target in front of ollamatest.Fake in
// mode m.
func ollamaPrimary(t *testing.T, m ollamatest.FakeMode) faultTarget {
	t.Helper()
	f := ollamatest.NewFake(t)
	f.SetMode(m)
	p, err := ollama.New(ollama.Options{Name: "primary", BaseURL: f.URL})
	if err != nil {
		t.Fatal(err)
	}
	return faultTarget{up: router.Upstream{Name: "primary", Type: "ollama", Provider: p, Local: true}, model: ollamatest.Model, aborted: f.Aborted, requests: f.Requests}
}

// backupTarget is a healthy cloud target behind the primary.
func backupTarget(t *testing.T) (router.Upstream, *openaitest.Server) {
	t.Helper()
	f := openaitest.NewT(t, openaitest.Options{Reply: "Hello from the backup."})
	p, err := openai.New(openai.Options{Endpoint: upstream.Endpoint{Name: "backup", BaseURL: f.URL(), APIKey: "sk-test-backup-key"}})
	if err != nil {
		t.Fatal(err)
	}
	return router.Upstream{Name: "backup", Type: "openai", Provider: p}, f
}

// faultGateway serves primary then backup under the alias "chat".
func faultGateway(t *testing.T, primary faultTarget, backup router.Upstream, hook func(*router.Config)) string {
	t.Helper()
	cfg := router.Config{
		Upstreams: []router.Upstream{primary.up, backup},
		Aliases:   map[string][]string{"chat": {"primary/" + primary.model, "backup/gpt-4o-mini"}},
	}
	if hook != nil {
		hook(&cfg)
	}
	r, err := router.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, r, Options{})
}

func faultDo(t *testing.T, url, body string) testkit.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), faultPatience)
	defer cancel()
	res := testkit.Do(t, ctx, testkit.Client(t, 0), "POST", url, body)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	return res
}

const faultChat = `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`

// TestStalledPrimaryFailsOver: for every provider type, a primary that
// never sends its first token costs first_token_timeout, not the request
// deadline: the backup serves, the failover header says so, and the
// primary's request is canceled.
func TestStalledPrimaryFailsOver(t *testing.T) {
	for _, typ := range []string{"openai", "openai-compatible", "anthropic", "gemini", "llamacpp", "ollama"} {
		for _, stream := range []bool{false, true} {
			name := typ + "/whole"
			if stream {
				name = typ + "/stream"
			}
			t.Run(name, func(t *testing.T) {
				primary := stalledTarget(t, typ)
				primary.up.FirstTokenTimeout = faultTimeout
				backup, bf := backupTarget(t)
				url := faultGateway(t, primary, backup, nil)
				body := faultChat
				if stream {
					body = `{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`
				}
				res := faultDo(t, url+"/v1/chat/completions", body)
				if res.Status != 200 {
					t.Fatalf("status %d: %s", res.Status, res.Body)
				}
				if got := res.Header.Get("x-edgeway-failover"); got != "1" {
					t.Errorf("x-edgeway-failover = %q, want 1", got)
				}
				if got := res.Header.Get("x-edgeway-provider"); got != "backup" {
					t.Errorf("x-edgeway-provider = %q, want backup", got)
				}
				if !strings.Contains(string(res.Body), "backup") {
					t.Errorf("answer is not the backup's: %s", res.Body)
				}
				if n := bf.Requests(); n != 1 {
					t.Errorf("backup got %d requests, want 1", n)
				}
				testkit.Until(t, "the stalled primary's request canceled", func() bool { return primary.aborted() == 1 })
			})
		}
	}
}

// TestStallMidStream: a stream that stops after its first chunks is cut
// after stall_timeout. A streaming client, which has bytes already, gets
// its dialect's in-stream error; a whole-answer client is served by the
// backup. Either way the upstream request is canceled.
func TestStallMidStream(t *testing.T) {
	primaries := map[string]func(t *testing.T) faultTarget{
		"openai": func(t *testing.T) faultTarget { return openaiPrimary(t, openaitest.StallMidStream) },
		"ollama": func(t *testing.T) faultTarget { return ollamaPrimary(t, ollamatest.FakeStallMidStream) },
	}
	cases := []struct {
		name, path, body string
		wantFailover     string
		// wantInBody are fragments of the answer: for a stream, the
		// chunks sent before the stall and the dialect's error.
		wantInBody []string
		backupReqs int64
	}{
		{name: "openai dialect stream", path: "/v1/chat/completions",
			body:       `{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			wantInBody: []string{`"role":"assistant"`, `"error"`, "stalled"}, wantFailover: "0"},
		{name: "anthropic dialect stream", path: "/v1/messages",
			body:       `{"model":"chat","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			wantInBody: []string{"event: message_start", "event: error", "stalled"}, wantFailover: "0"},
		{name: "ollama dialect stream", path: "/api/chat",
			body:       `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`,
			wantInBody: []string{`"done":false`, `"error"`, "stalled"}, wantFailover: "0"},
		{name: "whole answer fails over", path: "/v1/chat/completions", body: faultChat,
			wantInBody: []string{"Hello from the backup."}, wantFailover: "1", backupReqs: 1},
	}
	for pname, newPrimary := range primaries {
		for _, tc := range cases {
			t.Run(pname+"/"+tc.name, func(t *testing.T) {
				primary := newPrimary(t)
				primary.up.StallTimeout = faultTimeout
				backup, bf := backupTarget(t)
				url := faultGateway(t, primary, backup, nil)
				res := faultDo(t, url+tc.path, tc.body)
				if res.Status != 200 {
					t.Fatalf("status %d: %s", res.Status, res.Body)
				}
				if got := res.Header.Get("x-edgeway-failover"); got != tc.wantFailover {
					t.Errorf("x-edgeway-failover = %q, want %s", got, tc.wantFailover)
				}
				for _, w := range tc.wantInBody {
					if !strings.Contains(string(res.Body), w) {
						t.Errorf("answer lacks %q:\n%s", w, res.Body)
					}
				}
				if n := bf.Requests(); n != tc.backupReqs {
					t.Errorf("backup got %d requests, want %d", n, tc.backupReqs)
				}
				testkit.Until(t, "the stalled stream's request canceled", func() bool { return primary.aborted() == 1 })
			})
		}
	}
}

// TestEndlessUpstream: a non-streaming client whose upstream streams
// without end gets 502 once the answer passes max_answer_bytes, the
// upstream request is canceled, and no other target is asked.
func TestEndlessUpstream(t *testing.T) {
	primaries := map[string]func(t *testing.T) faultTarget{
		"openai": func(t *testing.T) faultTarget { return openaiPrimary(t, openaitest.Endless) },
		"ollama": func(t *testing.T) faultTarget { return ollamaPrimary(t, ollamatest.FakeEndless) },
	}
	for name, newPrimary := range primaries {
		t.Run(name, func(t *testing.T) {
			primary := newPrimary(t)
			backup, bf := backupTarget(t)
			url := faultGateway(t, primary, backup, func(c *router.Config) { c.MaxAnswerBytes = 64 << 10 })
			res := faultDo(t, url+"/v1/chat/completions", faultChat)
			if res.Status != 502 {
				t.Fatalf("status %d, want 502: %s", res.Status, res.Body)
			}
			var e oaiError
			if err := json.Unmarshal(res.Body, &e); err != nil || !strings.Contains(e.Error.Message, "max_answer_bytes") {
				t.Errorf("body %s (%v), want an OpenAI error naming max_answer_bytes", res.Body, err)
			}
			if n := bf.Requests(); n != 0 {
				t.Errorf("backup got %d requests, want 0", n)
			}
			testkit.Until(t, "the endless request canceled", func() bool { return primary.aborted() == 1 })
		})
	}
}

// TestCapabilityRefusalFailsOver: a local runtime's refusal of what it
// cannot do (tools, a context it cannot hold, an image URL) sends the
// request to the next target; a caller's own fault does not.
func TestCapabilityRefusalFailsOver(t *testing.T) {
	const tools = `,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{}}}}]`
	ollamaTarget := func(m ollamatest.FakeMode) func(t *testing.T) faultTarget {
		return func(t *testing.T) faultTarget { return ollamaPrimary(t, m) }
	}
	llamaTarget := func(t *testing.T) faultTarget {
		f := openaitest.NewT(t, openaitest.Options{})
		f.SetMode(openaitest.NoJinja)
		p, err := llamacpp.New(llamacpp.Options{Endpoint: upstream.Endpoint{Name: "primary", BaseURL: f.URL()}})
		if err != nil {
			t.Fatal(err)
		}
		return faultTarget{up: router.Upstream{Name: "primary", Type: "llamacpp", Provider: p, Local: true}, model: "gpt-4o-mini", requests: f.Requests}
	}
	cases := []struct {
		name        string
		primary     func(t *testing.T) faultTarget
		body        string
		wantStatus  int
		wantFail    string
		primaryReqs int64
		backupReqs  int64
	}{
		{name: "ollama without tools", primary: ollamaTarget(ollamatest.FakeNoTools),
			body:       `{"model":"chat","messages":[{"role":"user","content":"weather?"}]` + tools + `}`,
			wantStatus: 200, wantFail: "1", primaryReqs: 1, backupReqs: 1},
		{name: "ollama context too small", primary: ollamaTarget(ollamatest.FakeTooLong), body: faultChat,
			wantStatus: 200, wantFail: "1", primaryReqs: 1, backupReqs: 1},
		{name: "ollama image URL", primary: ollamaTarget(ollamatest.FakeOK),
			body:       `{"model":"chat","messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}`,
			wantStatus: 200, wantFail: "1", primaryReqs: 0, backupReqs: 1},
		{name: "llama-server without --jinja", primary: llamaTarget,
			body:       `{"model":"chat","messages":[{"role":"user","content":"weather?"}]` + tools + `}`,
			wantStatus: 200, wantFail: "1", primaryReqs: 1, backupReqs: 1},
		{name: "caller fault does not fail over", primary: ollamaTarget(ollamatest.FakeOK),
			body:       `{"model":"chat","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"[1]"}}]},{"role":"tool","tool_call_id":"c1","content":"x"}]}`,
			wantStatus: 400, primaryReqs: 0, backupReqs: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			primary := tc.primary(t)
			backup, bf := backupTarget(t)
			url := faultGateway(t, primary, backup, nil)
			res := faultDo(t, url+"/v1/chat/completions", tc.body)
			if res.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", res.Status, tc.wantStatus, res.Body)
			}
			if tc.wantFail != "" {
				if got := res.Header.Get("x-edgeway-failover"); got != tc.wantFail {
					t.Errorf("x-edgeway-failover = %q, want %s", got, tc.wantFail)
				}
			}
			if n := primary.requests(); n != tc.primaryReqs {
				t.Errorf("primary got %d requests, want %d", n, tc.primaryReqs)
			}
			if n := bf.Requests(); n != tc.backupReqs {
				t.Errorf("backup got %d requests, want %d", n, tc.backupReqs)
			}
		})
	}
}

// TestReadyzCircuitsPerModel: a model whose circuit opened shows in
// /readyz, and the provider stays ready for its other models.
func TestReadyzCircuitsPerModel(t *testing.T) {
	f := openaitest.NewT(t, openaitest.Options{})
	f.SetModeN(openaitest.Error500, 1)
	p, err := openai.New(openai.Options{Endpoint: upstream.Endpoint{Name: "cloud", BaseURL: f.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := router.New(router.Config{
		Upstreams:        []router.Upstream{{Name: "cloud", Type: "openai", Provider: p}},
		BreakerThreshold: 1, MaxAttempts: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	url := startServer(t, r, Options{})
	if res := faultDo(t, url+"/v1/chat/completions", `{"model":"cloud/broken\u0000model","messages":[{"role":"user","content":"hi"}]}`); res.Status < 500 {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	if res := faultDo(t, url+"/v1/chat/completions", `{"model":"cloud/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`); res.Status != 200 {
		t.Fatalf("another model of the provider: status %d: %s", res.Status, res.Body)
	}
	resp, body := send(t, "GET", url+"/readyz", "")
	var got struct {
		Upstreams []struct {
			Circuit  string            `json:"circuit"`
			Circuits map[string]string `json:"circuits"`
		} `json:"upstreams"`
		Ready bool `json:"ready"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("readyz is not JSON: %v: %s", err, body)
	}
	if resp.StatusCode != 200 || !got.Ready || len(got.Upstreams) != 1 {
		t.Fatalf("readyz %d: %s", resp.StatusCode, body)
	}
	if u := got.Upstreams[0]; u.Circuit != "partly open" || u.Circuits["broken\x00model"] != "open" {
		t.Errorf("readyz upstream %+v, want the broken model's circuit open", u)
	}
}

// TestUnreachablePrimaryFailsOver: for every provider type, connect_timeout
// bounds a connect nobody answers (a dead route), however long the first
// token may take: the backup serves.
func TestUnreachablePrimaryFailsOver(t *testing.T) {
	for _, typ := range []string{"openai", "openai-compatible", "anthropic", "gemini", "llamacpp", "ollama"} {
		t.Run(typ, func(t *testing.T) {
			base := "http://" + testkit.UnansweredAddr(t)
			ep := upstream.Endpoint{Name: "primary", BaseURL: base + "/v1", APIKey: "sk-test-primary-key", ConnectTimeout: faultTimeout}
			var (
				p     llm.Provider
				err   error
				local bool
			)
			switch typ {
			case "openai", "openai-compatible":
				p, err = openai.New(openai.Options{Endpoint: ep})
			case "anthropic":
				p, err = anthropic.New(anthropic.Options{Endpoint: ep})
			case "gemini":
				p, err = gemini.New(gemini.Options{Endpoint: ep})
			case "llamacpp":
				p, err = llamacpp.New(llamacpp.Options{Endpoint: ep})
				local = true
			case "ollama":
				p, err = ollama.New(ollama.Options{Name: "primary", BaseURL: base, ConnectTimeout: faultTimeout})
				local = true
			}
			if err != nil {
				t.Fatal(err)
			}
			primary := faultTarget{up: router.Upstream{Name: "primary", Type: typ, Provider: p, Local: local, FirstTokenTimeout: time.Hour}, model: "m"}
			backup, bf := backupTarget(t)
			url := faultGateway(t, primary, backup, func(c *router.Config) { c.Deadline = time.Hour })
			res := faultDo(t, url+"/v1/chat/completions", faultChat)
			if res.Status != 200 || res.Header.Get("x-edgeway-failover") != "1" {
				t.Fatalf("status %d failover %q: %s", res.Status, res.Header.Get("x-edgeway-failover"), res.Body)
			}
			if n := bf.Requests(); n != 1 {
				t.Errorf("backup got %d requests, want 1", n)
			}
		})
	}
}
