package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/keys"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/pii"
	"github.com/edgeway/edgeway/edge/router"
)

// TestPIIPolicy runs a prompt with personal data (and a clean one) under
// each policy, set on the key, the team or both, and checks what reached
// the router, what the client got and what the ledger recorded.
func TestPIIPolicy(t *testing.T) {
	const (
		dirty = "mail bob@example.com or call +44 20 7946 0958"
		clean = "what is 2+2 on 2024-01-15?"
	)
	type want struct {
		status   int
		routed   bool
		redact   bool // the context reaching the providers is marked
		local    bool // the scope keeps the request off the cloud
		found    int
		action   string
		inBody   string
		notInErr string
	}
	cases := []struct {
		name      string
		key, team string
		prompt    string
		path      string
		want      want
	}{
		{"no policy", "", "", dirty, "", want{status: 200, routed: true}},
		{"allow counts", "allow", "", dirty, "", want{status: 200, routed: true, found: 2, action: "allow"}},
		{"redact for cloud", "redact-for-cloud", "", dirty, "", want{status: 200, routed: true, redact: true, found: 2, action: "redact-for-cloud"}},
		{"local only", "local-only", "", dirty, "", want{status: 200, routed: true, local: true, found: 2, action: "local-only"}},
		{"block", "block", "", dirty, "", want{status: 400, found: 2, action: "block", inBody: "email, phone", notInErr: "bob@example.com"}},
		{"block anthropic", "block", "", dirty, "/v1/messages", want{status: 400, found: 2, action: "block", inBody: `"type":"error"`, notInErr: "7946"}},
		{"block ollama", "block", "", dirty, "/api/chat", want{status: 400, found: 2, action: "block", inBody: `{"error":"the prompt holds personal data (2 found: email, phone)`, notInErr: "bob@"}},
		{"block clean prompt", "block", "", clean, "", want{status: 200, routed: true}},
		{"team stricter", "allow", "block", dirty, "", want{status: 400, found: 2, action: "block"}},
		{"key stricter", "local-only", "redact-for-cloud", dirty, "", want{status: 200, routed: true, local: true, found: 2, action: "local-only"}},
		{"team only", "", "redact-for-cloud", dirty, "", want{status: 200, routed: true, redact: true, found: 2, action: "redact-for-cloud"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := keyStore(t)
			team := ""
			if tc.team != "" {
				team = "t"
				if _, err := st.PutTeam(keys.Team{Name: team, Policy: keys.Policy{PII: tc.team}}, true); err != nil {
					t.Fatal(err)
				}
			}
			secret := mustKey(t, st, keys.KeySpec{Name: "k", Team: team, Policy: keys.Policy{PII: tc.key}})
			var (
				routed, redact bool
				scope          router.Scope
			)
			fr := &fakeRouter{route: func(ctx context.Context, req *llm.ChatRequest, s *router.Status, emit func(*llm.Chunk) error) (llm.Usage, error) {
				routed, redact, scope = true, pii.Redacting(ctx), s.Scope
				return replyWords(ctx, req, s, emit)
			}}
			led := &memLedger{}
			url := startServer(t, fr, Options{Auth: keys.NewAuth(st, ""), Ledger: led})
			path := tc.path
			if path == "" {
				path = "/v1/chat/completions"
			}
			prompt, _ := json.Marshal(tc.prompt)
			body := `{"model":"chat","max_tokens":10,"stream":false,"messages":[{"role":"user","content":` + string(prompt) + `}]}`
			resp, b := post(t, url+path, body, "Authorization", "Bearer "+secret)
			w := tc.want
			if resp.StatusCode != w.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, w.status, b)
			}
			if resp.Header.Get("x-request-id") == "" {
				t.Error("no x-request-id")
			}
			if routed != w.routed || redact != w.redact {
				t.Errorf("routed %v redacting %v, want %v %v", routed, redact, w.routed, w.redact)
			}
			if routed {
				if cloud := scope == nil || scope.AllowsProvider("openai", false); cloud == w.local {
					t.Errorf("scope lets the cloud serve: %v, want %v", cloud, !w.local)
				}
				if scope != nil && !scope.AllowsProvider("ollama", true) {
					t.Error("scope refuses a local runtime")
				}
			}
			if w.inBody != "" && !strings.Contains(string(b), w.inBody) {
				t.Errorf("body %s lacks %q", b, w.inBody)
			}
			if w.notInErr != "" && strings.Contains(string(b), w.notInErr) {
				t.Errorf("error %s shows the personal data %q", b, w.notInErr)
			}
			r := led.last(t)
			if r.PIIFound != w.found || r.PIIAction != w.action {
				t.Errorf("record pii %d %q, want %d %q", r.PIIFound, r.PIIAction, w.found, w.action)
			}
		})
	}
}

// TestPIILocalOnlyUnservable checks that a local-only request nothing
// local can serve fails with an error saying why, and the cloud is not
// tried.
func TestPIILocalOnlyUnservable(t *testing.T) {
	st := keyStore(t)
	secret := mustKey(t, st, keys.KeySpec{Name: "k", Policy: keys.Policy{PII: "local-only"}})
	fr := &fakeRouter{route: func(ctx context.Context, req *llm.ChatRequest, s *router.Status, emit func(*llm.Chunk) error) (llm.Usage, error) {
		if s.Scope.AllowsProvider("openai", false) {
			t.Error("the cloud is in scope")
		}
		return llm.Usage{}, &router.NotAllowedError{Model: req.Model, Denied: []string{"openai/gpt-4o-mini"}}
	}}
	url := startServer(t, fr, Options{Auth: keys.NewAuth(st, "")})
	for _, stream := range []string{"false", "true"} {
		resp, b := post(t, url+"/v1/chat/completions", `{"model":"chat","stream":`+stream+`,"messages":[{"role":"user","content":"card 4111 1111 1111 1111"}]}`,
			"Authorization", "Bearer "+secret)
		if resp.StatusCode != 403 || !strings.Contains(string(b), "PII policy for this key and model is local-only") || !strings.Contains(string(b), "card") {
			t.Errorf("stream %s: %d %s", stream, resp.StatusCode, b)
		}
		if strings.Contains(string(b), "4111") {
			t.Errorf("error shows the card: %s", b)
		}
	}
}

func TestPIIScanNoAlloc(t *testing.T) {
	req := &llm.ChatRequest{Messages: []llm.Message{
		{Role: llm.RoleSystem, Content: []llm.Part{{Type: llm.PartText, Text: "You are helpful. Version 1.2.3, 2024-01-15."}}},
		{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: strings.Repeat("order #100234987651 shipped ", 100)}}},
	}}
	if a := testing.AllocsPerRun(50, func() { scanPrompt(req) }); a != 0 {
		t.Errorf("scanPrompt allocates %v times", a)
	}
}

// The config's route policies (pii: default and per model) bind every
// caller, keyless ones on an open gateway too; a key can only be stricter.
func TestPIIRoutePolicy(t *testing.T) {
	st := keyStore(t)
	allow := mustKey(t, st, keys.KeySpec{Name: "a", Policy: keys.Policy{PII: "allow"}})
	block := mustKey(t, st, keys.KeySpec{Name: "b", Policy: keys.Policy{PII: "block"}})
	var scope router.Scope
	fr := &fakeRouter{route: func(ctx context.Context, req *llm.ChatRequest, s *router.Status, emit func(*llm.Chunk) error) (llm.Usage, error) {
		scope = s.Scope
		return replyWords(ctx, req, s, emit)
	}}
	body := func(model string) string {
		return `{"model":"` + model + `","messages":[{"role":"user","content":"mail bob@example.com"}]}`
	}
	for _, tc := range []struct {
		name       string
		auth       *keys.Auth
		key, model string
		status     int
		cloud      bool // the scope lets the request reach the cloud
	}{
		{"open gateway, default redact", keys.NewAuth(nil, ""), "", "chat", 200, true},
		{"open gateway, model local-only", keys.NewAuth(nil, ""), "", "private", 200, false},
		{"key allow cannot loosen the route", keys.NewAuth(st, testAdminKey), allow, "private", 200, false},
		{"key block is stricter than the route", keys.NewAuth(st, testAdminKey), block, "chat", 400, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scope = nil
			url := startServer(t, fr, Options{Auth: tc.auth, PIIDefault: "redact-for-cloud", PIIModels: map[string]string{"private": "local-only"}})
			var hdr []string
			if tc.key != "" {
				hdr = []string{"Authorization", "Bearer " + tc.key}
			}
			resp, b := post(t, url+"/v1/chat/completions", body(tc.model), hdr...)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if tc.status == 200 && (scope == nil || scope.AllowsProvider("openai", false)) == !tc.cloud {
				t.Fatalf("cloud allowed = %v, want %v", scope == nil || scope.AllowsProvider("openai", false), tc.cloud)
			}
		})
	}
}
