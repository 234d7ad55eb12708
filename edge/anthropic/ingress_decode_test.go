package anthropic

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/internal/ingress/ingresstest"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
)

func text(s string) llm.Part { return llm.Part{Type: llm.PartText, Text: s} }

func textParts(s string) []llm.Part { return []llm.Part{text(s)} }

func TestDecodeMessagesRequestFull(t *testing.T) {
	var req llm.ChatRequest
	if err := DecodeMessagesRequest(testkit.Fixture(t, "request_full.json"), &req); err != nil {
		t.Fatal(err)
	}
	want := llm.ChatRequest{
		Model: "claude-sonnet-4-5-20250929",
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: []llm.Part{text("You are a weather assistant."), text("Answer briefly.")}},
			{Role: llm.RoleUser, Content: []llm.Part{
				{Type: llm.PartImage, ImageURL: "data:image/png;base64,iVBORw0KGgo="},
				{Type: llm.PartImage, ImageURL: "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"},
				text("What is the weather where these were taken?"),
			}},
			{Role: llm.RoleAssistant, Content: textParts("Let me check San Francisco."), ToolCalls: []llm.ToolCall{
				{ID: "toolu_01A09q90qw90lq917835lq9", Name: "get_weather", Arguments: `{"location": "San Francisco, CA", "unit": "celsius"}`},
			}},
			{Role: llm.RoleTool, ToolCallID: "toolu_01A09q90qw90lq917835lq9", Content: textParts("15 degrees")},
			{Role: llm.RoleUser, Content: textParts("And in Paris?")},
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{
				{ID: "toolu_02", Name: "get_weather", Arguments: `{"location": "Paris"}`},
				{ID: "toolu_03", Name: "get_time", Arguments: `{}`},
			}},
			{Role: llm.RoleTool, ToolCallID: "toolu_02", Content: textParts("18 degrees")},
			{Role: llm.RoleTool, ToolCallID: "toolu_03", Content: textParts("Error: clock unavailable")},
			{Role: llm.RoleAssistant, Content: textParts("It is")},
		},
		Stream:      true,
		Temperature: new(0.5),
		TopP:        new(0.9),
		TopK:        new(40),
		MaxTokens:   new(2048),
		Stop:        []string{"\n\nHuman:", "END"},
		ResponseFormat: &llm.ResponseFormat{Type: "json_schema", Name: ResponseFormatName,
			Schema: json.RawMessage(`{"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"], "additionalProperties": false}`)},
		Tools: []llm.Tool{
			{Name: "get_weather", Description: "Get the current weather in a given location",
				Parameters: json.RawMessage(`{"type": "object", "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["location"]}`)},
			{Name: "get_time", Parameters: json.RawMessage(`{"type": "object", "properties": {}}`), Strict: new(true)},
		},
		ToolChoice:        &llm.ToolChoice{Mode: "required"},
		ParallelToolCalls: new(false),
		User:              "13803d75-b4b5-4c3e-b2a2-6f21399b021b",
	}
	pt := req.Passthrough
	req.Passthrough = nil
	if !reflect.DeepEqual(req, want) {
		g, _ := json.MarshalIndent(req, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("decoded request differs\ngot:  %s\nwant: %s", g, w)
	}
	if pt == nil || pt.Dialect != DialectName || string(pt.Body) != string(testkit.Fixture(t, "request_full.json")) {
		t.Fatalf("passthrough = %+v", pt)
	}
	if want := []string{"cache_control", "service_tier", "thinking"}; !slices.Equal(pt.Dropped, want) {
		t.Errorf("dropped = %q, want %q", pt.Dropped, want)
	}
}

func TestDecodeMessagesRequestShapes(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, req *llm.ChatRequest)
	}{
		{name: "system string", body: `{"model":"m","max_tokens":1,"system":"Be terse.","messages":[{"role":"user","content":"hi"}]}`,
			check: func(t *testing.T, req *llm.ChatRequest) {
				if len(req.Messages) != 2 || req.Messages[0].Role != llm.RoleSystem || req.Messages[0].Text() != "Be terse." {
					t.Errorf("messages = %+v", req.Messages)
				}
			}},
		{name: "system after messages still leads", body: `{"messages":[{"content":"hi","role":"user"}],"system":[{"text":"S","type":"text"}],"model":"m","max_tokens":1}`,
			check: func(t *testing.T, req *llm.ChatRequest) {
				if len(req.Messages) != 2 || req.Messages[0].Role != llm.RoleSystem || req.Messages[1].Text() != "hi" {
					t.Errorf("messages = %+v", req.Messages)
				}
			}},
		{name: "empty system dropped", body: `{"model":"m","max_tokens":1,"system":"","messages":[{"role":"user","content":"hi"}]}`,
			check: func(t *testing.T, req *llm.ChatRequest) {
				if len(req.Messages) != 1 {
					t.Errorf("messages = %+v", req.Messages)
				}
			}},
		{name: "assistant first is accepted", body: `{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":"Hi, I am Claude."},{"role":"user","content":"hi"}]}`,
			check: func(t *testing.T, req *llm.ChatRequest) {
				if len(req.Messages) != 2 || req.Messages[0].Role != llm.RoleAssistant {
					t.Errorf("messages = %+v", req.Messages)
				}
			}},
		{name: "consecutive user turns kept", body: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}`,
			check: func(t *testing.T, req *llm.ChatRequest) {
				if len(req.Messages) != 2 || req.Messages[1].Text() != "b" {
					t.Errorf("messages = %+v", req.Messages)
				}
			}},
		{name: "empty final assistant dropped", body: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":""}]}`,
			check: func(t *testing.T, req *llm.ChatRequest) {
				if len(req.Messages) != 1 {
					t.Errorf("messages = %+v", req.Messages)
				}
			}},
		{name: "tool results split the turn in place", body: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[
			{"type":"text","text":"before"},{"type":"tool_result","tool_use_id":"t1"},{"type":"text","text":"after"},
			{"type":"tool_result","tool_use_id":"t2","content":[{"type":"text","text":"x"},{"type":"image","source":{"type":"url","url":"https://e.com/a.png"}}]}]}]}`,
			check: func(t *testing.T, req *llm.ChatRequest) {
				want := []llm.Message{
					{Role: llm.RoleUser, Content: textParts("before")},
					{Role: llm.RoleTool, ToolCallID: "t1"},
					{Role: llm.RoleUser, Content: textParts("after")},
					{Role: llm.RoleTool, ToolCallID: "t2", Content: []llm.Part{text("x"), {Type: llm.PartImage, ImageURL: "https://e.com/a.png"}}},
				}
				if !reflect.DeepEqual(req.Messages, want) {
					t.Errorf("messages = %+v\nwant %+v", req.Messages, want)
				}
			}},
		{name: "is_error without content", body: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","is_error":true}]}]}`,
			check: func(t *testing.T, req *llm.ChatRequest) {
				if len(req.Messages) != 1 || req.Messages[0].Text() != "Error:" {
					t.Errorf("messages = %+v", req.Messages)
				}
			}},
		{name: "only thinking blocks leaves nothing", body: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"redacted_thinking","data":"abc"}]},{"role":"user","content":"r"}]}`,
			check: func(t *testing.T, req *llm.ChatRequest) {
				if len(req.Messages) != 2 || req.Messages[1].Text() != "r" {
					t.Errorf("messages = %+v", req.Messages)
				}
			}},
		{name: "tool choices", body: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"q"}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"}}`,
			check: func(t *testing.T, req *llm.ChatRequest) {
				if *req.ToolChoice != (llm.ToolChoice{Mode: "function", Name: "f"}) || req.ParallelToolCalls != nil {
					t.Errorf("tool choice = %+v, parallel = %v", req.ToolChoice, req.ParallelToolCalls)
				}
			}},
		{name: "tool choice none ignores disable_parallel", body: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"q"}],"tool_choice":{"type":"none","disable_parallel_tool_use":true}}`,
			check: func(t *testing.T, req *llm.ChatRequest) {
				if req.ToolChoice.Mode != "none" || req.ParallelToolCalls != nil {
					t.Errorf("tool choice = %+v, parallel = %v", req.ToolChoice, req.ParallelToolCalls)
				}
			}},
		{name: "ignored and null fields", body: `{"model":"m","max_tokens":1.0,"messages":[{"role":"user","content":"q","extra":1}],"thinking":{"type":"disabled"},"service_tier":"auto",
			"cache_control":{"type":"ephemeral"},"mcp_servers":[],"temperature":null,"stop_sequences":null,"metadata":null,"output_config":{"effort":"low"},"container":null}`,
			check: func(t *testing.T, req *llm.ChatRequest) {
				if *req.MaxTokens != 1 || req.Temperature != nil || req.Stop != nil || req.ResponseFormat != nil {
					t.Errorf("req = %+v", req)
				}
			}},
		{name: "beta output_format", body: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"q"}],"output_format":{"type":"json_schema","schema":{"type":"object"}}}`,
			check: func(t *testing.T, req *llm.ChatRequest) {
				if req.ResponseFormat == nil || string(req.ResponseFormat.Schema) != `{"type":"object"}` {
					t.Errorf("response format = %+v", req.ResponseFormat)
				}
			}},
		{name: "escaped strings and jpeg data", body: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"data":"/9j\/4A==","media_type":"image/jpeg","type":"base64"}},{"type":"text","text":"\u00e9\n\"q\""}]}]}`,
			check: func(t *testing.T, req *llm.ChatRequest) {
				c := req.Messages[0].Content
				if c[0].ImageURL != "data:image/jpeg;base64,/9j/4A==" || c[1].Text != "é\n\"q\"" {
					t.Errorf("content = %+v", c)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req llm.ChatRequest
			if err := DecodeMessagesRequest([]byte(tt.body), &req); err != nil {
				t.Fatalf("DecodeMessagesRequest: %v", err)
			}
			tt.check(t, &req)
		})
	}
}

func TestDecodeMessagesRequestErrors(t *testing.T) {
	const user = `"messages":[{"role":"user","content":"hi"}]`
	body := func(fields string) string { return `{"model":"m","max_tokens":10,` + fields + `}` }
	msgs := func(m string) string { return body(`"messages":` + m) }
	tests := []struct {
		name      string
		body      string
		wantParam string
		wantMsg   string // substring of Message
	}{
		{name: "not JSON", body: `{"model":`, wantMsg: "error parsing the body of your request: invalid JSON at byte offset 9"},
		{name: "trailing data", body: body(user) + `x`, wantMsg: "unexpected data after the top-level value"},
		{name: "not an object", body: `[1]`, wantMsg: "Input should be a valid dictionary"},
		{name: "invalid UTF-8", body: body(`"messages":[{"role":"user","content":"` + "\xff" + `"}]`), wantMsg: "not valid UTF-8 (byte offset 67)"},
		{name: "deep nesting in an ignored field", body: body(user + `,"thinking":` + strings.Repeat("[", 200) + strings.Repeat("]", 200)), wantMsg: "nesting exceeds 128 levels"},
		{name: "missing model", body: `{"max_tokens":1,` + user + `}`, wantParam: "model", wantMsg: "model: Field required"},
		{name: "empty model", body: `{"model":"","max_tokens":1,` + user + `}`, wantParam: "model", wantMsg: "at least 1 character"},
		{name: "model not a string", body: `{"model":7,"max_tokens":1,` + user + `}`, wantParam: "model", wantMsg: "model: Input should be a valid string"},
		{name: "missing max_tokens", body: `{"model":"m",` + user + `}`, wantParam: "max_tokens", wantMsg: "max_tokens: Field required"},
		{name: "max_tokens zero", body: `{"model":"m","max_tokens":0,` + user + `}`, wantParam: "max_tokens", wantMsg: "greater than or equal to 1"},
		{name: "max_tokens string", body: `{"model":"m","max_tokens":"9",` + user + `}`, wantParam: "max_tokens", wantMsg: "max_tokens: Input should be a valid integer"},
		{name: "max_tokens fraction", body: `{"model":"m","max_tokens":1.5,` + user + `}`, wantParam: "max_tokens", wantMsg: "fractional part"},
		{name: "max_tokens huge", body: `{"model":"m","max_tokens":99999999999999999999,` + user + `}`, wantParam: "max_tokens", wantMsg: "less than or equal"},
		{name: "missing messages", body: body(`"stream":true`), wantParam: "messages", wantMsg: "messages: Field required"},
		{name: "empty messages", body: body(`"messages":[]`), wantParam: "messages", wantMsg: "at least one message is required"},
		{name: "temperature above 1", body: body(user + `,"temperature":1.5`), wantParam: "temperature", wantMsg: "temperature: Input should be less than or equal to 1"},
		{name: "temperature negative", body: body(user + `,"temperature":-0.1`), wantParam: "temperature", wantMsg: "greater than or equal to 0"},
		{name: "top_p string", body: body(user + `,"top_p":"x"`), wantParam: "top_p", wantMsg: "valid number"},
		{name: "top_k negative", body: body(user + `,"top_k":-1`), wantParam: "top_k", wantMsg: "greater than or equal to 0"},
		{name: "stream not bool", body: body(user + `,"stream":"yes"`), wantParam: "stream", wantMsg: "valid boolean"},
		{name: "stop sequence not a string", body: body(user + `,"stop_sequences":["a",1]`), wantParam: "stop_sequences.1", wantMsg: "stop_sequences.1: Input should be a valid string"},
		{name: "too many stop sequences", body: body(user + `,"stop_sequences":[` + strings.Repeat(`"s",`, MaxStopSequences) + `"s"]`), wantParam: "stop_sequences", wantMsg: "at most 64 items"},
		{name: "metadata extra", body: body(user + `,"metadata":{"user_id":"u","team":"x"}`), wantParam: "metadata.team", wantMsg: "Extra inputs are not permitted"},
		{name: "mcp servers", body: body(user + `,"mcp_servers":[{"type":"url","url":"https://x","name":"x"}]`), wantParam: "mcp_servers", wantMsg: "MCP connector is not supported"},
		{name: "messages not a list", body: body(`"messages":{}`), wantParam: "messages", wantMsg: "messages: Input should be a valid list"},
		{name: "message not an object", body: msgs(`["hi"]`), wantParam: "messages.0", wantMsg: "messages.0: Input should be a valid dictionary"},
		{name: "role missing", body: msgs(`[{"content":"hi"}]`), wantParam: "messages.0.role", wantMsg: "messages.0.role: Field required"},
		{name: "role unknown", body: msgs(`[{"role":"user","content":"a"},{"role":"developer","content":"hi"}]`), wantParam: "messages.1.role", wantMsg: "Input should be 'user', 'assistant' or 'system'"},
		{name: "system turn with an image", body: msgs(`[{"role":"user","content":"a"},{"role":"system","content":[{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}]`), wantParam: "messages.1.content.0.type", wantMsg: "does not match any of the expected tags: 'text'"},
		{name: "content missing", body: msgs(`[{"role":"user"}]`), wantParam: "messages.0.content", wantMsg: "messages.0.content: Field required"},
		{name: "content a number", body: msgs(`[{"role":"user","content":5}]`), wantParam: "messages.0.content", wantMsg: "Input should be a valid string"},
		{name: "empty non-final message", body: msgs(`[{"role":"user","content":""},{"role":"assistant","content":"x"}]`), wantParam: "messages.0", wantMsg: "all messages must have non-empty content except for the optional final assistant message"},
		{name: "empty array content", body: msgs(`[{"role":"user","content":[]}]`), wantParam: "messages.0", wantMsg: "non-empty content"},
		{name: "empty final user message", body: msgs(`[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":""}]`), wantParam: "messages.2", wantMsg: "non-empty content"},
		{name: "block not an object", body: msgs(`[{"role":"user","content":["hi"]}]`), wantParam: "messages.0.content.0", wantMsg: "valid dictionary"},
		{name: "block type missing", body: msgs(`[{"role":"user","content":[{"text":"hi"}]}]`), wantParam: "messages.0.content.0.type", wantMsg: "messages.0.content.0.type: Field required"},
		{name: "block type unknown", body: msgs(`[{"role":"user","content":[{"type":"text","text":"a"},{"type":"video"}]}]`), wantParam: "messages.0.content.1.type", wantMsg: "Input tag 'video' found using 'type' does not match any of the expected tags"},
		{name: "document block", body: msgs(`[{"role":"user","content":[{"type":"document","source":{}}]}]`), wantParam: "messages.0.content.0.type", wantMsg: "'document' blocks are not supported"},
		{name: "text missing", body: msgs(`[{"role":"user","content":[{"type":"text"}]}]`), wantParam: "messages.0.content.0.text", wantMsg: "Field required"},
		{name: "text empty", body: msgs(`[{"role":"user","content":[{"type":"text","text":""}]}]`), wantParam: "messages.0.content.0.text", wantMsg: "text content blocks must be non-empty"},
		{name: "text not a string", body: msgs(`[{"role":"user","content":[{"type":"text","text":1}]}]`), wantParam: "messages.0.content.0.text", wantMsg: "valid string"},
		{name: "tool_use from the user", body: msgs(`[{"role":"user","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]}]`), wantParam: "messages.0.content.0.type", wantMsg: "Input tag 'tool_use' found"},
		{name: "tool_result from the assistant", body: msgs(`[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"t"}]}]`), wantParam: "messages.1.content.0.type", wantMsg: "Input tag 'tool_result' found"},
		{name: "tool_use without id", body: msgs(`[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","name":"f","input":{}}]}]`), wantParam: "messages.1.content.0.id", wantMsg: "Field required"},
		{name: "tool_use without input", body: msgs(`[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f"}]}]`), wantParam: "messages.1.content.0.input", wantMsg: "Field required"},
		{name: "tool_use input a string", body: msgs(`[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":"{}"}]}]`), wantParam: "messages.1.content.0.input", wantMsg: "valid dictionary"},
		{name: "tool_result without id", body: msgs(`[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]`), wantParam: "messages.0.content.0.tool_use_id", wantMsg: "Field required"},
		{name: "tool_result nested tool_use", body: msgs(`[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]}]}]`), wantParam: "messages.0.content.0.content.0.type", wantMsg: "Input tag 'tool_use'"},
		{name: "image from the assistant", body: msgs(`[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}]`), wantParam: "messages.1.content.0", wantMsg: "image blocks are only allowed in user messages"},
		{name: "image without source", body: msgs(`[{"role":"user","content":[{"type":"image"}]}]`), wantParam: "messages.0.content.0.source", wantMsg: "Field required"},
		{name: "image media type", body: msgs(`[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"AAAA"}}]}]`), wantParam: "messages.0.content.0.source.media_type", wantMsg: "'image/jpeg'"},
		{name: "image bad base64", body: msgs(`[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"not base64!"}}]}]`), wantParam: "messages.0.content.0.source.data", wantMsg: "not valid base64"},
		{name: "image missing data", body: msgs(`[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png"}}]}]`), wantParam: "messages.0.content.0.source.data", wantMsg: "Field required"},
		{name: "image url scheme", body: msgs(`[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"file:///etc/passwd"}}]}]`), wantParam: "messages.0.content.0.source.url", wantMsg: "http or https"},
		{name: "image file source", body: msgs(`[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"file_1"}}]}]`), wantParam: "messages.0.content.0.source.type", wantMsg: "file sources are not supported"},
		{name: "system not text", body: body(user + `,"system":[{"type":"image","source":{"type":"url","url":"https://x"}}]`), wantParam: "system.0.type", wantMsg: "Input tag 'image' found using 'type' does not match any of the expected tags: 'text'"},
		{name: "system a number", body: body(user + `,"system":1`), wantParam: "system", wantMsg: "system: Input should be a valid string"},
		{name: "tools not a list", body: body(user + `,"tools":{}`), wantParam: "tools", wantMsg: "valid list"},
		{name: "tool without name", body: body(user + `,"tools":[{"input_schema":{}}]`), wantParam: "tools.0.custom.name", wantMsg: "Field required"},
		{name: "tool bad name", body: body(user + `,"tools":[{"name":"a","input_schema":{}},{"name":"assist.Turn","input_schema":{}}]`), wantParam: "tools.1.custom.name", wantMsg: "String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"},
		{name: "tool without schema", body: body(user + `,"tools":[{"name":"f"}]`), wantParam: "tools.0.custom.input_schema", wantMsg: "Field required"},
		{name: "tool schema not an object", body: body(user + `,"tools":[{"name":"f","input_schema":[]}]`), wantParam: "tools.0.custom.input_schema", wantMsg: "valid dictionary"},
		{name: "server tool", body: body(user + `,"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":5}]`), wantParam: "tools.0.type", wantMsg: "server tools are not supported"},
		{name: "too many tools", body: body(user + `,"tools":[` + strings.Repeat(`{"name":"f","input_schema":{}},`, MaxTools) + `{"name":"f","input_schema":{}}]`), wantParam: "tools", wantMsg: "at most 256 items"},
		{name: "tool_choice type", body: body(user + `,"tool_choice":{"type":"required"}`), wantParam: "tool_choice.type", wantMsg: "Input tag 'required'"},
		{name: "tool_choice no type", body: body(user + `,"tool_choice":{}`), wantParam: "tool_choice.type", wantMsg: "Field required"},
		{name: "tool_choice tool without name", body: body(user + `,"tool_choice":{"type":"tool"}`), wantParam: "tool_choice.name", wantMsg: "Field required"},
		{name: "tool_choice unknown tool", body: body(user + `,"tools":[{"name":"f","input_schema":{}}],"tool_choice":{"type":"tool","name":"g"}`), wantParam: "tool_choice.name", wantMsg: "Tool 'g' not found"},
		{name: "tool_choice extra", body: body(user + `,"tool_choice":{"type":"auto","parallel":false}`), wantParam: "tool_choice.parallel", wantMsg: "Extra inputs are not permitted"},
		{name: "output format type", body: body(user + `,"output_config":{"format":{"type":"json_object"}}`), wantParam: "output_config.format.type", wantMsg: "Input tag 'json_object'"},
		{name: "output format without schema", body: body(user + `,"output_config":{"format":{"type":"json_schema"}}`), wantParam: "output_config.format.schema", wantMsg: "Field required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req llm.ChatRequest
			err := DecodeMessagesRequest([]byte(tt.body), &req)
			re := ingresstest.CheckRefused(t, err, tt.wantMsg)
			if re.Param != tt.wantParam {
				t.Errorf("Param = %q, want %q", re.Param, tt.wantParam)
			}
			if re.Param != "" && !strings.HasPrefix(re.Message, re.Param+": ") {
				t.Errorf("Message %q does not start with its param %q", re.Message, re.Param)
			}
		})
	}
}

func TestDecodeCountTokensRequest(t *testing.T) {
	var req llm.ChatRequest
	body := `{"model":"claude-sonnet-4-5","system":"s","messages":[{"role":"user","content":"Hello, world"}],"tools":[{"name":"f","input_schema":{"type":"object"}}]}`
	if err := DecodeCountTokensRequest([]byte(body), &req); err != nil {
		t.Fatalf("DecodeCountTokensRequest: %v", err)
	}
	if req.MaxTokens != nil || len(req.Messages) != 2 || len(req.Tools) != 1 {
		t.Errorf("req = %+v", req)
	}
	if err := DecodeMessagesRequest([]byte(body), &req); err == nil || !strings.Contains(err.Error(), "max_tokens: Field required") {
		t.Errorf("DecodeMessagesRequest of a count body = %v, want max_tokens required", err)
	}
	if err := DecodeCountTokensRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"a"}],"x":1}`), &req); err != nil ||
		req.Passthrough == nil || !slices.Equal(req.Passthrough.Dropped, []string{"x"}) {
		t.Errorf("unknown field = %v, passthrough %+v", err, req.Passthrough)
	}
}

func TestDecodeReusesRequest(t *testing.T) {
	var req llm.ChatRequest
	if err := DecodeMessagesRequest(testkit.Fixture(t, "request_full.json"), &req); err != nil {
		t.Fatal(err)
	}
	if err := DecodeMessagesRequest(testkit.Fixture(t, "request_basic.json"), &req); err != nil {
		t.Fatal(err)
	}
	want := llm.ChatRequest{Model: "claude-sonnet-4-5", MaxTokens: new(1024), Messages: []llm.Message{{Role: llm.RoleUser, Content: textParts("Hello, Claude")}}}
	// Reused slices keep their capacity; compare what is visible.
	if req.Model != want.Model || *req.MaxTokens != 1024 || len(req.Messages) != 1 || !reflect.DeepEqual(req.Messages[0].Content, want.Messages[0].Content) ||
		len(req.Messages[0].ToolCalls) != 0 || req.Messages[0].ToolCallID != "" || len(req.Tools) != 0 || len(req.Stop) != 0 ||
		req.ToolChoice != nil || req.Temperature != nil || req.TopK != nil || req.ResponseFormat != nil || req.User != "" || req.Stream {
		t.Errorf("state leaked from the previous request: %+v", req)
	}
	// A failed decode leaves no half-state that a later success keeps.
	if err := DecodeMessagesRequest([]byte(`{"model":"x","max_tokens":1,"messages":[{"role":"user","content":"a"},{"role":"bad"}]}`), &req); err == nil {
		t.Fatal("bad request accepted")
	}
	if err := DecodeMessagesRequest(testkit.Fixture(t, "request_basic.json"), &req); err != nil || len(req.Messages) != 1 {
		t.Errorf("after a failure: %v, %d messages", err, len(req.Messages))
	}
}

func TestDecodeAllocs(t *testing.T) {
	body := testkit.Fixture(t, "request_basic.json")
	var req llm.ChatRequest
	allocs := testing.AllocsPerRun(200, func() {
		if err := DecodeMessagesRequest(body, &req); err != nil {
			t.Fatal(err)
		}
	})
	// model, the message text and max_tokens: three values the caller
	// owns. Everything else is reused or on the stack.
	t.Logf("DecodeMessagesRequest(request_basic.json): %.0f allocs/op", allocs)
	if allocs > 3 {
		t.Errorf("DecodeMessagesRequest allocates %.0f times per small request, want at most 3", allocs)
	}
}

func TestCountTokens(t *testing.T) {
	base := &llm.ChatRequest{Messages: []llm.Message{{Role: llm.RoleUser, Content: textParts("Hello, world!")}}}
	n := CountTokens(base)
	// 3 request + 4 message + ceil(13/4) = 11.
	if n != 11 {
		t.Errorf("CountTokens = %d, want 11", n)
	}
	withImage := &llm.ChatRequest{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{text("Hello, world!"), {Type: llm.PartImage, ImageURL: "https://x"}}}}}
	if got := CountTokens(withImage); got != n+imageTokens {
		t.Errorf("with an image = %d, want %d", got, n+imageTokens)
	}
	withTools := *base
	withTools.Tools = []llm.Tool{{Name: "get_weather", Description: "Weather", Parameters: json.RawMessage(`{"type":"object"}`)}}
	if got := CountTokens(&withTools); got <= n+toolsOverhead {
		t.Errorf("with a tool = %d, want more than %d", got, n+toolsOverhead)
	}
	long := &llm.ChatRequest{Messages: []llm.Message{{Role: llm.RoleUser, Content: textParts(strings.Repeat("word ", 1000))}}}
	if got := CountTokens(long); got < 1000 || got > 1400 {
		t.Errorf("5000 bytes of English = %d tokens, want about 1250", got)
	}
}
