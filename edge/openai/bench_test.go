package openai

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/internal/ingress/ingresstest"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
	"github.com/edgeway/edgeway/edge/upstream/upstreamtest"
)

func BenchmarkDecodeChatRequest(b *testing.B) {
	ingresstest.BenchDecode(b, DecodeChatRequest, "chat_request_basic.json", "chat_request_full.json")
}

func BenchmarkAppendStreamChunk(b *testing.B) {
	chunks := map[string]*llm.Chunk{
		"text":      {Text: "Hello, how can I help you today?"},
		"tool call": {ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: `{"city":"Par`}}},
		"escapes":   {Text: "line one\nline \"two\"\ttabbed é \u2028"},
	}
	for name, c := range chunks {
		b.Run(name, func(b *testing.B) {
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendStreamChunk(buf[:0], "chatcmpl-123", 1700000000, "gpt-4o-mini", c)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// stream50 is an SSE body of 50 content chunks, a finish chunk, a usage
// chunk and [DONE], shaped like OpenAI's.
func stream50() []byte {
	var b bytes.Buffer
	head := `data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{`
	b.WriteString(head + `"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	for i := range 50 {
		word := []string{" the", " quick", " brown", " fox\n", " jumps"}[i%5]
		b.WriteString(head + `"content":"` + strings.ReplaceAll(word, "\n", `\n`) + `"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	}
	b.WriteString(head + `},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n")
	b.WriteString(`data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":50,"total_tokens":69,"prompt_tokens_details":{"cached_tokens":0}}}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes()
}

func BenchmarkChatStream(b *testing.B) {
	body := stream50()
	run := func(b *testing.B, c *Client) { upstreamtest.BenchChat(b, c.Chat, simpleRequest(), body, 69) }
	b.Run("in-memory", func(b *testing.B) {
		c, err := New(Options{Endpoint: upstream.Endpoint{BaseURL: "http://upstream.invalid/v1", HTTPClient: upstreamtest.MemClient(body)}})
		if err != nil {
			b.Fatal(err)
		}
		run(b, c)
	})
	b.Run("loopback", func(b *testing.B) {
		srv := newBenchServer(b, body)
		c, err := New(Options{Endpoint: upstream.Endpoint{BaseURL: srv + "/v1"}})
		if err != nil {
			b.Fatal(err)
		}
		defer c.CloseIdleConnections()
		run(b, c)
	})
}

func newBenchServer(b *testing.B, body []byte) string {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}
