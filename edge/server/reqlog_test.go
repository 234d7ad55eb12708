package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/keys"
)

// logLines returns the JSON records with message msg that sink holds.
func logLines(t *testing.T, sink *syncBuffer, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ln := range strings.Split(strings.TrimSpace(sink.String()), "\n") {
		if ln == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(ln), &m); err != nil {
			t.Fatalf("log line %q: %v", ln, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func TestRequestLogLine(t *testing.T) {
	st := keyStore(t)
	member := mustKey(t, st, keys.KeySpec{Name: "app"})
	memberKey, _, _ := st.Lookup([]byte(member))
	chat := `{"model":"chat","temperature":0,"messages":[{"role":"user","content":"hi"}]}`
	stream := `{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	type want map[string]any
	cases := []struct {
		name   string
		path   string
		body   string
		key    string
		repeat bool // the second answer (from the cache) is the one checked
		want   want
	}{
		{name: "whole", path: "/v1/chat/completions", body: chat, key: member, want: want{
			"dialect": "openai", "method": "POST", "path": "/v1/chat/completions", "key": memberKey.ID, "alias": "chat",
			"provider": "local", "model": "tiny", "failovers": 1.0, "status": 200.0, "tokens_in": 5.0, "tokens_out": 3.0,
			"cache": "miss", "outcome": "ok"}},
		{name: "streamed", path: "/api/chat", body: stream, key: member, want: want{
			"dialect": "ollama", "path": "/api/chat", "provider": "local", "model": "tiny", "status": 200.0,
			"tokens_in": 5.0, "tokens_out": 3.0, "outcome": "ok"}},
		{name: "cache hit", path: "/v1/chat/completions", body: chat, key: member, repeat: true, want: want{
			"provider": "cache", "cache": "hit", "status": 200.0, "outcome": "ok"}},
		{name: "no key", path: "/v1/messages", body: chat, want: want{
			"dialect": "anthropic", "status": 401.0, "outcome": "invalid_api_key", "key": ""}},
		{name: "bad json", path: "/v1/chat/completions", body: `{"model":`, key: member, want: want{
			"status": 400.0, "key": memberKey.ID}},
		{name: "unknown path", path: "/v2/nothing", body: chat, key: member, want: want{
			"status": 404.0, "outcome": "unknown_url", "path": "/v2/nothing"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var sink syncBuffer
			o := Options{Auth: keys.NewAuth(st, testAdminKey), Logger: slog.New(slog.NewJSONHandler(&sink, nil))}
			c := openTestCache(t)
			o.Cache = c
			url := startServer(t, &fakeRouter{route: replyWords}, o)
			var hdr []string
			if tc.key != "" {
				hdr = []string{"Authorization", "Bearer " + tc.key}
			}
			resp, body := post(t, url+tc.path, tc.body, hdr...)
			if tc.repeat {
				c.Flush(context.Background())
				resp, body = post(t, url+tc.path, tc.body, hdr...)
			}
			lines := logLines(t, &sink, "request")
			if len(lines) == 0 {
				t.Fatalf("no request line; log:\n%s", sink.String())
			}
			got := lines[len(lines)-1]
			if got["request_id"] != resp.Header.Get("x-request-id") || got["request_id"] == "" {
				t.Errorf("request_id %v, response says %q", got["request_id"], resp.Header.Get("x-request-id"))
			}
			if got["level"] != "INFO" {
				t.Errorf("level %v", got["level"])
			}
			if _, ok := got["latency_ms"].(float64); !ok {
				t.Errorf("latency_ms %v", got["latency_ms"])
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %#v, want %#v (line %v; body %s)", k, got[k], v, got, body)
				}
			}
			if n := len(lines); n != 1+btoi(tc.repeat) {
				t.Errorf("%d request lines, want one per request:\n%s", n, sink.String())
			}
			if strings.Contains(sink.String(), tc.key+`"`) && tc.key != "" || strings.Contains(sink.String(), `"content":"hi"`) {
				t.Errorf("the info log quotes a key or a body:\n%s", sink.String())
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestRequestLogDebugBodies(t *testing.T) {
	st := keyStore(t)
	member := mustKey(t, st, keys.KeySpec{Name: "app"})
	const providerKey = "sk-provider-secret-0123456789"
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		t.Run(level.String(), func(t *testing.T) {
			var sink syncBuffer
			url := startServer(t, &fakeRouter{route: replyWords}, Options{
				Auth:    keys.NewAuth(st, testAdminKey),
				Secrets: []string{"plain-provider-password"},
				Logger:  slog.New(slog.NewJSONHandler(&sink, &slog.HandlerOptions{Level: level})),
			})
			body := `{"model":"chat","messages":[{"role":"user","content":"my keys: ` + member + ` ` + providerKey + ` plain-provider-password ` + strings.Repeat("x", maxLoggedBody) + `"}]}`
			resp, _ := post(t, url+"/v1/chat/completions", body, "Authorization", "Bearer "+member, "x-api-key", member, "X-Custom", "Bearer abcdefgh12345")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			log := sink.String()
			bodies := logLines(t, &sink, "request bodies")
			if level == slog.LevelInfo {
				if len(bodies) != 0 || strings.Contains(log, "my keys") {
					t.Fatalf("info logs a body:\n%s", log)
				}
				return
			}
			if len(bodies) != 1 {
				t.Fatalf("%d body lines:\n%s", len(bodies), log)
			}
			b := bodies[0]
			for _, secret := range []string{member, providerKey, "plain-provider-password", "abcdefgh12345"} {
				if strings.Contains(log, secret) {
					t.Errorf("debug log holds %q:\n%s", secret, log)
				}
			}
			req, _ := b["request_body"].(string)
			if !strings.Contains(req, "my keys: [redacted] [redacted] [redacted]") || !strings.HasSuffix(req, " bytes)") || len(req) > maxLoggedBody+64 {
				t.Errorf("request body %.200q… (%d bytes)", req, len(req))
			}
			if h, _ := b["headers"].(string); !strings.Contains(h, "Authorization: [redacted]") || !strings.Contains(h, "X-Api-Key: [redacted]") {
				t.Errorf("headers %q", h)
			}
			if r, _ := b["response_body"].(string); !strings.Contains(r, "Hello from fake") {
				t.Errorf("response body %q", r)
			}
		})
	}
}
