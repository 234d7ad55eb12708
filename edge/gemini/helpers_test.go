package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

func textParts(s string) []llm.Part { return []llm.Part{{Type: llm.PartText, Text: s}} }

func user(s string) llm.Message {
	return llm.Message{Role: llm.RoleUser, Content: textParts(s)}
}

func assistant(s string) llm.Message {
	return llm.Message{Role: llm.RoleAssistant, Content: textParts(s)}
}

func system(s string) llm.Message {
	return llm.Message{Role: llm.RoleSystem, Content: textParts(s)}
}

func toolResult(id, s string) llm.Message {
	return llm.Message{Role: llm.RoleTool, ToolCallID: id, Content: textParts(s)}
}

// jsonEqual compares two JSON texts by value.
func jsonEqual(t *testing.T, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("fixture not JSON: %v\n%s", err, want)
	}
	return reflect.DeepEqual(g, w)
}

// recorded is one request the fake upstream saw.
type recorded struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

// fakeUpstream is an httptest server on 127.0.0.1:0 that records requests
// and answers with handler.
type fakeUpstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newFake(t *testing.T, handler http.HandlerFunc) *fakeUpstream {
	t.Helper()
	f := &fakeUpstream{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		handler(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeUpstream) last(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("the fake upstream saw no request")
	}
	return f.reqs[len(f.reqs)-1]
}

func (f *fakeUpstream) all() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func newTestClient(t *testing.T, baseURL string, mod ...func(*Options)) *Client {
	t.Helper()
	o := Options{Endpoint: upstream.Endpoint{Name: "fake", BaseURL: baseURL + "/v1beta/", APIKey: "AIza-test", Headers: map[string]string{"X-Title": "edgeway-test"}}}
	for _, m := range mod {
		m(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// sseHandler answers with body as an event stream, flushing each event.
func sseHandler(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for _, ev := range strings.SplitAfter(body, "\r\n\r\n") {
			io.WriteString(w, ev)
			fl.Flush()
		}
	}
}

func jsonHandler(status int, header map[string]string, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// copyChunk copies what a receiver must copy out of an emitted chunk.
func copyChunk(ch *llm.Chunk) llm.Chunk {
	cp := *ch
	cp.ToolCalls = append([]llm.ToolCallDelta(nil), ch.ToolCalls...)
	if ch.Usage != nil {
		u := *ch.Usage
		cp.Usage = &u
	}
	return cp
}

// collect runs Chat and returns copies of the emitted chunks and their
// aggregate.
func collect(t *testing.T, c *Client, req *llm.ChatRequest) ([]llm.Chunk, *llm.Aggregate, llm.Usage, error) {
	t.Helper()
	var chunks []llm.Chunk
	agg := &llm.Aggregate{}
	u, err := c.Chat(context.Background(), req, func(ch *llm.Chunk) error {
		chunks = append(chunks, copyChunk(ch))
		agg.Add(ch)
		return nil
	})
	return chunks, agg, u, err
}

func simpleRequest() *llm.ChatRequest {
	return &llm.ChatRequest{Model: "gemini-2.5-flash", Messages: []llm.Message{user("Hello!")}}
}
