package ollama

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/llm"
)

// FuzzReadChat feeds arbitrary bytes to the /api/chat stream reader: it
// must not panic, must end with nil or an *llm.Error (or the emit error),
// and on success must have emitted a final chunk with a finish reason.
func FuzzReadChat(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.ndjson"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"done":true,"prompt_eval_count":-5,"eval_count":-1}`))
	f.Add([]byte(`{"message":{"tool_calls":[{"function":{"name":"x","arguments":null}}]},"done":true}`))
	f.Add([]byte(`{"message":{"tool_calls":[{"function":{"name":"x","arguments":[1,2]}}]}}`))
	f.Add([]byte(`{"error":""}` + "\n" + `{"done":true}`))
	f.Add([]byte("\n\n\r\n"))

	p, err := New(Options{})
	if err != nil {
		f.Fatal(err)
	}
	stop := errors.New("stop")
	f.Fuzz(func(t *testing.T, data []byte) {
		var last llm.Chunk
		var n int
		emit := func(c *llm.Chunk) error {
			n++
			last = *c
			if c.Usage != nil && (c.Usage.PromptTokens < 0 || c.Usage.CompletionTokens < 0) {
				t.Fatalf("negative usage %+v", *c.Usage)
			}
			if n > 1 && c.Role != "" {
				t.Fatalf("role on chunk %d", n)
			}
			if strings.Contains(c.Text, "STOP") {
				return stop
			}
			return nil
		}
		usage, err := p.readChat(context.Background(), strings.NewReader(string(data)), emit)
		switch {
		case err == nil:
			if n == 0 || last.FinishReason == "" || last.Usage == nil || *last.Usage != usage {
				t.Fatalf("success without a final chunk: %d chunks, last %+v", n, last)
			}
		case err == stop:
		default:
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("err %T %v is not *llm.Error", err, err)
			}
		}
	})
}

func BenchmarkReadChat(b *testing.B) {
	body := fixture(b, "chat_stream.ndjson")
	p, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	emit := func(*llm.Chunk) error { return nil }
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := p.readChat(context.Background(), strings.NewReader(string(body)), emit); err != nil {
			b.Fatal(err)
		}
	}
}
