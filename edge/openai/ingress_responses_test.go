package openai

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/internal/ingress/ingresstest"
	"github.com/edgeway/edgeway/edge/llm"
)

// codexLike is the shape of what Codex CLI 0.171 sends (captured, cut
// down): developer messages, namespace and hosted tools, reasoning and
// store false.
const codexLike = `{"model":"chat","stream":true,"input":[
 {"type":"message","id":"msg_1","role":"developer","content":[{"type":"input_text","text":"You are a coding agent."}]},
 {"type":"message","role":"user","content":[{"type":"input_text","text":"run it"}]},
 {"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"gAAA"},
 {"type":"function_call","call_id":"call_1","name":"exec_command","arguments":"{\"cmd\":\"ls\"}"},
 {"type":"function_call","call_id":"call_2","namespace":"multi_agent_v1","name":"close_agent","arguments":"{}"},
 {"type":"function_call_output","call_id":"call_1","output":"a.txt"},
 {"type":"function_call_output","call_id":"call_2","output":[{"type":"input_text","text":"closed"}]}],
 "tools":[{"type":"function","name":"exec_command","description":"Runs a command","strict":false,"parameters":{"type":"object","properties":{"cmd":{"type":"string"}}}},
  {"type":"namespace","name":"multi_agent_v1","description":"agents","tools":[{"type":"function","name":"close_agent","parameters":{"type":"object"}}]},
  {"type":"custom","name":"apply_patch","description":"patch","format":{"type":"grammar","syntax":"lark","definition":"start: x"}},
  {"type":"web_search","external_web_access":false}],
 "tool_choice":"auto","parallel_tool_calls":true,"reasoning":{"summary":"auto","effort":"low"},"store":false,
 "include":["reasoning.encrypted_content"],"prompt_cache_key":"k","client_metadata":{"a":"b"},
 "instructions":"Be brief.","max_output_tokens":100,"metadata":{"k":"v"},"text":{"format":{"type":"json_schema","name":"s","schema":{"type":"object"},"strict":true}}}`

func TestDecodeResponsesRequest(t *testing.T) {
	var req llm.ChatRequest
	var rs Responses
	if err := DecodeResponsesRequest([]byte(codexLike), &req, &rs); err != nil {
		t.Fatal(err)
	}
	roles := ""
	for _, m := range req.Messages {
		roles += string(m.Role) + ","
	}
	if roles != "system,system,user,assistant,tool,tool," {
		t.Fatalf("roles %s", roles)
	}
	if req.Messages[0].Text() != "Be brief." || req.Messages[1].Text() != "You are a coding agent." {
		t.Fatalf("instructions first, then the developer message: %+v", req.Messages[:2])
	}
	calls := req.Messages[3].ToolCalls
	if len(calls) != 2 || calls[0].ID != "call_1" || calls[1].Name != "multi_agent_v1__close_agent" || calls[0].Arguments != `{"cmd":"ls"}` {
		t.Fatalf("calls %+v", calls)
	}
	if req.Messages[5].ToolCallID != "call_2" || req.Messages[5].Text() != "closed" {
		t.Fatalf("tool output %+v", req.Messages[5])
	}
	names := []string{}
	for _, tl := range req.Tools {
		names = append(names, tl.Name)
	}
	if strings.Join(names, ",") != "exec_command,multi_agent_v1__close_agent,apply_patch" {
		t.Fatalf("tools %v", names)
	}
	if !rs.Custom["apply_patch"] || rs.Namespaced["multi_agent_v1__close_agent"] != [2]string{"multi_agent_v1", "close_agent"} {
		t.Fatalf("custom %v namespaced %v", rs.Custom, rs.Namespaced)
	}
	if strings.Join(rs.Dropped, ",") != "reasoning,web_search" || rs.Store || !req.Stream {
		t.Fatalf("dropped %v store %v", rs.Dropped, rs.Store)
	}
	if req.MaxTokens == nil || *req.MaxTokens != 100 || req.ResponseFormat == nil || req.ResponseFormat.Name != "s" ||
		string(req.Extra["reasoning_effort"]) != `"low"` || string(rs.Metadata) != `{"k":"v"}` {
		t.Fatalf("params: %+v %+v %s", req.MaxTokens, req.ResponseFormat, rs.Metadata)
	}
}

func TestDecodeResponsesForcedHostedTool(t *testing.T) {
	var req llm.ChatRequest
	var rs Responses
	err := DecodeResponsesRequest([]byte(`{"model":"m","input":"x","tools":[{"type":"web_search"}],"tool_choice":{"type":"web_search"}}`), &req, &rs)
	if err != nil || rs.Forced != "web_search" || req.ToolChoice != nil || len(req.Tools) != 0 {
		t.Fatalf("forced %q choice %+v tools %d err %v: the server decides, by the target", rs.Forced, req.ToolChoice, len(req.Tools), err)
	}
}

func TestDecodeResponsesFiles(t *testing.T) {
	var req llm.ChatRequest
	var rs Responses
	body := `{"model":"m","input":[{"role":"user","content":[
		{"type":"input_file","filename":"notes.md","file_data":"data:text/markdown;base64,IyBIZWxsbwp3b3JsZA=="},
		{"type":"input_file","filename":"a.pdf","file_data":"data:application/pdf;base64,JVBERi0="},
		{"type":"input_file","file_id":"file-1"}]}]}`
	if err := DecodeResponsesRequest([]byte(body), &req, &rs); err != nil {
		t.Fatal(err)
	}
	if got := req.Messages[0].Content[0].Text; got != "notes.md:\n# Hello\nworld" {
		t.Fatalf("text file read as %q", got)
	}
	if strings.Join(rs.Files, ",") != "application/pdf,a file by id or URL" || strings.Join(rs.Dropped, ",") != "input_file" {
		t.Fatalf("files %v dropped %v", rs.Files, rs.Dropped)
	}
}

func TestDecodeResponsesRequestRefuses(t *testing.T) {
	for _, tc := range []struct{ name, body, param string }{
		{"no model", `{"input":"hi"}`, "model"},
		{"no input", `{"model":"m"}`, "input"},
		{"bad role", `{"model":"m","input":[{"role":"robot","content":"x"}]}`, "input[0].role"},
		{"empty file part", `{"model":"m","input":[{"role":"user","content":[{"type":"input_file"}]}]}`, "input[0].content[0].file_data"},
		{"audio part", `{"model":"m","input":[{"role":"user","content":[{"type":"input_audio"}]}]}`, "input[0].content[0].type"},
		{"call without id", `{"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]}`, "input[0].call_id"},
		{"unknown item", `{"model":"m","input":[{"type":"teleport"}]}`, "input[0].type"},
		{"background", `{"model":"m","input":"x","background":true}`, "background"},
		{"too much metadata", `{"model":"m","input":"x","metadata":{"1":"","2":"","3":"","4":"","5":"","6":"","7":"","8":"","9":"","10":"","11":"","12":"","13":"","14":"","15":"","16":"","17":""}}`, "metadata"},
		{"bad tool name", `{"model":"m","input":"x","tools":[{"type":"function","name":"a b"}]}`, "tools[0].name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req llm.ChatRequest
			var rs Responses
			err := DecodeResponsesRequest([]byte(tc.body), &req, &rs)
			ingresstest.CheckRefused(t, err, tc.param)
		})
	}
}

// events parses an SSE stream into its events' data objects, checking
// that each names its type in both places and that sequence numbers
// count up from 0.
func events(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	var name string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			var m map[string]any
			if err := json.Unmarshal([]byte(line[len("data: "):]), &m); err != nil {
				t.Fatalf("event %s: %v: %s", name, err, line)
			}
			if m["type"] != name || m["sequence_number"] != float64(len(out)) {
				t.Fatalf("event %d: %s / %v / %v", len(out), name, m["type"], m["sequence_number"])
			}
			out = append(out, m)
		}
	}
	return out
}

func TestResponsesStream(t *testing.T) {
	var req llm.ChatRequest
	var rs Responses
	if err := DecodeResponsesRequest([]byte(codexLike), &req, &rs); err != nil {
		t.Fatal(err)
	}
	h := &ResponseHead{ID: "resp_abc", Created: 1, Model: "chat", Req: &req, R: &rs}
	var s ResponsesStream
	s.Reset(h)
	b := s.Start(nil)
	for _, c := range []llm.Chunk{
		{Role: llm.RoleAssistant, Reasoning: "think"},
		{Text: "Hel"}, {Text: "lo"},
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "call_9", Name: "exec_command", Arguments: `{"cmd":`}}},
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: `"ls"}`}}},
		{ToolCalls: []llm.ToolCallDelta{{Index: 1, ID: "call_10", Name: "multi_agent_v1__close_agent", Arguments: `{}`}}},
		{ToolCalls: []llm.ToolCallDelta{{Index: 2, ID: "call_11", Name: "apply_patch", Arguments: `{"input":"*** Begin Patch"}`}}},
		{FinishReason: llm.FinishToolCalls},
	} {
		b = s.Chunk(b, &c)
	}
	b = s.End(b, llm.Usage{PromptTokens: 7, CompletionTokens: 3, CachedTokens: 2}, llm.FinishToolCalls)
	ev := events(t, b)
	var types []string
	for _, e := range ev {
		types = append(types, strings.TrimPrefix(e["type"].(string), "response."))
	}
	want := "created,in_progress,output_item.added,reasoning_text.delta,reasoning_text.done,output_item.done," +
		"output_item.added,content_part.added,output_text.delta,output_text.delta,output_text.done,content_part.done,output_item.done," +
		"output_item.added,function_call_arguments.delta,function_call_arguments.delta,function_call_arguments.done,output_item.done," +
		"output_item.added,function_call_arguments.delta,function_call_arguments.done,output_item.done," +
		"output_item.added,output_item.done,completed"
	if strings.Join(types, ",") != want {
		t.Fatalf("events\n%s\nwant\n%s", strings.Join(types, ","), want)
	}
	done := ev[len(ev)-2]["item"].(map[string]any)
	if done["type"] != "custom_tool_call" || done["input"] != "*** Begin Patch" || done["call_id"] != "call_11" {
		t.Fatalf("custom call %v", done)
	}
	ns := ev[21]["item"].(map[string]any)
	if ns["namespace"] != "multi_agent_v1" || ns["name"] != "close_agent" {
		t.Fatalf("namespaced call %v", ns)
	}
	resp := ev[len(ev)-1]["response"].(map[string]any)
	usage := resp["usage"].(map[string]any)
	if resp["id"] != "resp_abc" || resp["status"] != "completed" || len(resp["output"].([]any)) != 5 ||
		usage["input_tokens"] != float64(7) || usage["total_tokens"] != float64(10) {
		t.Fatalf("completed %v", resp)
	}
	if resp["metadata"].(map[string]any)["k"] != "v" || resp["store"] != false {
		t.Fatalf("echo %v", resp)
	}
}

func TestResponsesStreamEmptyAndError(t *testing.T) {
	req := llm.ChatRequest{Model: "m"}
	rs := Responses{Store: true}
	h := &ResponseHead{ID: "resp_x", Model: "m", Req: &req, R: &rs}
	var s ResponsesStream
	s.Reset(h)
	ev := events(t, s.End(s.Start(nil), llm.Usage{}, llm.FinishLength))
	if last := ev[len(ev)-1]; last["type"] != "response.incomplete" || len(last["response"].(map[string]any)["output"].([]any)) != 1 {
		t.Fatalf("empty answer: %v", last)
	}
	s.Reset(h)
	b := s.Chunk(s.Start(nil), &llm.Chunk{Text: "par"})
	ev = events(t, s.Error(b, "upstream_error", "the upstream failed"))
	if e := ev[len(ev)-2]; e["type"] != "error" || e["message"] != "the upstream failed" {
		t.Fatalf("error event %v", e)
	}
	if f := ev[len(ev)-1]["response"].(map[string]any); f["status"] != "failed" || f["error"].(map[string]any)["code"] != "upstream_error" {
		t.Fatalf("failed %v", f)
	}
}

func FuzzDecodeResponsesRequest(f *testing.F) {
	for _, s := range []string{codexLike, `{"model":"m","input":"hi"}`, `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"data:image/png;base64,AA=="}]}]}`,
		`{"model":"m","input":[{"type":"custom_tool_call","call_id":"c","name":"p","input":"x"},{"type":"custom_tool_call_output","call_id":"c","output":"ok"}],"tool_choice":{"type":"function","name":"p","namespace":"n"}}`,
		`{"model":"m","previous_response_id":"resp_1","tools":[{"type":"namespace","name":"n","tools":[{"type":"namespace","name":"x"}]}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req llm.ChatRequest
		var rs Responses
		if err := DecodeResponsesRequest(body, &req, &rs); err != nil {
			ingresstest.CheckRefused(t, err, "")
			return
		}
		// An accepted request streams and answers whole as valid JSON.
		h := &ResponseHead{ID: "resp_f", Model: req.Model, Req: &req, R: &rs}
		var s ResponsesStream
		s.Reset(h)
		b := s.Start(nil)
		b = s.Chunk(b, &llm.Chunk{Text: "x", ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "c", Name: "n__x", Arguments: "{}"}}})
		events(t, s.End(b, llm.Usage{}, ""))
		if whole := AppendResponse(nil, h, s.Aggregate(), "", ""); !json.Valid(whole) {
			t.Fatalf("invalid response object: %s", whole)
		}
	})
}
