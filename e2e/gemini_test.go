package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/edgeway/edgeway/edge/gemini/geminitest"
)

// TestOpenAISDKToGemini: an OpenAI client served by Gemini, through
// edgeway's translation: text, streaming, tools, embeddings.
func TestOpenAISDKToGemini(t *testing.T) {
	fake := geminitest.NewT(t, geminitest.Options{APIKey: "sk-e2e", Reply: "Gemini says hello."})
	tools := geminitest.NewT(t, geminitest.Options{APIKey: "sk-e2e", FunctionCall: &geminitest.FunctionCall{Name: "get_weather", Args: json.RawMessage(`{"city":"Paris"}`)}})
	g := startEdgeway(t, `
providers:
  - name: gemini
    type: gemini
    base_url: `+fake.URL()+`
    api_key: env:E2E_CLOUD_KEY
  - name: gtools
    type: gemini
    base_url: `+tools.URL()+`
    api_key: env:E2E_CLOUD_KEY
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

	s := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model: "tools", Messages: userMsg("weather in Paris?"),
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name:       "get_weather",
			Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "additionalProperties": false},
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
	if len(calls) != 1 || calls[0].Function.Name != "get_weather" || calls[0].Function.Arguments != `{"city":"Paris"}` || acc.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("calls %+v finish %q", calls, acc.Choices[0].FinishReason)
	}

	emb, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "embed", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b", "c"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(emb.Data) != 3 || len(emb.Data[0].Embedding) == 0 {
		t.Errorf("embeddings %d", len(emb.Data))
	}
}
