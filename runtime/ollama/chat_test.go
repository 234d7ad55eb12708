package ollama

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
)

func userChat(model, text string) *llm.ChatRequest {
	return &llm.ChatRequest{
		Model:    model,
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: text}}}},
	}
}

// collect runs Chat and returns deep copies of the emitted chunks.
func collect(t *testing.T, p *Provider, req *llm.ChatRequest) ([]llm.Chunk, llm.Usage, error) {
	t.Helper()
	var chunks []llm.Chunk
	usage, err := p.Chat(context.Background(), req, func(c *llm.Chunk) error {
		cp := *c
		cp.ToolCalls = slices.Clone(c.ToolCalls)
		if c.Usage != nil {
			cp.Usage = new(*c.Usage)
		}
		chunks = append(chunks, cp)
		return nil
	})
	return chunks, usage, err
}

func aggregate(chunks []llm.Chunk) *llm.Aggregate {
	var a llm.Aggregate
	for i := range chunks {
		a.Add(&chunks[i])
	}
	return &a
}

func TestChatStream(t *testing.T) {
	f := newFake(t).on("/api/chat", reply{fixture: "chat_stream.ndjson", header: map[string]string{"Content-Type": "application/x-ndjson"}})
	p := f.provider(t, Options{})

	chunks, usage, err := collect(t, p, userChat("llama3.2", "Why is the sky blue?"))
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 6 {
		t.Fatalf("got %d chunks, want 5 text chunks and the final one", len(chunks))
	}
	if chunks[0].Role != llm.RoleAssistant {
		t.Errorf("first chunk role = %q, want assistant", chunks[0].Role)
	}
	for _, c := range chunks[1:] {
		if c.Role != "" {
			t.Errorf("role %q repeated on a later chunk", c.Role)
		}
	}
	for _, c := range chunks[:5] {
		if c.FinishReason != "" || c.Usage != nil {
			t.Errorf("chunk %+v ends early", c)
		}
	}
	a := aggregate(chunks)
	if got := a.Text.String(); got != "The sky is blue." {
		t.Errorf("text = %q", got)
	}
	want := llm.Usage{PromptTokens: 26, CompletionTokens: 282, TotalTokens: 308}
	if usage != want || a.Usage != want {
		t.Errorf("usage returned %+v, in chunk %+v, want %+v", usage, a.Usage, want)
	}
	if a.FinishReason != llm.FinishStop {
		t.Errorf("finish reason = %q", a.FinishReason)
	}
	if a.Model != "llama3.2" {
		t.Errorf("model = %q", a.Model)
	}
}

func TestChatFixtures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fixture   string
		text      string
		reasoning string
		finish    llm.FinishReason
		usage     llm.Usage
		calls     []llm.ToolCall
	}{
		{
			name: "length", fixture: "chat_length.ndjson", text: "Once upon", finish: llm.FinishLength,
			usage: llm.Usage{PromptTokens: 12, CompletionTokens: 2, TotalTokens: 14},
		},
		{
			name: "tool calls", fixture: "chat_tools.ndjson", finish: llm.FinishToolCalls,
			usage: llm.Usage{PromptTokens: 122, CompletionTokens: 33, TotalTokens: 155},
			calls: []llm.ToolCall{
				{ID: "call_k2x9q0ab", Name: "get_current_weather", Arguments: `{"location":"Paris, FR","format":"celsius"}`},
				{ID: "call_1", Name: "get_time", Arguments: `{}`},
				{ID: "call_2", Name: "get_current_weather", Arguments: `{"location":"Berlin, DE","format":"celsius"}`},
			},
		},
		{
			name: "thinking", fixture: "chat_thinking.ndjson", text: "Hello!", reasoning: "The user wants a greeting.",
			finish: llm.FinishStop, usage: llm.Usage{PromptTokens: 11, CompletionTokens: 17, TotalTokens: 28},
		},
		{name: "load only", fixture: "chat_load.ndjson", finish: llm.FinishStop},
		{
			name: "no final newline", fixture: "chat_no_final_newline.ndjson", text: "Hi", finish: llm.FinishStop,
			usage: llm.Usage{PromptTokens: 3, CompletionTokens: 1, TotalTokens: 4},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t).on("/api/chat", reply{fixture: tc.fixture})
			chunks, usage, err := collect(t, f.provider(t, Options{}), userChat("m", "hi"))
			if err != nil {
				t.Fatal(err)
			}
			a := aggregate(chunks)
			if a.Text.String() != tc.text || a.Reasoning.String() != tc.reasoning {
				t.Errorf("text %q reasoning %q, want %q and %q", a.Text.String(), a.Reasoning.String(), tc.text, tc.reasoning)
			}
			if a.FinishReason != tc.finish {
				t.Errorf("finish = %q, want %q", a.FinishReason, tc.finish)
			}
			if usage != tc.usage {
				t.Errorf("usage = %+v, want %+v", usage, tc.usage)
			}
			if !reflect.DeepEqual(a.ToolCalls, tc.calls) && (len(a.ToolCalls) > 0 || len(tc.calls) > 0) {
				t.Errorf("tool calls = %+v, want %+v", a.ToolCalls, tc.calls)
			}
			if chunks[0].Role != llm.RoleAssistant {
				t.Errorf("first chunk has no role")
			}
			for i, c := range chunks {
				for j, d := range c.ToolCalls {
					if d.ID == "" || d.Name == "" {
						t.Errorf("chunk %d call %d is not complete: %+v", i, j, d)
					}
				}
			}
		})
	}
}

func TestChatRequestMapping(t *testing.T) {
	f := newFake(t).on("/api/chat", reply{fixture: "chat_stream.ndjson"})
	p := f.provider(t, Options{
		KeepAlive: 10 * time.Minute,
		Options:   map[string]any{"num_thread": 1, "temperature": 0.9},
	})
	req := &llm.ChatRequest{
		Model: "llava",
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: []llm.Part{{Type: llm.PartText, Text: "Be brief."}}},
			{Role: llm.RoleUser, Content: []llm.Part{
				{Type: llm.PartText, Text: "What is "},
				{Type: llm.PartImage, ImageURL: "data:image/png;base64,iVBORw0KGgo="},
				{Type: llm.PartText, Text: "this?"},
			}},
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{
				{ID: "call_a", Name: "lookup", Arguments: `{"q":"png","n":2}`},
				{ID: "call_b", Name: "noargs"},
			}},
			{Role: llm.RoleTool, ToolCallID: "call_a", Content: []llm.Part{{Type: llm.PartText, Text: "an image"}}},
			{Role: llm.RoleTool, ToolCallID: "call_b", Name: "explicit", Content: []llm.Part{{Type: llm.PartText, Text: "ok"}}},
		},
		Temperature:      new(0.2),
		TopP:             new(0.5),
		MaxTokens:        new(64),
		Stop:             []string{"\n\n", "END"},
		Seed:             new(int64(7)),
		PresencePenalty:  new(0.1),
		FrequencyPenalty: new(0.3),
		ResponseFormat:   &llm.ResponseFormat{Type: "json_schema", Name: "answer", Schema: json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}}}`)},
		Tools: []llm.Tool{{
			Name: "lookup", Description: "Look something up",
			Parameters: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string","description":"query"},"n":{"type":"integer"}},"required":["q"]}`),
		}, {Name: "noargs"}},
	}
	if _, _, err := collect(t, p, req); err != nil {
		t.Fatal(err)
	}
	bodies := f.requests("/api/chat")
	if len(bodies) != 1 {
		t.Fatalf("%d requests, want 1", len(bodies))
	}
	var got map[string]any
	if err := json.Unmarshal(bodies[0], &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"model":      "llava",
		"stream":     true,
		"keep_alive": "10m0s",
		"format":     map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"type": "string"}}},
		"options": map[string]any{
			"num_thread": 1.0, "temperature": 0.2, "top_p": 0.5, "num_predict": 64.0,
			"stop": []any{"\n\n", "END"}, "seed": 7.0, "presence_penalty": 0.1, "frequency_penalty": 0.3,
		},
		"messages": []any{
			map[string]any{"role": "system", "content": "Be brief."},
			map[string]any{"role": "user", "content": "What is this?", "images": []any{"iVBORw0KGgo="}},
			map[string]any{"role": "assistant", "content": "", "tool_calls": []any{
				map[string]any{"id": "call_a", "function": map[string]any{"index": 0.0, "name": "lookup", "arguments": map[string]any{"q": "png", "n": 2.0}}},
				map[string]any{"id": "call_b", "function": map[string]any{"index": 1.0, "name": "noargs", "arguments": map[string]any{}}},
			}},
			map[string]any{"role": "tool", "content": "an image", "tool_call_id": "call_a", "tool_name": "lookup"},
			map[string]any{"role": "tool", "content": "ok", "tool_call_id": "call_b", "tool_name": "explicit"},
		},
		"tools": []any{
			map[string]any{"type": "function", "function": map[string]any{
				"name": "lookup", "description": "Look something up",
				"parameters": map[string]any{
					"type":     "object",
					"required": []any{"q"},
					"properties": map[string]any{
						"q": map[string]any{"type": "string", "description": "query"},
						"n": map[string]any{"type": "integer"},
					},
				},
			}},
			map[string]any{"type": "function", "function": map[string]any{
				"name": "noargs", "parameters": map[string]any{"type": "object", "properties": map[string]any{}},
			}},
		},
	}
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			gj, _ := json.Marshal(got[k])
			wj, _ := json.Marshal(w)
			t.Errorf("%s:\n got %s\nwant %s", k, gj, wj)
		}
	}
	// The configured options are not changed by a request.
	if p.options["temperature"] != 0.9 {
		t.Errorf("provider options changed: %v", p.options)
	}
}

func TestChatFormats(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format *llm.ResponseFormat
		choice *llm.ToolChoice
		want   string // JSON of "format", "" for absent
		tools  bool
	}{
		{name: "none", tools: true},
		{name: "text", format: &llm.ResponseFormat{Type: "text"}, tools: true},
		{name: "json object", format: &llm.ResponseFormat{Type: "json_object"}, want: `"json"`, tools: true},
		{name: "schema without schema", format: &llm.ResponseFormat{Type: "json_schema"}, want: `"json"`, tools: true},
		{name: "tool choice none drops tools", choice: &llm.ToolChoice{Mode: "none"}},
		{name: "tool choice required keeps tools", choice: &llm.ToolChoice{Mode: "required"}, tools: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t).on("/api/chat", reply{fixture: "chat_stream.ndjson"})
			req := userChat("m", "hi")
			req.ResponseFormat = tc.format
			req.ToolChoice = tc.choice
			req.Tools = []llm.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":"object","properties":{}}`)}}
			if _, _, err := collect(t, f.provider(t, Options{}), req); err != nil {
				t.Fatal(err)
			}
			var got map[string]json.RawMessage
			if err := json.Unmarshal(f.requests("/api/chat")[0], &got); err != nil {
				t.Fatal(err)
			}
			if string(got["format"]) != tc.want {
				t.Errorf("format = %s, want %s", got["format"], tc.want)
			}
			if _, ok := got["tools"]; ok != tc.tools {
				t.Errorf("tools sent = %v, want %v", ok, tc.tools)
			}
		})
	}
}

func TestChatBadRequests(t *testing.T) {
	msg := func(parts ...llm.Part) []llm.Message {
		return []llm.Message{{Role: llm.RoleUser, Content: parts}}
	}
	text := llm.Part{Type: llm.PartText, Text: "hi"}
	for _, tc := range []struct {
		name string
		req  llm.ChatRequest
		want string
		// kind is KindBadRequest unless set.
		kind llm.Kind
	}{
		{"no model", llm.ChatRequest{Messages: msg(text)}, "model is required", 0},
		{"no messages", llm.ChatRequest{Model: "m"}, "no messages", 0},
		{"http image", llm.ChatRequest{Model: "m", Messages: msg(llm.Part{Type: llm.PartImage, ImageURL: "https://example.com/cat.png"})}, "ollama needs inline images", llm.KindUnsupported},
		{"ftp image", llm.ChatRequest{Model: "m", Messages: msg(llm.Part{Type: llm.PartImage, ImageURL: "ftp://x/cat.png"})}, "scheme", 0},
		{"data url not base64", llm.ChatRequest{Model: "m", Messages: msg(llm.Part{Type: llm.PartImage, ImageURL: "data:image/png,%89PNG"})}, "not base64", 0},
		{"data url bad base64", llm.ChatRequest{Model: "m", Messages: msg(llm.Part{Type: llm.PartImage, ImageURL: "data:image/png;base64,@@@"})}, "not base64", 0},
		{"unknown role", llm.ChatRequest{Model: "m", Messages: []llm.Message{{Role: "developer", Content: []llm.Part{text}}}}, "unsupported role", 0},
		{"tool args not json", llm.ChatRequest{Model: "m", Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{Name: "f", Arguments: "{nope"}}}}}, "arguments", 0},
		{"tool args not object", llm.ChatRequest{Model: "m", Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{Name: "f", Arguments: "[1]"}}}}}, "not a JSON object", 0},
		{"bad schema", llm.ChatRequest{Model: "m", Messages: msg(text), ResponseFormat: &llm.ResponseFormat{Type: "json_schema", Schema: json.RawMessage(`{"type":`)}}, "schema", 0},
		{"bad format type", llm.ChatRequest{Model: "m", Messages: msg(text), ResponseFormat: &llm.ResponseFormat{Type: "xml"}}, "response_format", 0},
		{"bad tool parameters", llm.ChatRequest{Model: "m", Messages: msg(text), Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":["object"]}`)}}}, "parameters", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t).on("/api/chat", reply{fixture: "chat_stream.ndjson"})
			_, _, err := collect(t, f.provider(t, Options{}), &tc.req)
			want := cmp.Or(tc.kind, llm.KindBadRequest)
			var e *llm.Error
			if !errors.As(err, &e) || e.Kind != want {
				t.Fatalf("err = %v, want kind %v", err, want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to mention %q", err, tc.want)
			}
			if e.Provider != "ollama" {
				t.Errorf("provider = %q", e.Provider)
			}
			if n := len(f.requests("/api/chat")); n != 0 {
				t.Errorf("%d requests reached Ollama", n)
			}
		})
	}
}

func TestImageDecoding(t *testing.T) {
	for _, tc := range []struct {
		name, url, want string
	}{
		{"padded", "data:image/png;base64,aGk=", "hi"},
		{"unpadded", "data:image/png;base64,aGk", "hi"},
		{"no media type", "data:;base64,aGk=", "hi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := decodeImage(tc.url)
			if err != nil || string(b) != tc.want {
				t.Errorf("decodeImage(%q) = %q, %v", tc.url, b, err)
			}
		})
	}
}

func TestChatStreamFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rep     reply
		kind    llm.Kind
		message string
	}{
		{name: "error mid stream", rep: reply{fixture: "chat_error_midstream.ndjson"}, kind: llm.KindServer, message: "unexpected EOF"},
		{name: "context error mid stream", rep: reply{body: `{"error":"the input length exceeds the context length"}` + "\n"}, kind: llm.KindContextLength},
		{name: "busy mid stream", rep: reply{body: `{"error":"server busy, please try again.  maximum pending requests exceeded"}` + "\n"}, kind: llm.KindOverloaded},
		{name: "ends before done", rep: reply{fixture: "chat_truncated.ndjson"}, kind: llm.KindServer},
		{name: "empty body", rep: reply{}, kind: llm.KindServer},
		{name: "not json", rep: reply{body: "hello\n"}, kind: llm.KindServer},
		{name: "line too long", rep: reply{body: `{"message":{"content":"` + strings.Repeat("a", maxLineBytes) + `"}}` + "\n"}, kind: llm.KindServer},
		{
			name: "connection cut", kind: llm.KindUnavailable,
			rep: reply{handler: func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(`{"message":{"role":"assistant","content":"The"},"done":false}` + "\n"))
				w.(http.Flusher).Flush()
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t).on("/api/chat", tc.rep)
			_, _, err := collect(t, f.provider(t, Options{}), userChat("m", "hi"))
			if k := llm.KindOf(err); k != tc.kind {
				t.Fatalf("err = %v (kind %v), want kind %v", err, k, tc.kind)
			}
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("err %T is not *llm.Error", err)
			}
			if tc.message != "" && !strings.Contains(e.Message, tc.message) {
				t.Errorf("message = %q, want %q in it", e.Message, tc.message)
			}
		})
	}
}

// slowProvider returns a provider whose upstream sends one token and then
// stalls, and a channel closed once that upstream request is aborted.
func slowProvider(t *testing.T) (*Provider, <-chan struct{}) {
	gone := make(chan struct{})
	f := newFake(t).on("/api/chat", reply{handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Write([]byte(`{"model":"m","message":{"role":"assistant","content":"The"},"done":false}` + "\n"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(gone)
		case <-time.After(10 * time.Second):
		}
	}})
	return f.provider(t, Options{}), gone
}

func TestChatEmitErrorPassesThrough(t *testing.T) {
	p, gone := slowProvider(t)
	sentinel := errors.New("client went away")
	_, err := p.Chat(context.Background(), userChat("m", "hi"), func(*llm.Chunk) error { return sentinel })
	if err != sentinel {
		t.Fatalf("err = %#v, want the emit error itself", err)
	}
	testkit.Closed(t, "the upstream request aborted", gone)
}

func TestChatContextCancel(t *testing.T) {
	p, gone := slowProvider(t)
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	_, err := p.Chat(ctx, userChat("m", "hi"), func(*llm.Chunk) error {
		cancel() // the caller leaves after the first token
		return nil
	})
	if k := llm.KindOf(err); k != llm.KindCanceled {
		t.Fatalf("err = %v (kind %v), want canceled", err, k)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Chat took %v to notice the cancel", d)
	}
	testkit.Closed(t, "the upstream request aborted", gone)
}

func TestChatDeadline(t *testing.T) {
	p, gone := slowProvider(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := p.Chat(ctx, userChat("m", "hi"), func(*llm.Chunk) error { return nil })
	if k := llm.KindOf(err); k != llm.KindTimeout {
		t.Fatalf("err = %v (kind %v), want timeout", err, k)
	}
	testkit.Closed(t, "the upstream request aborted", gone)
}

func TestConnectionRefused(t *testing.T) {
	p, err := New(Options{BaseURL: "http://" + testkit.RefusedAddr(t), Name: "local"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := map[string]func() error{
		"chat": func() error {
			_, err := p.Chat(ctx, userChat("m", "hi"), func(*llm.Chunk) error { return nil })
			return err
		},
		"embed":  func() error { _, err := p.Embed(ctx, &llm.EmbedRequest{Model: "m", Input: []string{"x"}}); return err },
		"models": func() error { _, err := p.Models(ctx); return err },
		"ping":   func() error { return p.Ping(ctx) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			var e *llm.Error
			if !errors.As(err, &e) || e.Kind != llm.KindUnavailable || e.Provider != "local" {
				t.Fatalf("err = %v, want an unavailable *llm.Error from local", err)
			}
			if !strings.Contains(err.Error(), name) {
				t.Errorf("err = %q does not say which call failed", err)
			}
		})
	}
}
