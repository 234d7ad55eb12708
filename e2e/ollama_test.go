package e2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/edgeway/edgeway/edge/openai/openaitest"
)

// TestRealOllama: openai-go -> edgeway -> the real Ollama with the tiny
// generated model, streaming and not, embeddings; then Ollama dies and the
// same alias is served by the (fake) cloud.
func TestRealOllama(t *testing.T) {
	g, inst, cloud := startLocalAndCloud(t, openaitest.Options{Reply: "cloud took over"}, `
  chat: [cloud/gpt-4o-mini, ollama/%[1]s]
  embed: [ollama/%[1]s]
`)
	client := newClient(g)
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{Model: "chat", Messages: userMsg("Say hello"), MaxTokens: openai.Int(16), Temperature: openai.Float(0)}

	t.Run("chat served locally first", func(t *testing.T) {
		var hr *http.Response
		resp, err := client.Chat.Completions.New(ctx, params, option.WithResponseInto(&hr))
		if err != nil {
			t.Fatal(err)
		}
		// The alias lists cloud first; local runtimes still go first.
		if hr.Header.Get("x-edgeway-provider") != "ollama" {
			t.Errorf("served by %q, want ollama", hr.Header.Get("x-edgeway-provider"))
		}
		if resp.Choices[0].Message.Content == "" || resp.Usage.CompletionTokens == 0 || resp.Usage.PromptTokens == 0 {
			t.Errorf("content %q usage %+v", resp.Choices[0].Message.Content, resp.Usage)
		}
		if n := cloud.Requests(); n != 0 {
			t.Errorf("cloud got %d requests", n)
		}
	})

	t.Run("stream", func(t *testing.T) {
		p := params
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		acc, chunks := mustStreamChat(t, client, p)
		if chunks < 2 || acc.Choices[0].Message.Content == "" || acc.Usage.CompletionTokens == 0 {
			t.Errorf("chunks %d content %q usage %+v", chunks, acc.Choices[0].Message.Content, acc.Usage)
		}
		if fr := acc.Choices[0].FinishReason; fr != "stop" && fr != "length" {
			t.Errorf("finish reason %q", fr)
		}
	})

	t.Run("embeddings", func(t *testing.T) {
		checkEmbeddings(t, client, "embed", "the cat sat", "on the mat")
	})

	t.Run("ollama stops: cloud takes over", func(t *testing.T) {
		inst.Stop()
		// no-cache: the first answer's (asynchronous) cache write must not
		// race the second request into a hit; both must reach the cloud.
		nc := openai.NewClient(option.WithBaseURL(g.URL+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0),
			option.WithHeader("Cache-Control", "no-cache"))
		for _, stream := range []bool{false, true} {
			start := time.Now()
			content, hr, err := answer(nc, params, stream)
			if err != nil {
				t.Fatal(err)
			}
			if content != "cloud took over" || hr.Header.Get("x-edgeway-provider") != "cloud" {
				t.Errorf("stream=%v: content %q provider %q", stream, content, hr.Header.Get("x-edgeway-provider"))
			}
			t.Logf("stream=%v failover answered in %v (x-edgeway-failover %s)", stream, time.Since(start), hr.Header.Get("x-edgeway-failover"))
		}
	})
}

// TestOffline: the local runtime is down and the cloud is unreachable; the
// client gets a fast 503 that says so, not a connect timeout.
func TestOffline(t *testing.T) {
	g := startEdgeway(t, providers(ollamaProvider(closedURL(t, "")), cloudProvider("cloud", "openai", closedURL(t, "/v1")))+`
models:
  chat: [ollama/tiny, cloud/gpt-4o-mini]
`)
	client := newClient(g)
	for i := 0; i < 3; i++ {
		start := time.Now()
		_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "chat", Messages: userMsg("hi")})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 {
			t.Fatalf("got %v", err)
		}
		if !strings.Contains(apiErr.Message, "ollama/tiny") || !strings.Contains(apiErr.Message, "cloud/gpt-4o-mini") {
			t.Errorf("message does not say what was tried: %q", apiErr.Message)
		}
		t.Logf("request %d: %v: %s", i, time.Since(start), apiErr.Message)
	}
}
