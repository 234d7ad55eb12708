package ollama

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    Options
		wantErr bool
		chat    string
		pname   string
	}{
		{name: "defaults", opts: Options{}, chat: "http://127.0.0.1:11434/api/chat", pname: "ollama"},
		{name: "trailing slash", opts: Options{BaseURL: "http://box:8080/", Name: "box"}, chat: "http://box:8080/api/chat", pname: "box"},
		{name: "path prefix", opts: Options{BaseURL: "https://gw.example/ollama"}, chat: "https://gw.example/ollama/api/chat", pname: "ollama"},
		{name: "no scheme", opts: Options{BaseURL: "127.0.0.1:11434"}, wantErr: true},
		{name: "bad scheme", opts: Options{BaseURL: "ftp://host"}, wantErr: true},
		{name: "no host", opts: Options{BaseURL: "http://"}, wantErr: true},
		{name: "unparseable", opts: Options{BaseURL: "http://[::1"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.opts)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("New(%+v) succeeded", tc.opts)
				}
				if !strings.HasPrefix(err.Error(), "ollama: ") {
					t.Errorf("err = %q, want the ollama: prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.chatURL != tc.chat || p.Name() != tc.pname {
				t.Errorf("chat url %q name %q, want %q %q", p.chatURL, p.Name(), tc.chat, tc.pname)
			}
		})
	}
}

func TestNewCopiesOptions(t *testing.T) {
	opts := map[string]any{"num_thread": 1}
	p, err := New(Options{Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	opts["num_thread"] = 8
	if p.options["num_thread"] != 1 {
		t.Error("New kept the caller's map")
	}
}

func TestEmbed(t *testing.T) {
	f := newFake(t).on("/api/embed", reply{fixture: "embed.json"})
	p := f.provider(t, Options{Options: map[string]any{"num_thread": 1}, KeepAlive: -1})
	resp, err := p.Embed(context.Background(), &llm.EmbedRequest{Model: "all-minilm", Input: []string{"Why is the sky blue?", "Why is the grass green?"}, Dimensions: new(6)})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Vectors) != 2 || len(resp.Vectors[0]) != 6 || resp.Vectors[1][0] != -0.0098027075 {
		t.Errorf("vectors = %v", resp.Vectors)
	}
	if resp.Model != "all-minilm" || resp.Usage != (llm.Usage{PromptTokens: 8, TotalTokens: 8}) {
		t.Errorf("model %q usage %+v", resp.Model, resp.Usage)
	}
	var got map[string]any
	if err := json.Unmarshal(f.requests("/api/embed")[0], &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"model":      "all-minilm",
		"input":      []any{"Why is the sky blue?", "Why is the grass green?"},
		"dimensions": 6.0,
		"keep_alive": -1.0,
		"options":    map[string]any{"num_thread": 1.0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("request = %v, want %v", got, want)
	}
}

func TestEmbedFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  llm.EmbedRequest
		rep  reply
		kind llm.Kind
	}{
		{name: "no input", req: llm.EmbedRequest{Model: "m"}, kind: llm.KindBadRequest},
		{name: "no model", req: llm.EmbedRequest{Input: []string{"x"}}, kind: llm.KindBadRequest},
		{name: "zero dimensions", req: llm.EmbedRequest{Model: "m", Input: []string{"x"}, Dimensions: new(0)}, kind: llm.KindBadRequest},
		{name: "too few vectors", req: llm.EmbedRequest{Model: "m", Input: []string{"a", "b", "c"}}, rep: reply{fixture: "embed.json"}, kind: llm.KindServer},
		{name: "not json", req: llm.EmbedRequest{Model: "m", Input: []string{"a"}}, rep: reply{body: "<html>"}, kind: llm.KindServer},
		{name: "context", req: llm.EmbedRequest{Model: "m", Input: []string{"a"}}, rep: reply{status: 400, fixture: "error_context.json"}, kind: llm.KindContextLength},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t).on("/api/embed", tc.rep)
			_, err := f.provider(t, Options{}).Embed(context.Background(), &tc.req)
			if k := llm.KindOf(err); k != tc.kind {
				t.Fatalf("err = %v (kind %v), want %v", err, k, tc.kind)
			}
		})
	}
}

func TestModels(t *testing.T) {
	f := newFake(t).on("/api/tags", reply{fixture: "tags.json"})
	models, err := f.provider(t, Options{Name: "pi"}).Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []llm.Model{
		{ID: "deepseek-r1:latest", Provider: "pi", OwnedBy: "library", Created: time.Date(2025, 5, 10, 15, 6, 48, 639712648, time.UTC)},
		{ID: "llama3.2:latest", Provider: "pi", OwnedBy: "library", Created: time.Date(2025, 5, 5, 0, 37, 44, 706015396, time.UTC)},
		{ID: "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", Provider: "pi", OwnedBy: "bartowski", Created: time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)},
	}
	if len(models) != len(want) {
		t.Fatalf("got %d models, want %d", len(models), len(want))
	}
	for i := range want {
		g := models[i]
		if g.ID != want[i].ID || g.Provider != want[i].Provider || g.OwnedBy != want[i].OwnedBy || !g.Created.Equal(want[i].Created) {
			t.Errorf("model %d = %+v, want %+v", i, g, want[i])
		}
	}
}

func TestOwnedBy(t *testing.T) {
	for name, want := range map[string]string{
		"llama3.2":                  "library",
		"llama3.2:1b":               "library",
		"user/model:tag":            "user",
		"hf.co/org/model":           "org",
		"localhost:5000/team/model": "team",
	} {
		if got := ownedBy(name); got != want {
			t.Errorf("ownedBy(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestPing(t *testing.T) {
	f := newFake(t).on("/api/version", reply{fixture: "version.json"})
	if err := f.provider(t, Options{}).Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestLineReader(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		max   int
		lines []string
		err   error
	}{
		{name: "lines", in: "a\nbb\n", max: 10, lines: []string{"a", "bb"}, err: io.EOF},
		{name: "blank lines and CRLF", in: "\n\r\na\r\n  \nb\n\n", max: 10, lines: []string{"a", "b"}, err: io.EOF},
		{name: "no final newline", in: "a\nb", max: 10, lines: []string{"a", "b"}, err: io.EOF},
		{name: "empty", in: "", max: 10, err: io.EOF},
		{name: "too long", in: "a\n0123456789abc\nb\n", max: 10, lines: []string{"a"}, err: errLineTooLong},
		{name: "spans the buffer", in: strings.Repeat("x", 10000) + "\ny\n", max: 20000, lines: []string{strings.Repeat("x", 10000), "y"}, err: io.EOF},
		{name: "too long across buffers", in: strings.Repeat("x", 10000) + "\n", max: 5000, err: errLineTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range map[string]io.Reader{
				"whole":      strings.NewReader(tc.in),
				"one byte":   iotest.OneByteReader(strings.NewReader(tc.in)),
				"data + EOF": iotest.DataErrReader(strings.NewReader(tc.in)),
			} {
				lr := newLineReader(r, tc.max)
				var lines []string
				var err error
				for {
					var b []byte
					if b, err = lr.next(); err != nil {
						break
					}
					lines = append(lines, string(b))
				}
				if !errors.Is(err, tc.err) || strings.Join(lines, "|") != strings.Join(tc.lines, "|") {
					t.Errorf("got %q, %v; want %q, %v", lines, err, tc.lines, tc.err)
				}
			}
		})
	}
}

func TestLineReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	lr := newLineReader(io.MultiReader(strings.NewReader("a\npartial"), iotest.ErrReader(boom)), 100)
	if b, err := lr.next(); err != nil || string(b) != "a" {
		t.Fatalf("first line %q, %v", b, err)
	}
	if _, err := lr.next(); err != boom {
		t.Fatalf("err = %v, want the read error", err)
	}
}
