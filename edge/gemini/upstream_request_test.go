package gemini

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
)

// goldenRequests are canonical requests and the Gemini body each must
// become (testdata/requests/*.json, written from Google's REST reference).
var goldenRequests = []struct {
	name string
	req  llm.ChatRequest
}{
	{"text", llm.ChatRequest{
		Model: "gemini-2.5-flash", Messages: []llm.Message{user("Hello!")},
		Temperature: new(0.7), TopP: new(0.9), TopK: new(40), MaxTokens: new(256),
		Stop: []string{"END", "\n\n"}, Seed: new(int64(42)), PresencePenalty: new(0.1), FrequencyPenalty: new(0.2),
		User: "u-1", ParallelToolCalls: new(true), Extra: map[string]json.RawMessage{"logprobs": json.RawMessage(`true`)},
	}},
	{"system", llm.ChatRequest{Model: "m", Messages: []llm.Message{
		system("Be brief."), user("Hi"), assistant("Hello! How can I help?"), system("Answer in French."),
		{Role: llm.RoleUser, Name: "ann", Content: []llm.Part{{Type: llm.PartText, Text: "Two"}, {Type: llm.PartText, Text: ""}, {Type: llm.PartText, Text: "parts"}}},
		user("merged"), assistant(""), user("last"),
	}}},
	{"vision", llm.ChatRequest{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{
		{Type: llm.PartText, Text: "What is in these images?"},
		{Type: llm.PartImage, ImageURL: "data:image/png;base64,iVBORw0KGgo=", Detail: "high"},
		{Type: llm.PartImage, ImageURL: "https://example.com/photos/cat.JPG?size=large"},
		{Type: llm.PartImage, ImageURL: "https://generativelanguage.googleapis.com/v1beta/files/abc123"},
		{Type: llm.PartImage, ImageURL: "data:text/plain;charset=utf-8,hello%20world"},
	}}}}},
	{"tools", llm.ChatRequest{Model: "m", Messages: []llm.Message{user("Weather in Paris?")},
		Tools: []llm.Tool{
			{Name: "get_weather", Description: "Current weather", Strict: new(true), Parameters: json.RawMessage(`{
				"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
				"properties": {
					"city": {"type": "string", "description": "City name"},
					"unit": {"type": ["string", "null"], "enum": ["c", "f"]},
					"days": {"type": "integer", "minimum": 1, "maximum": 10, "format": "int32", "exclusiveMaximum": 11}
				},
				"required": ["city", "country"], "additionalProperties": false}`)},
			{Name: "list_files", Description: "List files", Parameters: json.RawMessage(`{"type":"object","properties":{},"additionalProperties":false}`)},
			{Name: "get_time", Parameters: json.RawMessage(`null`)},
		},
		ToolChoice: &llm.ToolChoice{Mode: "function", Name: "get_weather"},
	}},
	{"tool_results", llm.ChatRequest{Model: "m", Messages: []llm.Message{
		user("Weather in Paris and the time?"),
		{Role: llm.RoleAssistant, Content: textParts("Let me check."), ToolCalls: []llm.ToolCall{
			{ID: "call_0", Name: "get_weather", Arguments: `{"city":"Paris"}`},
			{ID: "call_1", Name: "get_time", Arguments: ``},
		}},
		toolResult("call_0", ` {"temp":21,"sky":"clear"} `),
		toolResult("call_1", "12:00"),
		assistant("It is 21°C and noon."),
		user("Again?"),
		// Ids repeat across turns (Gemini has none; edgeway numbers
		// them per response): the latest call with the id wins.
		{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_0", Name: "get_weather", Arguments: `not json`}}},
		toolResult("call_0", "[1,2]"),
	}, Tools: []llm.Tool{{Name: "get_weather"}, {Name: "get_time"}}, ToolChoice: &llm.ToolChoice{Mode: "auto"}}},
	{"json_schema", llm.ChatRequest{Model: "m", Messages: []llm.Message{user("Solve 8x + 7 = -23")}, Temperature: new(0.0),
		ResponseFormat: &llm.ResponseFormat{Type: "json_schema", Name: "math_reasoning", Description: "A structured answer", Strict: new(true),
			Schema: json.RawMessage(`{
				"$defs": {"Step": {"properties": {"explanation": {"title": "Explanation", "type": "string"}, "output": {"title": "Output", "type": "string"}},
					"required": ["explanation", "output"], "title": "Step", "type": "object", "additionalProperties": false}},
				"properties": {
					"steps": {"items": {"$ref": "#/$defs/Step"}, "title": "Steps", "type": "array"},
					"final_answer": {"title": "Final Answer", "type": "string"},
					"confidence": {"anyOf": [{"type": "number"}, {"type": "null"}], "default": null, "title": "Confidence"}
				},
				"required": ["steps", "final_answer"], "title": "MathReasoning", "type": "object", "additionalProperties": false}`)}}},
}

func TestGoldenRequests(t *testing.T) {
	for _, tt := range goldenRequests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := appendGenerateRequest(nil, &tt.req)
			if err != nil {
				t.Fatalf("appendGenerateRequest: %v", err)
			}
			if want := testkit.Fixture(t, "requests/"+tt.name+".json"); !jsonEqual(t, got, want) {
				t.Errorf("body differs from testdata/requests/%s.json:\n%s", tt.name, got)
			}
			again, _ := appendGenerateRequest(nil, &tt.req)
			if !bytes.Equal(got, again) {
				t.Error("encoding is not deterministic")
			}
		})
	}
}

func TestRequestMapping(t *testing.T) {
	tests := []struct {
		name    string
		req     llm.ChatRequest
		want    string // JSON the body must contain, compared by value under key
		key     string
		wantErr string
	}{
		{name: "json_object", key: "generationConfig",
			req:  llm.ChatRequest{Messages: []llm.Message{user("x")}, ResponseFormat: &llm.ResponseFormat{Type: "json_object"}},
			want: `{"responseMimeType":"application/json"}`},
		{name: "text format sends nothing", key: "generationConfig",
			req: llm.ChatRequest{Messages: []llm.Message{user("x")}, ResponseFormat: &llm.ResponseFormat{Type: "text"}}},
		{name: "json_schema keeps its own description", key: "generationConfig",
			req: llm.ChatRequest{Messages: []llm.Message{user("x")}, ResponseFormat: &llm.ResponseFormat{Type: "json_schema", Description: "outer",
				Schema: json.RawMessage(`{"type":"object","description":"inner","properties":{"a":{"type":"string"}}}`)}},
			want: `{"responseMimeType":"application/json","responseSchema":{"type":"object","description":"inner","properties":{"a":{"type":"string"}}}}`},
		{name: "tool choice none", key: "toolConfig",
			req:  llm.ChatRequest{Messages: []llm.Message{user("x")}, ToolChoice: &llm.ToolChoice{Mode: "none"}},
			want: `{"functionCallingConfig":{"mode":"NONE"}}`},
		{name: "tool choice required", key: "toolConfig",
			req:  llm.ChatRequest{Messages: []llm.Message{user("x")}, ToolChoice: &llm.ToolChoice{Mode: "required"}},
			want: `{"functionCallingConfig":{"mode":"ANY"}}`},
		{name: "wide seed folded into int32", key: "generationConfig",
			req:  llm.ChatRequest{Messages: []llm.Message{user("x")}, Seed: new(int64(1) << 40)},
			want: `{"seed":0}`},
		{name: "negative wide seed", key: "generationConfig",
			req:  llm.ChatRequest{Messages: []llm.Message{user("x")}, Seed: new(int64(-1) << 33)},
			want: `{"seed":0}`},
		{name: "NaN temperature written as a number", key: "generationConfig",
			req:  llm.ChatRequest{Messages: []llm.Message{user("x")}, Temperature: new(nan())},
			want: `{"temperature":0}`},
		{name: "tool result name from message name", key: "contents",
			req:  llm.ChatRequest{Messages: []llm.Message{user("x"), {Role: llm.RoleTool, ToolCallID: "zz", Name: "lookup", Content: textParts("ok")}}},
			want: `[{"role":"user","parts":[{"text":"x"},{"functionResponse":{"name":"lookup","response":{"content":"ok"}}}]}]`},
		{name: "tool result image parts dropped", key: "contents",
			req: llm.ChatRequest{Messages: []llm.Message{
				{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "a", Name: "shot"}}},
				{Role: llm.RoleTool, ToolCallID: "a", Content: []llm.Part{{Type: llm.PartText, Text: "see"}, {Type: llm.PartImage, ImageURL: "data:image/png;base64,AA=="}}},
			}},
			want: `[{"role":"model","parts":[{"functionCall":{"name":"shot","args":{}},"thoughtSignature":"skip_thought_signature_validator"}]},{"role":"user","parts":[{"functionResponse":{"name":"shot","response":{"content":"see"}}}]}]`},
		{name: "consecutive assistant turns sign once", key: "contents",
			req: llm.ChatRequest{Messages: []llm.Message{
				{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "a", Name: "f", Arguments: `{"x":[1, 2]}`}}},
				{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "b", Name: "g", Arguments: `"str"`}}},
			}},
			want: `[{"role":"model","parts":[{"functionCall":{"name":"f","args":{"x":[1,2]}},"thoughtSignature":"skip_thought_signature_validator"},{"functionCall":{"name":"g","args":{"arguments":"\"str\""}}}]}]`},
		{name: "unknown tool call id", req: llm.ChatRequest{Messages: []llm.Message{user("x"), toolResult("nope", "1")}},
			wantErr: `messages[1]: tool result for unknown tool call "nope"`},
		{name: "only system messages", req: llm.ChatRequest{Messages: []llm.Message{system("s")}}, wantErr: "no user or assistant content"},
		{name: "empty user message", req: llm.ChatRequest{Messages: []llm.Message{user("")}}, wantErr: "no user or assistant content"},
		{name: "unknown role", req: llm.ChatRequest{Messages: []llm.Message{{Role: "developer", Content: textParts("x")}}}, wantErr: `unknown role "developer"`},
		{name: "tool call without name", req: llm.ChatRequest{Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "a"}}}}},
			wantErr: "messages[0].tool_calls[0]: name is empty"},
		{name: "bad tool parameters", req: llm.ChatRequest{Messages: []llm.Message{user("x")}, Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":`)}}},
			wantErr: "tools[0].parameters: is not valid JSON"},
		{name: "tool parameters not an object", req: llm.ChatRequest{Messages: []llm.Message{user("x")}, Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage(`[1]`)}}},
			wantErr: "tools[0].parameters: schema must be a JSON object"},
		{name: "tool without name", req: llm.ChatRequest{Messages: []llm.Message{user("x")}, Tools: []llm.Tool{{}}}, wantErr: "tools[0]: name is empty"},
		{name: "bad response schema", req: llm.ChatRequest{Messages: []llm.Message{user("x")}, ResponseFormat: &llm.ResponseFormat{Type: "json_schema", Schema: json.RawMessage(`{`)}},
			wantErr: "response_format.json_schema.schema: is not valid JSON"},
		{name: "unknown response format", req: llm.ChatRequest{Messages: []llm.Message{user("x")}, ResponseFormat: &llm.ResponseFormat{Type: "yaml"}},
			wantErr: `response_format: unknown type "yaml"`},
		{name: "unknown tool choice", req: llm.ChatRequest{Messages: []llm.Message{user("x")}, ToolChoice: &llm.ToolChoice{Mode: "sometimes"}},
			wantErr: `tool_choice: unknown mode "sometimes"`},
		{name: "function choice without name", req: llm.ChatRequest{Messages: []llm.Message{user("x")}, ToolChoice: &llm.ToolChoice{Mode: "function"}},
			wantErr: "tool_choice: function name is empty"},
		{name: "data URL without comma", req: llm.ChatRequest{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartImage, ImageURL: "data:image/png;base64"}}}}},
			wantErr: "messages[0].content[0]: data URL has no comma"},
		{name: "data URL without type", req: llm.ChatRequest{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartImage, ImageURL: "data:;base64,AA=="}}}}},
			wantErr: "data URL has no media type"},
		{name: "relative image URL", req: llm.ChatRequest{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartImage, ImageURL: "cat.png"}}}}},
			wantErr: "not an absolute URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := appendGenerateRequest(nil, &tt.req)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]json.RawMessage
			if err := json.Unmarshal(got, &body); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, got)
			}
			part, ok := body[tt.key]
			if tt.want == "" {
				if ok {
					t.Errorf("%s = %s, want it absent", tt.key, part)
				}
				return
			}
			if !ok || !jsonEqual(t, part, []byte(tt.want)) {
				t.Errorf("%s = %s, want %s", tt.key, part, tt.want)
			}
		})
	}
}

func nan() float64 {
	var zero float64
	return zero / zero
}

func TestModelPath(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "gemini-2.5-flash", want: "/models/gemini-2.5-flash"},
		{in: "models/gemini-2.5-flash", want: "/models/gemini-2.5-flash"},
		{in: "tunedModels/my-model-1", want: "/tunedModels/my-model-1"},
		{in: "", wantErr: "model is required"},
		{in: "models/", wantErr: "model is required"},
		{in: "a/b", wantErr: "not a valid"},
		{in: "m:generateContent", wantErr: "not a valid"},
		{in: "m?x=1", wantErr: "not a valid"},
		{in: "m n", wantErr: "not a valid"},
		{in: "..%2f", wantErr: "not a valid"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := modelPath(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("modelPath(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("modelPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestEmbedRequestBody(t *testing.T) {
	got := appendEmbedRequest(nil, "models/gemini-embedding-001", []string{"a", "b\n"}, new(256))
	want := `{"requests":[
		{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"a"}]},"outputDimensionality":256},
		{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"b\n"}]},"outputDimensionality":256}]}`
	if !jsonEqual(t, got, []byte(want)) {
		t.Errorf("body = %s", got)
	}
	if got := appendEmbedRequest(nil, "models/e", []string{"a"}, nil); string(got) != `{"requests":[{"model":"models/e","content":{"parts":[{"text":"a"}]}}]}` {
		t.Errorf("body without dimensions = %s", got)
	}
}
