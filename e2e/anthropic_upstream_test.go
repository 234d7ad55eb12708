package e2e

import (
	"context"
	"net/http"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/edgeway/edgeway/edge/anthropic/anthropictest"
)

// TestOpenAISDKToAnthropic: an OpenAI client served by Claude through
// edgeway: text, streaming with usage, and a streamed tool call whose
// arguments arrive as many input_json_delta fragments.
func TestOpenAISDKToAnthropic(t *testing.T) {
	text := anthropictest.NewT(t, anthropictest.Options{APIKey: "sk-e2e", Reply: "Claude says hello.", CacheReadTokens: 3})
	tools := anthropictest.NewT(t, anthropictest.Options{APIKey: "sk-e2e", ToolUse: &anthropictest.ToolUse{Name: "get_weather", Input: `{"city":"Paris","unit":"c"}`}})
	g := startEdgeway(t, providers(cloudProvider("claude", "anthropic", text.URL()), cloudProvider("ctools", "anthropic", tools.URL()))+`
models:
  chat: [claude/claude-sonnet-4-5]
  tools: [ctools/claude-sonnet-4-5]
`)
	client := newClient(g)
	ctx := context.Background()

	var hr *http.Response
	resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "chat", Messages: userMsg("hi"), MaxTokens: openai.Int(64)}, option.WithResponseInto(&hr))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "Claude says hello." || resp.Usage.TotalTokens == 0 || hr.Header.Get("x-edgeway-provider") != "claude" {
		t.Errorf("content %q usage %+v provider %q", resp.Choices[0].Message.Content, resp.Usage, hr.Header.Get("x-edgeway-provider"))
	}
	if body := string(text.LastRequest()); !contains(body, `"system"`, `"max_tokens":64`) {
		t.Errorf("upstream got %s", body)
	}

	acc, chunks := mustStreamChat(t, client, openai.ChatCompletionNewParams{
		Model: "tools", Messages: userMsg("weather in Paris?"),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		Tools:         weatherTool(weatherProps("city"), false),
	})
	checkWeatherCall(t, acc, `{"city":"Paris","unit":"c"}`)
	if acc.Usage.TotalTokens == 0 {
		t.Errorf("%d chunks, no usage: %+v", chunks, acc.Usage)
	}
}
