package openai

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/internal/ingress/ingresstest"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
)

func textParts(s string) []llm.Part { return []llm.Part{{Type: llm.PartText, Text: s}} }

func TestDecodeChatRequestFixtures(t *testing.T) {
	tests := []struct {
		name         string
		file         string
		want         llm.ChatRequest
		includeUsage bool
	}{
		{
			name: "basic",
			file: "chat_request_basic.json",
			want: llm.ChatRequest{
				Model: "gpt-4o-mini",
				Messages: []llm.Message{
					{Role: llm.RoleSystem, Content: textParts("You are a helpful assistant.")},
					{Role: llm.RoleUser, Content: textParts("Hello!")},
				},
				Stream:      true,
				Temperature: new(0.7),
				MaxTokens:   new(256),
			},
			includeUsage: true,
		},
		{
			name: "every field",
			file: "chat_request_full.json",
			want: llm.ChatRequest{
				Model: "gpt-4o",
				Messages: []llm.Message{
					{Role: llm.RoleSystem, Content: textParts("Answer in French.")},
					{Role: llm.RoleUser, Name: "alice", Content: []llm.Part{
						{Type: llm.PartText, Text: "What is in this image?"},
						{Type: llm.PartImage, ImageURL: "https://example.com/cat.png", Detail: "low"},
					}},
					{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{
						{ID: "call_abc123", Name: "get_weather", Arguments: `{"city":"Paris"}`},
					}},
					{Role: llm.RoleTool, ToolCallID: "call_abc123", Content: textParts(`{"temp_c":21}`)},
					{Role: llm.RoleAssistant, Content: []llm.Part{
						{Type: llm.PartText, Text: "Il fait 21 °C."},
						{Type: llm.PartText, Text: "Je ne peux pas."},
					}},
				},
				Temperature:      new(1.5),
				TopP:             new(0.9),
				MaxTokens:        new(512),
				Stop:             []string{"\n\n", "END"},
				Seed:             new(int64(-42)),
				PresencePenalty:  new(-0.5),
				FrequencyPenalty: new(2.0),
				ResponseFormat: &llm.ResponseFormat{
					Type: "json_schema",
					Name: "weather_report", Description: "A weather report",
					Schema: json.RawMessage(`{"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"], "additionalProperties": false}`),
					Strict: new(true),
				},
				Tools: []llm.Tool{
					{
						Name:        "get_weather",
						Description: "Current weather for a city",
						Parameters:  json.RawMessage(`{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}`),
						Strict:      new(false),
					},
					{Name: "no-params_2"},
				},
				ToolChoice:        &llm.ToolChoice{Mode: "function", Name: "get_weather"},
				ParallelToolCalls: new(false),
				User:              "user-1234",
				Extra: map[string]json.RawMessage{
					"logprobs":         json.RawMessage(`true`),
					"top_logprobs":     json.RawMessage(`2`),
					"logit_bias":       json.RawMessage(`{"50256": -100}`),
					"reasoning_effort": json.RawMessage(`"low"`),
					"metadata":         json.RawMessage(`{"team": "edge"}`),
					"store":            json.RawMessage(`false`),
					"service_tier":     json.RawMessage(`"auto"`),
					"top_k":            json.RawMessage(`40`),
					"safe_prompt":      json.RawMessage(`true`),
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got llm.ChatRequest
			inc, err := DecodeChatRequest(testkit.Fixture(t, tt.file), &got)
			if err != nil {
				t.Fatalf("DecodeChatRequest: %v", err)
			}
			if inc != tt.includeUsage {
				t.Errorf("includeUsage = %v, want %v", inc, tt.includeUsage)
			}
			ingresstest.CheckRequest(t, &got, &tt.want)
		})
	}
}

const userHi = `[{"role":"user","content":"hi"}]`

func TestDecodeChatRequestErrors(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantParam string
		wantCode  string
		wantMsg   string // substring of the message
	}{
		{"truncated JSON", `{"model": "x",`, "", CodeInvalidJSON, "byte offset 14"},
		{"bad literal", `{"model": "x", "stream": tru}`, "", CodeInvalidJSON, "byte offset 25"},
		{"trailing comma", `{"model":"m","messages":[],}`, "", CodeInvalidJSON, "expected a string object key"},
		{"trailing data", ingresstest.ChatBody(userHi) + ` {}`, "", CodeInvalidJSON, "after the top-level value"},
		{"raw control char in string", "{\"model\":\"a\x01b\"}", "", CodeInvalidJSON, "control character"},
		{"bad escape", `{"model":"a\qb"}`, "", CodeInvalidJSON, "invalid escape"},
		{"invalid UTF-8", "{\"model\":\"\xff\"}", "", CodeInvalidJSON, "not valid UTF-8 (byte offset 10)"},
		{"not an object", `[]`, "", CodeInvalidType, "must be a JSON object"},
		{"empty body", ``, "", CodeInvalidJSON, "unexpected end of input"},
		{"deep nesting", `{"x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, "", CodeInvalidJSON, "nesting exceeds"},
		{"missing model", `{"messages":` + userHi + `}`, "model", CodeMissingRequired, "model is required"},
		{"empty model", `{"model":"","messages":` + userHi + `}`, "model", CodeMissingRequired, "model is required"},
		{"model not a string", `{"model":1,"messages":` + userHi + `}`, "model", CodeInvalidType, "model must be a string"},
		{"missing messages", `{"model":"m"}`, "messages", CodeMissingRequired, "messages is required"},
		{"empty messages", ingresstest.ChatBody(`[]`), "messages", CodeMissingRequired, "messages is required"},
		{"messages not an array", ingresstest.ChatBody(`{}`), "messages", CodeInvalidType, "messages must be an array"},
		{"message not an object", ingresstest.ChatBody(`["hi"]`), "messages[0]", CodeInvalidType, "messages[0] must be an object"},
		{"content wrong type", ingresstest.ChatBody(`[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":5}]`),
			"messages[2].content", CodeInvalidType, "messages[2].content must be a string or an array of content parts"},
		{"role missing", ingresstest.ChatBody(`[{"content":"hi"}]`), "messages[0].role", CodeMissingRequired, "messages[0].role is required"},
		{"role unknown", ingresstest.ChatBody(`[{"role":"robot","content":"hi"}]`), "messages[0].role", CodeInvalidValue, "must be one of"},
		{"role function", ingresstest.ChatBody(`[{"role":"function","name":"f","content":"hi"}]`), "messages[0].role", CodeUnsupported, `use "tool"`},
		{"role not a string", ingresstest.ChatBody(`[{"role":1,"content":"hi"}]`), "messages[0].role", CodeInvalidType, "must be a string"},
		{"user content missing", ingresstest.ChatBody(`[{"role":"user"}]`), "messages[0].content", CodeMissingRequired, "is required"},
		{"user content null", ingresstest.ChatBody(`[{"role":"user","content":null}]`), "messages[0].content", CodeMissingRequired, "is required"},
		{"assistant without content or calls", ingresstest.ChatBody(`[{"role":"assistant","content":null}]`), "messages[0].content", CodeMissingRequired, "is required"},
		{"tool without tool_call_id", ingresstest.ChatBody(`[{"role":"user","content":"q"},{"role":"tool","content":"r"}]`), "messages[1].tool_call_id", CodeMissingRequired, "is required"},
		{"image in system message", ingresstest.ChatBody(`[{"role":"system","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]`),
			"messages[0].content[1]", CodeInvalidValue, "only allowed in user messages"},
		{"unsupported part", ingresstest.ChatBody(`[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"","format":"wav"}}]}]`),
			"messages[0].content[0].type", CodeUnsupported, `"input_audio" is not supported`},
		{"part without type", ingresstest.ChatBody(`[{"role":"user","content":[{"text":"a"}]}]`), "messages[0].content[0].type", CodeMissingRequired, "is required"},
		{"part not an object", ingresstest.ChatBody(`[{"role":"user","content":["a"]}]`), "messages[0].content[0]", CodeInvalidType, "content part object"},
		{"text part without text", ingresstest.ChatBody(`[{"role":"user","content":[{"type":"text"}]}]`), "messages[0].content[0].text", CodeMissingRequired, "is required"},
		{"text part text not a string", ingresstest.ChatBody(`[{"role":"user","content":[{"type":"text","text":1}]}]`), "messages[0].content[0].text", CodeInvalidType, "must be a string"},
		{"image without url", ingresstest.ChatBody(`[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]`), "messages[0].content[0].image_url.url", CodeMissingRequired, "is required"},
		{"image bad detail", ingresstest.ChatBody(`[{"role":"user","content":[{"type":"image_url","image_url":{"url":"u","detail":"max"}}]}]`),
			"messages[0].content[0].image_url.detail", CodeInvalidValue, "auto, low, high"},
		{"empty content array", ingresstest.ChatBody(`[{"role":"user","content":[]}]`), "messages[0].content", CodeInvalidValue, "must not be an empty array"},
		{"tool_calls on user", ingresstest.ChatBody(`[{"role":"user","content":"a","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}]`),
			"messages[0].tool_calls", CodeInvalidValue, "only allowed in assistant messages"},
		{"tool call without id", ingresstest.ChatBody(`[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]`),
			"messages[0].tool_calls[0].id", CodeMissingRequired, "is required"},
		{"tool call without name", ingresstest.ChatBody(`[{"role":"assistant","tool_calls":[{"id":"c","function":{"arguments":"{}"}}]}]`),
			"messages[0].tool_calls[0].function.name", CodeMissingRequired, "is required"},
		{"tool call arguments wrong type", ingresstest.ChatBody(`[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":5}}]}]`),
			"messages[0].tool_calls[0].function.arguments", CodeInvalidType, "must be a string"},
		{"tool call type", ingresstest.ChatBody(`[{"role":"assistant","tool_calls":[{"id":"c","type":"custom","function":{"name":"f"}}]}]`),
			"messages[0].tool_calls[0].type", CodeUnsupported, `"custom" is not supported`},
		{"temperature too high", ingresstest.ChatBody(userHi, `"temperature":2.5`), "temperature", CodeInvalidValue, "temperature must be between 0 and 2"},
		{"temperature negative", ingresstest.ChatBody(userHi, `"temperature":-0.1`), "temperature", CodeInvalidValue, "between 0 and 2"},
		{"temperature string", ingresstest.ChatBody(userHi, `"temperature":"hot"`), "temperature", CodeInvalidType, "temperature must be a number"},
		{"top_p", ingresstest.ChatBody(userHi, `"top_p":1.5`), "top_p", CodeInvalidValue, "top_p must be between 0 and 1"},
		{"presence_penalty", ingresstest.ChatBody(userHi, `"presence_penalty":-3`), "presence_penalty", CodeInvalidValue, "between -2 and 2"},
		{"frequency_penalty", ingresstest.ChatBody(userHi, `"frequency_penalty":2.01`), "frequency_penalty", CodeInvalidValue, "between -2 and 2"},
		{"max_tokens zero", ingresstest.ChatBody(userHi, `"max_tokens":0`), "max_tokens", CodeInvalidValue, "max_tokens must be at least 1"},
		{"max_tokens fraction", ingresstest.ChatBody(userHi, `"max_tokens":1.5`), "max_tokens", CodeInvalidType, "max_tokens must be an integer"},
		{"max_tokens huge", ingresstest.ChatBody(userHi, `"max_tokens":99999999999`), "max_tokens", CodeInvalidValue, "out of range"},
		{"max_completion_tokens negative", ingresstest.ChatBody(userHi, `"max_completion_tokens":-1`), "max_completion_tokens", CodeInvalidValue, "at least 1"},
		{"n two", ingresstest.ChatBody(userHi, `"n":2`), "n", CodeUnsupported, "n > 1 is not supported"},
		{"n zero", ingresstest.ChatBody(userHi, `"n":0`), "n", CodeInvalidValue, "n must be 1"},
		{"too many stops", ingresstest.ChatBody(userHi, `"stop":["a","b","c","d","e"]`), "stop", CodeInvalidValue, "at most 4"},
		{"stop element not a string", ingresstest.ChatBody(userHi, `"stop":["a",1]`), "stop[1]", CodeInvalidType, "stop[1] must be a string"},
		{"stop wrong type", ingresstest.ChatBody(userHi, `"stop":1`), "stop", CodeInvalidType, "a string or an array of strings"},
		{"seed fraction", ingresstest.ChatBody(userHi, `"seed":1.5`), "seed", CodeInvalidType, "seed must be an integer"},
		{"seed overflow", ingresstest.ChatBody(userHi, `"seed":99999999999999999999`), "seed", CodeInvalidValue, "out of range"},
		{"response_format type", ingresstest.ChatBody(userHi, `"response_format":{"type":"xml"}`), "response_format.type", CodeInvalidValue, "text, json_object, json_schema"},
		{"response_format no type", ingresstest.ChatBody(userHi, `"response_format":{}`), "response_format.type", CodeMissingRequired, "is required"},
		{"json_schema missing", ingresstest.ChatBody(userHi, `"response_format":{"type":"json_schema"}`), "response_format.json_schema", CodeMissingRequired, "is required"},
		{"json_schema no name", ingresstest.ChatBody(userHi, `"response_format":{"type":"json_schema","json_schema":{"schema":{}}}`), "response_format.json_schema.name", CodeMissingRequired, "is required"},
		{"json_schema schema not object", ingresstest.ChatBody(userHi, `"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":[]}}`),
			"response_format.json_schema.schema", CodeInvalidType, "JSON Schema object"},
		{"tools wrong type", ingresstest.ChatBody(userHi, `"tools":{}`), "tools", CodeInvalidType, "tools must be an array"},
		{"tool type", ingresstest.ChatBody(userHi, `"tools":[{"type":"code_interpreter"}]`), "tools[0].type", CodeUnsupported, `only "function"`},
		{"tool without function", ingresstest.ChatBody(userHi, `"tools":[{"type":"function"}]`), "tools[0].function", CodeMissingRequired, "is required"},
		{"tool bad name", ingresstest.ChatBody(userHi, `"tools":[{"type":"function","function":{"name":"get weather"}}]`), "tools[0].function.name", CodeInvalidValue, "a-z, A-Z, 0-9"},
		{"tool parameters wrong type", ingresstest.ChatBody(userHi, `"tools":[{"type":"function","function":{"name":"f","parameters":"{}"}}]`),
			"tools[0].function.parameters", CodeInvalidType, "JSON Schema object"},
		{"too many tools", ingresstest.ChatBody(userHi, `"tools":[`+strings.Repeat(`{"type":"function","function":{"name":"f"}},`, MaxTools)+`{"type":"function","function":{"name":"f"}}]`),
			"tools", CodeInvalidValue, "at most 128"},
		{"tool_choice word", ingresstest.ChatBody(userHi, `"tools":[{"type":"function","function":{"name":"f"}}]`, `"tool_choice":"sometimes"`), "tool_choice", CodeInvalidValue, `"auto", "none", "required"`},
		{"tool_choice no name", ingresstest.ChatBody(userHi, `"tools":[{"type":"function","function":{"name":"f"}}]`, `"tool_choice":{"type":"function","function":{}}`),
			"tool_choice.function.name", CodeMissingRequired, "is required"},
		{"tool_choice allowed_tools", ingresstest.ChatBody(userHi, `"tools":[{"type":"function","function":{"name":"f"}}]`, `"tool_choice":{"type":"allowed_tools"}`),
			"tool_choice.type", CodeUnsupported, "is not supported"},
		{"tool_choice without tools", ingresstest.ChatBody(userHi, `"tool_choice":"required"`), "tool_choice", CodeInvalidValue, "only allowed when tools are specified"},
		{"parallel_tool_calls", ingresstest.ChatBody(userHi, `"parallel_tool_calls":"yes"`), "parallel_tool_calls", CodeInvalidType, "must be a boolean"},
		{"stream", ingresstest.ChatBody(userHi, `"stream":"yes"`), "stream", CodeInvalidType, "stream must be a boolean"},
		{"include_usage", ingresstest.ChatBody(userHi, `"stream_options":{"include_usage":1}`), "stream_options.include_usage", CodeInvalidType, "must be a boolean"},
		{"user", ingresstest.ChatBody(userHi, `"user":42`), "user", CodeInvalidType, "user must be a string"},
		{"too many extras", ingresstest.ChatBody(userHi, manyExtras(MaxExtraFields+1)), "x64", CodeInvalidValue, "more than 64 unrecognized fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req llm.ChatRequest
			_, err := DecodeChatRequest([]byte(tt.body), &req)
			re := ingresstest.CheckRefused(t, err, tt.wantMsg)
			if re.Param != tt.wantParam {
				t.Errorf("Param = %q, want %q (message %q)", re.Param, tt.wantParam, re.Message)
			}
			if re.Code != tt.wantCode {
				t.Errorf("Code = %q, want %q (message %q)", re.Code, tt.wantCode, re.Message)
			}
		})
	}
}

func manyExtras(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"x` + strconv.Itoa(i) + `":1`)
	}
	return b.String()
}

func TestDecodeChatRequestAccepts(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, r *llm.ChatRequest)
	}{
		{"nulls are unset", ingresstest.ChatBody(userHi, `"temperature":null,"top_p":null,"max_tokens":null,"stop":null,"seed":null,"tools":null,"tool_choice":null,"response_format":null,"user":null,"n":null,"stream_options":null`),
			func(t *testing.T, r *llm.ChatRequest) {
				if r.Temperature != nil || r.TopP != nil || r.MaxTokens != nil || r.Stop != nil || r.Seed != nil || r.Tools != nil || r.ToolChoice != nil || r.ResponseFormat != nil {
					t.Errorf("null fields were set: %+v", r)
				}
			}},
		{"stop string", ingresstest.ChatBody(userHi, `"stop":"END"`), func(t *testing.T, r *llm.ChatRequest) {
			if !reflect.DeepEqual(r.Stop, []string{"END"}) {
				t.Errorf("Stop = %q", r.Stop)
			}
		}},
		{"max_tokens alone", ingresstest.ChatBody(userHi, `"max_tokens":7`), func(t *testing.T, r *llm.ChatRequest) {
			if r.MaxTokens == nil || *r.MaxTokens != 7 {
				t.Errorf("MaxTokens = %v", r.MaxTokens)
			}
		}},
		{"max_completion_tokens wins", ingresstest.ChatBody(userHi, `"max_completion_tokens":9,"max_tokens":7`), func(t *testing.T, r *llm.ChatRequest) {
			if r.MaxTokens == nil || *r.MaxTokens != 9 {
				t.Errorf("MaxTokens = %v", r.MaxTokens)
			}
		}},
		{"escapes and surrogates", ingresstest.ChatBody(`[{"role":"user","content":"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\ud800x"}]`), func(t *testing.T, r *llm.ChatRequest) {
			if got, want := r.Messages[0].Text(), "a\"\\/\b\f\n\r\t\u00e9\U0001F600\uFFFDx"; got != want {
				t.Errorf("text = %q, want %q", got, want)
			}
		}},
		{"image_url as string", ingresstest.ChatBody(`[{"role":"user","content":[{"type":"image_url","image_url":"data:image/png;base64,AAAA"}]}]`), func(t *testing.T, r *llm.ChatRequest) {
			p := r.Messages[0].Content[0]
			if p.Type != llm.PartImage || p.ImageURL != "data:image/png;base64,AAAA" {
				t.Errorf("part = %+v", p)
			}
		}},
		{"arguments as object", ingresstest.ChatBody(`[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":{"a": 1}}}]}]`), func(t *testing.T, r *llm.ChatRequest) {
			if got := r.Messages[0].ToolCalls[0].Arguments; got != `{"a": 1}` {
				t.Errorf("Arguments = %q", got)
			}
		}},
		{"tool_choice none without tools", ingresstest.ChatBody(userHi, `"tool_choice":"none"`), func(t *testing.T, r *llm.ChatRequest) {
			if r.ToolChoice == nil || r.ToolChoice.Mode != "none" {
				t.Errorf("ToolChoice = %+v", r.ToolChoice)
			}
		}},
		{"unknown message and part fields ignored", ingresstest.ChatBody(`[{"role":"user","content":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}}],"x":1}]`), func(t *testing.T, r *llm.ChatRequest) {
			if r.Messages[0].Text() != "a" {
				t.Errorf("text = %q", r.Messages[0].Text())
			}
		}},
		{"whitespace everywhere", " \n\t{ \"model\" : \"m\" , \"messages\" : [ { \"role\" : \"user\" , \"content\" : \"hi\" } ] } \r\n", func(t *testing.T, r *llm.ChatRequest) {
			if r.Model != "m" || r.Messages[0].Text() != "hi" {
				t.Errorf("req = %+v", r)
			}
		}},
		{"escaped keys", `{"mod\u0065l":"m","messages":` + userHi + `}`, func(t *testing.T, r *llm.ChatRequest) {
			if r.Model != "m" {
				t.Errorf("Model = %q", r.Model)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req llm.ChatRequest
			if _, err := DecodeChatRequest([]byte(tt.body), &req); err != nil {
				t.Fatalf("DecodeChatRequest: %v", err)
			}
			tt.check(t, &req)
		})
	}
}

func TestDecodeChatRequestExtraPassThrough(t *testing.T) {
	tests := []struct {
		name  string
		field string
		raw   string
	}{
		{"logprobs", "logprobs", `true`},
		{"top_logprobs", "top_logprobs", `5`},
		{"logit_bias", "logit_bias", `{"1234": -100, "42": 5}`},
		{"reasoning_effort", "reasoning_effort", `"high"`},
		{"metadata", "metadata", `{"k":"v"}`},
		{"store", "store", `true`},
		{"service_tier", "service_tier", `"flex"`},
		{"modalities", "modalities", `["text"]`},
		{"prediction", "prediction", `{"type":"content","content":"x"}`},
		{"verbosity", "verbosity", `"low"`},
		{"web_search_options", "web_search_options", `{}`},
		{"vendor extra", "min_p", `0.05`},
		{"escaped key", "k\"ey", `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, _ := json.Marshal(tt.field)
			body := ingresstest.ChatBody(userHi, string(key)+`:`+tt.raw)
			var req llm.ChatRequest
			if _, err := DecodeChatRequest([]byte(body), &req); err != nil {
				t.Fatalf("DecodeChatRequest: %v", err)
			}
			if got := string(req.Extra[tt.field]); got != tt.raw {
				t.Errorf("Extra[%q] = %q, want %q", tt.field, got, tt.raw)
			}
			if len(req.Extra) != 1 {
				t.Errorf("Extra has %d entries, want 1: %v", len(req.Extra), req.Extra)
			}
			// Consumed fields never reach Extra.
			for _, k := range []string{"stream", "stream_options", "n", "model", "messages"} {
				if _, ok := req.Extra[k]; ok {
					t.Errorf("Extra holds consumed field %q", k)
				}
			}
		})
	}
}

func TestDecodeChatRequestReuse(t *testing.T) {
	ingresstest.CheckReuse(t, DecodeChatRequest, testkit.Fixture(t, "chat_request_full.json"), testkit.Fixture(t, "chat_request_basic.json"))
}

func TestDecodeChatRequestAllocs(t *testing.T) {
	body := testkit.Fixture(t, "chat_request_basic.json")
	var req llm.ChatRequest
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := DecodeChatRequest(body, &req); err != nil {
			t.Fatal(err)
		}
	})
	// model, two message texts, temperature and max_tokens: five values
	// the caller owns. Everything else is reused or on the stack.
	t.Logf("DecodeChatRequest(chat_request_basic.json): %.0f allocs/op", allocs)
	if allocs > 5 {
		t.Errorf("DecodeChatRequest allocates %.0f times per small request, want at most 5", allocs)
	}
}

func TestDecodeEmbedRequest(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		want       llm.EmbedRequest
		wantFormat string
		wantParam  string // non-empty: an error naming this field
		wantMsg    string
	}{
		{name: "string", body: `{"model":"e","input":"hello"}`, want: llm.EmbedRequest{Model: "e", Input: []string{"hello"}}, wantFormat: "float"},
		{name: "array", body: `{"model":"e","input":["a","b"],"dimensions":256,"encoding_format":"base64","user":"u"}`,
			want: llm.EmbedRequest{Model: "e", Input: []string{"a", "b"}, Dimensions: new(256), User: "u"}, wantFormat: "base64"},
		{name: "unknown fields ignored", body: `{"model":"e","input":"x","truncate":true}`, want: llm.EmbedRequest{Model: "e", Input: []string{"x"}}, wantFormat: "float"},
		{name: "token array", body: `{"model":"e","input":[1,2,3]}`, wantParam: "input", wantMsg: "token arrays is not supported"},
		{name: "token arrays", body: `{"model":"e","input":[[1,2],[3]]}`, wantParam: "input", wantMsg: "token arrays is not supported"},
		{name: "bare token", body: `{"model":"e","input":7}`, wantParam: "input", wantMsg: "token arrays"},
		{name: "empty string", body: `{"model":"e","input":""}`, wantParam: "input", wantMsg: "must not be an empty string"},
		{name: "empty element", body: `{"model":"e","input":["a",""]}`, wantParam: "input[1]", wantMsg: "must not be an empty string"},
		{name: "element wrong type", body: `{"model":"e","input":["a",{}]}`, wantParam: "input[1]", wantMsg: "must be a string"},
		{name: "missing input", body: `{"model":"e"}`, wantParam: "input", wantMsg: "is required"},
		{name: "empty input", body: `{"model":"e","input":[]}`, wantParam: "input", wantMsg: "is required"},
		{name: "missing model", body: `{"input":"x"}`, wantParam: "model", wantMsg: "is required"},
		{name: "dimensions zero", body: `{"model":"e","input":"x","dimensions":0}`, wantParam: "dimensions", wantMsg: "at least 1"},
		{name: "bad format", body: `{"model":"e","input":"x","encoding_format":"int8"}`, wantParam: "encoding_format", wantMsg: `"float" or "base64"`},
		{name: "bad JSON", body: `{"model":"e",`, wantMsg: "invalid JSON at byte offset 13"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req llm.EmbedRequest
			format, err := DecodeEmbedRequest([]byte(tt.body), &req)
			if tt.wantMsg != "" {
				if re := ingresstest.CheckRefused(t, err, tt.wantMsg); re.Param != tt.wantParam {
					t.Errorf("Param = %q, want %q", re.Param, tt.wantParam)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeEmbedRequest: %v", err)
			}
			if format != tt.wantFormat {
				t.Errorf("format = %q, want %q", format, tt.wantFormat)
			}
			if !reflect.DeepEqual(req, tt.want) {
				t.Errorf("req = %+v, want %+v", req, tt.want)
			}
		})
	}
}
