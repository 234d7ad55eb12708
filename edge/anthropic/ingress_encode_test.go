package anthropic

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
)

// wireEvent is one strictly parsed SSE event of an Anthropic stream.
type wireEvent struct {
	Name string
	Data map[string]any
	Raw  string
}

// parseSSE splits b into events, failing t unless every event is exactly
// "event: NAME\ndata: {json}\n\n" with the data's "type" equal to NAME.
func parseSSE(t *testing.T, b []byte) []wireEvent {
	t.Helper()
	if !utf8.Valid(b) {
		t.Fatalf("stream is not valid UTF-8: %q", b)
	}
	s := string(b)
	var out []wireEvent
	for s != "" {
		end := strings.Index(s, "\n\n")
		if end < 0 {
			t.Fatalf("unterminated event: %q", s)
		}
		ev := s[:end]
		s = s[end+2:]
		lines := strings.Split(ev, "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "event: ") || !strings.HasPrefix(lines[1], "data: ") {
			t.Fatalf("bad event framing: %q", ev)
		}
		name, data := lines[0][len("event: "):], lines[1][len("data: "):]
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("event %s data is not a JSON object: %v\n%s", name, err, data)
		}
		if m["type"] != name {
			t.Fatalf("event %s carries type %v", name, m["type"])
		}
		out = append(out, wireEvent{Name: name, Data: m, Raw: data})
	}
	return out
}

func names(evs []wireEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Name
		if e.Name == "content_block_start" {
			out[i] += ":" + e.Data["content_block"].(map[string]any)["type"].(string)
		}
		if e.Name == "content_block_delta" {
			out[i] += ":" + e.Data["delta"].(map[string]any)["type"].(string)
		}
	}
	return out
}

// rebuilt is a message reassembled from its events the way the SDKs do:
// deltas are applied to the block at their index.
type rebuilt struct {
	ID, Model    string
	Blocks       []map[string]any
	StopReason   string
	Usage        map[string]any
	StartUsage   map[string]any
	OpenAtDelta  bool // every delta went to an open block
	StoppedOrder []int
}

func rebuild(t *testing.T, evs []wireEvent) *rebuilt {
	t.Helper()
	r := &rebuilt{OpenAtDelta: true}
	open := map[int]bool{}
	partial := map[int]string{}
	for i, e := range evs {
		switch e.Name {
		case "message_start":
			if i != 0 {
				t.Fatalf("message_start at position %d", i)
			}
			msg := e.Data["message"].(map[string]any)
			r.ID, r.Model = msg["id"].(string), msg["model"].(string)
			r.StartUsage = msg["usage"].(map[string]any)
			if msg["role"] != "assistant" || msg["type"] != "message" || len(msg["content"].([]any)) != 0 || msg["stop_reason"] != nil {
				t.Errorf("message_start = %s", e.Raw)
			}
		case "content_block_start":
			idx := index(t, e)
			if idx != len(r.Blocks) {
				t.Fatalf("block %d started after %d blocks", idx, len(r.Blocks))
			}
			r.Blocks = append(r.Blocks, e.Data["content_block"].(map[string]any))
			open[idx] = true
		case "content_block_delta":
			idx := index(t, e)
			if idx >= len(r.Blocks) {
				t.Fatalf("delta for block %d before its start", idx)
			}
			if !open[idx] {
				r.OpenAtDelta = false
			}
			d := e.Data["delta"].(map[string]any)
			b := r.Blocks[idx]
			switch d["type"] {
			case "text_delta":
				b["text"] = b["text"].(string) + d["text"].(string)
			case "thinking_delta":
				b["thinking"] = b["thinking"].(string) + d["thinking"].(string)
			case "signature_delta":
				b["signature"] = b["signature"].(string) + d["signature"].(string)
			case "input_json_delta":
				partial[idx] += d["partial_json"].(string)
			default:
				t.Fatalf("unknown delta %s", e.Raw)
			}
		case "content_block_stop":
			idx := index(t, e)
			if !open[idx] {
				t.Fatalf("block %d stopped twice or never started", idx)
			}
			open[idx] = false
			r.StoppedOrder = append(r.StoppedOrder, idx)
		case "message_delta":
			d := e.Data["delta"].(map[string]any)
			r.StopReason = d["stop_reason"].(string)
			if d["stop_sequence"] != nil {
				t.Errorf("stop_sequence = %v", d["stop_sequence"])
			}
			r.Usage = e.Data["usage"].(map[string]any)
			for idx, o := range open {
				if o {
					t.Errorf("block %d still open at message_delta", idx)
				}
			}
		case "message_stop":
			if i != len(evs)-1 {
				t.Errorf("message_stop is not last")
			}
		case "ping":
		default:
			t.Fatalf("unexpected event %s", e.Raw)
		}
	}
	for idx, p := range partial {
		var v any
		if err := json.Unmarshal([]byte(p), &v); err != nil {
			t.Fatalf("tool block %d input %q is not JSON: %v", idx, p, err)
		}
		r.Blocks[idx]["input"] = v
	}
	return r
}

func index(t *testing.T, e wireEvent) int {
	t.Helper()
	n, ok := e.Data["index"].(json.Number)
	if !ok {
		t.Fatalf("event without index: %s", e.Raw)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return int(i)
}

func encodeStream(chunks []llm.Chunk, u llm.Usage) []byte {
	var e StreamEncoder
	e.Reset("msg_01abc", "claude-sonnet-4-5")
	b := e.Start(nil)
	for i := range chunks {
		b = e.Chunk(b, &chunks[i])
	}
	return e.End(b, u)
}

const hostile = "quote\" backslash\\ nl\n cr\r tab\t nul\x00 esc\x1b del\x7f ls\u2028 ps\u2029 emoji\U0001F600 bad\xffbyte </script>"

func TestStreamEncoderText(t *testing.T) {
	out := encodeStream([]llm.Chunk{
		{Role: llm.RoleAssistant, Text: "Hel"},
		{Text: "lo " + hostile},
		{},
		{FinishReason: llm.FinishStop},
	}, llm.Usage{PromptTokens: 25, CompletionTokens: 15, TotalTokens: 40})
	evs := parseSSE(t, out)
	want := []string{"message_start", "ping", "content_block_start:text", "content_block_delta:text_delta", "content_block_delta:text_delta",
		"content_block_stop", "message_delta", "message_stop"}
	if got := names(evs); !reflect.DeepEqual(got, want) {
		t.Fatalf("events = %v\nwant     %v", got, want)
	}
	r := rebuild(t, evs)
	if r.ID != "msg_01abc" || r.Model != "claude-sonnet-4-5" || r.StopReason != "end_turn" {
		t.Errorf("message = %+v", r)
	}
	if got := r.Blocks[0]["text"]; got != "Hello "+validForm(hostile) {
		t.Errorf("text = %q", got)
	}
	if r.Usage["input_tokens"] != json.Number("25") || r.Usage["output_tokens"] != json.Number("15") ||
		r.StartUsage["output_tokens"] != json.Number("0") {
		t.Errorf("usage = %v, start usage %v", r.Usage, r.StartUsage)
	}
}

func TestStreamEncoderToolCalls(t *testing.T) {
	out := encodeStream([]llm.Chunk{
		{Role: llm.RoleAssistant, Reasoning: "Think"},
		{Reasoning: "ing."},
		{Text: "Checking."},
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "call_1", Name: "get_weather", Arguments: ""}}},
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: `{"location":`}}},
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: ` "Paris"}`}, {Index: 1, ID: "call_2", Name: "get_time", Arguments: `{}`}}},
		{FinishReason: llm.FinishToolCalls},
	}, llm.Usage{PromptTokens: 100, CompletionTokens: 20, CachedTokens: 60, CacheWriteTokens: 30})
	evs := parseSSE(t, out)
	want := []string{"message_start", "ping",
		"content_block_start:thinking", "content_block_delta:thinking_delta", "content_block_delta:thinking_delta", "content_block_stop",
		"content_block_start:text", "content_block_delta:text_delta", "content_block_stop",
		"content_block_start:tool_use", "content_block_delta:input_json_delta", "content_block_delta:input_json_delta", "content_block_stop",
		"content_block_start:tool_use", "content_block_delta:input_json_delta", "content_block_stop",
		"message_delta", "message_stop"}
	if got := names(evs); !reflect.DeepEqual(got, want) {
		t.Fatalf("events = %v\nwant     %v", got, want)
	}
	r := rebuild(t, evs)
	if r.Blocks[0]["thinking"] != "Thinking." || r.Blocks[0]["signature"] != "" || r.Blocks[1]["text"] != "Checking." {
		t.Errorf("blocks = %v", r.Blocks)
	}
	if r.Blocks[2]["id"] != "call_1" || r.Blocks[2]["name"] != "get_weather" || !reflect.DeepEqual(r.Blocks[2]["input"], map[string]any{"location": "Paris"}) {
		t.Errorf("tool block 2 = %v", r.Blocks[2])
	}
	if r.Blocks[3]["id"] != "call_2" || r.Blocks[3]["name"] != "get_time" || !reflect.DeepEqual(r.Blocks[3]["input"], map[string]any{}) {
		t.Errorf("tool block 3 = %v", r.Blocks[3])
	}
	if r.StopReason != "tool_use" || !reflect.DeepEqual(r.StoppedOrder, []int{0, 1, 2, 3}) {
		t.Errorf("stop reason %q, stops %v", r.StopReason, r.StoppedOrder)
	}
	wantUsage := map[string]any{"input_tokens": json.Number("10"), "cache_creation_input_tokens": json.Number("30"),
		"cache_read_input_tokens": json.Number("60"), "output_tokens": json.Number("20")}
	if !reflect.DeepEqual(r.Usage, wantUsage) {
		t.Errorf("usage = %v, want %v", r.Usage, wantUsage)
	}
}

func TestStreamEncoderEdgeCases(t *testing.T) {
	t.Run("interleaved parallel calls", func(t *testing.T) {
		out := encodeStream([]llm.Chunk{
			{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "a", Name: "f", Arguments: `{"x":`}}},
			{ToolCalls: []llm.ToolCallDelta{{Index: 1, ID: "b", Name: "g", Arguments: `{"y":`}}},
			{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: `1}`}, {Index: 1, Arguments: `2}`}}},
		}, llm.Usage{})
		r := rebuild(t, parseSSE(t, out))
		if !reflect.DeepEqual(r.Blocks[0]["input"], map[string]any{"x": json.Number("1")}) && !reflect.DeepEqual(r.Blocks[0]["input"], map[string]any{"x": 1.0}) {
			t.Errorf("block 0 = %v", r.Blocks[0])
		}
		if r.OpenAtDelta {
			t.Error("a fragment for a closed call should go to its old index")
		}
	})
	t.Run("missing tool id and hostile index", func(t *testing.T) {
		out := encodeStream([]llm.Chunk{
			{ToolCalls: []llm.ToolCallDelta{{Index: 0, Name: "f"}}},
			{ToolCalls: []llm.ToolCallDelta{{Index: 1 << 30, Arguments: `{}`}}},
		}, llm.Usage{})
		r := rebuild(t, parseSSE(t, out))
		if len(r.Blocks) != 1 || r.Blocks[0]["id"] != "toolu_msg01abc_0" || r.StopReason != "tool_use" {
			t.Errorf("blocks = %v, stop %q", r.Blocks, r.StopReason)
		}
	})
	t.Run("nothing at all", func(t *testing.T) {
		var e StreamEncoder
		e.Reset("msg_x", "m")
		out := e.End(nil, llm.Usage{})
		if got := names(parseSSE(t, out)); !reflect.DeepEqual(got, []string{"message_start", "ping", "message_delta", "message_stop"}) {
			t.Errorf("events = %v", got)
		}
		if more := e.End(nil, llm.Usage{}); len(more) != 0 || !e.Ended() {
			t.Errorf("second End wrote %q", more)
		}
		if more := e.Chunk(nil, &llm.Chunk{Text: "late"}); len(more) != 0 {
			t.Errorf("Chunk after End wrote %q", more)
		}
	})
	t.Run("start is implicit and once", func(t *testing.T) {
		var e StreamEncoder
		e.Reset("msg_x", "m")
		e.SetInputTokens(42)
		b := e.Chunk(nil, &llm.Chunk{Text: "a"})
		b = e.Start(b)
		b = e.End(b, llm.Usage{PromptTokens: 40})
		evs := parseSSE(t, b)
		if evs[0].Name != "message_start" || evs[1].Name != "ping" || strings.Count(string(b), "event: message_start") != 1 {
			t.Errorf("events = %v", names(evs))
		}
		if u := evs[0].Data["message"].(map[string]any)["usage"].(map[string]any); u["input_tokens"] != json.Number("42") {
			t.Errorf("start usage = %v", u)
		}
	})
	t.Run("text after a tool call opens a new block", func(t *testing.T) {
		out := encodeStream([]llm.Chunk{
			{Text: "a"},
			{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "c", Name: "f", Arguments: "{}"}}},
			{Text: "b"},
		}, llm.Usage{})
		r := rebuild(t, parseSSE(t, out))
		if len(r.Blocks) != 3 || r.Blocks[2]["text"] != "b" {
			t.Errorf("blocks = %v", r.Blocks)
		}
	})
}

func TestStopReasons(t *testing.T) {
	tests := []struct {
		finish llm.FinishReason
		tools  bool
		want   string
	}{
		{llm.FinishStop, false, "end_turn"},
		{"", false, "end_turn"},
		{llm.FinishLength, false, "max_tokens"},
		{llm.FinishLength, true, "max_tokens"},
		{llm.FinishToolCalls, true, "tool_use"},
		{llm.FinishStop, true, "tool_use"},
		{llm.FinishContentFilter, false, "refusal"},
	}
	for _, tt := range tests {
		t.Run(string(tt.finish)+map[bool]string{true: "+tools"}[tt.tools], func(t *testing.T) {
			chunks := []llm.Chunk{{Text: "x", FinishReason: tt.finish}}
			if tt.tools {
				chunks = append(chunks, llm.Chunk{ToolCalls: []llm.ToolCallDelta{{ID: "c", Name: "f"}}})
			}
			if got := rebuild(t, parseSSE(t, encodeStream(chunks, llm.Usage{}))).StopReason; got != tt.want {
				t.Errorf("stream stop_reason = %q, want %q", got, tt.want)
			}
			var a llm.Aggregate
			for i := range chunks {
				a.Add(&chunks[i])
			}
			var m struct {
				StopReason string `json:"stop_reason"`
			}
			if err := json.Unmarshal(AppendMessageResponse(nil, "msg", "m", &a), &m); err != nil || m.StopReason != tt.want {
				t.Errorf("message stop_reason = %q (%v), want %q", m.StopReason, err, tt.want)
			}
		})
	}
}

func TestStreamEncoderChunkAllocs(t *testing.T) {
	var e StreamEncoder
	e.Reset("msg_01abc", "claude-sonnet-4-5")
	buf := make([]byte, 0, 4096)
	buf = e.Chunk(buf, &llm.Chunk{Text: "first"})
	c := &llm.Chunk{Text: "Hello, how can I help you today?"}
	allocs := testing.AllocsPerRun(1000, func() {
		buf = e.Chunk(buf[:0], c)
	})
	if allocs != 0 {
		t.Errorf("StreamEncoder.Chunk allocates %.1f times for a text chunk into a pre-sized buffer, want 0", allocs)
	}
	tool := &llm.Chunk{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: `{"city":"Par`}}}
	buf = e.Chunk(buf[:0], &llm.Chunk{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "c", Name: "f"}}})
	allocs = testing.AllocsPerRun(1000, func() {
		buf = e.Chunk(buf[:0], tool)
	})
	if allocs != 0 {
		t.Errorf("StreamEncoder.Chunk allocates %.1f times for an argument fragment, want 0", allocs)
	}
}

func TestAppendMessageResponse(t *testing.T) {
	var a llm.Aggregate
	for _, c := range []llm.Chunk{
		{Role: llm.RoleAssistant, Reasoning: "hmm"},
		{Text: "Checking " + hostile},
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "toolu_1", Name: "get_weather", Arguments: `{"location": "Paris"}`}}},
		{ToolCalls: []llm.ToolCallDelta{{Index: 1, Name: "broken", Arguments: `{"cut off`}}},
		{ToolCalls: []llm.ToolCallDelta{{Index: 2, ID: "toolu_3", Name: "no_args"}}},
		{FinishReason: llm.FinishToolCalls, Usage: &llm.Usage{PromptTokens: 2095, CompletionTokens: 503, CachedTokens: 95}},
	} {
		a.Add(&c)
	}
	out := AppendMessageResponse(nil, "msg_013Zva2CMHLNnXjNJJKqJ2EF", "claude-sonnet-4-5", &a)
	if !json.Valid(out) {
		t.Fatalf("not JSON: %s", out)
	}
	var got map[string]any
	json.Unmarshal(out, &got)
	want := map[string]any{
		"id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
		"content": []any{
			map[string]any{"type": "thinking", "thinking": "hmm", "signature": ""},
			map[string]any{"type": "text", "text": "Checking " + validForm(hostile)},
			map[string]any{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": map[string]any{"location": "Paris"}},
			map[string]any{"type": "tool_use", "id": "toolu_msg013Zva2CMHLNnXjNJJKqJ2EF_1", "name": "broken", "input": map[string]any{}},
			map[string]any{"type": "tool_use", "id": "toolu_3", "name": "no_args", "input": map[string]any{}},
		},
		"stop_reason": "tool_use", "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": 2000.0, "cache_creation_input_tokens": 0.0, "cache_read_input_tokens": 95.0, "output_tokens": 503.0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("message =\n%s", out)
	}
	// The shape matches the documented response (testdata) key by key.
	var doc map[string]any
	json.Unmarshal(testkit.Fixture(t, "message_text.json"), &doc)
	var a2 llm.Aggregate
	a2.Add(&llm.Chunk{Text: "Hi! My name is Claude.", FinishReason: llm.FinishStop, Usage: &llm.Usage{PromptTokens: 2095, CompletionTokens: 503}})
	var mine map[string]any
	json.Unmarshal(AppendMessageResponse(nil, "msg_013Zva2CMHLNnXjNJJKqJ2EF", "claude-sonnet-4-5-20250929", &a2), &mine)
	if !reflect.DeepEqual(mine, doc) {
		t.Errorf("text message differs from testdata/message_text.json:\n%v\n%v", mine, doc)
	}
}

func TestAppendErrors(t *testing.T) {
	for status, want := range map[int]string{400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
		404: "not_found_error", 409: "invalid_request_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 502: "api_error",
		503: "overloaded_error", 504: "timeout_error", 529: "overloaded_error"} {
		if got := ErrorType(status); got != want {
			t.Errorf("ErrorType(%d) = %q, want %q", status, got, want)
		}
	}
	body := AppendError(nil, TypeInvalidRequest, "max_tokens: Field required")
	var w struct {
		Type  string `json:"type"`
		Error struct{ Type, Message string }
	}
	if err := json.Unmarshal(body, &w); err != nil || w.Type != "error" || w.Error.Type != "invalid_request_error" || w.Error.Message != "max_tokens: Field required" {
		t.Errorf("AppendError = %s", body)
	}
	fixture := bytes.TrimSpace(testkit.Fixture(t, "error_overloaded.json"))
	var doc, mine map[string]any
	json.Unmarshal(fixture, &doc)
	delete(doc, "request_id")
	json.Unmarshal(AppendError(nil, TypeOverloaded, "Overloaded"), &mine)
	if !reflect.DeepEqual(doc, mine) {
		t.Errorf("error body %v differs from testdata %v", mine, doc)
	}
	ev := parseSSE(t, AppendStreamError(nil, TypeOverloaded, hostile))
	if len(ev) != 1 || ev[0].Name != "error" || ev[0].Data["error"].(map[string]any)["message"] != validForm(hostile) {
		t.Errorf("stream error = %+v", ev)
	}
	if got := string(AppendCountTokens(nil, 2095)); got != `{"input_tokens":2095}` {
		t.Errorf("AppendCountTokens = %s", got)
	}
	if got := parseSSE(t, AppendPing(nil)); len(got) != 1 || got[0].Name != "ping" {
		t.Errorf("AppendPing = %+v", got)
	}
}

// validForm is s with every byte that is not part of valid UTF-8 replaced
// by U+FFFD, the way wire.AppendString treats it.
func validForm(s string) string {
	return string([]rune(s)) // each invalid byte converts to U+FFFD
}
