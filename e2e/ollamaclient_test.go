package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ollama/ollama/api"

	"github.com/edgeway/edgeway/edge/openai/openaitest"
)

// TestOllamaClient: an app written against Ollama (its official Go client)
// points at edgeway instead, and gains cloud failover.
func TestOllamaClient(t *testing.T) {
	g, inst, _ := startLocalAndCloud(t, openaitest.Options{Reply: "cloud answers in Ollama's dialect"}, `
  tiny: [ollama/%[1]s, cloud/gpt-4o-mini]
`)
	u, _ := url.Parse(g.URL)
	client := api.NewClient(u, http.DefaultClient)
	ctx := context.Background()
	opts := map[string]any{"num_predict": 16, "temperature": 0}

	t.Run("chat stream", func(t *testing.T) {
		var text strings.Builder
		var last api.ChatResponse
		n := 0
		err := client.Chat(ctx, &api.ChatRequest{Model: "tiny", Messages: []api.Message{{Role: "user", Content: "Say hello"}}, Options: opts},
			func(r api.ChatResponse) error {
				text.WriteString(r.Message.Content)
				last = r
				n++
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		if n < 2 || !last.Done || last.EvalCount == 0 || last.PromptEvalCount == 0 || text.Len() == 0 {
			t.Errorf("%d responses, text %q, last %+v", n, text.String(), last)
		}
	})

	t.Run("generate whole", func(t *testing.T) {
		stream := false
		var got []api.GenerateResponse
		err := client.Generate(ctx, &api.GenerateRequest{Model: "tiny", Prompt: "Say hello", Stream: &stream, Options: opts},
			func(r api.GenerateResponse) error { got = append(got, r); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !got[0].Done || got[0].Response == "" || got[0].DoneReason == "" {
			t.Errorf("got %+v", got)
		}
	})

	t.Run("embed", func(t *testing.T) {
		resp, err := client.Embed(ctx, &api.EmbedRequest{Model: "tiny", Input: []string{"a cat", "a dog"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Embeddings) != 2 || len(resp.Embeddings[0]) == 0 {
			t.Errorf("got %d embeddings", len(resp.Embeddings))
		}
	})

	t.Run("list and version", func(t *testing.T) {
		list, err := client.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range list.Models {
			names = append(names, m.Name)
		}
		if s := strings.Join(names, " "); !strings.Contains(s, "tiny") {
			t.Errorf("models %v", names)
		}
		if v, err := client.Version(ctx); err != nil || v == "" {
			t.Errorf("version %q %v", v, err)
		}
	})

	t.Run("unknown model is an Ollama error", func(t *testing.T) {
		err := client.Chat(ctx, &api.ChatRequest{Model: "nope", Messages: []api.Message{{Role: "user", Content: "hi"}}}, func(api.ChatResponse) error { return nil })
		se, ok := err.(api.StatusError)
		if !ok || se.StatusCode != 404 || !strings.Contains(se.ErrorMessage, "nope") {
			t.Fatalf("got %#v", err)
		}
	})

	t.Run("ollama stops: cloud answers in Ollama's dialect", func(t *testing.T) {
		inst.Stop()
		var text strings.Builder
		var last api.ChatResponse
		err := client.Chat(ctx, &api.ChatRequest{Model: "tiny", Messages: []api.Message{{Role: "user", Content: "Say hello"}}},
			func(r api.ChatResponse) error {
				text.WriteString(r.Message.Content)
				last = r
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		if text.String() != "cloud answers in Ollama's dialect" || !last.Done {
			t.Errorf("text %q last %+v", text.String(), last)
		}
	})
}
