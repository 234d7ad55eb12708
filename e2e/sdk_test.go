package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/edgeway/edgeway/edge/openai/openaitest"
	"github.com/edgeway/edgeway/runtime/ollama/ollamatest"
)

// ollamaProvider is the YAML entry for a local Ollama at url; one thread
// keeps the tiny model from taking the cores the rest of the suite shares.
func ollamaProvider(url string) string {
	return "  - name: ollama\n    type: ollama\n    base_url: " + url + "\n    options: {num_thread: 1}\n"
}

// cloudProvider is the YAML entry for a cloud provider keyed by the
// E2E_CLOUD_KEY that startEdgeway puts in the gateway's environment.
func cloudProvider(name, typ, url string) string {
	return "  - name: " + name + "\n    type: " + typ + "\n    base_url: " + url + "\n    api_key: env:E2E_CLOUD_KEY\n"
}

// startLocalAndCloud starts the real Ollama with the tiny model, a fake
// OpenAI cloud keyed sk-e2e with cloudOpt, and edgeway in front of both as
// providers "ollama" and "cloud" with the models section models, in which
// %[1]s stands for the tiny model's name. It skips when Ollama is missing.
func startLocalAndCloud(t *testing.T, cloudOpt openaitest.Options, models string) (*gateway, *ollamatest.Instance, *openaitest.Server) {
	t.Helper()
	ollamatest.Require(t)
	inst := ollamatest.Start(t)
	cloudOpt.APIKey = "sk-e2e"
	cloud := openaitest.NewT(t, cloudOpt)
	g := startEdgeway(t, providers(ollamaProvider(inst.URL), cloudProvider("cloud", "openai", cloud.URL()))+"models:"+fmt.Sprintf(models, inst.Model))
	return g, inst, cloud
}

// providers is the config's providers section; the caller appends models.
func providers(entries ...string) string {
	return "providers:\n" + strings.Join(entries, "")
}

func newClient(g *gateway) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(g.URL+"/v1/"),
		option.WithAPIKey("unused"),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(30*time.Second),
	)
}

func newAnthropic(g *gateway) anthropic.Client {
	return anthropic.NewClient(
		aoption.WithBaseURL(g.URL),
		aoption.WithAPIKey("unused"),
		aoption.WithMaxRetries(0),
		aoption.WithRequestTimeout(30*time.Second),
	)
}

func userMsg(s string) []openai.ChatCompletionMessageParamUnion {
	return []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage(s)}
}

func userText(s string) []anthropic.MessageParam {
	return []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(s))}
}

// weatherProps is the properties of get_weather's schema: each named one a
// string.
func weatherProps(names ...string) map[string]any {
	props := make(map[string]any, len(names))
	for _, n := range names {
		props[n] = map[string]any{"type": "string"}
	}
	return props
}

// weatherTool offers get_weather to an OpenAI client. closed adds
// additionalProperties: false, which strict OpenAI schemas carry and
// Gemini's schema dialect does not take, so a translation must drop it.
func weatherTool(props map[string]any, closed bool) []openai.ChatCompletionToolUnionParam {
	schema := shared.FunctionParameters{"type": "object", "properties": props}
	if closed {
		schema["additionalProperties"] = false
	}
	return []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:       "get_weather",
		Parameters: schema,
	})}
}

// anthropicWeatherTool offers get_weather to an Anthropic client.
func anthropicWeatherTool(props map[string]any) []anthropic.ToolUnionParam {
	return []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{
		Name:        "get_weather",
		InputSchema: anthropic.ToolInputSchemaParam{Properties: props},
	}}}
}

// streamChat reads a streamed chat completion to its end and returns what
// the SDK accumulated and how many chunks carried it; the error is the
// stream's, for tests that expect one.
func streamChat(c openai.Client, p openai.ChatCompletionNewParams, opts ...option.RequestOption) (openai.ChatCompletionAccumulator, int, error) {
	s := c.Chat.Completions.NewStreaming(context.Background(), p, opts...)
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for s.Next() {
		acc.AddChunk(s.Current())
		chunks++
	}
	return acc, chunks, s.Err()
}

// mustStreamChat is streamChat for tests in which the stream must not fail.
func mustStreamChat(t *testing.T, c openai.Client, p openai.ChatCompletionNewParams) (openai.ChatCompletionAccumulator, int) {
	t.Helper()
	acc, chunks, err := streamChat(c, p)
	if err != nil {
		t.Fatal(err)
	}
	return acc, chunks
}

// answer asks once, streamed or whole, and returns the text with the
// response whose headers say who served it.
func answer(c openai.Client, p openai.ChatCompletionNewParams, stream bool) (string, *http.Response, error) {
	var hr *http.Response
	if stream {
		acc, _, err := streamChat(c, p, option.WithResponseInto(&hr))
		if err != nil {
			return "", hr, err
		}
		return acc.Choices[0].Message.Content, hr, nil
	}
	resp, err := c.Chat.Completions.New(context.Background(), p, option.WithResponseInto(&hr))
	if err != nil {
		return "", hr, err
	}
	return resp.Choices[0].Message.Content, hr, nil
}

// checkWeatherCall fails t unless the stream carried exactly one
// get_weather call with args and finished for it.
func checkWeatherCall(t *testing.T, acc openai.ChatCompletionAccumulator, args string) {
	t.Helper()
	calls := acc.Choices[0].Message.ToolCalls
	if len(calls) != 1 || calls[0].Function.Name != "get_weather" || calls[0].Function.Arguments != args || acc.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("calls %+v finish %q", calls, acc.Choices[0].FinishReason)
	}
}

// checkEmbeddings embeds inputs with model and fails t unless each got a
// vector, all of one length.
func checkEmbeddings(t *testing.T, c openai.Client, model string, inputs ...string) {
	t.Helper()
	resp, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: model,
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != len(inputs) || len(resp.Data[0].Embedding) == 0 {
		t.Fatalf("got %d vectors for %d inputs", len(resp.Data), len(inputs))
	}
	for _, d := range resp.Data {
		if len(d.Embedding) != len(resp.Data[0].Embedding) {
			t.Errorf("vector lengths differ: %d and %d", len(d.Embedding), len(resp.Data[0].Embedding))
		}
	}
}

// streamMessage reads a streamed Anthropic message to its end and returns
// it with the number of events that built it.
func streamMessage(t *testing.T, c anthropic.Client, p anthropic.MessageNewParams) (anthropic.Message, int) {
	t.Helper()
	s := c.Messages.NewStreaming(context.Background(), p)
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
	return msg, events
}

// weatherInput is the input of the message's get_weather call without
// spaces (the SDK re-indents it), or "" when there is none.
func weatherInput(msg anthropic.Message) string {
	for _, b := range msg.Content {
		if b.Type == "tool_use" && b.Name == "get_weather" {
			return strings.ReplaceAll(string(b.Input), " ", "")
		}
	}
	return ""
}
