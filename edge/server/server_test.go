package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/router"
	"github.com/edgeway/edgeway/edge/testkit"
)

// fakeRouter scripts what the router does for each request.
type fakeRouter struct {
	route    func(ctx context.Context, req *llm.ChatRequest, st *router.Status, emit func(*llm.Chunk) error) (llm.Usage, error)
	embed    func(ctx context.Context, req *llm.EmbedRequest, st *router.Status) (*llm.EmbedResponse, error)
	health   []router.UpstreamHealth
	canceled atomic.Int64
}

func (f *fakeRouter) Route(ctx context.Context, req *llm.ChatRequest, st *router.Status, emit func(*llm.Chunk) error) (llm.Usage, error) {
	return f.route(ctx, req, st, emit)
}

func (f *fakeRouter) Collect(ctx context.Context, req *llm.ChatRequest, st *router.Status, agg *llm.Aggregate) (llm.Usage, error) {
	return f.route(ctx, req, st, func(c *llm.Chunk) error { agg.Add(c); return nil })
}

func (f *fakeRouter) Embed(ctx context.Context, req *llm.EmbedRequest, st *router.Status) (*llm.EmbedResponse, error) {
	return f.embed(ctx, req, st)
}

func (f *fakeRouter) Models(context.Context) []llm.Model {
	return []llm.Model{{ID: "chat", Provider: "edgeway"}, {ID: "ollama/tiny", Provider: "ollama"}}
}

func (f *fakeRouter) Health() []router.UpstreamHealth { return f.health }

// replyWords serves "Hello from fake" as three chunks from provider "local".
func replyWords(ctx context.Context, req *llm.ChatRequest, st *router.Status, emit func(*llm.Chunk) error) (llm.Usage, error) {
	st.Provider, st.Model, st.Failovers = "local", "tiny", 1
	words := []string{"Hello", " from", " fake"}
	var c llm.Chunk
	for i, w := range words {
		c = llm.Chunk{Text: w}
		if i == 0 {
			c.Role = llm.RoleAssistant
		}
		if i == len(words)-1 {
			c.FinishReason = llm.FinishStop
		}
		if err := emit(&c); err != nil {
			return llm.Usage{}, err
		}
	}
	return llm.Usage{PromptTokens: 5, CompletionTokens: 3, TotalTokens: 8}, nil
}

func startServer(t *testing.T, r Router, o Options) string {
	t.Helper()
	o.Router = r
	s := New(o)
	ln := testkit.Listen(t)
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String()
}

// post sends body as JSON with the header pairs hdr.
func post(t *testing.T, url, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	return send(t, "POST", url, body, hdr...)
}

// send makes one request with the header pairs hdr (a POST is JSON unless
// hdr says otherwise) and reads the answer.
func send(t *testing.T, method, url, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if method == "POST" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

type oaiError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func TestChatNonStreaming(t *testing.T) {
	base := startServer(t, &fakeRouter{route: replyWords}, Options{})
	resp, body := post(t, base+"/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`, "x-request-id", "client-id-1")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	for h, want := range map[string]string{"x-request-id": "client-id-1", "x-edgeway-provider": "local", "x-edgeway-failover": "1", "x-edgeway-cache": "miss"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	var got struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Model   string `json:"model"`
		Choices []struct {
			Message struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			TotalTokens int `json:"total_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if got.Object != "chat.completion" || got.Model != "chat" || len(got.Choices) != 1 ||
		got.Choices[0].Message.Content != "Hello from fake" || got.Choices[0].Message.Role != "assistant" ||
		got.Choices[0].FinishReason != "stop" || got.Usage.TotalTokens != 8 {
		t.Errorf("got %+v", got)
	}
}

func TestChatStreaming(t *testing.T) {
	base := startServer(t, &fakeRouter{route: replyWords}, Options{})
	resp, body := post(t, base+"/v1/chat/completions", `{"model":"chat","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp.Header.Get("x-edgeway-provider") != "local" || resp.Header.Get("x-request-id") == "" {
		t.Errorf("headers: %v", resp.Header)
	}
	events := strings.Split(strings.TrimSuffix(string(body), "\n\n"), "\n\n")
	if len(events) != 5 || events[4] != "data: [DONE]" {
		t.Fatalf("want 3 chunks + usage + [DONE], got %d events:\n%s", len(events), body)
	}
	var text strings.Builder
	for _, e := range events[:3] {
		var c struct {
			Object  string `json:"object"`
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(e, "data: ")), &c); err != nil || c.Object != "chat.completion.chunk" {
			t.Fatalf("event %q: %v", e, err)
		}
		text.WriteString(c.Choices[0].Delta.Content)
	}
	if text.String() != "Hello from fake" {
		t.Errorf("text %q", text.String())
	}
	if !strings.Contains(events[3], `"total_tokens":8`) || !strings.Contains(events[3], `"choices":[]`) {
		t.Errorf("usage event %q", events[3])
	}
}

func TestStreamErrorAfterFirstChunk(t *testing.T) {
	r := &fakeRouter{route: func(ctx context.Context, req *llm.ChatRequest, st *router.Status, emit func(*llm.Chunk) error) (llm.Usage, error) {
		st.Provider = "local"
		if err := emit(&llm.Chunk{Role: llm.RoleAssistant, Text: "partial"}); err != nil {
			return llm.Usage{}, err
		}
		return llm.Usage{}, &llm.Error{Provider: "local", Kind: llm.KindServer, Message: "stream cut"}
	}}
	base := startServer(t, r, Options{})
	resp, body := post(t, base+"/v1/chat/completions", `{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	s := string(body)
	if !strings.Contains(s, "partial") || !strings.Contains(s, `"error"`) || !strings.Contains(s, "stream cut") || !strings.HasSuffix(s, "data: [DONE]\n\n") {
		t.Errorf("body:\n%s", s)
	}
}

func TestErrors(t *testing.T) {
	exhausted := &router.ExhaustedError{Model: "chat", Offline: true, Attempts: []router.Attempt{
		{Target: "ollama/tiny", Kind: llm.KindUnavailable, Err: errors.New("connection refused")},
		{Target: "openai/gpt-4o-mini", Skipped: "offline"},
	}}
	tests := []struct {
		name       string
		path, body string
		routeErr   error
		status     int
		typ, code  string
		param      string
		msg        []string
		retryAfter string
	}{
		{name: "invalid json", body: `{"model":`, status: 400, typ: "invalid_request_error", msg: []string{"JSON"}},
		{name: "missing messages", body: `{"model":"chat"}`, status: 400, param: "messages", msg: []string{"messages"}},
		{name: "wrong type", body: `{"model":"chat","messages":"hi"}`, status: 400, param: "messages"},
		{name: "n unsupported", body: `{"model":"chat","n":2,"messages":[{"role":"user","content":"x"}]}`, status: 400, param: "n"},
		{name: "temperature range", body: `{"model":"chat","temperature":7,"messages":[{"role":"user","content":"x"}]}`, status: 400, param: "temperature"},
		{name: "invalid utf8", body: "{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}", status: 400, msg: []string{"UTF-8"}},
		{name: "unknown model", routeErr: &router.UnknownModelError{Model: "gpt-9", Known: []string{"chat", "ollama"}}, status: 404, code: "model_not_found", param: "model", msg: []string{`"gpt-9"`, "chat, ollama"}},
		{name: "offline", routeErr: exhausted, status: 503, code: "no_provider_available", msg: []string{"offline", "ollama/tiny", "no provider reachable: start Ollama"}},
		{name: "rate limited everywhere", routeErr: &router.ExhaustedError{Model: "chat", Attempts: []router.Attempt{{Target: "openai/x", Kind: llm.KindRateLimited, Err: &llm.Error{Provider: "openai", Kind: llm.KindRateLimited, Status: 429, RetryAfter: 2 * time.Second}}}}, status: 429, typ: "rate_limit_error", retryAfter: "2"},
		{name: "upstream bad request", routeErr: &llm.Error{Provider: "openai", Kind: llm.KindBadRequest, Status: 400, Message: "tools[0] invalid"}, status: 400, msg: []string{"tools[0] invalid"}},
		{name: "unknown path", path: "/v1/nope", status: 404, code: "unknown_url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &fakeRouter{route: func(ctx context.Context, req *llm.ChatRequest, st *router.Status, emit func(*llm.Chunk) error) (llm.Usage, error) {
				if tc.routeErr != nil {
					return llm.Usage{}, tc.routeErr
				}
				return replyWords(ctx, req, st, emit)
			}}
			base := startServer(t, r, Options{UnavailableHint: "start Ollama at http://127.0.0.1:11434 or set OPENAI_API_KEY"})
			path, body := tc.path, tc.body
			if path == "" {
				path = "/v1/chat/completions"
			}
			if body == "" {
				body = `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`
			}
			for _, stream := range []bool{false, true} {
				b := body
				if stream && strings.HasSuffix(b, "]}") && tc.routeErr != nil {
					b = strings.Replace(b, `{"model"`, `{"stream":true,"model"`, 1)
				}
				resp, got := post(t, base+path, b)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, got)
				}
				if resp.Header.Get("x-request-id") == "" {
					t.Error("no x-request-id")
				}
				var e oaiError
				if err := json.Unmarshal(got, &e); err != nil || e.Error.Message == "" {
					t.Fatalf("not OpenAI error JSON: %v: %s", err, got)
				}
				if tc.typ != "" && e.Error.Type != tc.typ {
					t.Errorf("type %q, want %q", e.Error.Type, tc.typ)
				}
				if tc.code != "" && (e.Error.Code == nil || *e.Error.Code != tc.code) {
					t.Errorf("code %v, want %q", e.Error.Code, tc.code)
				}
				if tc.param != "" && (e.Error.Param == nil || !strings.HasPrefix(*e.Error.Param, tc.param)) {
					t.Errorf("param %v, want %q", e.Error.Param, tc.param)
				}
				for _, m := range tc.msg {
					if !strings.Contains(e.Error.Message, m) {
						t.Errorf("message %q lacks %q", e.Error.Message, m)
					}
				}
				if tc.retryAfter != "" && resp.Header.Get("Retry-After") != tc.retryAfter {
					t.Errorf("Retry-After %q, want %q", resp.Header.Get("Retry-After"), tc.retryAfter)
				}
			}
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	base := startServer(t, &fakeRouter{route: replyWords}, Options{MaxBodyBytes: 2048})
	resp, body := post(t, base+"/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"`+strings.Repeat("x", 4096)+`"}]}`)
	var e oaiError
	if resp.StatusCode != 413 || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error.Message, "2048") {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	base := startServer(t, &fakeRouter{route: replyWords}, Options{})
	resp, err := http.Get(base + "/v1/chat/completions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("status %d allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// blockingRouter blocks every request until its ctx ends, counting
// cancellations, and signals when a request has arrived.
func blockingRouter(started chan<- struct{}) *fakeRouter {
	f := &fakeRouter{}
	f.route = func(ctx context.Context, req *llm.ChatRequest, st *router.Status, emit func(*llm.Chunk) error) (llm.Usage, error) {
		if req.Stream {
			st.Provider = "local"
			if err := emit(&llm.Chunk{Role: llm.RoleAssistant, Text: "first"}); err != nil {
				return llm.Usage{}, err
			}
		}
		started <- struct{}{}
		<-ctx.Done()
		f.canceled.Add(1)
		return llm.Usage{}, ctx.Err()
	}
	return f
}

func TestShedAtConcurrencyLimit(t *testing.T) {
	started := make(chan struct{}, 1)
	f := blockingRouter(started)
	base := startServer(t, f, Options{MaxConcurrency: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/chat/completions", strings.NewReader(`{"model":"chat","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	resp, body := post(t, base+"/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(body), "max_concurrency") {
		t.Errorf("status %d retry-after %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	for _, stream := range []bool{false, true} {
		name := map[bool]string{false: "whole", true: "stream"}[stream]
		t.Run(name, func(t *testing.T) {
			started := make(chan struct{}, 1)
			f := blockingRouter(started)
			base := startServer(t, f, Options{})
			conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			body := `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`
			if stream {
				body = `{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`
			}
			rawPost(t, conn, body)
			<-started
			if stream {
				readToFirstEvent(t, conn)
			}
			conn.Close()
			testkit.Until(t, "the upstream call canceled", func() bool { return f.canceled.Load() == 1 })
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestReadyzAndMetrics(t *testing.T) {
	f := &fakeRouter{route: replyWords, health: []router.UpstreamHealth{{Name: "ollama", Type: "ollama", Local: true, Online: false, Circuit: "closed"}}}
	base := startServer(t, f, Options{})
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), `"ready":false`) {
		t.Errorf("readyz %d %s", resp.StatusCode, b)
	}
	post(t, base+"/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`)
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"edgeway_chat_requests_total 1", `edgeway_provider_requests_total{provider="local"} 1`, `edgeway_provider_tokens_total{direction="completion",provider="local"} 3`, `edgeway_upstream_online{provider="ollama"} 0`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q:\n%s", want, b)
		}
	}
}

func TestConcurrentRequests(t *testing.T) {
	base := startServer(t, &fakeRouter{route: replyWords}, Options{MaxConcurrency: 256})
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := 0; i < 32; i++ {
		wg.Go(func() {
			for j := 0; j < 10; j++ {
				stream := (i+j)%2 == 0
				body := `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`
				if stream {
					body = `{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`
				}
				resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(body))
				if err != nil {
					errs <- err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(b), "fake") {
					errs <- string(b)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
