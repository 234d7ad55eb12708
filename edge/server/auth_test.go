package server

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/edge/cache"
	"github.com/edgeway/edgeway/edge/keys"
	"github.com/edgeway/edgeway/edge/limits"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/router"
)

const testAdminKey = "admin-key-0123456789"

func keyStore(t *testing.T) *keys.Store {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "k.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := keys.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func mustKey(t *testing.T, st *keys.Store, spec keys.KeySpec) string {
	t.Helper()
	secret, _, err := st.CreateKey(spec)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func TestAuthRefusalsInDialect(t *testing.T) {
	st := keyStore(t)
	member := mustKey(t, st, keys.KeySpec{Name: "app"})
	revoked, k, _ := st.CreateKey(keys.KeySpec{Name: "old"})
	if _, err := st.Revoke(k.ID); err != nil {
		t.Fatal(err)
	}
	url := startServer(t, &fakeRouter{route: replyWords}, Options{Auth: keys.NewAuth(st, testAdminKey)})
	chat := `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`
	anth := `{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		want                     string // substring of the body
	}{
		{"openai no key", "POST", "/v1/chat/completions", chat, nil, 401, `"code":"invalid_api_key"`},
		{"openai wrong key", "POST", "/v1/chat/completions", chat, []string{"Authorization", "Bearer ew-not-a-key-at-all"}, 401, `invalid API key \"ew-not-a-…\"`},
		{"openai revoked", "POST", "/v1/chat/completions", chat, []string{"Authorization", "Bearer " + revoked}, 401, "revoked"},
		{"openai member", "POST", "/v1/chat/completions", chat, []string{"Authorization", "Bearer " + member}, 200, "Hello from fake"},
		{"openai admin", "POST", "/v1/chat/completions", chat, []string{"Authorization", "Bearer " + testAdminKey}, 200, "Hello from fake"},
		{"openai api-key header", "POST", "/v1/chat/completions", chat, []string{"api-key", member}, 200, "Hello from fake"},
		{"anthropic no key", "POST", "/v1/messages", anth, nil, 401, `"type":"authentication_error"`},
		{"anthropic x-api-key", "POST", "/v1/messages", anth, []string{"x-api-key", member}, 200, "Hello from fake"},
		{"ollama no key", "POST", "/api/chat", chat, nil, 401, `{"error":"missing API key`},
		{"ollama bearer", "POST", "/api/chat", `{"model":"chat","stream":false,"messages":[{"role":"user","content":"hi"}]}`, []string{"Authorization", "Bearer " + member}, 200, "Hello from fake"},
		{"models need a key", "GET", "/v1/models", "", nil, 401, "invalid_api_key"},
		{"tags need a key", "GET", "/api/tags", "", nil, 401, "missing API key"},
		{"healthz is open", "GET", "/healthz", "", nil, 200, "ok"},
		{"ollama probe is open", "GET", "/api/version", "", nil, 200, "version"},
		{"basic auth is no key", "GET", "/v1/models", "", []string{"Authorization", "Basic " + member}, 401, "missing API key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := send(t, tc.method, url+tc.path, tc.body, tc.hdr...)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
				t.Fatalf("%d %s, want %d with %q", resp.StatusCode, body, tc.status, tc.want)
			}
			if resp.Header.Get("x-request-id") == "" {
				t.Error("no request id")
			}
			if strings.Contains(string(body), member) || strings.Contains(string(body), testAdminKey) {
				t.Error("a key is echoed in the body")
			}
		})
	}
}

func TestOpenGatewayNeedsNoKey(t *testing.T) {
	url := startServer(t, &fakeRouter{route: replyWords}, Options{Auth: keys.NewAuth(keyStore(t), "")})
	resp, body := post(t, url+"/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestKeyPolicyReachesRouter(t *testing.T) {
	st := keyStore(t)
	if _, err := st.PutTeam(keys.Team{Name: "edge", Policy: keys.Policy{LocalOnly: true}}, true); err != nil {
		t.Fatal(err)
	}
	local := mustKey(t, st, keys.KeySpec{Name: "a", Team: "edge"})
	narrow := mustKey(t, st, keys.KeySpec{Name: "b", Policy: keys.Policy{Models: []string{"chat"}}})
	free := mustKey(t, st, keys.KeySpec{Name: "c"})
	var scope router.Scope
	fr := &fakeRouter{route: func(ctx context.Context, req *llm.ChatRequest, s *router.Status, emit func(*llm.Chunk) error) (llm.Usage, error) {
		scope = s.Scope
		return replyWords(ctx, req, s, emit)
	}}
	url := startServer(t, fr, Options{Auth: keys.NewAuth(st, testAdminKey)})
	body := func(model string) string {
		return `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
	}

	resp, b := post(t, url+"/v1/chat/completions", body("chat"), "Authorization", "Bearer "+local)
	if resp.StatusCode != 200 || scope == nil || scope.AllowsProvider("openai", false) || !scope.AllowsProvider("ollama", true) {
		t.Fatalf("local-only key: %d %s, scope %v", resp.StatusCode, b, scope)
	}
	resp, b = post(t, url+"/v1/chat/completions", body("smart"), "Authorization", "Bearer "+narrow)
	if resp.StatusCode != 403 || !strings.Contains(string(b), `may not use model \"smart\"`) {
		t.Fatalf("narrow key, other model: %d %s", resp.StatusCode, b)
	}
	resp, b = post(t, url+"/v1/messages", `{"model":"smart","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, "x-api-key", narrow)
	if resp.StatusCode != 403 || !strings.Contains(string(b), `"permission_error"`) {
		t.Fatalf("narrow key, anthropic: %d %s", resp.StatusCode, b)
	}
	scope = nil
	resp, b = post(t, url+"/v1/chat/completions", body("smart"), "Authorization", "Bearer "+free)
	if resp.StatusCode != 200 || !scope.AllowsProvider("openai", false) {
		t.Fatalf("free key: %d %s", resp.StatusCode, b)
	}
}

func TestNotAllowedIs403(t *testing.T) {
	fr := &fakeRouter{route: func(context.Context, *llm.ChatRequest, *router.Status, func(*llm.Chunk) error) (llm.Usage, error) {
		return llm.Usage{}, &router.NotAllowedError{Model: "m", Denied: []string{"openai/m"}}
	}}
	url := startServer(t, fr, Options{})
	resp, b := post(t, url+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 403 || !strings.Contains(string(b), "provider_not_allowed") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

func TestAdminAPI(t *testing.T) {
	st := keyStore(t)
	url := startServer(t, &fakeRouter{route: replyWords}, Options{Auth: keys.NewAuth(st, testAdminKey)})
	admin := []string{"Authorization", "Bearer " + testAdminKey}
	call := func(method, path, body string, hdr []string, wantStatus int, out any) {
		t.Helper()
		resp, b := send(t, method, url+path, body, hdr...)
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, wantStatus)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("%s %s: %v in %s", method, path, err, b)
			}
		}
	}
	call("POST", "/admin/teams", `{"name":"ml","policy":{"local_only":true}}`, admin, 201, nil)
	call("POST", "/admin/teams", `{"name":"ml"}`, admin, 409, nil)
	call("POST", "/admin/teams", `{"name":"x","polcy":{}}`, admin, 400, nil)
	call("PUT", "/admin/teams/ml", `{"policy":{"rpm":10}}`, admin, 200, nil)
	call("PUT", "/admin/teams/nope", `{}`, admin, 404, nil)

	var ta created
	call("POST", "/admin/keys", `{"name":"lead","team":"ml","role":"team-admin"}`, admin, 201, &ta)
	if !strings.HasPrefix(ta.Secret, "ew-") || ta.Prefix == "" {
		t.Fatalf("created %+v", ta)
	}
	lead := []string{"Authorization", "Bearer " + ta.Secret}
	var m created
	call("POST", "/admin/keys", `{"name":"app","expires":"30d"}`, lead, 201, &m) // team filled in
	if m.Team != "ml" || m.Role != keys.RoleMember || m.Expires.IsZero() {
		t.Fatalf("team admin's key: %+v", m.Key)
	}
	call("POST", "/admin/keys", `{"name":"boss","team":"ml","role":"admin"}`, lead, 403, nil)
	call("POST", "/admin/keys", `{"name":"spy","team":"other"}`, lead, 403, nil)
	call("POST", "/admin/teams", `{"name":"mine"}`, lead, 403, nil)
	call("POST", "/admin/keys", `{"name":"x","expires":"soon"}`, admin, 400, nil)
	var other created
	call("POST", "/admin/keys", `{"name":"other"}`, admin, 201, &other)

	var list struct{ Keys []keys.Key }
	call("GET", "/admin/keys", "", lead, 200, &list)
	if len(list.Keys) != 2 {
		t.Fatalf("team admin sees %d keys, want its team's 2", len(list.Keys))
	}
	call("GET", "/admin/keys", "", admin, 200, &list)
	if len(list.Keys) != 3 {
		t.Fatalf("admin sees %d keys, want 3", len(list.Keys))
	}
	if _, raw := send(t, "GET", url+"/admin/keys", "", admin...); !strings.Contains(string(raw), `"prefix"`) || strings.Contains(string(raw), `"hash"`) {
		t.Fatalf("a listing must show prefixes and no hash: %s", raw)
	}
	call("POST", "/admin/keys/"+other.ID+"/revoke", "", lead, 404, nil) // not its team

	var rot created
	call("POST", "/admin/keys/"+m.ID+"/rotate", "", lead, 200, &rot)
	if rot.Secret == m.Secret || rot.ID != m.ID {
		t.Fatalf("rotate: %+v", rot)
	}
	member := []string{"Authorization", "Bearer " + rot.Secret}
	call("GET", "/admin/keys", "", member, 403, nil)
	call("GET", "/v1/models", "", []string{"Authorization", "Bearer " + m.Secret}, 401, nil)
	call("GET", "/v1/models", "", member, 200, nil)
	call("POST", "/admin/keys/"+m.ID+"/revoke", "", admin, 200, nil)
	call("GET", "/v1/models", "", member, 401, nil)
	call("POST", "/admin/keys/"+m.ID+"/revoke", "", admin, 400, nil)
	call("GET", "/admin/nothing", "", admin, 404, nil)
}

func TestAdminAPIOffWithoutAdminKey(t *testing.T) {
	st := keyStore(t)
	k := mustKey(t, st, keys.KeySpec{Name: "a", Role: keys.RoleAdmin})
	url := startServer(t, &fakeRouter{route: replyWords}, Options{Auth: keys.NewAuth(st, "")})
	resp, b := send(t, "GET", url+"/admin/keys", "", "Authorization", "Bearer "+k)
	if resp.StatusCode != 403 || !strings.Contains(string(b), "auth.admin_key") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

func FuzzParseTags(f *testing.F) {
	for _, s := range []string{"", "a=b", "a=b, c = d", "=x,,k", strings.Repeat("k=v,", 40), "\xff=\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := parseTags([]byte(s))
		if len(m) > maxTags {
			t.Fatalf("%d tags", len(m))
		}
		for k, v := range m {
			if k == "" || len(k) > 128+len("…") || len(v) > 128+len("…") {
				t.Fatalf("tag %q=%q", k, v)
			}
		}
	})
}

// countingCache counts the semantic cache's lookups and stores, which
// embed the prompt (possibly through a cloud provider).
type countingCache struct {
	gets, puts atomic.Int64
}

func (c *countingCache) Get(cache.Key) (*cache.Entry, bool)         { return nil, false }
func (c *countingCache) Put(cache.Key, *cache.Entry, time.Duration) {}
func (c *countingCache) PutSemantic(string, *llm.ChatRequest, cache.Key) {
	c.puts.Add(1)
}
func (c *countingCache) Stats() cache.Stats { return cache.Stats{} }
func (c *countingCache) GetSemantic(context.Context, string, *llm.ChatRequest) (*cache.Entry, float32, bool) {
	c.gets.Add(1)
	return nil, 0, false
}

// A local-only key's prompt never reaches the semantic cache when its
// embedder is not on the device.
func TestLocalOnlyKeySkipsCloudSemanticCache(t *testing.T) {
	st := keyStore(t)
	local := mustKey(t, st, keys.KeySpec{Name: "l", Policy: keys.Policy{LocalOnly: true}})
	free := mustKey(t, st, keys.KeySpec{Name: "f"})
	body := `{"model":"chat","temperature":0,"messages":[{"role":"user","content":"hi"}]}`
	for _, tc := range []struct {
		name          string
		key           string
		embedderLocal bool
		want          int64 // lookups and stores each
	}{
		{"local-only, cloud embedder", local, false, 0},
		{"local-only, local embedder", local, true, 1},
		{"free key, cloud embedder", free, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := &countingCache{}
			url := startServer(t, &fakeRouter{route: replyWords}, Options{Auth: keys.NewAuth(st, testAdminKey),
				Cache: cc, SemanticCache: true, SemanticEmbedderLocal: tc.embedderLocal})
			if resp, b := post(t, url+"/v1/chat/completions", body, "Authorization", "Bearer "+tc.key); resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if cc.gets.Load() != tc.want || cc.puts.Load() != tc.want {
				t.Fatalf("semantic lookups %d, stores %d; want %d each", cc.gets.Load(), cc.puts.Load(), tc.want)
			}
		})
	}
}

// Embeddings are held to the same key policies as chat: rate limits, the
// PII policy (block refuses; local-only and redact-for-cloud keep the
// inputs on the device) and the ledger.
func TestEmbeddingsUnderKeyPolicies(t *testing.T) {
	st := keyStore(t)
	block := mustKey(t, st, keys.KeySpec{Name: "b", Policy: keys.Policy{PII: "block"}})
	redact := mustKey(t, st, keys.KeySpec{Name: "r", Policy: keys.Policy{PII: "redact-for-cloud"}})
	slow := mustKey(t, st, keys.KeySpec{Name: "s", Policy: keys.Policy{RPM: 1}})
	var scope router.Scope
	fr := &fakeRouter{embed: func(_ context.Context, req *llm.EmbedRequest, s *router.Status) (*llm.EmbedResponse, error) {
		scope = s.Scope
		s.Provider, s.Model = "ollama", "nomic"
		return &llm.EmbedResponse{Vectors: [][]float32{{1, 0}}, Usage: llm.Usage{PromptTokens: 3}}, nil
	}}
	led := &memLedger{}
	url := startServer(t, fr, Options{Auth: keys.NewAuth(st, testAdminKey), Limits: limits.New(nil), Ledger: led})
	personal := `{"model":"embed","input":"write to jane.doe@example.com"}`
	clean := `{"model":"embed","input":"the cat sat"}`

	resp, b := post(t, url+"/v1/embeddings", personal, "Authorization", "Bearer "+block)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "pii_blocked") || strings.Contains(string(b), "jane.doe") {
		t.Fatalf("block: %d %s", resp.StatusCode, b)
	}
	scope = nil
	resp, b = post(t, url+"/v1/embeddings", personal, "Authorization", "Bearer "+redact)
	if resp.StatusCode != 200 || scope == nil || scope.AllowsProvider("openai", false) || !scope.AllowsProvider("ollama", true) {
		t.Fatalf("redact-for-cloud: %d %s, scope %v", resp.StatusCode, b, scope)
	}
	if r := led.last(t); r.PIIFound != 1 || r.TokensIn != 3 || r.Outcome != "ok" {
		t.Fatalf("ledger: %+v", r)
	}
	scope = nil
	if resp, _ = post(t, url+"/v1/embeddings", clean, "Authorization", "Bearer "+redact); resp.StatusCode != 200 || !scope.AllowsProvider("openai", false) {
		t.Fatalf("clean input: %d, scope %v", resp.StatusCode, scope)
	}
	for i, want := range []int{200, 429} {
		if resp, b = post(t, url+"/v1/embeddings", clean, "Authorization", "Bearer "+slow); resp.StatusCode != want {
			t.Fatalf("rpm request %d: %d %s", i, resp.StatusCode, b)
		}
	}
}
