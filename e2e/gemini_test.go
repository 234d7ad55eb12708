package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/edgeway/edgeway/edge/gemini/geminitest"
)

// TestOpenAISDKToGemini: an OpenAI client served by Gemini, through
// edgeway's translation: text, streaming, tools, embeddings.
func TestOpenAISDKToGemini(t *testing.T) {
	fake := geminitest.NewT(t, geminitest.Options{APIKey: "sk-e2e", Reply: "Gemini says hello."})
	tools := geminitest.NewT(t, geminitest.Options{APIKey: "sk-e2e", FunctionCall: &geminitest.FunctionCall{Name: "get_weather", Args: json.RawMessage(`{"city":"Paris"}`)}})
	g := startEdgeway(t, providers(cloudProvider("gemini", "gemini", fake.URL()), cloudProvider("gtools", "gemini", tools.URL()))+`
models:
  chat: [gemini/gemini-2.5-flash]
  tools: [gtools/gemini-2.5-flash]
  embed: [gemini/gemini-embedding-001]
`)
	client := newClient(g)
	ctx := context.Background()

	var hr *http.Response
	resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "chat", Messages: userMsg("hi")}, option.WithResponseInto(&hr))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "Gemini says hello." || resp.Usage.TotalTokens == 0 || hr.Header.Get("x-edgeway-provider") != "gemini" {
		t.Errorf("content %q usage %+v provider %q", resp.Choices[0].Message.Content, resp.Usage, hr.Header.Get("x-edgeway-provider"))
	}

	acc, _ := mustStreamChat(t, client, openai.ChatCompletionNewParams{
		Model: "tools", Messages: userMsg("weather in Paris?"), Tools: weatherTool(weatherProps("city"), true),
	})
	checkWeatherCall(t, acc, `{"city":"Paris"}`)

	checkEmbeddings(t, client, "embed", "a", "b", "c")
}
