package ollama

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
)

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		fixture    string
		body       string
		header     map[string]string
		kind       llm.Kind
		message    string
		retryAfter time.Duration
	}{
		{name: "unknown model", status: 404, fixture: "error_not_found.json", kind: llm.KindNotFound, message: "model 'nope' not found"},
		{name: "unknown model try pulling", status: 404, fixture: "error_not_found_pull.json", kind: llm.KindNotFound, message: `model "nope" not found, try pulling it first`},
		{name: "context too long", status: 400, fixture: "error_context.json", kind: llm.KindContextLength, message: "exceeds the context length"},
		{name: "no tool support", status: 400, fixture: "error_no_tools.json", kind: llm.KindUnsupported, message: "does not support tools"},
		{name: "embedding only model", status: 400, fixture: "error_no_chat.json", kind: llm.KindUnsupported, message: "does not support chat"},
		{name: "rate limited", status: 429, body: `{"error":"slow down"}`, header: map[string]string{"Retry-After": "3"}, kind: llm.KindRateLimited, message: "slow down", retryAfter: 3 * time.Second},
		{name: "queue full", status: 503, fixture: "error_busy.json", kind: llm.KindOverloaded, message: "server busy"},
		{name: "runner crashed", status: 500, fixture: "error_server.json", kind: llm.KindServer, message: "llama runner process has terminated"},
		{name: "request canceled", status: 499, fixture: "error_canceled.json", kind: llm.KindCanceled},
		{name: "unauthorized", status: 401, fixture: "error_unauthorized.json", kind: llm.KindAuth, message: "unauthorized"},
		{name: "proxy html", status: 502, fixture: "error_html.txt", kind: llm.KindServer, message: "502 Bad Gateway"},
		{name: "huge retry after is capped", status: 429, body: `{"error":"x"}`, header: map[string]string{"Retry-After": "86400"}, kind: llm.KindRateLimited, message: "x", retryAfter: maxRetryAfter},
	} {
		for _, call := range []string{"chat", "embed", "models", "ping"} {
			t.Run(tc.name+"/"+call, func(t *testing.T) {
				rep := reply{status: tc.status, fixture: tc.fixture, body: tc.body, header: tc.header}
				f := newFake(t)
				for _, path := range []string{"/api/chat", "/api/embed", "/api/tags", "/api/version"} {
					f.on(path, rep)
				}
				p := f.provider(t, Options{Name: "edge-ollama"})
				err := callByName(p, call)
				var e *llm.Error
				if !errors.As(err, &e) {
					t.Fatalf("err = %v (%T), want *llm.Error", err, err)
				}
				if e.Kind != tc.kind || e.Status != tc.status || e.Provider != "edge-ollama" {
					t.Errorf("got kind %v status %d provider %q, want %v %d edge-ollama", e.Kind, e.Status, e.Provider, tc.kind, tc.status)
				}
				if !strings.Contains(e.Message, tc.message) {
					t.Errorf("message = %q, want %q in it", e.Message, tc.message)
				}
				if e.RetryAfter != tc.retryAfter {
					t.Errorf("retry after = %v, want %v", e.RetryAfter, tc.retryAfter)
				}
			})
		}
	}
}

func callByName(p *Provider, name string) error {
	ctx := context.Background()
	switch name {
	case "chat":
		_, err := p.Chat(ctx, userChat("m", "hi"), func(*llm.Chunk) error { return nil })
		return err
	case "embed":
		_, err := p.Embed(ctx, &llm.EmbedRequest{Model: "m", Input: []string{"x"}})
		return err
	case "models":
		_, err := p.Models(ctx)
		return err
	case "ping":
		return p.Ping(ctx)
	}
	panic("unknown call " + name)
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		status int
		msg    string
		want   llm.Kind
	}{
		{404, "", llm.KindNotFound},
		{404, "context length", llm.KindNotFound},
		{400, "model 'x' not found", llm.KindNotFound},
		{500, `model "x" not found, try pulling it first`, llm.KindNotFound},
		{400, "the input length exceeds the context length", llm.KindContextLength},
		{400, "prompt is too long", llm.KindContextLength},
		{400, "input exceeds maximum context length and cannot be truncated further", llm.KindContextLength},
		{400, "context window exceeded", llm.KindContextLength},
		{400, "exceeds context", llm.KindContextLength},
		{400, "context canceled", llm.KindBadRequest},
		{400, "invalid options", llm.KindBadRequest},
		{400, "does not support tools", llm.KindUnsupported},
		{413, "request too large", llm.KindContextLength},
		{500, "context deadline exceeded", llm.KindServer},
		{500, "the input length exceeds the context length", llm.KindContextLength},
		{500, "", llm.KindServer},
		{502, "", llm.KindServer},
		{503, "server busy, please try again.  maximum pending requests exceeded", llm.KindOverloaded},
		{503, "", llm.KindOverloaded},
		{429, "", llm.KindRateLimited},
		{401, "", llm.KindAuth},
		{403, "", llm.KindAuth},
		{499, "request canceled", llm.KindCanceled},
		{0, "an error was encountered while running the model", llm.KindServer},
		{0, "server busy", llm.KindOverloaded},
		{0, "the input length exceeds the context length", llm.KindContextLength},
		{0, "context canceled", llm.KindServer},
	} {
		if got := classify(tc.status, tc.msg); got != tc.want {
			t.Errorf("classify(%d, %q) = %v, want %v", tc.status, tc.msg, got, tc.want)
		}
	}
}

func TestErrorMessageBounded(t *testing.T) {
	long := strings.Repeat("é", upstream.MaxErrorMessage) // 2 bytes each
	for _, body := range []string{`{"error":"` + long + `"}`, long} {
		msg := errorMessage([]byte(body))
		if len(msg) > upstream.MaxErrorMessage+len("…") {
			t.Errorf("message of %d bytes kept", len(msg))
		}
		if !strings.HasSuffix(msg, "é…") {
			t.Errorf("message cut inside a character: %q", msg[len(msg)-8:])
		}
	}
	if got := errorMessage([]byte("  plain text \n")); got != "plain text" {
		t.Errorf("errorMessage(plain) = %q", got)
	}
}

func TestErrorString(t *testing.T) {
	f := newFake(t).on("/api/chat", reply{status: http.StatusNotFound, fixture: "error_not_found.json"})
	_, _, err := collect(t, f.provider(t, Options{}), userChat("nope", "hi"))
	if got, want := err.Error(), "ollama: not_found (HTTP 404): model 'nope' not found"; got != want {
		t.Errorf("err = %q, want %q", got, want)
	}
}
