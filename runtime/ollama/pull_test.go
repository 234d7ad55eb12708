package ollama

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/llm"
)

func TestRunning(t *testing.T) {
	cases := []struct {
		name    string
		rep     reply
		want    int
		wantErr bool
	}{
		{name: "loaded", rep: reply{fixture: "ps.json"}, want: 1},
		{name: "none", rep: reply{body: `{"models":[]}`}},
		{name: "server error", rep: reply{status: 500, fixture: "error_server.json"}, wantErr: true},
		{name: "not json", rep: reply{body: `<html>`}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newFake(t).on("/api/ps", tc.rep).provider(t, Options{})
			got, err := p.Running(context.Background())
			if tc.wantErr {
				var le *llm.Error
				if !errors.As(err, &le) || le.Kind != llm.KindServer {
					t.Fatalf("err = %v, want a server error", err)
				}
				return
			}
			if err != nil || len(got) != tc.want {
				t.Fatalf("Running = %d models, %v; want %d", len(got), err, tc.want)
			}
			if tc.want > 0 {
				// Passed on as Ollama sent it: every field kept.
				var m map[string]any
				if err := json.Unmarshal(got[0], &m); err != nil {
					t.Fatal(err)
				}
				for _, k := range []string{"name", "model", "size", "digest", "details", "expires_at", "size_vram", "context_length"} {
					if _, ok := m[k]; !ok {
						t.Errorf("model lacks %q: %s", k, got[0])
					}
				}
			}
		})
	}
}

func TestPull(t *testing.T) {
	cases := []struct {
		name    string
		rep     reply
		lines   int
		wantErr string
		status  int
	}{
		{name: "streamed", rep: reply{fixture: "pull_stream.ndjson"}, lines: 5},
		{name: "error mid-stream", rep: reply{fixture: "pull_error_midstream.ndjson"}, lines: 1, wantErr: "file does not exist"},
		{name: "error status", rep: reply{status: 404, fixture: "error_not_found_pull.json"}, wantErr: "not found", status: 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t).on("/api/pull", tc.rep)
			p := f.provider(t, Options{})
			var lines []string
			err := p.Pull(context.Background(), "llama3.2:1b", false, func(l []byte) error {
				lines = append(lines, string(l))
				return nil
			})
			if len(lines) != tc.lines {
				t.Errorf("progress lines = %d %q, want %d", len(lines), lines, tc.lines)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if lines[len(lines)-1] != `{"status":"success"}` {
					t.Errorf("last line %s", lines[len(lines)-1])
				}
			} else {
				var le *llm.Error
				if !errors.As(err, &le) || !strings.Contains(le.Message, tc.wantErr) || le.Status != tc.status {
					t.Fatalf("err = %#v, want %q status %d", err, tc.wantErr, tc.status)
				}
			}
			var sent map[string]any
			if err := json.Unmarshal(f.requests("/api/pull")[0], &sent); err != nil {
				t.Fatal(err)
			}
			if sent["model"] != "llama3.2:1b" || sent["stream"] != true {
				t.Errorf("sent %v", sent)
			}
		})
	}
}

func TestDeleteCopy(t *testing.T) {
	var methods []string
	ok := reply{handler: func(w http.ResponseWriter, r *http.Request) { methods = append(methods, r.Method) }}
	f := newFake(t).on("/api/delete", ok).on("/api/copy", ok)
	p := f.provider(t, Options{})
	if err := p.Delete(context.Background(), "a:1b"); err != nil {
		t.Fatal(err)
	}
	if err := p.Copy(context.Background(), "a:1b", "b:1b"); err != nil {
		t.Fatal(err)
	}
	if strings.Join(methods, ",") != "DELETE,POST" {
		t.Errorf("methods %v", methods)
	}
	if got := string(f.requests("/api/copy")[0]); got != `{"source":"a:1b","destination":"b:1b"}` {
		t.Errorf("copy body %s", got)
	}
	f.on("/api/delete", reply{status: 404, body: `{"error":"model 'x' not found"}`})
	var le *llm.Error
	if err := p.Delete(context.Background(), "x"); !errors.As(err, &le) || le.Status != 404 {
		t.Fatalf("delete missing: %v", err)
	}
}
