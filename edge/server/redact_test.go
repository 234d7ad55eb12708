package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/openai"
	"github.com/edgeway/edgeway/edge/router"
	"github.com/edgeway/edgeway/edge/upstream"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// An upstream that echoes the API key in its error must not get it to the
// client, the log or the unauthenticated /readyz.
func TestUpstreamKeyRedactedEverywhere(t *testing.T) {
	// Neither has a well-known shape: both are redacted by value. The
	// second is a configured header (Azure's api-key).
	const key, key2 = "edgeway-secret-key-0123456789", "header-secret-9876543210"
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") + " " + r.Header.Get("Api-Key")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		io.WriteString(w, `{"error":{"message":"Incorrect API key provided: `+got+` (also Bearer `+got+`)","type":"invalid_`+got+`","code":"invalid_api_key"}}`)
	}))
	defer fake.Close()
	up, err := openai.New(openai.Options{Endpoint: upstream.Endpoint{Name: "cloud", BaseURL: fake.URL + "/v1", APIKey: key, Headers: map[string]string{"api-key": key2}}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := router.New(router.Config{
		Upstreams: []router.Upstream{{Name: "cloud", Type: "openai", Provider: up, MaxInFlight: 4}},
		Aliases:   map[string][]string{"chat": {"cloud/gpt-4o-mini"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	base := startServer(t, r, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Secrets: []string{key, key2}})
	for _, path := range []string{"/v1/chat/completions", "/v1/messages", "/api/chat"} {
		body := `{"model":"chat","max_tokens":5,"stream":false,"messages":[{"role":"user","content":"hi"}]}`
		resp, b := post(t, base+path, body)
		if resp.StatusCode < 400 {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		if strings.Contains(string(b), key) || strings.Contains(string(b), key2) {
			t.Errorf("%s: a key reached the client: %s", path, b)
		}
	}
	resp, b := send(t, "GET", base+"/readyz", "")
	resp.Body.Close()
	if strings.Contains(string(b), key) || strings.Contains(string(b), key2) {
		t.Errorf("/readyz shows a key: %s", b)
	}
	if strings.Contains(logs.String(), key) || strings.Contains(logs.String(), key2) {
		t.Errorf("the log shows the key:\n%s", logs.String())
	}
}

// /readyz redacts the router's last error itself, whatever produced it.
func TestReadyzRedactsLastError(t *testing.T) {
	const key = "plain-secret-value-424242"
	f := &fakeRouter{route: replyWords, health: []router.UpstreamHealth{{Name: "cloud", Type: "openai", Circuit: "closed",
		LastError: "cloud: auth: key " + key + " rejected; Authorization: Bearer abcdefghijklmnop; url ?key=AIzaSyD0123456789012345678901"}}}
	base := startServer(t, f, Options{Secrets: []string{key}})
	resp, b := send(t, "GET", base+"/readyz", "")
	for _, leak := range []string{key, "abcdefghijklmnop", "AIzaSyD0123456789012345678901"} {
		if strings.Contains(string(b), leak) {
			t.Errorf("/readyz (status %d) shows %q: %s", resp.StatusCode, leak, b)
		}
	}
	if !strings.Contains(string(b), "[redacted]") {
		t.Errorf("/readyz: %s", b)
	}
}

// A provider that is not an upstream.Client may quote a credential in its
// error; the client still does not see it.
func TestClientErrorRedacted(t *testing.T) {
	f := &fakeRouter{route: func(ctx context.Context, req *llm.ChatRequest, st *router.Status, emit func(*llm.Chunk) error) (llm.Usage, error) {
		return llm.Usage{}, errors.New("proxy said: Authorization: Bearer abcdefghijklmnopq is invalid, sk-proj-0123456789abcdef")
	}}
	base := startServer(t, f, Options{})
	resp, b := post(t, base+"/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 502 || strings.Contains(string(b), "abcdefghijklmnopq") || strings.Contains(string(b), "0123456789abcdef") {
		t.Errorf("status %d: %s", resp.StatusCode, b)
	}
}
