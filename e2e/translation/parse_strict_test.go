package translation

import (
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/testkit"
)

// TestParsersRejectBroken checks that the strict parsers the matrix relies
// on do refuse what a real client of the dialect would choke on, so a pass
// of the matrix means something. Each case breaks a good transcript from
// testdata in one way.
func TestParsersRejectBroken(t *testing.T) {
	type parser func([]byte) (reassembled, error)
	ollamaStream := func(b []byte) (reassembled, error) { return parseOllama(b, false) }
	ollamaWhole := func(b []byte) (reassembled, error) { return parseOllama(b, true) }
	tests := []struct {
		name, file string
		parse      parser
		old, new   string
	}{
		{"openai no done", "stream/openai_to_openai_text.sse", parseOpenAIStream, "data: [DONE]\n\n", ""},
		{"openai unknown field", "stream/openai_to_openai_text.sse", parseOpenAIStream, `"logprobs":null`, `"logprob":null`},
		{"openai role twice", "stream/openai_to_openai_text.sse", parseOpenAIStream, `"delta":{"content":" expected`, `"delta":{"role":"assistant","content":" expected`},
		{"openai no finish", "stream/openai_to_openai_text.sse", parseOpenAIStream, `"finish_reason":"stop"`, `"finish_reason":null`},
		{"openai model changes", "stream/openai_to_openai_text.sse", parseOpenAIStream, `"model":"weather-bot","choices":[],`, `"model":"other","choices":[],`},
		{"openai call without id", "stream/openai_to_openai_tool.sse", parseOpenAIStream, `"id":"call_upstream01",`, ``},
		{"openai bad arguments", "stream/openai_to_openai_tool.sse", parseOpenAIStream, `"arguments":"sius\"}"`, `"arguments":"sius\""`},
		{"openai whole unknown field", "whole/openai_to_openai_text.json", parseOpenAIWhole, `"refusal"`, `"refusals"`},
		{"anthropic event name mismatch", "stream/openai_to_anthropic_text.sse", parseAnthropicStream, "event: message_stop\n", "event: message_end\n"},
		{"anthropic no message_stop", "stream/openai_to_anthropic_text.sse", parseAnthropicStream, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", ""},
		{"anthropic delta to wrong index", "stream/anthropic_to_anthropic_tool.sse", parseAnthropicStream, `"index":1,"delta":{"type":"input_json_delta","partial_json":"y`, `"index":0,"delta":{"type":"input_json_delta","partial_json":"y`},
		{"anthropic foreign key", "stream/openai_to_anthropic_text.sse", parseAnthropicStream, `{"type":"content_block_stop","index":0}`, `{"type":"content_block_stop","index":0,"delta":{"type":"text_delta","text":""}}`},
		{"anthropic text delta in tool block", "stream/openai_to_anthropic_tool.sse", parseAnthropicStream, `"type":"input_json_delta","partial_json":"ris\","`, `"type":"text_delta","text":"ris\","`},
		{"anthropic whole unknown block", "whole/openai_to_anthropic_text.json", parseAnthropicWhole, `"type":"text"`, `"type":"txt"`},
		{"ollama not done", "stream/openai_to_ollama_text.ndjson", ollamaStream, `"done":true`, `"done":false`},
		{"ollama counts early", "stream/openai_to_ollama_text.ndjson", ollamaStream, `"content":"Light rain is"},"done":false`, `"content":"Light rain is"},"done":false,"eval_count":1`},
		{"ollama arguments as string", "stream/openai_to_ollama_tool.ndjson", ollamaStream, `"arguments":{"city":"Paris","unit":"celsius"}`, `"arguments":"{\"city\":\"Paris\"}"`},
		{"ollama unknown field", "whole/openai_to_ollama_text.json", ollamaWhole, `"eval_count"`, `"evals"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			good := string(testkit.Fixture(t, tc.file))
			if strings.HasPrefix(tc.file, "whole/") {
				// Whole goldens are stored indented; the wire form is
				// one line.
				good = compactJSON(t, tc.file, good)
			}
			if _, err := tc.parse([]byte(good)); err != nil {
				t.Fatalf("the unbroken transcript does not parse: %v", err)
			}
			if !strings.Contains(good, tc.old) {
				t.Fatalf("%s does not contain %q", tc.file, tc.old)
			}
			bad := strings.Replace(good, tc.old, tc.new, 1)
			if r, err := tc.parse([]byte(bad)); err == nil {
				t.Errorf("broken transcript parsed: %+v", r)
			}
		})
	}
}
