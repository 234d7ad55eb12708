package e2e

import (
	"context"
	"net/http"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/edgeway/edgeway/edge/anthropic/anthropictest"
)

// TestOpenAISDKToAnthropic: an OpenAI client served by Claude through
// edgeway: text, streaming with usage, and a streamed tool call whose
// arguments arrive as many input_json_delta fragments.
func TestOpenAISDKToAnthropic(t *testing.T) {
	text := anthropictest.NewT(t, anthropictest.Options{APIKey: "sk-e2e", Reply: "Claude says hello.", CacheReadTokens: 3})
	tools := anthropictest.NewT(t, anthropictest.Options{APIKey: "sk-e2e", ToolUse: &anthropictest.ToolUse{Name: "get_weather", Input: `{"city":"Paris","unit":"c"}`}})
	g := startEdgeway(t, `
providers:
  - name: claude
    type: anthropic
    base_url: `+text.URL()+`
    api_key: env:E2E_CLOUD_KEY
  - name: ctools
    type: anthropic
    base_url: `+tools.URL()+`
    api_key: env:E2E_CLOUD_KEY
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

	s := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model: "tools", Messages: userMsg("weather in Paris?"),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name:       "get_weather",
			Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
		})},
	})
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for s.Next() {
		acc.AddChunk(s.Current())
		chunks++
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	calls := acc.Choices[0].Message.ToolCalls
	if len(calls) != 1 || calls[0].Function.Name != "get_weather" || calls[0].Function.Arguments != `{"city":"Paris","unit":"c"}` || acc.Choices[0].FinishReason != "tool_calls" || acc.Usage.TotalTokens == 0 {
		t.Errorf("%d chunks, calls %+v finish %q usage %+v", chunks, calls, acc.Choices[0].FinishReason, acc.Usage)
	}
}
