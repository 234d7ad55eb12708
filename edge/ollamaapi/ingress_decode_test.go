package ollamaapi

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/internal/ingress/ingresstest"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
)

// Images small enough for table tests: real 1x1 PNG, GIF and WebP files
// and a JPEG's first and last markers.
const (
	pngB64  = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
	jpegB64 = "/9j/4AAQSkZJRgABAQAAAQABAAD/2Q=="
	gifB64  = "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
	webpB64 = "UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA=="
)

func text(s string) []llm.Part { return []llm.Part{{Type: llm.PartText, Text: s}} }

func image(media, b64 string) llm.Part {
	return llm.Part{Type: llm.PartImage, ImageURL: "data:" + media + ";base64," + b64}
}

func TestDecodeChatRequestFixtures(t *testing.T) {
	weatherParams := `{"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}`
	tests := []fixtureCase{
		{
			name:   "docs streaming example",
			file:   "chat_request_basic.json",
			stream: true,
			want: llm.ChatRequest{
				Model:    "llama3.2",
				Messages: []llm.Message{{Role: llm.RoleUser, Content: text("why is the sky blue?")}},
				Stream:   true,
			},
		},
		{
			name: "docs history with tools",
			file: "chat_request_tools_history.json",
			want: llm.ChatRequest{
				Model: "llama3.2",
				Messages: []llm.Message{
					{Role: llm.RoleUser, Content: text("what is the weather in Toronto?")},
					{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_0", Name: "get_weather", Arguments: "{\n              \"city\": \"Toronto\"\n            }"}}},
					{Role: llm.RoleTool, Name: "get_weather", ToolCallID: "call_0", Content: text("11 degrees celsius")},
				},
				Tools: []llm.Tool{{
					Name:        "get_weather",
					Description: "Get the weather in a given city",
					Parameters: json.RawMessage(`{
          "type": "object",
          "properties": {
            "city": {
              "type": "string",
              "description": "The city to get the weather for"
            }
          },
          "required": ["city"]
        }`),
				}},
			},
		},
		{
			name: "every field",
			file: "chat_request_full.json",
			want: llm.ChatRequest{
				Model: "llava:7b",
				Messages: []llm.Message{
					{Role: llm.RoleSystem, Content: text("You are terse.")},
					{Role: llm.RoleUser, Content: []llm.Part{
						{Type: llm.PartText, Text: "What is in these pictures, and what is the weather in Paris and Tokyo?"},
						image("image/png", pngB64),
						image("image/jpeg", jpegB64),
					}},
					{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{
						{ID: "call_0", Name: "get_weather", Arguments: `{"city": "Paris"}`},
						{ID: "call_k3x9w2qa", Name: "get_weather", Arguments: `{"city": "Tokyo", "unit": "celsius"}`},
					}},
					{Role: llm.RoleTool, Name: "get_weather", ToolCallID: "call_0", Content: text("21 degrees")},
					{Role: llm.RoleTool, Name: "get_weather", ToolCallID: "call_k3x9w2qa", Content: text("17 degrees")},
					{Role: llm.RoleAssistant, Content: text("A cat and a dog. Paris 21 °C, Tokyo 17 °C.")},
					{Role: llm.RoleUser, Content: []llm.Part{
						{Type: llm.PartText, Text: "And this one?"},
						image("image/gif", gifB64),
						image("image/webp", webpB64),
					}},
				},
				Temperature:      new(0.8),
				TopP:             new(0.9),
				TopK:             new(20),
				MaxTokens:        new(100),
				Stop:             []string{"\n", "user:"},
				Seed:             new(int64(42)),
				PresencePenalty:  new(1.5),
				FrequencyPenalty: new(1.0),
				ResponseFormat: &llm.ResponseFormat{
					Type:   "json_schema",
					Name:   "response",
					Schema: json.RawMessage(`{"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}`),
				},
				Tools: []llm.Tool{{
					Name:        "get_weather",
					Description: "Get the weather in a given city",
					Parameters:  json.RawMessage(weatherParams),
				}},
			},
		},
	}
	runFixtures(t, DecodeChatRequest, tests)
}

func TestDecodeGenerateRequestFixtures(t *testing.T) {
	tests := []fixtureCase{
		{
			name:   "docs streaming example",
			file:   "generate_request_basic.json",
			stream: true,
			want: llm.ChatRequest{
				Model:    "llama3.2",
				Messages: []llm.Message{{Role: llm.RoleUser, Content: text("Why is the sky blue?")}},
				Stream:   true,
			},
		},
		{
			name: "system, image, json mode, options",
			file: "generate_request_full.json",
			want: llm.ChatRequest{
				Model: "llava",
				Messages: []llm.Message{
					{Role: llm.RoleSystem, Content: text("You describe images.")},
					{Role: llm.RoleUser, Content: []llm.Part{
						{Type: llm.PartText, Text: "What is in this picture? Respond using JSON"},
						image("image/png", pngB64),
					}},
				},
				Temperature:    new(0.0),
				Seed:           new(int64(123)),
				Stop:           []string{"\n\n"},
				ResponseFormat: &llm.ResponseFormat{Type: "json_object"},
			},
		},
		{
			name: "docs structured outputs",
			file: "generate_request_schema.json",
			want: llm.ChatRequest{
				Model:    "llama3.1:8b",
				Messages: []llm.Message{{Role: llm.RoleUser, Content: text("Ollama is 22 years old and is busy saving the world. Respond using JSON")}},
				ResponseFormat: &llm.ResponseFormat{Type: "json_schema", Name: "response", Schema: json.RawMessage(`{
    "type": "object",
    "properties": {
      "age": {
        "type": "integer"
      },
      "available": {
        "type": "boolean"
      }
    },
    "required": [
      "age",
      "available"
    ]
  }`)},
			},
		},
	}
	runFixtures(t, DecodeGenerateRequest, tests)
}

const userHi = `[{"role":"user","content":"hi"}]`

// fixtureCase is a testdata body and what it decodes to.
type fixtureCase struct {
	name   string
	file   string
	stream bool
	want   llm.ChatRequest
}

func runFixtures(t *testing.T, decode ingresstest.Decoder, tests []fixtureCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got llm.ChatRequest
			stream, err := decode(testkit.Fixture(t, tt.file), &got)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if stream != tt.stream || got.Stream != tt.stream {
				t.Errorf("stream = %v (req.Stream %v), want %v", stream, got.Stream, tt.stream)
			}
			ingresstest.CheckRequest(t, &got, &tt.want)
		})
	}
}

// errorCase is a body the decoder refuses and a substring of its message.
type errorCase struct {
	name string
	body string
	want string
}

func runErrors(t *testing.T, decode ingresstest.Decoder, tests []errorCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req llm.ChatRequest
			_, err := decode([]byte(tt.body), &req)
			ingresstest.CheckRefused(t, err, tt.want)
		})
	}
}

// mappingCase is a body and a check of what it decodes to.
type mappingCase struct {
	name  string
	body  string
	check func(t *testing.T, r *llm.ChatRequest, stream bool)
}

func runMapping(t *testing.T, decode ingresstest.Decoder, tests []mappingCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req llm.ChatRequest
			stream, err := decode([]byte(tt.body), &req)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			tt.check(t, &req, stream)
		})
	}
}

func TestDecodeChatRequestErrors(t *testing.T) {
	tests := []errorCase{
		{"empty body", ``, "missing request body"},
		{"blank body", " \n\t", "missing request body"},
		{"truncated JSON", `{"model": "x",`, "invalid JSON at byte offset 14"},
		{"bad literal", `{"model": "x", "stream": tru}`, "invalid JSON at byte offset 25"},
		{"trailing data", ingresstest.ChatBody(userHi) + ` {}`, "after the top-level value"},
		{"invalid UTF-8", "{\"model\":\"\xff\"}", "not valid UTF-8 (byte offset 10)"},
		{"not an object", `[]`, "request body must be a JSON object"},
		{"deep nesting", `{"x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, "nesting exceeds"},
		{"missing model", `{"messages":` + userHi + `}`, "model is required"},
		{"model not a string", `{"model":1}`, "model must be a string"},
		{"messages not an array", ingresstest.ChatBody(`{}`), "messages must be an array of message objects"},
		{"message not an object", ingresstest.ChatBody(`["hi"]`), "messages[0] must be an object"},
		{"content not a string", ingresstest.ChatBody(`[{"role":"user","content":"a"},{"role":"user","content":[{"type":"text","text":"b"}]}]`),
			"messages[1].content must be a string"},
		{"role missing", ingresstest.ChatBody(`[{"content":"hi"}]`), "messages[0].role is required"},
		{"role unknown", ingresstest.ChatBody(`[{"role":"developer","content":"hi"}]`), "messages[0].role must be one of system, user, assistant, tool"},
		{"role not a string", ingresstest.ChatBody(`[{"role":true,"content":"hi"}]`), "messages[0].role must be a string"},
		{"images not an array", ingresstest.ChatBody(`[{"role":"user","content":"a","images":"` + pngB64 + `"}]`), "messages[0].images must be an array of base64 strings"},
		{"image not a string", ingresstest.ChatBody(`[{"role":"user","content":"a","images":[7]}]`), "messages[0].images[0] must be a base64 string"},
		{"image not base64", ingresstest.ChatBody(`[{"role":"user","content":"a","images":["` + pngB64 + `","not base64!"]}]`), "messages[0].images[1] is not valid base64"},
		{"image unpadded", ingresstest.ChatBody(`[{"role":"user","content":"a","images":["` + strings.TrimRight(pngB64, "=") + `"]}]`), "messages[0].images[0] is not valid base64"},
		{"image empty", ingresstest.ChatBody(`[{"role":"user","content":"a","images":[""]}]`), "messages[0].images[0] must not be empty"},
		{"image unknown type", ingresstest.ChatBody(`[{"role":"user","content":"a","images":["SGVsbG8sIHdvcmxkIQ=="]}]`), "messages[0].images[0] is not a PNG, JPEG, GIF or WebP image"},
		{"image data URL not base64", ingresstest.ChatBody(`[{"role":"user","content":"a","images":["data:image/png,abc"]}]`), "messages[0].images[0] is not valid base64"},
		{"tool_calls on user", ingresstest.ChatBody(`[{"role":"user","content":"a","tool_calls":[{"function":{"name":"f"}}]}]`), "messages[0].tool_calls is only allowed in assistant messages"},
		{"tool_calls not an array", ingresstest.ChatBody(`[{"role":"assistant","tool_calls":{}}]`), "messages[0].tool_calls must be an array of tool calls"},
		{"tool call without function", ingresstest.ChatBody(`[{"role":"assistant","tool_calls":[{"id":"c"}]}]`), "messages[0].tool_calls[0].function is required"},
		{"tool call without name", ingresstest.ChatBody(`[{"role":"assistant","tool_calls":[{"function":{"arguments":{}}}]}]`), "messages[0].tool_calls[0].function.name is required"},
		{"tool call arguments array", ingresstest.ChatBody(`[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":[1]}}]}]`),
			"messages[0].tool_calls[0].function.arguments must be a JSON object"},
		{"tool call arguments string not object", ingresstest.ChatBody(`[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"[1]"}}]}]`),
			"messages[0].tool_calls[0].function.arguments must be a JSON object"},
		{"tool call type", ingresstest.ChatBody(`[{"role":"assistant","tool_calls":[{"type":"custom","function":{"name":"f"}}]}]`),
			`messages[0].tool_calls[0].type "custom" is not supported`},
		{"tool_name not a string", ingresstest.ChatBody(`[{"role":"tool","content":"r","tool_name":1}]`), "messages[0].tool_name must be a string"},
		{"thinking not a string", ingresstest.ChatBody(`[{"role":"assistant","content":"r","thinking":{}}]`), "messages[0].thinking must be a string"},
		{"tools not an array", ingresstest.ChatBody(userHi, `"tools":{}`), "tools must be an array of tools"},
		{"tool not an object", ingresstest.ChatBody(userHi, `"tools":["f"]`), "tools[0] must be an object"},
		{"tool type", ingresstest.ChatBody(userHi, `"tools":[{"type":"retrieval","function":{"name":"f"}}]`), `tools[0].type "retrieval" is not supported`},
		{"tool without function", ingresstest.ChatBody(userHi, `"tools":[{"type":"function"}]`), "tools[0].function is required"},
		{"tool without name", ingresstest.ChatBody(userHi, `"tools":[{"type":"function","function":{"description":"d"}}]`), "tools[0].function.name is required"},
		{"tool parameters string", ingresstest.ChatBody(userHi, `"tools":[{"function":{"name":"f","parameters":"{}"}}]`), "tools[0].function.parameters must be a JSON Schema object"},
		{"too many tools", ingresstest.ChatBody(userHi, `"tools":[`+strings.Repeat(`{"function":{"name":"f"}},`, MaxTools)+`{"function":{"name":"f"}}]`), "tools may hold at most 128 tools"},
		{"format word", ingresstest.ChatBody(userHi, `"format":"xml"`), `format must be "json" or a JSON schema object`},
		{"format array", ingresstest.ChatBody(userHi, `"format":[]`), `format must be "json" or a JSON schema object`},
		{"options not an object", ingresstest.ChatBody(userHi, `"options":[]`), "options must be an object"},
		{"temperature string", ingresstest.ChatBody(userHi, `"options":{"temperature":"hot"}`), "options.temperature must be a number"},
		{"temperature overflow", ingresstest.ChatBody(userHi, `"options":{"temperature":1e999}`), "options.temperature is out of range"},
		{"top_k string", ingresstest.ChatBody(userHi, `"options":{"top_k":"40"}`), "options.top_k must be an integer"},
		{"num_predict huge", ingresstest.ChatBody(userHi, `"options":{"num_predict":99999999999}`), "options.num_predict is out of range"},
		{"seed overflow", ingresstest.ChatBody(userHi, `"options":{"seed":99999999999999999999}`), "options.seed is out of range"},
		{"seed float overflow", ingresstest.ChatBody(userHi, `"options":{"seed":1e19}`), "options.seed is out of range"},
		{"stop not strings", ingresstest.ChatBody(userHi, `"options":{"stop":["a",1]}`), "options.stop[1] must be a string"},
		{"stop number", ingresstest.ChatBody(userHi, `"options":{"stop":1}`), "options.stop must be an array of strings"},
		{"too many stops", ingresstest.ChatBody(userHi, `"options":{"stop":[`+strings.Repeat(`"s",`, MaxStop)+`"s"]}`), "options.stop may hold at most 16 sequences"},
		{"stream string", ingresstest.ChatBody(userHi, `"stream":"no"`), "stream must be a boolean"},
		{"think word", ingresstest.ChatBody(userHi, `"think":"max"`), `think must be true, false, "high", "medium" or "low"`},
		{"think number", ingresstest.ChatBody(userHi, `"think":1`), `think must be true, false`},
		{"keep_alive object", ingresstest.ChatBody(userHi, `"keep_alive":{}`), "keep_alive must be a duration string or a number of seconds"},
		{"truncate string", ingresstest.ChatBody(userHi, `"truncate":"yes"`), "truncate must be a boolean"},
		{"top_logprobs fraction string", ingresstest.ChatBody(userHi, `"top_logprobs":"5"`), "top_logprobs must be an integer"},
	}
	runErrors(t, DecodeChatRequest, tests)
}

func TestDecodeGenerateRequestErrors(t *testing.T) {
	tests := []errorCase{
		{"missing model", `{"prompt":"hi"}`, "model is required"},
		{"suffix", `{"model":"codellama:code","prompt":"def f(a, b):","suffix":"    return result"}`, "suffix is not supported"},
		{"context", `{"model":"m","prompt":"hi","context":[1,2,3]}`, "context is not supported; use /api/chat"},
		{"context wrong type", `{"model":"m","prompt":"hi","context":"1,2"}`, "context must be an array of integers"},
		{"raw with system", `{"model":"m","prompt":"[INST] hi [/INST]","raw":true,"system":"s"}`, "raw mode does not support template, system, or context"},
		{"raw with template", `{"model":"m","prompt":"x","raw":true,"template":"{{ .Prompt }}"}`, "raw mode does not support"},
		{"prompt not a string", `{"model":"m","prompt":["a"]}`, "prompt must be a string"},
		{"image not base64", `{"model":"m","prompt":"hi","images":["***"]}`, "images[0] is not valid base64"},
		{"image type", `{"model":"m","prompt":"hi","images":["AAAAAAAAAAAAAAAA"]}`, "images[0] is not a PNG, JPEG, GIF or WebP image"},
		{"options", `{"model":"m","prompt":"hi","options":{"top_p":"x"}}`, "options.top_p must be a number"},
		{"format", `{"model":"m","prompt":"hi","format":1}`, `format must be "json" or a JSON schema object`},
		{"raw not a bool", `{"model":"m","prompt":"hi","raw":"true"}`, "raw must be a boolean"},
	}
	runErrors(t, DecodeGenerateRequest, tests)
}

func TestDecodeChatRequestMapping(t *testing.T) {
	tests := []mappingCase{
		{"stream defaults to true", ingresstest.ChatBody(userHi), func(t *testing.T, r *llm.ChatRequest, stream bool) {
			if !stream || !r.Stream {
				t.Error("stream is off by default")
			}
		}},
		{"stream null is the default", ingresstest.ChatBody(userHi, `"stream":null`), func(t *testing.T, r *llm.ChatRequest, stream bool) {
			if !stream {
				t.Error("stream null turned streaming off")
			}
		}},
		{"stream false", ingresstest.ChatBody(userHi, `"stream":false`), func(t *testing.T, r *llm.ChatRequest, stream bool) {
			if stream || r.Stream {
				t.Error("stream false ignored")
			}
		}},
		{"no messages is a load request", `{"model":"m"}`, func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if len(r.Messages) != 0 || r.Model != "m" {
				t.Errorf("req = %+v", r)
			}
		}},
		{"empty messages is a load request", ingresstest.ChatBody(`[]`, `"keep_alive":0`), func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if len(r.Messages) != 0 {
				t.Errorf("messages = %+v", r.Messages)
			}
		}},
		{"null fields are unset", ingresstest.ChatBody(userHi, `"format":null,"options":null,"tools":null,"think":null,"keep_alive":null`), func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if r.ResponseFormat != nil || r.Tools != nil || r.Temperature != nil {
				t.Errorf("req = %+v", r)
			}
		}},
		{"null options are unset", ingresstest.ChatBody(userHi, `"options":{"temperature":null,"top_p":null,"top_k":null,"num_predict":null,"seed":null,"stop":null}`), func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if r.Temperature != nil || r.TopP != nil || r.TopK != nil || r.MaxTokens != nil || r.Seed != nil || r.Stop != nil {
				t.Errorf("req = %+v", r)
			}
		}},
		{"format json", ingresstest.ChatBody(userHi, `"format":"json"`), func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if !reflect.DeepEqual(r.ResponseFormat, &llm.ResponseFormat{Type: "json_object"}) {
				t.Errorf("ResponseFormat = %+v", r.ResponseFormat)
			}
		}},
		{"format empty string", ingresstest.ChatBody(userHi, `"format":""`), func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if r.ResponseFormat != nil {
				t.Errorf("ResponseFormat = %+v", r.ResponseFormat)
			}
		}},
		{"stop as one string", ingresstest.ChatBody(userHi, `"options":{"stop":"END"}`), func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if !reflect.DeepEqual(r.Stop, []string{"END"}) {
				t.Errorf("Stop = %q", r.Stop)
			}
		}},
		{"runtime options and unknown fields are dropped", ingresstest.ChatBody(userHi, `"options":{"num_ctx":8192,"num_thread":4,"mirostat":2,"x":{"y":[1]}},"x-field":1,"_debug_render_only":true`), func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if r.Extra != nil || r.MaxTokens != nil {
				t.Errorf("req = %+v", r)
			}
		}},
		{"think forms", ingresstest.ChatBody(userHi, `"think":"high"`), func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if r.Extra != nil {
				t.Errorf("Extra = %v", r.Extra)
			}
		}},
		{"escapes and surrogates", ingresstest.ChatBody(`[{"role":"user","content":"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\ud800x"}]`), func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if got, want := r.Messages[0].Text(), "a\"\\/\b\f\n\r\t\u00e9\U0001F600\uFFFDx"; got != want {
				t.Errorf("text = %q, want %q", got, want)
			}
		}},
		{"escaped keys and whitespace", " {\n\"mod\\u0065l\" : \"m\" ,\t\"messages\":[ {\"role\":\"user\",\"content\":\"hi\"} ] }\r\n", func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if r.Model != "m" || r.Messages[0].Text() != "hi" {
				t.Errorf("req = %+v", r)
			}
		}},
		{"roles in any case", ingresstest.ChatBody(`[{"role":"SYSTEM","content":"s"},{"role":"uSeR","content":"u"}]`), func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if r.Messages[0].Role != llm.RoleSystem || r.Messages[1].Role != llm.RoleUser {
				t.Errorf("roles = %q %q", r.Messages[0].Role, r.Messages[1].Role)
			}
		}},
		{"null content is empty text", ingresstest.ChatBody(`[{"role":"user","content":null}]`), func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if !reflect.DeepEqual(r.Messages[0].Content, text("")) {
				t.Errorf("content = %+v", r.Messages[0].Content)
			}
		}},
		{"images without text", ingresstest.ChatBody(`[{"role":"user","images":["` + gifB64 + `"]}]`), func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if !reflect.DeepEqual(r.Messages[0].Content, []llm.Part{image("image/gif", gifB64)}) {
				t.Errorf("content = %+v", r.Messages[0].Content)
			}
		}},
		{"image with line breaks", ingresstest.ChatBody(`[{"role":"user","content":"x","images":["` + pngB64[:20] + `\r\n` + pngB64[20:] + `\n"]}]`), func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if got := r.Messages[0].Content[1]; got != image("image/png", pngB64) {
				t.Errorf("part = %+v", got)
			}
		}},
		{"image as data URL gets its sniffed type", ingresstest.ChatBody(`[{"role":"user","content":"x","images":["data:image/jpeg;base64,` + pngB64 + `"]}]`), func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if got := r.Messages[0].Content[1]; got != image("image/png", pngB64) {
				t.Errorf("part = %+v", got)
			}
		}},
		{"image with escaped slash", ingresstest.ChatBody(`[{"role":"user","content":"x","images":["` + strings.ReplaceAll(jpegB64, "/", `\/`) + `"]}]`), func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if got := r.Messages[0].Content[1]; got != image("image/jpeg", jpegB64) {
				t.Errorf("part = %+v", got)
			}
		}},
		{"arguments as JSON text", ingresstest.ChatBody(`[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"{\"a\":1}"}}]}]`), func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if got := r.Messages[0].ToolCalls[0].Arguments; got != `{"a":1}` {
				t.Errorf("Arguments = %q", got)
			}
		}},
		{"arguments absent or null", ingresstest.ChatBody(`[{"role":"assistant","tool_calls":[{"function":{"name":"f"}},{"function":{"name":"g","arguments":null}}]}]`), func(t *testing.T, r *llm.ChatRequest, _ bool) {
			for _, tc := range r.Messages[0].ToolCalls {
				if tc.Arguments != "{}" {
					t.Errorf("%s: Arguments = %q", tc.Name, tc.Arguments)
				}
			}
		}},
		{"assistant text beside calls", ingresstest.ChatBody(`[{"role":"assistant","content":"Let me check.","tool_calls":[{"function":{"name":"f","arguments":{}}}]}]`), func(t *testing.T, r *llm.ChatRequest, _ bool) {
			m := r.Messages[0]
			if !reflect.DeepEqual(m.Content, text("Let me check.")) || len(m.ToolCalls) != 1 {
				t.Errorf("message = %+v", m)
			}
		}},
	}
	runMapping(t, DecodeChatRequest, tests)
}

// TestDecodeChatOptions covers how options map onto the request's
// sampling fields; want is the field's value, or <nil> for unset.
func TestDecodeChatOptions(t *testing.T) {
	field := map[string]func(r *llm.ChatRequest) string{
		"MaxTokens":   func(r *llm.ChatRequest) string { return show(r.MaxTokens) },
		"Seed":        func(r *llm.ChatRequest) string { return show(r.Seed) },
		"Temperature": func(r *llm.ChatRequest) string { return show(r.Temperature) },
		"TopP":        func(r *llm.ChatRequest) string { return show(r.TopP) },
		"TopK":        func(r *llm.ChatRequest) string { return show(r.TopK) },
	}
	tests := []struct{ name, options, field, want string }{
		{"num_predict -1 is no limit", `"num_predict":-1`, "MaxTokens", "<nil>"},
		{"num_predict -2 is no limit", `"num_predict":-2`, "MaxTokens", "<nil>"},
		{"num_predict 0 is no limit", `"num_predict":0`, "MaxTokens", "<nil>"},
		{"num_predict as float", `"num_predict":128.0`, "MaxTokens", "128"},
		{"seed -1 is random", `"seed":-1`, "Seed", "<nil>"},
		{"seed fraction is dropped", `"seed":7.9`, "Seed", "7"},
		{"negative temperature is greedy", `"temperature":-1`, "Temperature", "0"},
		{"top_p clamped", `"top_p":1.5`, "TopP", "1"},
		{"negative top_k is off", `"top_k":-5`, "TopK", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req llm.ChatRequest
			if _, err := DecodeChatRequest([]byte(ingresstest.ChatBody(userHi, `"options":{`+tt.options+`}`)), &req); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got := field[tt.field](&req); got != tt.want {
				t.Errorf("%s = %s, want %s", tt.field, got, tt.want)
			}
		})
	}
}

// show prints what p points to, or <nil>.
func show[T any](p *T) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprint(*p)
}

// TestToolResultLinking covers how a result finds the call it answers
// when Ollama's history names only the tool.
func TestToolResultLinking(t *testing.T) {
	call := func(id, name string) string {
		s := `{"function":{"name":"` + name + `","arguments":{}}`
		if id != "" {
			s += `,"id":"` + id + `"`
		}
		return s + "}"
	}
	assistant := func(calls ...string) string {
		return `{"role":"assistant","content":"","tool_calls":[` + strings.Join(calls, ",") + `]}`
	}
	result := func(name, id string) string {
		s := `{"role":"tool","content":"r"`
		if name != "" {
			s += `,"tool_name":"` + name + `"`
		}
		if id != "" {
			s += `,"tool_call_id":"` + id + `"`
		}
		return s + "}"
	}
	user := `{"role":"user","content":"q"}`
	type link struct{ id, name string }
	tests := []struct {
		name     string
		messages []string
		want     []link // per tool message, in order
	}{
		{"by name in order", []string{user, assistant(call("", "a"), call("", "b"), call("", "a")), result("a", ""), result("a", ""), result("b", "")},
			[]link{{"call_0", "a"}, {"call_2", "a"}, {"call_1", "b"}}},
		{"without a name in call order", []string{user, assistant(call("", "a"), call("", "b")), result("", ""), result("", "")},
			[]link{{"call_0", "a"}, {"call_1", "b"}}},
		{"ids the client sent", []string{user, assistant(call("call_x", "a"), call("call_y", "a")), result("a", ""), result("a", "")},
			[]link{{"call_x", "a"}, {"call_y", "a"}}},
		{"explicit tool_call_id wins", []string{user, assistant(call("call_x", "a"), call("call_y", "a")), result("a", "call_y"), result("a", "")},
			[]link{{"call_y", "a"}, {"call_x", "a"}}},
		{"latest turn first", []string{user, assistant(call("", "a")), user, assistant(call("", "a")), result("a", "")},
			[]link{{"call_1", "a"}}},
		{"older unanswered call still matches", []string{user, assistant(call("", "a")), user, assistant(call("", "b")), result("b", ""), result("a", "")},
			[]link{{"call_1", "b"}, {"call_0", "a"}}},
		{"answered calls are skipped across turns", []string{user, assistant(call("", "a")), result("a", ""), user, assistant(call("", "a")), result("a", "")},
			[]link{{"call_0", "a"}, {"call_1", "a"}}},
		{"no matching call", []string{user, result("lookup", "")},
			[]link{{"call_0", "lookup"}}},
		{"name with no match gets its own id", []string{user, assistant(call("", "a")), result("b", ""), result("a", "")},
			[]link{{"call_1", "b"}, {"call_0", "a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req llm.ChatRequest
			if _, err := DecodeChatRequest([]byte(ingresstest.ChatBody("["+strings.Join(tt.messages, ",")+"]")), &req); err != nil {
				t.Fatal(err)
			}
			var got []link
			for _, m := range req.Messages {
				if m.Role == llm.RoleTool {
					got = append(got, link{m.ToolCallID, m.Name})
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("links = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecodeGenerateRequestMapping(t *testing.T) {
	tests := []mappingCase{
		{"empty prompt is a load request", `{"model":"m","prompt":"","system":"s","images":["` + pngB64 + `"]}`, func(t *testing.T, r *llm.ChatRequest, stream bool) {
			if len(r.Messages) != 0 || !stream {
				t.Errorf("req = %+v, stream %v", r, stream)
			}
		}},
		{"what the Go client sends to load", `{"model":"m","prompt":"","suffix":"","system":"","template":"","options":null}`, func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if len(r.Messages) != 0 {
				t.Errorf("messages = %+v", r.Messages)
			}
		}},
		{"raw prompt is a user message", `{"model":"m","prompt":"[INST] hi [/INST]","raw":true,"stream":false}`, func(t *testing.T, r *llm.ChatRequest, stream bool) {
			want := []llm.Message{{Role: llm.RoleUser, Content: text("[INST] hi [/INST]")}}
			if !reflect.DeepEqual(r.Messages, want) || stream {
				t.Errorf("messages = %+v, stream %v", r.Messages, stream)
			}
		}},
		{"null context passes", `{"model":"m","prompt":"p","context":null}`, func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if len(r.Messages) != 1 {
				t.Errorf("messages = %+v", r.Messages)
			}
		}},
		{"template is ignored", `{"model":"m","prompt":"p","template":"{{ .Prompt }}!"}`, func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if r.Messages[0].Text() != "p" {
				t.Errorf("messages = %+v", r.Messages)
			}
		}},
		{"tools and messages fields are not generate's", `{"model":"m","prompt":"p","messages":[1],"tools":2}`, func(t *testing.T, r *llm.ChatRequest, _ bool) {
			if len(r.Messages) != 1 || r.Tools != nil {
				t.Errorf("req = %+v", r)
			}
		}},
	}
	runMapping(t, DecodeGenerateRequest, tests)
}

func TestDecodeChatRequestReuse(t *testing.T) {
	ingresstest.CheckReuse(t, DecodeChatRequest, testkit.Fixture(t, "chat_request_full.json"), testkit.Fixture(t, "chat_request_tools_history.json"))
}

func TestDecodeEmbedRequest(t *testing.T) {
	type embedCase struct {
		name    string
		body    string
		want    llm.EmbedRequest
		wantErr string
	}
	tests := []embedCase{
		{"fixture", string(testkit.Fixture(t, "embed_request.json")),
			llm.EmbedRequest{Model: "all-minilm", Input: []string{"Why is the sky blue?", "Why is the grass green?"}, Dimensions: new(384)}, ""},
		{"one string", `{"model":"e","input":"hello"}`, llm.EmbedRequest{Model: "e", Input: []string{"hello"}}, ""},
		{"empty string loads", `{"model":"e","input":""}`, llm.EmbedRequest{Model: "e"}, ""},
		{"no input loads", `{"model":"e"}`, llm.EmbedRequest{Model: "e"}, ""},
		{"empty array loads", `{"model":"e","input":[]}`, llm.EmbedRequest{Model: "e"}, ""},
		{"dimensions 0 is full length", `{"model":"e","input":"a","dimensions":0}`, llm.EmbedRequest{Model: "e", Input: []string{"a"}}, ""},
		{"missing model", `{"input":"a"}`, llm.EmbedRequest{}, "model is required"},
		{"input number", `{"model":"e","input":5}`, llm.EmbedRequest{}, "input must be a string or an array of strings"},
		{"input element number", `{"model":"e","input":["a",[1,2]]}`, llm.EmbedRequest{}, "input[1] must be a string"},
		{"input element empty", `{"model":"e","input":["a",""]}`, llm.EmbedRequest{}, "input[1] must not be empty"},
		{"too many inputs", `{"model":"e","input":[` + strings.Repeat(`"a",`, MaxEmbedInputs) + `"a"]}`, llm.EmbedRequest{}, "input may hold at most 2048 items"},
		{"dimensions string", `{"model":"e","input":"a","dimensions":"8"}`, llm.EmbedRequest{}, "dimensions must be an integer"},
		{"truncate string", `{"model":"e","input":"a","truncate":"no"}`, llm.EmbedRequest{}, "truncate must be a boolean"},
		{"options array", `{"model":"e","input":"a","options":[]}`, llm.EmbedRequest{}, "options must be an object"},
		{"empty body", ``, llm.EmbedRequest{}, "missing request body"},
	}
	// /api/embeddings, the legacy endpoint, decodes into the same request.
	legacy := []embedCase{
		{"legacy docs example", `{"model":"all-minilm","prompt":"Here is an article about llamas..."}`,
			llm.EmbedRequest{Model: "all-minilm", Input: []string{"Here is an article about llamas..."}}, ""},
		{"legacy empty prompt loads", `{"model":"all-minilm","prompt":"","options":null,"keep_alive":-1}`, llm.EmbedRequest{Model: "all-minilm"}, ""},
		{"legacy missing model", `{"prompt":"x"}`, llm.EmbedRequest{}, "model is required"},
		{"legacy prompt array", `{"model":"m","prompt":["x"]}`, llm.EmbedRequest{}, "prompt must be a string"},
	}
	run := func(decode func([]byte, *llm.EmbedRequest) error, tests []embedCase) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req := llm.EmbedRequest{Input: []string{"left over"}}
				err := decode([]byte(tt.body), &req)
				if tt.wantErr != "" {
					ingresstest.CheckRefused(t, err, tt.wantErr)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(req.Input) == 0 {
					req.Input = nil
				}
				if !reflect.DeepEqual(req, tt.want) {
					t.Errorf("got %+v, want %+v", req, tt.want)
				}
			})
		}
	}
	run(DecodeEmbedRequest, tests)
	run(DecodeLegacyEmbeddingsRequest, legacy)
}

func TestDecodeShowRequest(t *testing.T) {
	tests := []struct {
		name, body, want, wantErr string
	}{
		{"model", `{"model":"llava"}`, "llava", ""},
		{"what ollama run sends", `{"model":"","system":"","template":"","verbose":false,"options":null,"name":"llama3.2"}`, "llama3.2", ""},
		{"model wins over name", `{"name":"a","model":"b"}`, "b", ""},
		{"neither", `{"verbose":true}`, "", "model is required"},
		{"name not a string", `{"name":1}`, "", "name must be a string"},
		{"not JSON", `model=x`, "", "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeShowRequest([]byte(tt.body))
			if tt.wantErr != "" {
				ingresstest.CheckRefused(t, err, tt.wantErr)
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
