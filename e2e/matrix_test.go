package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/edgeway/edgeway/edge/anthropic/anthropictest"
	"github.com/edgeway/edgeway/edge/gemini/geminitest"
	"github.com/edgeway/edgeway/edge/openai/openaitest"
)

// TestSDKProviderMatrix: each official SDK, unmodified, streams a tool
// call from each cloud provider behind edgeway (the real Ollama is behind
// them in the other e2e tests).
func TestSDKProviderMatrix(t *testing.T) {
	const args = `{"city":"Paris","unit":"c"}`
	oa := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", ToolCall: &openaitest.ToolCall{Name: "get_weather", Arguments: args}})
	an := anthropictest.NewT(t, anthropictest.Options{APIKey: "sk-e2e", ToolUse: &anthropictest.ToolUse{Name: "get_weather", Input: args}})
	ge := geminitest.NewT(t, geminitest.Options{APIKey: "sk-e2e", FunctionCall: &geminitest.FunctionCall{Name: "get_weather", Args: json.RawMessage(args)}})
	g := startEdgeway(t, `
providers:
  - {name: oa, type: openai, base_url: "`+oa.URL()+`", api_key: "env:E2E_CLOUD_KEY"}
  - {name: an, type: anthropic, base_url: "`+an.URL()+`", api_key: "env:E2E_CLOUD_KEY"}
  - {name: ge, type: gemini, base_url: "`+ge.URL()+`", api_key: "env:E2E_CLOUD_KEY"}
models:
  via-openai: [oa/gpt-4o-mini]
  via-anthropic: [an/claude-haiku-4-5]
  via-gemini: [ge/gemini-2.5-flash]
`)
	oc, ac := newClient(g), newAnthropic(g)
	ctx := context.Background()
	for _, model := range []string{"via-openai", "via-anthropic", "via-gemini"} {
		t.Run("openai-go/"+model, func(t *testing.T) {
			s := oc.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
				Model: model, Messages: userMsg("Weather in Paris?"),
				Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
					Name:       "get_weather",
					Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}, "unit": map[string]any{"type": "string"}}},
				})},
			})
			var acc openai.ChatCompletionAccumulator
			for s.Next() {
				acc.AddChunk(s.Current())
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			calls := acc.Choices[0].Message.ToolCalls
			if len(calls) != 1 || calls[0].Function.Name != "get_weather" || calls[0].Function.Arguments != args || acc.Choices[0].FinishReason != "tool_calls" {
				t.Errorf("calls %+v finish %q", calls, acc.Choices[0].FinishReason)
			}
		})
		t.Run("anthropic-sdk-go/"+model, func(t *testing.T) {
			s := ac.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
				Model: model, MaxTokens: 256, Messages: userText("Weather in Paris?"),
				Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{
					Name:        "get_weather",
					InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}, "unit": map[string]any{"type": "string"}}},
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
			var got string
			for _, b := range msg.Content {
				if b.Type == "tool_use" && b.Name == "get_weather" {
					got = strings.ReplaceAll(string(b.Input), " ", "")
				}
			}
			if got != args || msg.StopReason != "tool_use" {
				t.Errorf("tool input %q stop %q content %+v", got, msg.StopReason, msg.Content)
			}
		})
	}
}
