package gemini

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/edge/upstream"
	"github.com/edgeway/edgeway/edge/upstream/upstreamtest"
)

// read decodes an SSE body as Chat does, for tests that feed one directly.
func (s *chatStream) read(ctx context.Context, body io.Reader, emit func(*llm.Chunk) error) (llm.Usage, error) {
	err := s.c.up.Stream(ctx, body, s, emit)
	return s.usage, err
}

// runStream feeds body to a chatStream as an SSE answer.
func runStream(t *testing.T, body []byte) ([]llm.Chunk, *llm.Aggregate, llm.Usage, error) {
	t.Helper()
	c, err := New(Options{Endpoint: upstream.Endpoint{Name: "fake", BaseURL: "http://127.0.0.1:1/v1beta"}})
	if err != nil {
		t.Fatal(err)
	}
	var chunks []llm.Chunk
	agg := &llm.Aggregate{}
	s := chatStream{c: c}
	u, err := s.read(context.Background(), bytes.NewReader(body), func(ch *llm.Chunk) error {
		chunks = append(chunks, copyChunk(ch))
		agg.Add(ch)
		return nil
	})
	return chunks, agg, u, err
}

func event(json string) string { return "data: " + json + "\r\n\r\n" }

func TestStreamFixtures(t *testing.T) {
	tests := []struct {
		fixture       string
		wantText      string
		wantReasoning string
		wantCalls     []llm.ToolCall
		wantFinish    llm.FinishReason
		wantUsage     llm.Usage
		wantModel     string
		wantChunks    int
	}{
		{fixture: "stream_text.sse", wantText: "The sky is blue because of Rayleigh scattering.\n\u00e9\u2028 Short wavelengths scatter most.",
			wantFinish: llm.FinishStop, wantModel: "gemini-2.5-flash", wantChunks: 3,
			wantUsage: llm.Usage{PromptTokens: 9, CompletionTokens: 127, TotalTokens: 136, CachedTokens: 4}},
		{fixture: "stream_function_call.sse", wantFinish: llm.FinishToolCalls, wantModel: "gemini-3-flash-preview", wantChunks: 1,
			wantCalls: []llm.ToolCall{
				{ID: "call_0", Name: "get_weather", Arguments: `{"city":"Paris","unit":"c"}`},
				{ID: "call_1", Name: "get_time", Arguments: `{"tz":"Europe/Paris"}`},
			},
			wantUsage: llm.Usage{PromptTokens: 87, CompletionTokens: 93, TotalTokens: 180}},
		{fixture: "stream_thinking_usage.sse", wantText: "42", wantReasoning: "**Weighing the question**\nThe user wants a number.",
			wantFinish: llm.FinishLength, wantModel: "gemini-2.5-pro", wantChunks: 3, // thought, text+finish, late usage
			wantUsage: llm.Usage{PromptTokens: 16, CompletionTokens: 29, TotalTokens: 45}},
		{fixture: "stream_safety.sse", wantText: "Here is how", wantFinish: llm.FinishContentFilter, wantModel: "gemini-2.5-flash", wantChunks: 2,
			wantUsage: llm.Usage{PromptTokens: 7, CompletionTokens: 3, TotalTokens: 10}},
		{fixture: "stream_prompt_blocked.sse", wantFinish: llm.FinishContentFilter, wantModel: "gemini-2.5-flash", wantChunks: 1,
			wantUsage: llm.Usage{PromptTokens: 11, TotalTokens: 11}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			chunks, agg, usage, err := runStream(t, testkit.Fixture(t, tt.fixture))
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if agg.Text.String() != tt.wantText || agg.Reasoning.String() != tt.wantReasoning {
				t.Errorf("text = %q, reasoning = %q", agg.Text.String(), agg.Reasoning.String())
			}
			if !reflect.DeepEqual(agg.ToolCalls, tt.wantCalls) && (len(agg.ToolCalls) != 0 || len(tt.wantCalls) != 0) {
				t.Errorf("tool calls = %+v, want %+v", agg.ToolCalls, tt.wantCalls)
			}
			upstreamtest.CheckAnswer(t, agg, usage, tt.wantFinish, tt.wantModel, tt.wantUsage)
			if len(chunks) != tt.wantChunks {
				t.Errorf("emitted %d chunks, want %d: %+v", len(chunks), tt.wantChunks, chunks)
			}
			upstreamtest.CheckRoleFirst(t, chunks)
			// Usage goes out once per change: on the finishing chunk, and
			// again only if it changed after.
			last := chunks[len(chunks)-1]
			if last.Usage == nil || *last.Usage != tt.wantUsage {
				t.Errorf("last chunk usage = %+v", last.Usage)
			}
		})
	}
}

func TestStreamMapping(t *testing.T) {
	const text = `{"candidates":[{"content":{"parts":[{"text":"hi"}],"role":"model"},"index":0}]}`
	finish := func(reason string) string {
		return event(`{"candidates":[{"content":{"parts":[{"text":"x"}],"role":"model"},"finishReason":"` + reason + `","index":0}]}`)
	}
	tests := []struct {
		name       string
		body       string
		wantFinish llm.FinishReason
		wantText   string
		wantCalls  int
		wantErr    error
		wantKind   llm.Kind
	}{
		{name: "STOP", body: finish("STOP"), wantFinish: llm.FinishStop, wantText: "x"},
		{name: "MAX_TOKENS", body: finish("MAX_TOKENS"), wantFinish: llm.FinishLength, wantText: "x"},
		{name: "SAFETY", body: finish("SAFETY"), wantFinish: llm.FinishContentFilter, wantText: "x"},
		{name: "RECITATION", body: finish("RECITATION"), wantFinish: llm.FinishContentFilter, wantText: "x"},
		{name: "BLOCKLIST", body: finish("BLOCKLIST"), wantFinish: llm.FinishContentFilter, wantText: "x"},
		{name: "PROHIBITED_CONTENT", body: finish("PROHIBITED_CONTENT"), wantFinish: llm.FinishContentFilter, wantText: "x"},
		{name: "SPII", body: finish("SPII"), wantFinish: llm.FinishContentFilter, wantText: "x"},
		{name: "OTHER", body: finish("OTHER"), wantFinish: llm.FinishStop, wantText: "x"},
		{name: "MALFORMED_FUNCTION_CALL", body: finish("MALFORMED_FUNCTION_CALL"), wantFinish: llm.FinishStop, wantText: "x"},
		{name: "unknown future reason", body: finish("SOMETHING_NEW"), wantFinish: llm.FinishStop, wantText: "x"},
		{name: "STOP after a call in an earlier event",
			body:       event(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f"}}]},"index":0}]}`) + finish("STOP"),
			wantFinish: llm.FinishToolCalls, wantText: "x", wantCalls: 1},
		{name: "call with id and null args",
			body:       event(`{"candidates":[{"content":{"parts":[{"functionCall":{"id":"fc-9","name":"f","args":null}}]},"finishReason":"STOP"}]}`),
			wantFinish: llm.FinishToolCalls, wantCalls: 1},
		{name: "unspecified reason is not a finish", body: event(text) + finish("FINISH_REASON_UNSPECIFIED"), wantErr: llm.ErrStreamCut, wantKind: llm.KindServer},
		{name: "other candidates ignored", body: event(`{"candidates":[{"content":{"parts":[{"text":"no"}]},"index":1,"finishReason":"STOP"},{"content":{"parts":[{"text":"yes"}]},"finishReason":"STOP"}]}`),
			wantFinish: llm.FinishStop, wantText: "yes"},
		{name: "keep-alives, comments and [DONE] tolerated", body: ": ping\r\n\r\ndata:\r\n\r\n" + finish("STOP") + "data: [DONE]\r\n\r\n",
			wantFinish: llm.FinishStop, wantText: "x"},
		{name: "LF framing", body: strings.ReplaceAll(finish("STOP"), "\r\n", "\n"), wantFinish: llm.FinishStop, wantText: "x"},
		{name: "stream cut", body: string(testkit.Fixture(t, "stream_cut.sse")), wantErr: llm.ErrStreamCut, wantKind: llm.KindServer},
		{name: "empty stream", body: "", wantErr: llm.ErrStreamCut, wantKind: llm.KindServer},
		{name: "not JSON", body: event(`{"candidates":[`), wantErr: llm.ErrMalformed, wantKind: llm.KindServer},
		{name: "not an object", body: event(`42`), wantErr: llm.ErrMalformed, wantKind: llm.KindServer},
		{name: "function call without name", body: event(`{"candidates":[{"content":{"parts":[{"functionCall":{"args":{}}}]}}]}`), wantErr: llm.ErrMalformed, wantKind: llm.KindServer},
		{name: "function call args not JSON", body: event(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":"x"}}]}}]}`), wantFinish: "", wantErr: llm.ErrStreamCut, wantKind: llm.KindServer, wantCalls: 1},
		{name: "error event", body: string(testkit.Fixture(t, "stream_error_event.sse")), wantKind: llm.KindOverloaded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, agg, _, err := runStream(t, []byte(tt.body))
			if tt.wantKind != llm.KindUnknown {
				var le *llm.Error
				if !errors.As(err, &le) || le.Kind != tt.wantKind || le.Provider != "fake" {
					t.Fatalf("error = %v, want an *llm.Error of kind %v", err, tt.wantKind)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("error %v is not %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if agg.FinishReason != tt.wantFinish || agg.Text.String() != tt.wantText || len(agg.ToolCalls) != tt.wantCalls {
				t.Errorf("finish %q text %q calls %+v", agg.FinishReason, agg.Text.String(), agg.ToolCalls)
			}
		})
	}
}

func TestStreamToolCallIDs(t *testing.T) {
	body := event(`{"candidates":[{"content":{"parts":[{"text":"Checking. "},{"functionCall":{"name":"a","args":{ "x" : 1 }}}]}}]}`) +
		event(`{"candidates":[{"content":{"parts":[{"functionCall":{"id":"upstream-id","name":"b","args":{}}},{"functionCall":{"name":"c"}}]},"finishReason":"STOP"}]}`)
	chunks, agg, _, err := runStream(t, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []llm.ToolCall{
		{ID: "call_0", Name: "a", Arguments: `{"x":1}`},
		{ID: "call_1", Name: "b", Arguments: `{}`},
		{ID: "call_2", Name: "c", Arguments: `{}`},
	}
	if !reflect.DeepEqual(agg.ToolCalls, want) {
		t.Errorf("calls = %+v, want %+v", agg.ToolCalls, want)
	}
	if agg.Text.String() != "Checking. " || agg.FinishReason != llm.FinishToolCalls {
		t.Errorf("text %q finish %q", agg.Text.String(), agg.FinishReason)
	}
	// Every call is complete in one delta, with its index.
	for _, ch := range chunks {
		for _, d := range ch.ToolCalls {
			if d.ID == "" || d.Name == "" || d.Arguments == "" {
				t.Errorf("incomplete delta %+v", d)
			}
		}
	}
}

func TestStreamJSONAnswer(t *testing.T) {
	c, err := New(Options{Endpoint: upstream.Endpoint{Name: "fake", BaseURL: "http://127.0.0.1:1/v1beta"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"array":  `[{"candidates":[{"content":{"parts":[{"text":"Hel"}]}}]}` + "\r\n," + `{"candidates":[{"content":{"parts":[{"text":"lo"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":2,"totalTokenCount":3}}]`,
		"object": `{"candidates":[{"content":{"parts":[{"text":"Hello"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":2,"totalTokenCount":3}}`,
	} {
		t.Run(name, func(t *testing.T) {
			var agg llm.Aggregate
			s := chatStream{c: c}
			err := s.Whole([]byte(body), func(ch *llm.Chunk) error { agg.Add(ch); return nil })
			u := s.usage
			if err != nil || agg.Text.String() != "Hello" || u.TotalTokens != 3 || agg.FinishReason != llm.FinishStop {
				t.Errorf("err %v text %q usage %+v finish %q", err, agg.Text.String(), u, agg.FinishReason)
			}
		})
	}
	s := chatStream{c: c}
	if err := s.Whole([]byte(`[{`), func(*llm.Chunk) error { return nil }); !errors.Is(err, llm.ErrMalformed) {
		t.Errorf("bad array: %v", err)
	}
}

func TestUsageOf(t *testing.T) {
	tests := []struct {
		name string
		in   wireUsage
		want llm.Usage
	}{
		{"plain", wireUsage{PromptTokenCount: 5, CandidatesTokenCount: 7, TotalTokenCount: 12}, llm.Usage{PromptTokens: 5, CompletionTokens: 7, TotalTokens: 12}},
		{"thoughts are completion", wireUsage{PromptTokenCount: 5, CandidatesTokenCount: 7, ThoughtsTokenCount: 30, TotalTokenCount: 42}, llm.Usage{PromptTokens: 5, CompletionTokens: 37, TotalTokens: 42}},
		{"cached and tool-use prompt", wireUsage{PromptTokenCount: 100, CachedContentTokenCount: 80, ToolUsePromptTokenCount: 10, CandidatesTokenCount: 1, TotalTokenCount: 111},
			llm.Usage{PromptTokens: 110, CompletionTokens: 1, TotalTokens: 111, CachedTokens: 80}},
		{"total missing", wireUsage{PromptTokenCount: 2, CandidatesTokenCount: 3}, llm.Usage{PromptTokens: 2, CompletionTokens: 3, TotalTokens: 5}},
		{"negative counts ignored", wireUsage{PromptTokenCount: -5, CandidatesTokenCount: 3, TotalTokenCount: -1}, llm.Usage{CompletionTokens: 3, TotalTokens: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := usageOf(&tt.in); got != tt.want {
				t.Errorf("usageOf = %+v, want %+v", got, tt.want)
			}
		})
	}
}
