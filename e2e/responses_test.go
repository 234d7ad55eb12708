package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/edgeway/edgeway/edge/openai/openaitest"
)

// TestResponsesWithTheSDK drives /v1/responses with the openai-go SDK
// through the real binary to the OpenAI-wire fake (the path a local
// runtime takes): a plain answer, a stream, a tool round trip continued
// with previous_response_id, and the stored response read and deleted.
func TestResponsesWithTheSDK(t *testing.T) {
	cloud := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", Reply: "Paris is the capital.",
		ToolCall: &openaitest.ToolCall{ID: "call_w1", Name: "get_weather", Arguments: `{"city":"Paris"}`}, AnswerToolResults: true})
	g := startEdgeway(t, providers(cloudProvider("up", "openai-compatible", cloud.URL()))+"models:\n  chat: [up/gpt-4o-mini]\n")
	c := openai.NewClient(option.WithBaseURL(g.URL+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	ctx := context.Background()

	r, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "chat", Instructions: openai.String("Be brief."),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("capital of France?")}})
	if err != nil {
		t.Fatal(err)
	}
	if r.OutputText() != "Paris is the capital." || r.Status != "completed" || r.Usage.InputTokens == 0 || r.Usage.OutputTokens == 0 {
		t.Fatalf("plain: %q %s %+v", r.OutputText(), r.Status, r.Usage)
	}

	stream := c.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "chat",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("again")}})
	var text strings.Builder
	var completed responses.Response
	seq := int64(-1)
	for stream.Next() {
		ev := stream.Current()
		if ev.SequenceNumber != seq+1 {
			t.Fatalf("event %s numbered %d after %d", ev.Type, ev.SequenceNumber, seq)
		}
		seq = ev.SequenceNumber
		switch ev.Type {
		case "response.output_text.delta":
			text.WriteString(ev.Delta)
		case "response.completed":
			completed = ev.Response
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != "Paris is the capital." || completed.OutputText() != text.String() || completed.Usage.TotalTokens == 0 {
		t.Fatalf("stream: %q, completed %q %+v", text.String(), completed.OutputText(), completed.Usage)
	}

	// A tool round trip: the model calls get_weather; the answer goes back
	// as a function_call_output continuing the stored response.
	tools := []responses.ToolUnionParam{{OfFunction: &responses.FunctionToolParam{Name: "get_weather",
		Parameters: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}}}
	r, err = c.Responses.New(ctx, responses.ResponseNewParams{Model: "chat", Tools: tools,
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("weather in Paris?")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Output) != 1 || r.Output[0].Type != "function_call" || r.Output[0].Name != "get_weather" || r.Output[0].CallID != "call_w1" ||
		r.Output[0].Arguments.OfString != `{"city":"Paris"}` {
		t.Fatalf("tool call: %+v", r.Output)
	}
	out := responses.ResponseInputItemParamOfFunctionCallOutput("18 degrees and sunny")
	out.OfFunctionCallOutput.CallID = openai.String("call_w1")
	r2, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "chat", Tools: tools, PreviousResponseID: openai.String(r.ID),
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{out}}})
	if err != nil {
		t.Fatal(err)
	}
	if r2.OutputText() != "Paris is the capital." || r2.PreviousResponseID != r.ID {
		t.Fatalf("after the tool: %q prev %q", r2.OutputText(), r2.PreviousResponseID)
	}
	// The upstream got the whole conversation: question, call, result.
	last := string(cloud.LastRequest())
	for _, want := range []string{"weather in Paris?", `"tool_calls"`, "call_w1", "18 degrees and sunny"} {
		if !strings.Contains(last, want) {
			t.Fatalf("upstream request lacks %q:\n%s", want, last)
		}
	}

	got, err := c.Responses.Get(ctx, r2.ID, responses.ResponseGetParams{})
	if err != nil || got.ID != r2.ID || got.OutputText() != r2.OutputText() {
		t.Fatalf("get: %+v %v", got, err)
	}
	if err := c.Responses.Delete(ctx, r2.ID); err != nil {
		t.Fatal(err)
	}
	_, err = c.Responses.Get(ctx, r2.ID, responses.ResponseGetParams{})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Fatalf("get after delete: %v", err)
	}
}

// TestResponsesWithTheNPMSDKs runs testdata/js/responses.mjs: the openai
// npm SDK's responses.create (plain, streamed, tools) and the Vercel AI
// SDK's default openai(model), through the real binary.
func TestResponsesWithTheNPMSDKs(t *testing.T) {
	agentModules(t)
	cloud := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", Reply: "Paris is the capital.",
		ToolCall: &openaitest.ToolCall{ID: "call_w1", Name: "get_weather", Arguments: `{"city":"Paris"}`}})
	g := startEdgeway(t, providers(cloudProvider("up", "openai-compatible", cloud.URL()))+"models:\n  chat: [up/gpt-4o-mini]\n")
	b := []byte(runNodeScript(t, "responses.mjs", "BASE="+g.URL))
	var got struct {
		Plain, Stream, Vercel, VercelStream string
		StreamTotalTokens                   int
		ToolCall                            *struct {
			Name, Arguments string
			CallID          string `json:"call_id"`
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	const want = "Paris is the capital."
	if got.Plain != want || got.Stream != want || got.StreamTotalTokens == 0 || got.Vercel != want || got.VercelStream != want {
		t.Fatalf("the SDKs got %+v", got)
	}
	if tc := got.ToolCall; tc == nil || tc.Name != "get_weather" || tc.Arguments != `{"city":"Paris"}` || tc.CallID != "call_w1" {
		t.Fatalf("tool call %+v", got.ToolCall)
	}
}

// runNodeScript runs testdata/js/name with node and env, beside the
// installed node_modules (Node resolves bare imports from the script's
// own directory up), and returns the last line it printed.
func runNodeScript(t *testing.T, name string, env ...string) string {
	t.Helper()
	modules := agentModules(t)
	src, err := os.ReadFile(filepath.Join("testdata", "js", name))
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(filepath.Dir(modules), "e2e-"+strconv.Itoa(os.Getpid())+"-"+name)
	if err := os.WriteFile(script, src, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(script)
	cmd := exec.Command("node", script)
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", name, err, b)
	}
	out := bytes.TrimSpace(b)
	return string(out[bytes.LastIndexByte(out, '\n')+1:])
}
