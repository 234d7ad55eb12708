package anthropic

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/internal/ingress/ingresstest"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
	"github.com/edgeway/edgeway/edge/upstream/upstreamtest"
)

func BenchmarkDecodeMessagesRequest(b *testing.B) {
	decode := func(body []byte, req *llm.ChatRequest) (bool, error) { return false, DecodeMessagesRequest(body, req) }
	ingresstest.BenchDecode(b, decode, "request_basic.json", "request_full.json")
}

func BenchmarkStreamEncoderChunk(b *testing.B) {
	chunks := map[string]*llm.Chunk{
		"text":     {Text: "Hello, how can I help you today?"},
		"escapes":  {Text: "line one\nline \"two\"\ttabbed é \u2028"},
		"tool arg": {ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: `{"city":"Par`}}},
	}
	for name, c := range chunks {
		b.Run(name, func(b *testing.B) {
			var e StreamEncoder
			e.Reset("msg_01abc", "claude-sonnet-4-5")
			buf := make([]byte, 0, 1024)
			buf = e.Chunk(buf, c) // opens the block
			b.ReportAllocs()
			for b.Loop() {
				buf = e.Chunk(buf[:0], c)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkAppendMessageResponse(b *testing.B) {
	var a llm.Aggregate
	a.Add(&llm.Chunk{Text: strings.Repeat("The quick brown fox jumps. ", 40), FinishReason: llm.FinishStop, Usage: &llm.Usage{PromptTokens: 20, CompletionTokens: 200}})
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendMessageResponse(buf[:0], "msg_01abc", "claude-sonnet-4-5", &a)
	}
	b.SetBytes(int64(len(buf)))
}

// stream50 is an SSE body of 50 text deltas shaped like Anthropic's.
func stream50() []byte {
	var b bytes.Buffer
	b.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5-20250929\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":19,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n")
	b.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	b.WriteString("event: ping\ndata: {\"type\": \"ping\"}\n\n")
	for i := range 50 {
		word := []string{" the", " quick", " brown", " fox\\n", " jumps"}[i%5]
		b.WriteString("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" + word + "\"}}\n\n")
	}
	b.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	b.WriteString("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":" + strconv.Itoa(50) + "}}\n\n")
	b.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	return b.Bytes()
}

func BenchmarkChatStream(b *testing.B) {
	body := stream50()
	c, err := New(Options{Endpoint: upstream.Endpoint{BaseURL: "http://upstream.invalid/v1", HTTPClient: upstreamtest.MemClient(body)}})
	if err != nil {
		b.Fatal(err)
	}
	upstreamtest.BenchChat(b, c.Chat, simpleRequest(), body, 69)
}
