package e2e

import (
	"encoding/json"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"

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
	g := startEdgeway(t, providers(cloudProvider("oa", "openai", oa.URL()), cloudProvider("an", "anthropic", an.URL()), cloudProvider("ge", "gemini", ge.URL()))+`
models:
  via-openai: [oa/gpt-4o-mini]
  via-anthropic: [an/claude-haiku-4-5]
  via-gemini: [ge/gemini-2.5-flash]
`)
	oc, ac := newClient(g), newAnthropic(g)
	for _, model := range []string{"via-openai", "via-anthropic", "via-gemini"} {
		t.Run("openai-go/"+model, func(t *testing.T) {
			acc, _ := mustStreamChat(t, oc, openai.ChatCompletionNewParams{
				Model: model, Messages: userMsg("Weather in Paris?"), Tools: weatherTool(weatherProps("city", "unit"), false),
			})
			checkWeatherCall(t, acc, args)
		})
		t.Run("anthropic-sdk-go/"+model, func(t *testing.T) {
			msg, _ := streamMessage(t, ac, anthropic.MessageNewParams{
				Model: model, MaxTokens: 256, Messages: userText("Weather in Paris?"), Tools: anthropicWeatherTool(weatherProps("city", "unit")),
			})
			if got := weatherInput(msg); got != args || msg.StopReason != "tool_use" {
				t.Errorf("tool input %q stop %q content %+v", got, msg.StopReason, msg.Content)
			}
		})
	}
}
