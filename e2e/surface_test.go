package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"

	"github.com/edgeway/edgeway/edge/openai/openaitest"
)

// TestLocalhostAttackSurface is what a web page in the device's browser,
// a program hogging sockets, or a hostile upstream can do to the gateway
// on localhost, against the real binary: each must fail, while the
// official SDKs (no Origin, JSON bodies) keep working.
func TestLocalhostAttackSurface(t *testing.T) {
	cloud := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", Reply: "from the cloud"})
	var stolen atomic.Int64
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Add(1)
		w.WriteHeader(200)
	}))
	defer thief.Close()
	mover := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, thief.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer mover.Close()
	g := startEdgeway(t, providers(
		cloudProvider("cloud", "openai", cloud.URL()),
		"  - name: mover\n    type: anthropic\n    base_url: "+mover.URL+"/v1\n    api_key: env:E2E_CLOUD_KEY\n",
	)+"models:\n  chat: [cloud/gpt-4o-mini]\n  moved: [mover/claude]\n"+
		"server:\n  max_concurrency: 1\n  allowed_origins: [\"https://app.example.com\"]\n")
	ctx := context.Background()

	// The SDKs send no Origin and JSON bodies: unaffected.
	oc := newClient(g)
	if _, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "chat", Messages: userMsg("hi")}); err != nil {
		t.Fatalf("openai SDK: %v", err)
	}
	a := anthropic.NewClient(aoption.WithBaseURL(g.URL), aoption.WithAPIKey("unused"), aoption.WithMaxRetries(0))
	if _, err := a.Messages.New(ctx, anthropic.MessageNewParams{Model: "chat", MaxTokens: 10, Messages: userText("hi")}); err != nil {
		t.Fatalf("anthropic SDK: %v", err)
	}

	const chat = `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`
	for _, tc := range []struct {
		name, path, ctype, origin, host string
		status                          int
	}{
		{"cross-site page", "/v1/chat/completions", "application/json", "https://evil.example", "", 403},
		{"cross-site simple POST", "/api/chat", "text/plain", "https://evil.example", "", 403},
		{"DNS rebinding", "/v1/chat/completions", "application/json", "", "rebind.evil.example:8420", 403},
		{"text/plain body", "/v1/chat/completions", "text/plain", "", "", 415},
		{"form body", "/v1/messages", "application/x-www-form-urlencoded", "", "", 415},
		{"allowed origin", "/v1/chat/completions", "application/json", "https://app.example.com", "", 200},
		{"redirecting upstream", "/v1/chat/completions", "application/json", "", "", 502},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := chat
			if tc.name == "redirecting upstream" {
				body = strings.Replace(chat, `"chat"`, `"moved"`, 1)
			}
			req, _ := http.NewRequest("POST", g.URL+tc.path, strings.NewReader(body))
			req.Header.Set("Content-Type", tc.ctype)
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("x-request-id") == "" || !json.Valid(b) {
				t.Fatalf("status %d (want %d), request id %q: %s", resp.StatusCode, tc.status, resp.Header.Get("x-request-id"), b)
			}
			if strings.Contains(string(b), "sk-e2e") {
				t.Errorf("the key reached the client: %s", b)
			}
		})
	}
	if stolen.Load() != 0 {
		t.Errorf("the upstream's redirect was followed %d times", stolen.Load())
	}

	// A program holding more idle sockets than the gateway's bound
	// (max_concurrency 1: 260) does not keep the next client out. The
	// client's connection is accepted after all of them.
	for range 300 {
		c, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	req, _ := http.NewRequest("POST", g.URL+"/v1/chat/completions", strings.NewReader(chat))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("with 300 idle connections open: status %d: %s", resp.StatusCode, b)
	}
	for _, leak := range []string{"sk-e2e"} {
		if strings.Contains(g.out.String(), leak) {
			t.Errorf("the log shows %q", leak)
		}
	}
}
