package server

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/edge/cache"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/router"
)

// countingRouter answers like replyWords and counts upstream calls.
func countingRouter(n *atomic.Int64) *fakeRouter {
	return &fakeRouter{route: func(ctx context.Context, req *llm.ChatRequest, st *router.Status, emit func(*llm.Chunk) error) (llm.Usage, error) {
		n.Add(1)
		return replyWords(ctx, req, st, emit)
	}}
}

func openTestCache(t testing.TB) *cache.Cache {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "edgeway.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(db, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); db.Close() })
	return c
}

func TestCache(t *testing.T) {
	const (
		det    = `{"model":"chat","temperature":0,"messages":[{"role":"user","content":"hi"}]}`
		detStr = `{"model":"chat","temperature":0,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
		random = `{"model":"chat","temperature":0.8,"messages":[{"role":"user","content":"hi"}]}`
	)
	type step struct {
		path, body   string
		hdr          []string
		wantCache    string
		wantUpstream int64 // upstream calls so far, after this step
		wantBody     string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"second identical request is a hit", []step{
			{body: det, wantCache: "miss", wantUpstream: 1, wantBody: "Hello from fake"},
			{body: det, wantCache: "hit", wantUpstream: 1, wantBody: "Hello from fake"},
		}},
		{"a streamed answer serves a whole request and back", []step{
			{body: detStr, wantCache: "miss", wantUpstream: 1, wantBody: "data: [DONE]"},
			{body: det, wantCache: "hit", wantUpstream: 1, wantBody: `"content":"Hello from fake"`},
			{body: detStr, wantCache: "hit", wantUpstream: 1, wantBody: "data: [DONE]"},
		}},
		{"non-deterministic requests bypass", []step{
			{body: random, wantCache: "bypass", wantUpstream: 1},
			{body: random, wantCache: "bypass", wantUpstream: 2},
		}},
		{"no-cache skips the read, no-store the write", []step{
			{body: det, hdr: []string{"Cache-Control", "no-store"}, wantCache: "miss", wantUpstream: 1},
			{body: det, wantCache: "miss", wantUpstream: 2},
			{body: det, hdr: []string{"Cache-Control", "no-cache"}, wantCache: "miss", wantUpstream: 3},
			{body: det, wantCache: "hit", wantUpstream: 3},
		}},
		{"hit in every dialect", []step{
			{body: det, wantCache: "miss", wantUpstream: 1},
			{path: "/api/chat", body: `{"model":"chat","stream":false,"options":{"temperature":0},"messages":[{"role":"user","content":"hi"}]}`, wantCache: "hit", wantUpstream: 1, wantBody: `"done":true`},
			{path: "/v1/messages", body: `{"model":"chat","max_tokens":64,"temperature":0,"messages":[{"role":"user","content":"hi"}]}`, wantCache: "miss", wantUpstream: 2},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			c := openTestCache(t)
			base := startServer(t, countingRouter(&calls), Options{Cache: c})
			for i, s := range tc.steps {
				path := s.path
				if path == "" {
					path = "/v1/chat/completions"
				}
				resp, body := post(t, base+path, s.body, s.hdr...)
				if resp.StatusCode != 200 {
					t.Fatalf("step %d: status %d: %s", i, resp.StatusCode, body)
				}
				if got := resp.Header.Get("x-edgeway-cache"); got != s.wantCache {
					t.Errorf("step %d: x-edgeway-cache %q, want %q", i, got, s.wantCache)
				}
				if s.wantBody != "" && !strings.Contains(string(body), s.wantBody) {
					t.Errorf("step %d: body lacks %q:\n%s", i, s.wantBody, body)
				}
				// The write is asynchronous: wait for it before the next step.
				if err := c.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
				if got := calls.Load(); got != s.wantUpstream {
					t.Errorf("step %d: %d upstream calls, want %d", i, got, s.wantUpstream)
				}
			}
		})
	}
}

func TestCacheHitHeaders(t *testing.T) {
	var calls atomic.Int64
	c := openTestCache(t)
	base := startServer(t, countingRouter(&calls), Options{Cache: c})
	body := `{"model":"chat","temperature":0,"messages":[{"role":"user","content":"hi"}]}`
	post(t, base+"/v1/chat/completions", body)
	c.Flush(context.Background())
	req, _ := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("x-edgeway-provider") != "cache" || resp.Header.Get("x-edgeway-model") != "tiny" || resp.Header.Get("x-request-id") == "" {
		t.Errorf("headers %v", resp.Header)
	}
}
