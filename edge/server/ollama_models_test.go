package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/keys"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/runtime/ollama"
)

// fakeOllama serves Ollama's model endpoints from runtime/ollama's
// fixtures, answering path with the fixture named in routes.
func fakeOllama(t *testing.T, routes map[string]string, status map[string]int) *ollama.Provider {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := routes[r.URL.Path]
		if !ok {
			http.Error(w, "404 page not found", http.StatusNotFound)
			return
		}
		b, err := os.ReadFile(filepath.Join("..", "..", "runtime", "ollama", "testdata", name))
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if st := status[r.URL.Path]; st != 0 {
			w.WriteHeader(st)
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	p, err := ollama.New(ollama.Options{Name: "ollama", BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// listerOnly is a local runtime that only lists its models, as
// llama-server does.
type listerOnly struct{ ids []string }

func (l listerOnly) Name() string { return "llama" }
func (l listerOnly) Chat(context.Context, *llm.ChatRequest, func(*llm.Chunk) error) (llm.Usage, error) {
	return llm.Usage{}, nil
}
func (l listerOnly) Models(context.Context) ([]llm.Model, error) {
	out := make([]llm.Model, len(l.ids))
	for i, id := range l.ids {
		out[i] = llm.Model{ID: id}
	}
	return out, nil
}

func TestOllamaPS(t *testing.T) {
	oll := fakeOllama(t, map[string]string{"/api/ps": "ps.json"}, nil)
	cases := []struct {
		name  string
		rts   []Runtime
		names []string
	}{
		{name: "no runtime"},
		{name: "ollama", rts: []Runtime{{"ollama", oll}}, names: []string{"ollama/llama3.2:1b"}},
		{name: "ollama and llama-server", rts: []Runtime{{"ollama", oll}, {"llama", listerOnly{[]string{"qwen"}}}},
			names: []string{"ollama/llama3.2:1b", "llama/qwen"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := startServer(t, &fakeRouter{route: replyWords}, Options{Runtimes: tc.rts})
			resp, body := send(t, "GET", url+"/api/ps", "")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var ps struct {
				Models []map[string]any `json:"models"`
			}
			if err := json.Unmarshal(body, &ps); err != nil || ps.Models == nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if len(ps.Models) != len(tc.names) {
				t.Fatalf("models %s, want %v", body, tc.names)
			}
			for i, m := range ps.Models {
				if m["name"] != tc.names[i] || m["model"] != tc.names[i] {
					t.Errorf("model %d named %v/%v, want %s", i, m["name"], m["model"], tc.names[i])
				}
				for _, k := range []string{"size", "digest", "details", "expires_at", "size_vram", "context_length"} {
					if _, ok := m[k]; !ok {
						t.Errorf("model %d lacks %q", i, k)
					}
				}
				if d, _ := m["digest"].(string); len(d) < 12 {
					t.Errorf("digest %q: `ollama ps` prints its first 12 characters", d)
				}
			}
		})
	}
}

func TestOllamaPull(t *testing.T) {
	stream := fakeOllama(t, map[string]string{"/api/pull": "pull_stream.ndjson"}, nil)
	midErr := fakeOllama(t, map[string]string{"/api/pull": "pull_error_midstream.ndjson"}, nil)
	notFound := fakeOllama(t, map[string]string{"/api/pull": "error_not_found_pull.json"}, map[string]int{"/api/pull": 404})
	want, err := os.ReadFile(filepath.Join("..", "..", "runtime", "ollama", "testdata", "pull_stream.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		rt     *ollama.Provider
		body   string
		status int
		ctype  string
		want   string // the whole body, or a substring after "~"
	}{
		{name: "streamed", rt: stream, body: `{"model":"llama3.2:1b"}`, status: 200, ctype: "application/x-ndjson", want: string(want)},
		{name: "prefixed name", rt: stream, body: `{"model":"ollama/llama3.2:1b"}`, status: 200, ctype: "application/x-ndjson", want: string(want)},
		{name: "not streamed", rt: stream, body: `{"model":"llama3.2:1b","stream":false}`, status: 200, ctype: "application/json", want: `{"status":"success"}`},
		{name: "error mid-stream", rt: midErr, body: `{"model":"nope"}`, status: 200, ctype: "application/x-ndjson",
			want: "{\"status\":\"pulling manifest\"}\n{\"error\":\"pull model manifest: file does not exist\"}\n"},
		{name: "error mid-stream, not streamed", rt: midErr, body: `{"model":"nope","stream":false}`, status: 502, want: `~file does not exist`},
		{name: "not found", rt: notFound, body: `{"model":"nope"}`, status: 404, want: `{"error":"model \"nope\" not found, try pulling it first"}`},
		{name: "no model", rt: stream, body: `{}`, status: 400, want: `~model is required`},
		{name: "not json", rt: stream, body: `nope`, status: 400, want: `~not a JSON object`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := startServer(t, &fakeRouter{route: replyWords}, Options{Runtimes: []Runtime{{"ollama", tc.rt}}})
			resp, body := post(t, url+"/api/pull", tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.ctype != "" && !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) {
				t.Errorf("content type %q", resp.Header.Get("Content-Type"))
			}
			if sub, ok := strings.CutPrefix(tc.want, "~"); ok {
				if !strings.Contains(string(body), sub) || !strings.HasPrefix(string(body), `{"error":`) {
					t.Errorf("body %s, want an Ollama error with %q", body, sub)
				}
			} else if string(body) != tc.want {
				t.Errorf("body\n%s\nwant\n%s", body, tc.want)
			}
		})
	}
}

func TestOllamaModelStorePermissions(t *testing.T) {
	st := keyStore(t)
	member := mustKey(t, st, keys.KeySpec{Name: "app"})
	oll := fakeOllama(t, map[string]string{"/api/pull": "pull_stream.ndjson", "/api/ps": "ps.json", "/api/delete": "version.json", "/api/copy": "version.json"}, nil)
	url := startServer(t, &fakeRouter{route: replyWords}, Options{Auth: keys.NewAuth(st, testAdminKey), Runtimes: []Runtime{{"ollama", oll}}})
	admin, mem := "Bearer "+testAdminKey, "Bearer "+member
	for _, tc := range []struct {
		name, method, path, body, auth string
		status                         int
		want                           string
	}{
		{"ps member", "GET", "/api/ps", "", mem, 200, `"ollama/llama3.2:1b"`},
		{"ps no key", "GET", "/api/ps", "", "", 401, `{"error":"missing API key`},
		{"pull member", "POST", "/api/pull", `{"model":"x"}`, mem, 403, `{"error":"only the admin key`},
		{"pull admin", "POST", "/api/pull", `{"model":"x","stream":false}`, admin, 200, `{"status":"success"}`},
		{"delete member", "DELETE", "/api/delete", `{"model":"x"}`, mem, 403, `{"error":"only the admin key`},
		{"delete admin", "DELETE", "/api/delete", `{"model":"ollama/x"}`, admin, 200, ``},
		{"copy admin", "POST", "/api/copy", `{"source":"x","destination":"y"}`, admin, 200, ``},
		{"copy without destination", "POST", "/api/copy", `{"source":"x"}`, admin, 400, `{"error":`},
		{"delete by GET", "GET", "/api/delete", ``, admin, 405, `{"error":`},
		{"create", "POST", "/api/create", `{"model":"x"}`, admin, 501, `{"error":"\"/api/create\" is not served by edgeway`},
		{"push", "POST", "/api/push", `{"model":"x"}`, admin, 501, `{"error":`},
		{"blob", "HEAD", "/api/blobs/sha256:abc", ``, admin, 501, ``},
		{"blob upload", "POST", "/api/blobs/sha256:abc", `x`, admin, 501, `{"error":`},
		{"me", "POST", "/api/me", ``, mem, 501, `{"error":`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.auth != "" {
				hdr = []string{"Authorization", tc.auth}
			}
			resp, body := send(t, tc.method, url+tc.path, tc.body, hdr...)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
				t.Fatalf("%d %s, want %d with %q", resp.StatusCode, body, tc.status, tc.want)
			}
		})
	}
}

func TestOllamaModelStoreNoRuntime(t *testing.T) {
	url := startServer(t, &fakeRouter{route: replyWords}, Options{Runtimes: []Runtime{{"llama", listerOnly{}}}})
	resp, body := post(t, url+"/api/pull", `{"model":"x"}`)
	if resp.StatusCode != 501 || !strings.Contains(string(body), "no local Ollama runtime") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func FuzzDecodeStoreRequest(f *testing.F) {
	for _, s := range []string{`{"model":"llama3.2:1b"}`, `{"name":"x","stream":false}`, `{"source":"a","destination":"b"}`, `{"model":"a\u0000"}`, `[]`, ``} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, copy bool) {
		r, err := decodeStoreRequest(body, copy)
		if err != nil {
			return
		}
		names := []string{r.Model}
		if copy {
			names = []string{r.Source, r.Destination}
		}
		for _, n := range names {
			if n == "" || len(n) > maxModelName {
				t.Fatalf("accepted name %q", n)
			}
		}
	})
}

// A client that goes away mid-pull cancels the pull upstream.
func TestOllamaPullClientGoneCancels(t *testing.T) {
	canceled := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Write([]byte(`{"status":"pulling manifest"}` + "\n"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(canceled)
	}))
	t.Cleanup(srv.Close)
	p, err := ollama.New(ollama.Options{Name: "ollama", BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	url := startServer(t, &fakeRouter{route: replyWords}, Options{Runtimes: []Runtime{{"ollama", p}}})
	resp, err := http.Post(url+"/api/pull", "application/json", strings.NewReader(`{"model":"big"}`))
	if err != nil {
		t.Fatal(err)
	}
	line := make([]byte, len(`{"status":"pulling manifest"}`)+1)
	if _, err := io.ReadFull(resp.Body, line); err != nil || string(line) != "{\"status\":\"pulling manifest\"}\n" {
		t.Fatalf("first line %q: %v", line, err)
	}
	resp.Body.Close() // the client goes away
	http.DefaultClient.CloseIdleConnections()
	testkit.Closed(t, "the upstream pull is canceled", canceled)
}
