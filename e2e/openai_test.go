package e2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/edgeway/edgeway/edge/openai/openaitest"
)

func cloudConfig(fakeURL string) string {
	return providers(cloudProvider("cloud", "openai", fakeURL)) + `models:
  chat: [cloud/gpt-4o-mini]
  embed: [cloud/text-embedding-3-small]
`
}

// TestSDKAgainstFakeCloud drives every OpenAI endpoint through edgeway to
// a fake OpenAI upstream with the official SDK.
func TestSDKAgainstFakeCloud(t *testing.T) {
	fake := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", Reply: "Hello from the fake cloud."})
	g := startEdgeway(t, cloudConfig(fake.URL()))
	client := newClient(g)
	ctx := context.Background()

	t.Run("chat", func(t *testing.T) {
		var hr *http.Response
		resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:       "chat",
			Messages:    userMsg("hi"),
			Temperature: openai.Float(0),
			Seed:        openai.Int(7),
		}, option.WithResponseInto(&hr))
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content; got != "Hello from the fake cloud." {
			t.Errorf("content %q", got)
		}
		if resp.Usage.TotalTokens == 0 || resp.Choices[0].FinishReason != "stop" {
			t.Errorf("usage %+v finish %q", resp.Usage, resp.Choices[0].FinishReason)
		}
		if hr.Header.Get("x-edgeway-provider") != "cloud" || hr.Header.Get("x-request-id") == "" {
			t.Errorf("headers %v", hr.Header)
		}
		if body := string(fake.LastRequest()); !contains(body, `"model":"gpt-4o-mini"`, `"seed":7`, `"temperature":0`) {
			t.Errorf("upstream got %s", body)
		}
	})

	t.Run("stream", func(t *testing.T) {
		acc, chunks := mustStreamChat(t, client, openai.ChatCompletionNewParams{
			Model:         "chat",
			Messages:      userMsg("hi"),
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		if chunks < 3 || acc.Choices[0].Message.Content != "Hello from the fake cloud." || acc.Usage.TotalTokens == 0 {
			t.Errorf("chunks %d content %q usage %+v", chunks, acc.Choices[0].Message.Content, acc.Usage)
		}
	})

	t.Run("tools stream", func(t *testing.T) {
		fake2 := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", ToolCall: &openaitest.ToolCall{Name: "get_weather", Arguments: `{"city":"Paris","unit":"c"}`}})
		g2 := startEdgeway(t, cloudConfig(fake2.URL()))
		c2 := newClient(g2)
		params := openai.ChatCompletionNewParams{Model: "chat", Messages: userMsg("weather in Paris?"), Tools: weatherTool(weatherProps("city"), false)}
		acc, _ := mustStreamChat(t, c2, params)
		checkWeatherCall(t, acc, `{"city":"Paris","unit":"c"}`)
		if body := string(fake2.LastRequest()); !contains(body, `"tools"`, `"get_weather"`) {
			t.Errorf("upstream got %s", body)
		}
		whole, err := c2.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if tc := whole.Choices[0].Message.ToolCalls; len(tc) != 1 || tc[0].Function.Arguments != `{"city":"Paris","unit":"c"}` {
			t.Errorf("non-stream tool calls %+v", tc)
		}
	})

	t.Run("embeddings", func(t *testing.T) {
		checkEmbeddings(t, client, "embed", "a", "b")
	})

	t.Run("models", func(t *testing.T) {
		page, err := client.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
		}
		if s := strings.Join(ids, " "); !contains(s, "chat", "cloud/gpt-4o-mini") {
			t.Errorf("models %v", ids)
		}
	})

	t.Run("unknown model", func(t *testing.T) {
		_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "nope/x", Messages: userMsg("hi")})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || !strings.Contains(apiErr.Message, "chat") {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("bad request", func(t *testing.T) {
		_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "chat", Messages: userMsg("hi"), Temperature: openai.Float(9)})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "temperature" {
			t.Fatalf("got %v", err)
		}
	})
}

// TestFailoverOnUpstreamFaults: the first cloud target fails in each way a
// real one does; the second serves, and the SDK sees a clean answer.
func TestFailoverOnUpstreamFaults(t *testing.T) {
	bad := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e"})
	good := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", Reply: "served by backup"})
	g := startEdgeway(t, providers(cloudProvider("primary", "openai-compatible", bad.URL()), cloudProvider("backup", "openai-compatible", good.URL()))+`
router:
  breaker_threshold: 100
  retry_base: 10ms
  retry_max: 50ms
models:
  chat: [primary/gpt-4o-mini, backup/gpt-4o-mini]
`)
	client := newClient(g)
	for _, mode := range []openaitest.Mode{openaitest.Error500, openaitest.RateLimit429, openaitest.Overloaded503, openaitest.MalformedJSON, openaitest.CutMidStream, openaitest.Unauthorized} {
		bad.SetMode(mode)
		for _, stream := range []bool{false, true} {
			content, hr, err := answer(client, openai.ChatCompletionNewParams{Model: "chat", Messages: userMsg("hi")}, stream)
			if stream && mode == openaitest.CutMidStream {
				// Bytes already reached the client: no failover, and the
				// client must learn the stream broke.
				if err == nil || hr.Header.Get("x-edgeway-provider") != "primary" {
					t.Errorf("cut stream: err %v provider %q", err, hr.Header.Get("x-edgeway-provider"))
				}
				continue
			}
			if err != nil {
				t.Fatalf("mode %v stream=%v: %v", mode, stream, err)
			}
			if content != "served by backup" || hr.Header.Get("x-edgeway-provider") != "backup" || hr.Header.Get("x-edgeway-failover") == "0" {
				t.Errorf("mode %v stream=%v: content %q provider %q failover %q", mode, stream, content, hr.Header.Get("x-edgeway-provider"), hr.Header.Get("x-edgeway-failover"))
			}
		}
	}
}
