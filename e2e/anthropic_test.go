package e2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/edgeway/edgeway/edge/openai/openaitest"
	"github.com/edgeway/edgeway/runtime/ollama/ollamatest"
)

func newAnthropic(g *gateway) anthropic.Client {
	return anthropic.NewClient(
		option.WithBaseURL(g.URL),
		option.WithAPIKey("unused"),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(30*time.Second),
	)
}

func userText(s string) []anthropic.MessageParam {
	return []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(s))}
}

// TestAnthropicSDK: the official Anthropic SDK, unmodified, against
// edgeway: served by the real Ollama (text, streaming) and by an
// OpenAI-wire cloud (tools), with errors in Anthropic's shape.
func TestAnthropicSDK(t *testing.T) {
	ollamatest.Require(t)
	inst := ollamatest.Start(t)
	cloud := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", ToolCall: &openaitest.ToolCall{Name: "get_weather", Arguments: `{"city":"Paris","unit":"c"}`}})
	g := startEdgeway(t, `
providers:
  - name: ollama
    type: ollama
    base_url: `+inst.URL+`
    options: {num_thread: 1}
  - name: cloud
    type: openai
    base_url: `+cloud.URL()+`
    api_key: env:E2E_CLOUD_KEY
models:
  tiny: [ollama/`+inst.Model+`]
  tools: [cloud/gpt-4o-mini]
`)
	client := newAnthropic(g)
	ctx := context.Background()

	t.Run("message from real Ollama", func(t *testing.T) {
		var hr *http.Response
		msg, err := client.Messages.New(ctx, anthropic.MessageNewParams{
			Model: "tiny", MaxTokens: 16, Messages: userText("Say hello"),
			System: []anthropic.TextBlockParam{{Text: "Be brief."}},
		}, option.WithResponseInto(&hr))
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) == 0 || msg.Content[0].Text == "" || msg.Usage.OutputTokens == 0 || msg.Usage.InputTokens == 0 {
			t.Errorf("message %+v", msg)
		}
		if msg.StopReason != "end_turn" && msg.StopReason != "max_tokens" {
			t.Errorf("stop reason %q", msg.StopReason)
		}
		if hr.Header.Get("x-edgeway-provider") != "ollama" || hr.Header.Get("request-id") == "" {
			t.Errorf("headers %v", hr.Header)
		}
	})

	t.Run("stream from real Ollama", func(t *testing.T) {
		s := client.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "tiny", MaxTokens: 16, Messages: userText("Say hello")})
		var msg anthropic.Message
		events := 0
		for s.Next() {
			if err := msg.Accumulate(s.Current()); err != nil {
				t.Fatal(err)
			}
			events++
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if events < 5 || len(msg.Content) == 0 || msg.Content[0].Text == "" || msg.Usage.OutputTokens == 0 {
			t.Errorf("%d events, message %+v", events, msg)
		}
	})

	t.Run("tools stream from an OpenAI-wire cloud", func(t *testing.T) {
		s := client.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
			Model: "tools", MaxTokens: 256, Messages: userText("Weather in Paris?"),
			Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{
				Name:        "get_weather",
				InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}},
			}}},
		})
		var msg anthropic.Message
		for s.Next() {
			if err := msg.Accumulate(s.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, b := range msg.Content {
			if b.Type == "tool_use" && b.Name == "get_weather" && strings.ReplaceAll(string(b.Input), " ", "") == `{"city":"Paris","unit":"c"}` {
				found = true
			}
		}
		if !found || msg.StopReason != "tool_use" {
			t.Errorf("content %+v stop %q", msg.Content, msg.StopReason)
		}
		if body := string(cloud.LastRequest()); !contains(body, `"tools"`, `"get_weather"`, `"max_tokens":256`) {
			t.Errorf("upstream got %s", body)
		}
	})

	t.Run("count tokens", func(t *testing.T) {
		n, err := client.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: "tiny", Messages: userText("How many tokens is this?")})
		if err != nil || n.InputTokens <= 0 {
			t.Fatalf("%+v %v", n, err)
		}
	})

	t.Run("errors in Anthropic's shape", func(t *testing.T) {
		_, err := client.Messages.New(ctx, anthropic.MessageNewParams{Model: "nope/x", MaxTokens: 16, Messages: userText("hi")})
		var ae *anthropic.Error
		if !errors.As(err, &ae) || ae.StatusCode != 404 || !strings.Contains(err.Error(), "not_found_error") {
			t.Fatalf("unknown model: %v", err)
		}
		_, err = client.Messages.New(ctx, anthropic.MessageNewParams{Model: "tiny", MaxTokens: 0, Messages: userText("hi")})
		if !errors.As(err, &ae) || ae.StatusCode != 400 || !strings.Contains(err.Error(), "max_tokens") {
			t.Fatalf("max_tokens 0: %v", err)
		}
	})
}
