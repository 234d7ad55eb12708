package gemini_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/gemini"
	"github.com/edgeway/edgeway/edge/gemini/geminitest"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/edge/upstream"
)

// These tests run the client against geminitest, which was written from
// Google's reference separately: each checks the other. The fake refuses
// unknown fields and schema keys as Gemini does, so every request shape
// here is one Gemini accepts.

func newPair(t *testing.T, o geminitest.Options) (*gemini.Client, *geminitest.Server) {
	t.Helper()
	o.APIKey = "AIza-fake"
	s := geminitest.NewT(t, o)
	c, err := gemini.New(gemini.Options{Endpoint: upstream.Endpoint{BaseURL: s.URL(), APIKey: "AIza-fake"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c, s
}

func chat(t *testing.T, c *gemini.Client, req *llm.ChatRequest) (*llm.Aggregate, llm.Usage, error) {
	t.Helper()
	agg := &llm.Aggregate{}
	u, err := c.Chat(context.Background(), req, func(ch *llm.Chunk) error { agg.Add(ch); return nil })
	return agg, u, err
}

func text(s string) []llm.Part { return []llm.Part{{Type: llm.PartText, Text: s}} }

func TestFakeChat(t *testing.T) {
	c, s := newPair(t, geminitest.Options{Reply: "Bonjour tout le monde"})
	req := &llm.ChatRequest{Model: "gemini-2.5-flash", Messages: []llm.Message{
		{Role: llm.RoleSystem, Content: text("Be brief.")},
		{Role: llm.RoleUser, Content: text("Say hello")},
	}, Temperature: new(0.2), TopK: new(3), Stop: []string{"\n"}}
	agg, u, err := chat(t, c, req)
	if err != nil {
		t.Fatal(err)
	}
	if agg.Text.String() != "Bonjour tout le monde" || agg.FinishReason != llm.FinishStop || agg.Model != "gemini-2.5-flash" {
		t.Errorf("text %q finish %q model %q", agg.Text.String(), agg.FinishReason, agg.Model)
	}
	if want := (llm.Usage{PromptTokens: 4, CompletionTokens: 4, TotalTokens: 8}); u != want {
		t.Errorf("usage %+v, want %+v", u, want)
	}
	if s.Requests() != 1 {
		t.Errorf("Requests = %d", s.Requests())
	}

	t.Run("max tokens", func(t *testing.T) {
		req := *req
		req.MaxTokens = new(2)
		agg, u, err := chat(t, c, &req)
		if err != nil || agg.Text.String() != "Bonjour tout" || agg.FinishReason != llm.FinishLength || u.CompletionTokens != 2 {
			t.Errorf("err %v text %q finish %q usage %+v", err, agg.Text.String(), agg.FinishReason, u)
		}
	})
}

func TestFakeToolRoundTrip(t *testing.T) {
	c, s := newPair(t, geminitest.Options{FunctionCall: &geminitest.FunctionCall{Name: "get_weather", Args: json.RawMessage(`{"city": "Paris"}`)}})
	tools := []llm.Tool{{Name: "get_weather", Description: "Weather", Parameters: json.RawMessage(
		`{"type":"object","additionalProperties":false,"properties":{"city":{"type":"string","format":"uri"}},"required":["city"],"$schema":"x"}`)},
		{Name: "ping", Parameters: json.RawMessage(`{"type":"object","properties":{}}`)}}
	req := &llm.ChatRequest{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: text("Weather in Paris?")}},
		Tools: tools, ToolChoice: &llm.ToolChoice{Mode: "function", Name: "get_weather"}}
	agg, _, err := chat(t, c, req)
	if err != nil {
		t.Fatal(err)
	}
	want := []llm.ToolCall{{ID: "call_0", Name: "get_weather", Arguments: `{"city":"Paris"}`}}
	if !reflect.DeepEqual(agg.ToolCalls, want) || agg.FinishReason != llm.FinishToolCalls {
		t.Fatalf("calls %+v finish %q", agg.ToolCalls, agg.FinishReason)
	}
	// The client replays the call with its result; the fake must accept
	// the history (signature, functionResponse, merged roles).
	req.Messages = append(req.Messages,
		llm.Message{Role: llm.RoleAssistant, ToolCalls: agg.ToolCalls},
		llm.Message{Role: llm.RoleTool, ToolCallID: "call_0", Content: text(`{"temp":21}`)},
		llm.Message{Role: llm.RoleUser, Content: text("Thanks")},
	)
	req.ToolChoice = &llm.ToolChoice{Mode: "none"}
	agg, _, err = chat(t, c, req)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, s.LastRequest())
	}
	if agg.Text.String() != geminitest.DefaultReply {
		t.Errorf("text %q", agg.Text.String())
	}
}

func TestFakeStructuredOutput(t *testing.T) {
	c, _ := newPair(t, geminitest.Options{})
	req := &llm.ChatRequest{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: text("x")}},
		ResponseFormat: &llm.ResponseFormat{Type: "json_schema", Schema: json.RawMessage(`{
			"type":"object","additionalProperties":false,
			"properties":{"when":{"type":"string","format":"date"},"tags":{"type":"array","items":{"type":"string"},"uniqueItems":true},
				"kind":{"oneOf":[{"const":"a"},{"const":"b"}]}},
			"required":["when"]}`)}}
	if _, _, err := chat(t, c, req); err != nil {
		t.Fatal(err)
	}
}

func TestFakeImages(t *testing.T) {
	c, _ := newPair(t, geminitest.Options{})
	req := &llm.ChatRequest{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{
		{Type: llm.PartText, Text: "What is this?"},
		{Type: llm.PartImage, ImageURL: "data:image/png;base64,iVBORw0KGgo="},
		{Type: llm.PartImage, ImageURL: "https://example.com/a.png"},
	}}}}
	if _, _, err := chat(t, c, req); err != nil {
		t.Fatal(err)
	}
}

func TestFakeFaults(t *testing.T) {
	c, s := newPair(t, geminitest.Options{})
	req := &llm.ChatRequest{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: text("hi")}}}
	tests := []struct {
		mode      geminitest.Mode
		kind      llm.Kind
		retry     time.Duration
		is        error
		wantAgg   llm.FinishReason
		succeeded bool
	}{
		{mode: geminitest.Error500, kind: llm.KindServer},
		{mode: geminitest.Unavailable503, kind: llm.KindOverloaded},
		{mode: geminitest.RateLimit429, kind: llm.KindRateLimited, retry: time.Second},
		{mode: geminitest.TooManyTokens, kind: llm.KindContextLength},
		{mode: geminitest.Unauthorized, kind: llm.KindAuth},
		{mode: geminitest.CutMidStream, kind: llm.KindServer, is: llm.ErrStreamCut},
		{mode: geminitest.MalformedJSON, kind: llm.KindServer, is: llm.ErrMalformed},
		{mode: geminitest.Refuse, kind: llm.KindUnavailable},
		{mode: geminitest.Blocked, succeeded: true, wantAgg: llm.FinishContentFilter},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			s.SetModeN(tt.mode, 1)
			agg, _, err := chat(t, c, req)
			if tt.succeeded {
				if err != nil || agg.FinishReason != tt.wantAgg || agg.Text.Len() != 0 {
					t.Errorf("err %v finish %q text %q", err, agg.FinishReason, agg.Text.String())
				}
				return
			}
			var le *llm.Error
			if !errors.As(err, &le) || le.Kind != tt.kind || le.RetryAfter != tt.retry {
				t.Fatalf("error %v, want kind %v retry %v", err, tt.kind, tt.retry)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
	t.Run("cut before the only event", func(t *testing.T) {
		c, s := newPair(t, geminitest.Options{FunctionCall: &geminitest.FunctionCall{Name: "f"}})
		s.SetModeN(geminitest.CutMidStream, 1)
		req := &llm.ChatRequest{Model: "m", Messages: req.Messages, Tools: []llm.Tool{{Name: "f"}}}
		if _, _, err := chat(t, c, req); !errors.Is(err, llm.ErrStreamCut) {
			t.Errorf("error %v, want a cut stream", err)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		bad, err := gemini.New(gemini.Options{Endpoint: upstream.Endpoint{BaseURL: s.URL(), APIKey: "AIza-wrong"}})
		if err != nil {
			t.Fatal(err)
		}
		defer bad.CloseIdleConnections()
		if _, _, err := chat(t, bad, req); llm.KindOf(err) != llm.KindAuth {
			t.Errorf("error %v, want auth", err)
		}
		if err := bad.Ping(context.Background()); err != nil {
			t.Errorf("Ping with a wrong key = %v; any answer proves the link", err)
		}
	})
}

func TestFakeCancelAbortsUpstream(t *testing.T) {
	c, s := newPair(t, geminitest.Options{Reply: "a b c d e f g h i j", ChunkDelay: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := &llm.ChatRequest{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: text("hi")}}}
	_, err := c.Chat(ctx, req, func(*llm.Chunk) error { cancel(); return nil })
	if llm.KindOf(err) != llm.KindCanceled {
		t.Fatalf("error %v, want canceled", err)
	}
	testkit.Until(t, "the fake sees the client leave", func() bool { return s.Aborted() == 1 })
}

func TestFakeEmbedAndModels(t *testing.T) {
	c, s := newPair(t, geminitest.Options{})
	inputs := make([]string, gemini.MaxEmbedBatch+1)
	for i := range inputs {
		inputs[i] = string(rune('a' + i%26))
	}
	resp, err := c.Embed(context.Background(), &llm.EmbedRequest{Model: "gemini-embedding-001", Input: inputs, Dimensions: new(5)})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range resp.Vectors {
		if !reflect.DeepEqual(v, geminitest.Vector(inputs[i], 5)) {
			t.Fatalf("vector %d = %v", i, v)
		}
	}
	if s.EmbedRequests() != 2 {
		t.Errorf("EmbedRequests = %d, want 2 batches", s.EmbedRequests())
	}
	models, err := c.Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []llm.Model{{ID: "gemini-2.5-flash", Provider: "gemini", OwnedBy: "google"}, {ID: "gemini-embedding-001", Provider: "gemini", OwnedBy: "google"}}
	if !reflect.DeepEqual(models, want) {
		t.Errorf("models = %+v", models)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Errorf("Ping = %v", err)
	}
}
