package anthropictest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/testkit"
)

// These tests speak raw HTTP to the fake, independently of the client in
// package anthropic, and check the wire format against Anthropic's
// documented shapes.

func do(t *testing.T, s *Server, method, path, body string, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(s.URL(), "/v1")+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type sseEvent struct {
	Name string
	Data map[string]any
}

// events parses an SSE body strictly: "event: X\ndata: {json}\n\n" with
// the data's type equal to X.
func events(t *testing.T, b []byte) []sseEvent {
	t.Helper()
	var out []sseEvent
	for _, raw := range strings.SplitAfter(string(b), "\n\n") {
		if raw == "" {
			continue
		}
		lines := strings.Split(strings.TrimSuffix(raw, "\n\n"), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "event: ") || !strings.HasPrefix(lines[1], "data: ") {
			t.Fatalf("bad event framing: %q", raw)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[1][6:]), &m); err != nil {
			t.Fatalf("event data is not JSON: %v: %q", err, lines[1])
		}
		if m["type"] != lines[0][7:] {
			t.Fatalf("event %s has type %v", lines[0], m["type"])
		}
		out = append(out, sseEvent{lines[0][7:], m})
	}
	return out
}

const userHi = `"messages":[{"role":"user","content":"Hi there"}]`

func TestMessagesJSON(t *testing.T) {
	s := NewT(t, Options{Reply: "Hello world.", CacheReadTokens: 4})
	resp := do(t, s, "POST", "/v1/messages", `{"model":"claude-x","max_tokens":100,`+userHi+`}`, nil)
	body := readAll(t, resp)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Request-Id"), "req_") || resp.Header.Get("Anthropic-Ratelimit-Requests-Limit") == "" {
		t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
	}
	var m struct {
		ID, Type, Role, Model string
		Content               []map[string]any
		StopReason            string  `json:"stop_reason"`
		StopSequence          *string `json:"stop_sequence"`
		Usage                 map[string]any
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.ID, "msg_") || m.Type != "message" || m.Role != "assistant" || m.Model != "claude-x" || m.StopReason != "end_turn" || m.StopSequence != nil {
		t.Errorf("message = %s", body)
	}
	if !reflect.DeepEqual(m.Content, []map[string]any{{"type": "text", "text": "Hello world."}}) {
		t.Errorf("content = %v", m.Content)
	}
	if m.Usage["input_tokens"] != 2.0 || m.Usage["output_tokens"] != 2.0 || m.Usage["cache_read_input_tokens"] != 4.0 {
		t.Errorf("usage = %v", m.Usage)
	}
	if s.Requests() != 1 || !strings.Contains(string(s.LastRequest()), "Hi there") {
		t.Errorf("requests %d, last %s", s.Requests(), s.LastRequest())
	}
}

func TestMessagesStream(t *testing.T) {
	s := NewT(t, Options{Reply: "One two three", Thinking: "hmm ok"})
	resp := do(t, s, "POST", "/v1/messages", `{"model":"m","max_tokens":100,"stream":true,`+userHi+`}`, nil)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	evs := events(t, readAll(t, resp))
	var names []string
	var text, thinking string
	for _, e := range evs {
		names = append(names, e.Name)
		if d, ok := e.Data["delta"].(map[string]any); ok && e.Name == "content_block_delta" {
			if v, ok := d["text"].(string); ok {
				text += v
			}
			if v, ok := d["thinking"].(string); ok {
				thinking += v
			}
		}
	}
	want := []string{"message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop",
		"content_block_start", "ping", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("events = %v\nwant     %v", names, want)
	}
	if text != "One two three" || thinking != "hmm ok" {
		t.Errorf("text %q thinking %q", text, thinking)
	}
	md := evs[len(evs)-2].Data
	if md["delta"].(map[string]any)["stop_reason"] != "end_turn" || md["usage"].(map[string]any)["output_tokens"] != 3.0 {
		t.Errorf("message_delta = %v", md)
	}
}

func TestToolUseStream(t *testing.T) {
	s := NewT(t, Options{ToolUse: &ToolUse{Name: "get_weather", Input: `{"location":"Paris"}`, Preamble: "Checking."}, Chunks: 5})
	body := `{"model":"m","max_tokens":100,"stream":true,` + userHi + `,"tools":[{"name":"get_weather","input_schema":{"type":"object"}}]}`
	evs := events(t, readAll(t, do(t, s, "POST", "/v1/messages", body, nil)))
	var partial string
	var starts []string
	deltas := 0
	for _, e := range evs {
		switch e.Name {
		case "content_block_start":
			cb := e.Data["content_block"].(map[string]any)
			starts = append(starts, cb["type"].(string)+"@"+strconv.Itoa(int(e.Data["index"].(float64))))
			if cb["type"] == "tool_use" && (cb["id"] != DefaultToolUseID || cb["name"] != "get_weather") {
				t.Errorf("tool block = %v", cb)
			}
		case "content_block_delta":
			if d := e.Data["delta"].(map[string]any); d["type"] == "input_json_delta" {
				partial += d["partial_json"].(string)
				deltas++
			}
		case "message_delta":
			if e.Data["delta"].(map[string]any)["stop_reason"] != "tool_use" {
				t.Errorf("message_delta = %v", e.Data)
			}
		}
	}
	if !reflect.DeepEqual(starts, []string{"text@0", "tool_use@1"}) || partial != `{"location":"Paris"}` || deltas != 6 {
		t.Errorf("starts %v, input %q in %d deltas", starts, partial, deltas)
	}
	// tool_choice none: text instead.
	body = `{"model":"m","max_tokens":100,` + userHi + `,"tools":[{"name":"get_weather","input_schema":{"type":"object"}}],"tool_choice":{"type":"none"}}`
	if b := readAll(t, do(t, s, "POST", "/v1/messages", body, nil)); !strings.Contains(string(b), `"stop_reason":"end_turn"`) {
		t.Errorf("tool_choice none answered %s", b)
	}
}

func TestLimits(t *testing.T) {
	s := NewT(t, Options{Reply: "a b c d. STOP e f"})
	b := readAll(t, do(t, s, "POST", "/v1/messages", `{"model":"m","max_tokens":2,`+userHi+`}`, nil))
	if !strings.Contains(string(b), `"text":"a b"`) || !strings.Contains(string(b), `"stop_reason":"max_tokens"`) {
		t.Errorf("max_tokens answer %s", b)
	}
	b = readAll(t, do(t, s, "POST", "/v1/messages", `{"model":"m","max_tokens":50,"stop_sequences":["STOP"],`+userHi+`}`, nil))
	if !strings.Contains(string(b), `"text":"a b c d. "`) || !strings.Contains(string(b), `"stop_reason":"stop_sequence","stop_sequence":"STOP"`) {
		t.Errorf("stop sequence answer %s", b)
	}
}

func TestValidation(t *testing.T) {
	s := NewT(t, Options{})
	tests := []struct {
		name, body, want string
	}{
		{"not JSON", `{"model":`, "error parsing the body"},
		{"unknown field", `{"model":"m","max_tokens":1,` + userHi + `,"n":2}`, "n: Extra inputs are not permitted"},
		{"nested unknown field", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x","name":"bob"}]}`, "name: Extra inputs are not permitted"},
		{"missing model", `{"max_tokens":1,` + userHi + `}`, "model: Field required"},
		{"missing max_tokens", `{"model":"m",` + userHi + `}`, "max_tokens: Field required"},
		{"empty messages", `{"model":"m","max_tokens":1,"messages":[]}`, "messages: at least one message is required"},
		{"temperature", `{"model":"m","max_tokens":1,"temperature":2,` + userHi + `}`, "temperature: Input should be less than or equal to 1"},
		{"system role", `{"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}]}`, "messages.0.role: Input should be 'user' or 'assistant'"},
		{"empty text block", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}`, "messages.0.content.0.text: text content blocks must be non-empty"},
		{"empty middle message", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":""},{"role":"assistant","content":"x"}]}`, "messages.0: all messages must have non-empty content"},
		{"bad tool id", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"call.1","name":"f","input":{}}]}]}`, "messages.1.content.0.id: String should match pattern"},
		{"tool_use input string", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"c","name":"f","input":"{}"}]}]}`, "messages.1.content.0.input"},
		{"image media type", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"AAAA"}}]}]}`, "media_type"},
		{"tool name", `{"model":"m","max_tokens":1,` + userHi + `,"tools":[{"name":"a.b","input_schema":{"type":"object"}}]}`, "tools.0.custom.name"},
		{"tool schema type", `{"model":"m","max_tokens":1,` + userHi + `,"tools":[{"name":"f","input_schema":{}}]}`, "tools.0.custom.input_schema.type"},
		{"tool choice none with extra", `{"model":"m","max_tokens":1,` + userHi + `,"tool_choice":{"type":"none","disable_parallel_tool_use":true}}`, "Extra inputs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, s, "POST", "/v1/messages", tt.body, nil)
			b := readAll(t, resp)
			var e struct {
				Type  string
				Error struct{ Type, Message string }
			}
			if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != 400 || e.Type != "error" || e.Error.Type != "invalid_request_error" || !strings.Contains(e.Error.Message, tt.want) {
				t.Errorf("status %d body %s, want a 400 saying %q", resp.StatusCode, b, tt.want)
			}
		})
	}
}

func TestAuthAndVersion(t *testing.T) {
	s := NewT(t, Options{APIKey: "sk-ant-1"})
	body := `{"model":"m","max_tokens":1,` + userHi + `}`
	tests := []struct {
		name   string
		header map[string]string
		status int
		want   string
	}{
		{"x-api-key", map[string]string{"X-Api-Key": "sk-ant-1"}, 200, ""},
		{"bearer", map[string]string{"Authorization": "Bearer sk-ant-1"}, 200, ""},
		{"missing", nil, 401, "x-api-key header is required"},
		{"wrong", map[string]string{"X-Api-Key": "nope"}, 401, "invalid x-api-key"},
		{"no version", map[string]string{"X-Api-Key": "sk-ant-1", "Anthropic-Version": ""}, 400, "anthropic-version: header is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, s, "POST", "/v1/messages", body, tt.header)
			b := readAll(t, resp)
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.want) {
				t.Errorf("status %d body %s", resp.StatusCode, b)
			}
		})
	}
}

func TestModelsAndCount(t *testing.T) {
	s := NewT(t, Options{Models: []string{"a", "b", "c"}})
	var page struct {
		Data []struct {
			Type, ID    string
			DisplayName string `json:"display_name"`
			CreatedAt   string `json:"created_at"`
		}
		HasMore bool    `json:"has_more"`
		FirstID *string `json:"first_id"`
		LastID  *string `json:"last_id"`
	}
	json.Unmarshal(readAll(t, do(t, s, "GET", "/v1/models?limit=2", "", nil)), &page)
	if len(page.Data) != 2 || !page.HasMore || *page.LastID != "b" || page.Data[0].Type != "model" || page.Data[0].CreatedAt == "" {
		t.Errorf("page 1 = %+v", page)
	}
	page.Data = nil
	json.Unmarshal(readAll(t, do(t, s, "GET", "/v1/models?limit=2&after_id=b", "", nil)), &page)
	if len(page.Data) != 1 || page.HasMore || page.Data[0].ID != "c" {
		t.Errorf("page 2 = %+v", page)
	}
	if resp := do(t, s, "GET", "/v1/models/zzz", "", nil); resp.StatusCode != 404 || !strings.Contains(string(readAll(t, resp)), "not_found_error") {
		t.Errorf("unknown model: %d", resp.StatusCode)
	}
	b := readAll(t, do(t, s, "POST", "/v1/messages/count_tokens", `{"model":"m","system":"be nice",`+userHi+`}`, nil))
	if string(b) != `{"input_tokens":4}` {
		t.Errorf("count_tokens = %s", b)
	}
	if resp := do(t, s, "DELETE", "/v1/messages", "", nil); resp.StatusCode != 404 {
		t.Errorf("DELETE = %d", resp.StatusCode)
	}
}

func TestFaultModes(t *testing.T) {
	body := `{"model":"m","max_tokens":100,"stream":true,` + userHi + `}`
	tests := []struct {
		mode   Mode
		status int
		want   string
	}{
		{Error500, 500, `"api_error"`},
		{Overloaded529, 529, `"overloaded_error"`},
		{RateLimit429, 429, `"rate_limit_error"`},
		{PromptTooLong, 400, "prompt is too long"},
		{Unauthorized, 401, "authentication_error"},
		{OverloadedMidStream, 200, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\""},
		{MalformedJSON, 200, `"text":"Hel` + "\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			s := NewT(t, Options{})
			s.SetModeN(tt.mode, 1)
			resp := do(t, s, "POST", "/v1/messages", body, nil)
			b := readAll(t, resp)
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.want) {
				t.Errorf("status %d body %s", resp.StatusCode, b)
			}
			if tt.mode == RateLimit429 {
				reset, err := time.Parse(time.RFC3339, resp.Header.Get("Anthropic-Ratelimit-Requests-Reset"))
				if resp.Header.Get("Retry-After") != "1" || resp.Header.Get("Anthropic-Ratelimit-Requests-Remaining") != "0" || err != nil || time.Until(reset) > RateLimitReset {
					t.Errorf("429 headers = %v", resp.Header)
				}
			}
			// SetModeN(…, 1) is spent: the next request succeeds.
			if resp := do(t, s, "POST", "/v1/messages", body, nil); resp.StatusCode != 200 || !strings.Contains(string(readAll(t, resp)), "message_stop") {
				t.Errorf("after the fault: %d", resp.StatusCode)
			}
		})
	}
	t.Run("cut", func(t *testing.T) {
		s := NewT(t, Options{})
		s.SetModeN(CutMidStream, 2)
		resp := do(t, s, "POST", "/v1/messages", body, nil)
		b, err := io.ReadAll(resp.Body)
		if err == nil || !strings.Contains(string(b), "content_block_delta") || strings.Contains(string(b), "message_stop") {
			t.Errorf("stream cut: err %v body %s", err, b)
		}
		resp = do(t, s, "POST", "/v1/messages", `{"model":"m","max_tokens":100,`+userHi+`}`, nil)
		if _, err := io.ReadAll(resp.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("JSON cut: err %v", err)
		}
	})
	t.Run("stall and abort", func(t *testing.T) {
		s := NewT(t, Options{})
		s.SetMode(Stall)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", s.URL()+"/messages", strings.NewReader(body))
		req.Header.Set("Anthropic-Version", "2023-06-01")
		if _, err := http.DefaultClient.Do(req); err == nil {
			t.Fatal("a stalled request answered")
		}
		testkit.Until(t, "s.Aborted() == 1", func() bool { return s.Aborted() == 1 })
	})
	t.Run("refuse and listen again", func(t *testing.T) {
		s := NewT(t, Options{})
		s.SetMode(Refuse)
		if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
			c.Close()
			t.Fatal("connection accepted while refusing")
		}
		s.SetMode(OK)
		if resp := do(t, s, "POST", "/v1/messages", body, nil); resp.StatusCode != 200 {
			t.Errorf("after refusing: %d", resp.StatusCode)
		}
		s.SetModeN(Refuse, 1)
		req, _ := http.NewRequest("POST", s.URL()+"/messages", strings.NewReader(body))
		req.Header.Set("Anthropic-Version", "2023-06-01")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Error("a counted Refuse request got an answer")
		}
		// models only feel Refuse as a mode, not SetModeN's budget.
		s.SetModeN(Error500, 1)
		if resp := do(t, s, "GET", "/v1/models", "", nil); resp.StatusCode != 200 {
			t.Errorf("models under SetModeN = %d", resp.StatusCode)
		}
	})
}

func TestChunkDelayAbort(t *testing.T) {
	s := NewT(t, Options{Reply: strings.Repeat("w ", 30), ChunkDelay: 10 * time.Millisecond})
	req, _ := http.NewRequest("POST", s.URL()+"/messages", strings.NewReader(`{"model":"m","max_tokens":100,"stream":true,`+userHi+`}`))
	req.Header.Set("Anthropic-Version", "2023-06-01")
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	if line != "event: message_start\n" {
		t.Errorf("first line %q", line)
	}
	cancel()
	resp.Body.Close()
	testkit.Until(t, "s.Aborted() == 1", func() bool { return s.Aborted() == 1 })
}

func TestParseModeAndOptions(t *testing.T) {
	for m := OK; m < numModes; m++ {
		if got, err := ParseMode(strings.ToUpper(m.String())); err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if got, _ := ParseMode("ratelimit"); got != RateLimit429 {
		t.Errorf("alias = %v", got)
	}
	if _, err := ParseMode("nope"); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := New(Options{Addr: "0.0.0.0:0"}); err == nil {
		t.Error("non-loopback address accepted")
	}
	if _, err := New(Options{Chunks: -1, ToolUse: &ToolUse{}}); err == nil || !strings.Contains(err.Error(), "Chunks") || !strings.Contains(err.Error(), "ToolUse.Name") {
		t.Errorf("bad options: %v", err)
	}
}
