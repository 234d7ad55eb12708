package e2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/edgeway/edgeway/edge/openai/openaitest"
)

// TestAnthropicSDK: the official Anthropic SDK, unmodified, against
// edgeway: served by the real Ollama (text, streaming) and by an
// OpenAI-wire cloud (tools), with errors in Anthropic's shape.
func TestAnthropicSDK(t *testing.T) {
	g, _, cloud := startLocalAndCloud(t, openaitest.Options{ToolCall: &openaitest.ToolCall{Name: "get_weather", Arguments: `{"city":"Paris","unit":"c"}`}}, `
  tiny: [ollama/%[1]s]
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
		msg, events := streamMessage(t, client, anthropic.MessageNewParams{Model: "tiny", MaxTokens: 16, Messages: userText("Say hello")})
		if events < 5 || len(msg.Content) == 0 || msg.Content[0].Text == "" || msg.Usage.OutputTokens == 0 {
			t.Errorf("%d events, message %+v", events, msg)
		}
	})

	t.Run("tools stream from an OpenAI-wire cloud", func(t *testing.T) {
		msg, _ := streamMessage(t, client, anthropic.MessageNewParams{
			Model: "tools", MaxTokens: 256, Messages: userText("Weather in Paris?"), Tools: anthropicWeatherTool(weatherProps("city")),
		})
		if weatherInput(msg) != `{"city":"Paris","unit":"c"}` || msg.StopReason != "tool_use" {
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
