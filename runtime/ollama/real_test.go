package ollama_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/runtime/ollama"
	"github.com/edgeway/edgeway/runtime/ollama/ollamatest"
)

// These tests run the real Ollama (see package ollamatest) with the tiny
// generated model: they skip without the binary, and fail without it under
// EDGEWAY_REQUIRE_OLLAMA=1.

func newReal(t *testing.T, inst *ollamatest.Instance) *ollama.Provider {
	t.Helper()
	p, err := ollama.New(ollama.Options{BaseURL: inst.URL, Options: map[string]any{"num_thread": 1}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func realChat(model, text string, maxTokens int) *llm.ChatRequest {
	return &llm.ChatRequest{
		Model: model,
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: []llm.Part{{Type: llm.PartText, Text: "You are terse."}}},
			{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: text}}},
		},
		MaxTokens: &maxTokens,
	}
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestReal(t *testing.T) {
	inst := ollamatest.Start(t)
	p := newReal(t, inst)

	var streamed string
	t.Run("chat stream", func(t *testing.T) {
		var chunks, withText int
		var a llm.Aggregate
		start := time.Now()
		usage, err := p.Chat(testCtx(t), realChat(inst.Model, "Tell me about the river.", 16), func(c *llm.Chunk) error {
			if chunks == 0 && c.Role != llm.RoleAssistant {
				t.Errorf("first chunk role = %q", c.Role)
			}
			chunks++
			if c.Text != "" {
				withText++
			}
			a.Add(c)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d chunks in %v: %q, finish %s, usage %+v", chunks, time.Since(start), a.Text.String(), a.FinishReason, usage)
		if withText < 1 {
			t.Errorf("no chunk carried text")
		}
		if a.FinishReason != llm.FinishStop && a.FinishReason != llm.FinishLength {
			t.Errorf("finish reason = %q", a.FinishReason)
		}
		if usage.PromptTokens <= 0 || usage.CompletionTokens <= 0 || usage.TotalTokens != usage.PromptTokens+usage.CompletionTokens {
			t.Errorf("usage = %+v", usage)
		}
		if !a.HasUsage || a.Usage != usage {
			t.Errorf("usage in the stream %+v, returned %+v", a.Usage, usage)
		}
		streamed = a.Text.String()
	})

	t.Run("chat aggregate", func(t *testing.T) {
		// A client that does not stream is served by aggregating; with
		// temperature 0 and a fixed seed the answer repeats exactly.
		req := realChat(inst.Model, "Tell me about the river.", 16)
		req.Stream = false
		var a llm.Aggregate
		usage, err := p.Chat(testCtx(t), req, func(c *llm.Chunk) error { a.Add(c); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if a.Text.Len() == 0 || a.Role != llm.RoleAssistant || a.FinishReason == "" || usage.CompletionTokens <= 0 {
			t.Errorf("aggregate: role %q text %q finish %q usage %+v", a.Role, a.Text.String(), a.FinishReason, usage)
		}
		if streamed != "" && a.Text.String() != streamed {
			t.Errorf("same request answered %q, then %q", streamed, a.Text.String())
		}
	})

	t.Run("max tokens", func(t *testing.T) {
		var a llm.Aggregate
		usage, err := p.Chat(testCtx(t), realChat(inst.Model, "Go on and on.", 3), func(c *llm.Chunk) error { a.Add(c); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if a.FinishReason == llm.FinishLength && usage.CompletionTokens != 3 {
			t.Errorf("stopped for length after %d tokens, want 3", usage.CompletionTokens)
		}
		if usage.CompletionTokens > 3 {
			t.Errorf("%d tokens generated, max 3", usage.CompletionTokens)
		}
	})

	t.Run("tools accepted", func(t *testing.T) {
		req := realChat(inst.Model, "What is the weather?", 4)
		req.Tools = []llm.Tool{{Name: "weather", Description: "Weather for a city", Parameters: []byte(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}}
		if _, err := p.Chat(testCtx(t), req, func(*llm.Chunk) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("embed batch", func(t *testing.T) {
		resp, err := p.Embed(testCtx(t), &llm.EmbedRequest{Model: inst.Model, Input: []string{"the quiet river", "a green garden"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Vectors) != 2 || len(resp.Vectors[0]) == 0 || len(resp.Vectors[0]) != len(resp.Vectors[1]) {
			t.Fatalf("got %d vectors of lengths %v", len(resp.Vectors), vectorLens(resp.Vectors))
		}
		if resp.Usage.PromptTokens <= 0 {
			t.Errorf("usage = %+v", resp.Usage)
		}
		t.Logf("dimension %d, usage %+v", len(resp.Vectors[0]), resp.Usage)
	})

	t.Run("embed only model", func(t *testing.T) {
		resp, err := p.Embed(testCtx(t), &llm.EmbedRequest{Model: inst.EmbedOnlyModel, Input: []string{"hello"}})
		if err != nil || len(resp.Vectors) != 1 {
			t.Fatalf("embed: %v", err)
		}
		_, err = p.Chat(testCtx(t), realChat(inst.EmbedOnlyModel, "hi", 4), func(*llm.Chunk) error { return nil })
		wantKind(t, err, llm.KindUnsupported, 400)
	})

	t.Run("models", func(t *testing.T) {
		models, err := p.Models(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, m := range models {
			found = found || m.ID == inst.Model+":latest"
			if m.Provider != "ollama" || m.OwnedBy != "library" || m.Created.IsZero() {
				t.Errorf("model %+v", m)
			}
		}
		if !found {
			t.Errorf("models %+v lack %s", models, inst.Model)
		}
	})

	t.Run("ping", func(t *testing.T) {
		if err := p.Ping(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("unknown model", func(t *testing.T) {
		_, err := p.Chat(testCtx(t), realChat("no-such-model", "hi", 4), func(*llm.Chunk) error { return nil })
		wantKind(t, err, llm.KindNotFound, 404)
		_, err = p.Embed(testCtx(t), &llm.EmbedRequest{Model: "no-such-model", Input: []string{"x"}})
		wantKind(t, err, llm.KindNotFound, 404)
	})

	t.Run("long prompt", func(t *testing.T) {
		// num_ctx is 512 and every word of the prompt is at least one
		// token. Ollama truncates chat history to fit by default; should it
		// refuse instead, the refusal must read as a context-length error
		// so the router can fail over to a larger context.
		_, err := p.Chat(testCtx(t), realChat(inst.Model, strings.Repeat("the river ", 600), 4), func(*llm.Chunk) error { return nil })
		if err != nil {
			wantKind(t, err, llm.KindContextLength, 0)
		}
	})
}

// Aborting a stream gets an instance of its own: Ollama 0.17.4 can wedge
// the model's only slot when a client leaves mid-stream (ollama#17131), so
// no request may follow an abort on the same server in a test.

func TestRealCancel(t *testing.T) {
	inst := ollamatest.Start(t)
	p := newReal(t, inst)
	ctx, cancel := context.WithCancel(testCtx(t))
	var chunks int
	start := time.Now()
	_, err := p.Chat(ctx, realChat(inst.Model, "Tell me a long story.", 400), func(c *llm.Chunk) error {
		if chunks++; chunks == 2 {
			cancel()
		}
		return nil
	})
	wantKind(t, err, llm.KindCanceled, 0)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %v", d)
	}
}

func TestRealEmitError(t *testing.T) {
	inst := ollamatest.Start(t)
	p := newReal(t, inst)
	stop := errors.New("stop")
	_, err := p.Chat(testCtx(t), realChat(inst.Model, "hi", 50), func(*llm.Chunk) error { return stop })
	if err != stop {
		t.Fatalf("err = %v, want the emit error", err)
	}
}

func TestRealStopped(t *testing.T) {
	inst := ollamatest.Start(t)
	p := newReal(t, inst)
	if err := p.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	inst.Stop()

	start := time.Now()
	_, err := p.Chat(testCtx(t), realChat(inst.Model, "hi", 4), func(*llm.Chunk) error { return nil })
	wantKind(t, err, llm.KindUnavailable, 0)
	wantKind(t, p.Ping(testCtx(t)), llm.KindUnavailable, 0)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("noticing the dead runtime took %v", d)
	}
}

func wantKind(t *testing.T, err error, kind llm.Kind, status int) {
	t.Helper()
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *llm.Error of kind %v", err, err, kind)
	}
	if e.Kind != kind || (status != 0 && e.Status != status) {
		t.Fatalf("err = %v: kind %v status %d, want %v %d", err, e.Kind, e.Status, kind, status)
	}
}

func vectorLens(v [][]float32) []int {
	n := make([]int, len(v))
	for i := range v {
		n[i] = len(v[i])
	}
	return n
}
