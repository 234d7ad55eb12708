package ollamaapi

import (
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/internal/ingress/ingresstest"
	"github.com/edgeway/edgeway/edge/llm"
)

func BenchmarkDecodeChatRequest(b *testing.B) {
	ingresstest.BenchDecode(b, DecodeChatRequest, "chat_request_basic.json", "chat_request_tools_history.json", "chat_request_full.json")
}

func BenchmarkChatEncoderChunk(b *testing.B) {
	chunks := map[string]*llm.Chunk{
		"text":    {Text: "Hello, how can I help you today?"},
		"escapes": {Text: "line one\nline \"two\"\ttabbed é \u2028"},
		"tool call": {ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "call_1", Name: "get_weather",
			Arguments: `{"city": "Paris", "unit": "celsius"}`}}},
	}
	for name, c := range chunks {
		b.Run(name, func(b *testing.B) {
			var e ChatEncoder
			e.Reset("llama3.2:1b", time.Now())
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				buf = e.Chunk(buf[:0], c)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}
