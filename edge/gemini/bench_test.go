package gemini

import (
	"bytes"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
	"github.com/edgeway/edgeway/edge/upstream/upstreamtest"
)

func BenchmarkAppendGenerateRequest(b *testing.B) {
	for _, g := range goldenRequests {
		b.Run(g.name, func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = appendGenerateRequest(buf[:0], &g.req); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkSanitizeSchema(b *testing.B) {
	var schema []byte
	for _, g := range goldenRequests {
		if g.req.ResponseFormat != nil {
			schema = g.req.ResponseFormat.Schema
		}
	}
	b.SetBytes(int64(len(schema)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := sanitizeSchema(schema, true); err != nil {
			b.Fatal(err)
		}
	}
}

// stream50 is an SSE body of 50 text events and a finishing one, shaped
// like Gemini's (each event a whole response with cumulative usage).
func stream50() []byte {
	var b bytes.Buffer
	for i := range 50 {
		word := []string{" the", " quick", " brown", " fox\\n", " jumps"}[i%5]
		b.WriteString(`data: {"candidates": [{"content": {"parts": [{"text": "` + word + `"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 9,"totalTokenCount": 9},"modelVersion": "gemini-2.5-flash","responseId": "abc"}` + "\r\n\r\n")
	}
	b.WriteString(`data: {"candidates": [{"content": {"parts": [{"text": "."}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 9,"candidatesTokenCount": 51,"totalTokenCount": 60},"modelVersion": "gemini-2.5-flash","responseId": "abc"}` + "\r\n\r\n")
	return b.Bytes()
}

func BenchmarkChatStream(b *testing.B) {
	body := stream50()
	c, err := New(Options{Endpoint: upstream.Endpoint{BaseURL: "http://upstream.invalid/v1beta", HTTPClient: upstreamtest.MemClient(body)}})
	if err != nil {
		b.Fatal(err)
	}
	upstreamtest.BenchChat(b, c.Chat, simpleRequest(), body, 60)
}

func TestStream50(t *testing.T) {
	_, agg, _, err := runStream(t, stream50())
	if err != nil || !strings.HasSuffix(agg.Text.String(), " jumps.") || agg.FinishReason != llm.FinishStop {
		t.Errorf("err %v text %q", err, agg.Text.String())
	}
}
