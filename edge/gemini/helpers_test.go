package gemini

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
	"github.com/edgeway/edgeway/edge/upstream/upstreamtest"
)

func textParts(s string) []llm.Part { return []llm.Part{{Type: llm.PartText, Text: s}} }

func user(s string) llm.Message {
	return llm.Message{Role: llm.RoleUser, Content: textParts(s)}
}

func assistant(s string) llm.Message {
	return llm.Message{Role: llm.RoleAssistant, Content: textParts(s)}
}

func system(s string) llm.Message {
	return llm.Message{Role: llm.RoleSystem, Content: textParts(s)}
}

func toolResult(id, s string) llm.Message {
	return llm.Message{Role: llm.RoleTool, ToolCallID: id, Content: textParts(s)}
}

// jsonEqual compares two JSON texts by value.
func jsonEqual(t *testing.T, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("fixture not JSON: %v\n%s", err, want)
	}
	return reflect.DeepEqual(g, w)
}

// frame is how the fake upstream frames its answers: Gemini types its JSON
// with a charset and ends events with CRLF.
var frame = upstreamtest.Framing{JSONType: "application/json; charset=UTF-8", EventType: "text/event-stream", EventSep: "\r\n\r\n"}

func newTestClient(t *testing.T, baseURL string, mod ...func(*Options)) *Client {
	t.Helper()
	o := Options{Endpoint: upstream.Endpoint{Name: "fake", BaseURL: baseURL + "/v1beta/", APIKey: "AIza-test", Headers: map[string]string{"X-Title": "edgeway-test"}}}
	return upstreamtest.NewClient(t, New, o, mod...)
}

// copyChunk is kept for the stream tests.
var copyChunk = upstreamtest.CopyChunk

func simpleRequest() *llm.ChatRequest {
	return &llm.ChatRequest{Model: "gemini-2.5-flash", Messages: []llm.Message{user("Hello!")}}
}
