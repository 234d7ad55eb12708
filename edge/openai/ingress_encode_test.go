package openai

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
)

// wireHead is what a chat.completion and its chunks begin with.
type wireHead struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
}

// wireChunk is a chat.completion.chunk as a client decodes it.
type wireChunk struct {
	wireHead
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role      *string `json:"role"`
			Content   *string `json:"content"`
			Reasoning *string `json:"reasoning_content"`
			ToolCalls []struct {
				Index    int     `json:"index"`
				ID       *string `json:"id"`
				Type     *string `json:"type"`
				Function struct {
					Name      *string `json:"name"`
					Arguments string  `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens        int `json:"prompt_tokens"`
		CompletionTokens    int `json:"completion_tokens"`
		TotalTokens         int `json:"total_tokens"`
		PromptTokensDetails struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
}

// decodeEvent checks SSE framing of one event and decodes its JSON.
func decodeEvent(t *testing.T, ev []byte, v any) {
	t.Helper()
	if !bytes.HasPrefix(ev, []byte("data: ")) || !bytes.HasSuffix(ev, []byte("\n\n")) {
		t.Fatalf("bad SSE framing: %q", ev)
	}
	payload := ev[len("data: ") : len(ev)-2]
	if bytes.ContainsAny(payload, "\r\n") {
		t.Fatalf("raw newline inside an SSE data line: %q", payload)
	}
	if err := json.Unmarshal(payload, v); err != nil {
		t.Fatalf("event JSON does not decode: %v\n%s", err, payload)
	}
}

const hostile = "quote\" backslash\\ nl\n cr\r tab\t nul\x00 esc\x1b del\x7f ls\u2028 ps\u2029 emoji\U0001F600 bad\xffbyte </script>"

func TestAppendStreamChunkRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		chunk llm.Chunk
	}{
		{"first chunk", llm.Chunk{Role: llm.RoleAssistant}},
		{"first chunk with text", llm.Chunk{Role: llm.RoleAssistant, Text: "Hi"}},
		{"text", llm.Chunk{Text: "Hello, world"}},
		{"hostile text", llm.Chunk{Text: hostile}},
		{"reasoning", llm.Chunk{Reasoning: "thinking…"}},
		{"tool call start", llm.Chunk{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "call_1", Name: "get_weather"}}}},
		{"tool call fragment", llm.Chunk{ToolCalls: []llm.ToolCallDelta{{Index: 1, Arguments: `{"city":"Pa`}}}},
		{"parallel fragments", llm.Chunk{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: `{}`}, {Index: 1, ID: "c2", Name: "f", Arguments: `{"a`}}}},
		{"finish", llm.Chunk{FinishReason: llm.FinishLength}},
		{"finish tool calls", llm.Chunk{FinishReason: llm.FinishToolCalls}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := AppendStreamChunk(nil, "chatcmpl-1", 1700000000, "gpt-4o\"", &tt.chunk)
			var w wireChunk
			decodeEvent(t, ev, &w)
			if w.ID != "chatcmpl-1" || w.Object != "chat.completion.chunk" || w.Created != 1700000000 || w.Model != "gpt-4o\"" || w.Usage != nil {
				t.Errorf("head = %+v", w)
			}
			if len(w.Choices) != 1 || w.Choices[0].Index != 0 {
				t.Fatalf("choices = %+v", w.Choices)
			}
			ch := w.Choices[0]
			c := tt.chunk
			// Decode back into a Chunk and compare.
			var got llm.Chunk
			if ch.Delta.Role != nil {
				got.Role = llm.Role(*ch.Delta.Role)
			}
			if ch.Delta.Content != nil {
				got.Text = *ch.Delta.Content
			}
			if ch.Delta.Reasoning != nil {
				got.Reasoning = *ch.Delta.Reasoning
			}
			for _, tc := range ch.Delta.ToolCalls {
				d := llm.ToolCallDelta{Index: tc.Index, Arguments: tc.Function.Arguments}
				if tc.ID != nil {
					d.ID = *tc.ID
					if tc.Type == nil || *tc.Type != "function" {
						t.Errorf("tool call with id has no type function")
					}
				}
				if tc.Function.Name != nil {
					d.Name = *tc.Function.Name
				}
				got.ToolCalls = append(got.ToolCalls, d)
			}
			if ch.FinishReason != nil {
				got.FinishReason = llm.FinishReason(*ch.FinishReason)
			}
			want := c
			want.Text = strings.ToValidUTF8(want.Text, "\uFFFD")
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
			}
			if c.Role == "" && ch.Delta.Role != nil {
				t.Error("role written on a chunk that had none")
			}
			if c.Role != "" && ch.Delta.Content == nil && c.Reasoning == "" && len(c.ToolCalls) == 0 {
				t.Error(`first chunk lacks "content"`)
			}
		})
	}
}

func TestAppendStreamChunkAllocs(t *testing.T) {
	c := &llm.Chunk{
		Text:      "Hello \"world\"\n",
		ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "call_1", Name: "f", Arguments: `{"a":1}`}},
	}
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(1000, func() {
		buf = AppendStreamChunk(buf[:0], "chatcmpl-abc", 1700000000, "gpt-4o-mini", c)
	})
	if allocs != 0 {
		t.Errorf("AppendStreamChunk allocates %.1f times into a pre-sized buffer, want 0", allocs)
	}
}

func TestAppendStreamUsageDoneError(t *testing.T) {
	ev := AppendStreamUsage(nil, "id", 5, "m", llm.Usage{PromptTokens: 19, CompletionTokens: 10, TotalTokens: 29, CachedTokens: 3})
	var w wireChunk
	decodeEvent(t, ev, &w)
	if w.Choices == nil || len(w.Choices) != 0 {
		t.Errorf("choices = %v, want []", w.Choices)
	}
	if u := w.Usage; u == nil || u.PromptTokens != 19 || u.CompletionTokens != 10 || u.TotalTokens != 29 || u.PromptTokensDetails.CachedTokens != 3 {
		t.Errorf("usage = %+v", w.Usage)
	}
	if got := string(AppendStreamDone(nil)); got != "data: [DONE]\n\n" {
		t.Errorf("done = %q", got)
	}
	var e struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    *string `json:"code"`
		} `json:"error"`
	}
	decodeEvent(t, AppendStreamError(nil, 502, "upstream went away\n", "", "upstream_error"), &e)
	if e.Error.Message != "upstream went away\n" || e.Error.Type != TypeAPI || e.Error.Param != nil || e.Error.Code == nil || *e.Error.Code != "upstream_error" {
		t.Errorf("stream error = %+v", e.Error)
	}
}

func TestAppendError(t *testing.T) {
	tests := []struct {
		name                      string
		message, typ, param, code string
		want                      string
	}{
		{"full", "messages[0].role is required", TypeInvalidRequest, "messages[0].role", "missing_required_parameter",
			`{"error":{"message":"messages[0].role is required","type":"invalid_request_error","param":"messages[0].role","code":"missing_required_parameter"}}`},
		{"nulls", "Rate limited", TypeRateLimit, "", "",
			`{"error":{"message":"Rate limited","type":"rate_limit_error","param":null,"code":null}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendError(nil, tt.message, tt.typ, tt.param, tt.code)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestErrorType(t *testing.T) {
	for status, want := range map[int]string{400: TypeInvalidRequest, 401: TypeAuthentication, 403: TypePermission,
		404: TypeNotFound, 413: TypeInvalidRequest, 429: TypeRateLimit, 500: TypeAPI, 502: TypeAPI, 503: TypeOverloaded} {
		if got := ErrorType(status); got != want {
			t.Errorf("ErrorType(%d) = %q, want %q", status, got, want)
		}
	}
}

func TestAppendChatResponse(t *testing.T) {
	tests := []struct {
		name   string
		chunks []llm.Chunk
		check  func(t *testing.T, msg map[string]any, finish string)
	}{
		{
			name: "text",
			chunks: []llm.Chunk{{Role: llm.RoleAssistant, Text: "Hel"}, {Text: "lo" + hostile}, {FinishReason: llm.FinishStop},
				{Usage: &llm.Usage{PromptTokens: 5, CompletionTokens: 2, TotalTokens: 7}}},
			check: func(t *testing.T, msg map[string]any, finish string) {
				if msg["content"] != "Hello"+strings.ToValidUTF8(hostile, "\uFFFD") || finish != "stop" {
					t.Errorf("message = %v, finish %q", msg, finish)
				}
				if _, ok := msg["tool_calls"]; ok {
					t.Error("tool_calls present without calls")
				}
			},
		},
		{
			name: "tool calls only",
			chunks: []llm.Chunk{
				{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "c1", Name: "f", Arguments: `{"a"`}}},
				{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: `:1}`}}},
				{FinishReason: llm.FinishToolCalls},
			},
			check: func(t *testing.T, msg map[string]any, finish string) {
				if msg["content"] != nil || finish != "tool_calls" {
					t.Errorf("content = %v, finish %q", msg["content"], finish)
				}
				calls, _ := msg["tool_calls"].([]any)
				if len(calls) != 1 {
					t.Fatalf("tool_calls = %v", msg["tool_calls"])
				}
				want := map[string]any{"id": "c1", "type": "function", "function": map[string]any{"name": "f", "arguments": `{"a":1}`}}
				if !reflect.DeepEqual(calls[0], want) {
					t.Errorf("tool call = %v, want %v", calls[0], want)
				}
			},
		},
		{
			name:   "empty",
			chunks: nil,
			check: func(t *testing.T, msg map[string]any, finish string) {
				if msg["content"] != "" || msg["role"] != "assistant" || finish != "stop" {
					t.Errorf("message = %v, finish %q", msg, finish)
				}
			},
		},
		{
			name:   "reasoning",
			chunks: []llm.Chunk{{Reasoning: "hmm"}, {Text: "42"}},
			check: func(t *testing.T, msg map[string]any, finish string) {
				if msg["reasoning_content"] != "hmm" || msg["content"] != "42" {
					t.Errorf("message = %v", msg)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a llm.Aggregate
			for i := range tt.chunks {
				a.Add(&tt.chunks[i])
			}
			out := AppendChatResponse(nil, "chatcmpl-9", 42, "m", &a)
			var w struct {
				wireHead
				Choices []struct {
					Index        int            `json:"index"`
					Message      map[string]any `json:"message"`
					FinishReason string         `json:"finish_reason"`
				} `json:"choices"`
				Usage map[string]any `json:"usage"`
			}
			if err := json.Unmarshal(out, &w); err != nil {
				t.Fatalf("response does not decode: %v\n%s", err, out)
			}
			if w.ID != "chatcmpl-9" || w.Object != "chat.completion" || w.Created != 42 || w.Model != "m" || len(w.Choices) != 1 {
				t.Fatalf("response = %s", out)
			}
			if w.Usage == nil || w.Usage["total_tokens"] != float64(a.Usage.TotalTokens) {
				t.Errorf("usage = %v", w.Usage)
			}
			tt.check(t, w.Choices[0].Message, w.Choices[0].FinishReason)
		})
	}
}

func TestAppendEmbeddingResponse(t *testing.T) {
	r := &llm.EmbedResponse{
		Vectors: [][]float32{{0.5, -1.25, 3e-8, 1}, {}, {0.1}},
		Usage:   llm.Usage{PromptTokens: 12},
	}
	for _, b64 := range []bool{false, true} {
		name := "float"
		if b64 {
			name = "base64"
		}
		t.Run(name, func(t *testing.T) {
			out := AppendEmbeddingResponse(nil, "text-embedding-3-small", r, b64)
			var w struct {
				Object string `json:"object"`
				Data   []struct {
					Object    string          `json:"object"`
					Index     int             `json:"index"`
					Embedding json.RawMessage `json:"embedding"`
				} `json:"data"`
				Model string `json:"model"`
				Usage struct {
					PromptTokens int `json:"prompt_tokens"`
					TotalTokens  int `json:"total_tokens"`
				} `json:"usage"`
			}
			if err := json.Unmarshal(out, &w); err != nil {
				t.Fatalf("does not decode: %v\n%s", err, out)
			}
			if w.Object != "list" || w.Model != "text-embedding-3-small" || w.Usage.PromptTokens != 12 || w.Usage.TotalTokens != 12 || len(w.Data) != 3 {
				t.Fatalf("response = %s", out)
			}
			for i, d := range w.Data {
				if d.Object != "embedding" || d.Index != i {
					t.Errorf("data[%d] = %+v", i, d)
				}
				if b64 != (d.Embedding[0] == '"') {
					t.Errorf("data[%d].embedding has the wrong form: %s", i, d.Embedding)
				}
				v, err := decodeVector(d.Embedding)
				if err != nil {
					t.Fatalf("data[%d]: %v", i, err)
				}
				if len(v) == 0 && len(r.Vectors[i]) == 0 {
					continue
				}
				if !reflect.DeepEqual(v, r.Vectors[i]) {
					t.Errorf("data[%d] = %v, want %v", i, v, r.Vectors[i])
				}
			}
		})
	}
}

func TestAppendModelList(t *testing.T) {
	models := []llm.Model{
		{ID: "ollama/llama3.2:1b", Provider: "ollama", Created: time.Unix(1700000000, 0)},
		{ID: "fast", OwnedBy: "edgeway"},
	}
	out := AppendModelList(nil, models)
	want := `{"object":"list","data":[{"id":"ollama/llama3.2:1b","object":"model","created":1700000000,"owned_by":"ollama"},` +
		`{"id":"fast","object":"model","created":0,"owned_by":"edgeway"}]}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	if got := string(AppendModelList(nil, nil)); got != `{"object":"list","data":[]}` {
		t.Errorf("empty list = %s", got)
	}
}
