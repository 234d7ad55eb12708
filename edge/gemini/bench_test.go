package gemini

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
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

// memTransport answers every request with a fixed SSE body, so the
// benchmark measures the client rather than the loopback network.
type memTransport struct{ body []byte }

func (m memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: 200,
		Header:     http.Header{"Content-Type": {"text/event-stream"}},
		Body:       io.NopCloser(bytes.NewReader(m.body)),
		Request:    r,
	}, nil
}

func BenchmarkChatStream(b *testing.B) {
	body := stream50()
	c, err := New(Options{Endpoint: upstream.Endpoint{BaseURL: "http://upstream.invalid/v1beta", HTTPClient: &http.Client{Transport: memTransport{body}}}})
	if err != nil {
		b.Fatal(err)
	}
	req := simpleRequest()
	ctx := context.Background()
	emit := func(*llm.Chunk) error { return nil }
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		u, err := c.Chat(ctx, req, emit)
		if err != nil || u.TotalTokens != 60 {
			b.Fatal(u, err)
		}
	}
}

func TestStream50(t *testing.T) {
	_, agg, _, err := runStream(t, stream50())
	if err != nil || !strings.HasSuffix(agg.Text.String(), " jumps.") || agg.FinishReason != llm.FinishStop {
		t.Errorf("err %v text %q", err, agg.Text.String())
	}
}
