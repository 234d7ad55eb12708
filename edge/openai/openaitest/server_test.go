package openaitest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/openai/openaitest"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/edge/upstream/upstreamtest"
)

// frontends runs a test against both HTTP stacks.
var frontends = []struct {
	name string
	fast bool
}{
	{"nethttp", false},
	{"fasthttp", true},
}

const (
	chatBody       = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Say hello to the tests"}]}`
	chatPrompt     = 7 // words in chatBody's messages
	streamBody     = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello to the tests"}]}`
	streamUsage    = `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Say hello to the tests"}]}`
	replyPieces    = 5 // words in DefaultReply
	weatherArgs    = `{"city":"Paris","unit":"celsius"}`
	toolsBody      = `{"model":"gpt-4o","messages":[{"role":"user","content":"weather?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]}`
	toolsStream    = `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"weather?"}],"tools":[{"type":"function","function":{"name":"get_weather"}}]}`
	embeddingsBody = `{"model":"text-embedding-3-small","input":"the quick brown fox"}`
)

type result = testkit.Result

var newClient = testkit.Client

// onEachFrontend runs test once a frontend, as a subtest: against a fake
// with o on that frontend, through a client with the given timeout.
func onEachFrontend(t *testing.T, o openaitest.Options, timeout time.Duration, test func(t *testing.T, s *openaitest.Server, c *http.Client)) {
	for _, fe := range frontends {
		t.Run(fe.name, func(t *testing.T) {
			o.FastHTTP = fe.fast
			test(t, openaitest.NewT(t, o), newClient(t, timeout))
		})
	}
}

func do(t *testing.T, c *http.Client, method, url, body string, hdr ...string) result {
	t.Helper()
	return testkit.Do(t, context.Background(), c, method, url, body, hdr...)
}

func decodeStrict(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T: %v\nbody: %s", v, err, data)
	}
	if dec.More() {
		t.Fatalf("trailing data after %T: %s", v, data)
	}
}

// parseSSE checks the framing exactly: the body is a sequence of
// "data: <payload>\n\n" events and nothing else. It returns the payloads.
func parseSSE(t *testing.T, body []byte) [][]byte {
	t.Helper()
	return upstreamtest.Plain.ParseEvents(t, body)
}

// streamChunks parses a complete stream, checks it ends with [DONE] and
// that every chunk is a reference-shaped chat.completion.chunk.
func streamChunks(t *testing.T, body []byte) ([]chatChunk, []map[string]json.RawMessage) {
	t.Helper()
	events := parseSSE(t, body)
	if len(events) == 0 || string(events[len(events)-1]) != "[DONE]" {
		t.Fatalf("stream does not end with data: [DONE]: %q", body)
	}
	chunks := make([]chatChunk, 0, len(events)-1)
	raws := make([]map[string]json.RawMessage, 0, len(events)-1)
	for _, ev := range events[:len(events)-1] {
		var c chatChunk
		decodeStrict(t, ev, &c)
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(ev, &raw); err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, c)
		raws = append(raws, raw)
	}
	return chunks, raws
}

func wantAPIError(t *testing.T, r result, status int, typ, param, code string) apiError {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("request failed: %v", r.Err)
	}
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var e apiError
	decodeStrict(t, r.Body, &e)
	if e.Error.Message == "" || e.Error.Type != typ {
		t.Errorf("error %+v, want type %q", e.Error, typ)
	}
	if got := deref(e.Error.Param); got != param {
		t.Errorf("param %q, want %q", got, param)
	}
	if got := deref(e.Error.Code); got != code {
		t.Errorf("code %q, want %q", got, code)
	}
	// param and code are present even when null.
	var raw struct {
		Error map[string]json.RawMessage `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &raw)
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := raw.Error[k]; !ok {
			t.Errorf("error body lacks %q: %s", k, r.Body)
		}
	}
	return e
}

// wantAPIErrorSaying is wantAPIError for an error whose message contains
// msg.
func wantAPIErrorSaying(t *testing.T, r result, status int, typ, param, code, msg string) apiError {
	t.Helper()
	e := wantAPIError(t, r, status, typ, param, code)
	if !strings.Contains(e.Error.Message, msg) {
		t.Errorf("message %q lacks %q", e.Error.Message, msg)
	}
	return e
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func wantOpenAIHeaders(t *testing.T, r result) {
	t.Helper()
	h := r.Header
	if id := h.Get("X-Request-Id"); !strings.HasPrefix(id, "req_") || len(id) != 36 {
		t.Errorf("x-request-id %q", id)
	}
	if ms, err := strconv.Atoi(h.Get("Openai-Processing-Ms")); err != nil || ms < 0 {
		t.Errorf("openai-processing-ms %q", h.Get("Openai-Processing-Ms"))
	}
	for _, k := range []string{"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens"} {
		if _, err := strconv.Atoi(h.Get(k)); err != nil {
			t.Errorf("%s = %q", k, h.Get(k))
		}
	}
	for _, k := range []string{"x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"} {
		if _, err := time.ParseDuration(h.Get(k)); err != nil {
			t.Errorf("%s = %q", k, h.Get(k))
		}
	}
}

func TestChatModes(t *testing.T) {
	cases := []struct {
		name  string
		mode  openaitest.Mode
		body  string
		check func(t *testing.T, r result)
	}{
		{"ok", openaitest.OK, chatBody, func(t *testing.T, r result) {
			if r.Status != 200 || r.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d %q: %s", r.Status, r.Header.Get("Content-Type"), r.Body)
			}
			wantOpenAIHeaders(t, r)
			if r.Header.Get("Content-Length") != strconv.Itoa(len(r.Body)) {
				t.Errorf("Content-Length %q for %d bytes", r.Header.Get("Content-Length"), len(r.Body))
			}
			var c chatCompletion
			decodeStrict(t, r.Body, &c)
			if !strings.HasPrefix(c.ID, "chatcmpl-") || c.Object != "chat.completion" || c.Created == 0 || c.Model != "gpt-4o-mini" {
				t.Errorf("envelope %+v", c)
			}
			if len(c.Choices) != 1 {
				t.Fatalf("choices %d", len(c.Choices))
			}
			ch := c.Choices[0]
			if ch.Message.Role != "assistant" || deref(ch.Message.Content) != openaitest.DefaultReply || ch.FinishReason != "stop" || ch.Message.ToolCalls != nil {
				t.Errorf("choice %+v", ch)
			}
			u := c.Usage
			if u.PromptTokens != chatPrompt || u.CompletionTokens != replyPieces || u.TotalTokens != chatPrompt+replyPieces {
				t.Errorf("usage %+v", u)
			}
		}},
		{"ok stream", openaitest.OK, streamBody, func(t *testing.T, r result) {
			if r.Status != 200 || r.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
				t.Fatalf("status %d %q", r.Status, r.Header.Get("Content-Type"))
			}
			wantOpenAIHeaders(t, r)
			chunks, raws := streamChunks(t, r.Body)
			if len(chunks) != 1+replyPieces+1 {
				t.Fatalf("%d chunks, want role + %d pieces + finish", len(chunks), replyPieces)
			}
			var text strings.Builder
			for i, c := range chunks {
				if c.Object != "chat.completion.chunk" || c.ID != chunks[0].ID || c.Created != chunks[0].Created || c.Model != "gpt-4o-mini" || len(c.Choices) != 1 {
					t.Errorf("chunk %d envelope %+v", i, c)
				}
				if _, ok := raws[i]["usage"]; ok {
					t.Errorf("chunk %d has usage without include_usage", i)
				}
				text.WriteString(deref(c.Choices[0].Delta.Content))
			}
			if chunks[0].Choices[0].Delta.Role != "assistant" || chunks[0].Choices[0].FinishReason != nil {
				t.Errorf("first chunk %+v", chunks[0].Choices[0])
			}
			last := chunks[len(chunks)-1].Choices[0]
			if deref(last.FinishReason) != "stop" || last.Delta.Content != nil {
				t.Errorf("last chunk %+v", last)
			}
			if text.String() != openaitest.DefaultReply {
				t.Errorf("text %q", text.String())
			}
		}},
		{"ok stream include_usage", openaitest.OK, streamUsage, func(t *testing.T, r result) {
			chunks, raws := streamChunks(t, r.Body)
			if len(chunks) != 1+replyPieces+2 {
				t.Fatalf("%d chunks", len(chunks))
			}
			for i := range chunks[:len(chunks)-1] {
				if string(raws[i]["usage"]) != "null" {
					t.Errorf("chunk %d usage %s, want null", i, raws[i]["usage"])
				}
			}
			u := chunks[len(chunks)-1]
			if string(raws[len(raws)-1]["choices"]) != "[]" || u.Usage == nil {
				t.Fatalf("usage chunk %s", r.Body)
			}
			if u.Usage.PromptTokens != 5 || u.Usage.CompletionTokens != replyPieces || u.Usage.TotalTokens != 5+replyPieces {
				t.Errorf("usage %+v", *u.Usage)
			}
		}},
		{"500", openaitest.Error500, chatBody, func(t *testing.T, r result) {
			wantAPIError(t, r, 500, "server_error", "", "")
			wantOpenAIHeaders(t, r)
		}},
		{"503", openaitest.Overloaded503, chatBody, func(t *testing.T, r result) {
			wantAPIErrorSaying(t, r, 503, "server_error", "", "", "overloaded")
		}},
		{"429", openaitest.RateLimit429, chatBody, func(t *testing.T, r result) {
			wantAPIError(t, r, 429, "requests", "", "rate_limit_exceeded")
			wantOpenAIHeaders(t, r)
			if r.Header.Get("Retry-After") != "1" || r.Header.Get("X-Ratelimit-Remaining-Requests") != "0" {
				t.Errorf("headers %v", r.Header)
			}
		}},
		{"429 stream", openaitest.RateLimit429, streamBody, func(t *testing.T, r result) {
			wantAPIError(t, r, 429, "requests", "", "rate_limit_exceeded")
		}},
		{"context too long", openaitest.ContextTooLong, chatBody, func(t *testing.T, r result) {
			wantAPIErrorSaying(t, r, 400, "invalid_request_error", "messages", "context_length_exceeded", "maximum context length")
		}},
		{"unauthorized", openaitest.Unauthorized, chatBody, func(t *testing.T, r result) {
			wantAPIError(t, r, 401, "invalid_request_error", "", "invalid_api_key")
		}},
		{"malformed", openaitest.MalformedJSON, chatBody, func(t *testing.T, r result) {
			if r.Status != 200 || r.Header.Get("Content-Type") != "application/json" || json.Valid(r.Body) || len(r.Body) == 0 {
				t.Errorf("status %d body %q", r.Status, r.Body)
			}
		}},
		{"malformed stream", openaitest.MalformedJSON, streamBody, func(t *testing.T, r result) {
			events := parseSSE(t, r.Body)
			if r.Status != 200 || len(events) != 2 || json.Valid(events[0]) || string(events[1]) != "[DONE]" {
				t.Errorf("status %d events %q", r.Status, events)
			}
		}},
		{"cut stream", openaitest.CutMidStream, streamBody, func(t *testing.T, r result) {
			if r.Status != 200 || r.ReadErr == nil {
				t.Fatalf("status %d read error %v", r.Status, r.ReadErr)
			}
			// An announced close lets some clients (undici) take the cut
			// for the end of the body.
			if r.Header.Get("Connection") == "close" {
				t.Error("cut stream announces Connection: close")
			}
			events := parseSSE(t, r.Body)
			if len(events) != 3 {
				t.Fatalf("got %d events before the cut, want role + 2: %q", len(events), r.Body)
			}
			for _, ev := range events {
				var c chatChunk
				decodeStrict(t, ev, &c)
			}
		}},
		{"cut", openaitest.CutMidStream, chatBody, func(t *testing.T, r result) {
			if r.Status != 200 || !errors.Is(r.ReadErr, io.ErrUnexpectedEOF) || len(r.Body) == 0 || json.Valid(r.Body) {
				t.Errorf("status %d read error %v body %q", r.Status, r.ReadErr, r.Body)
			}
		}},
		{"drop", openaitest.Refuse, chatBody, func(t *testing.T, r result) {
			// SetModeN(Refuse) closes the connection without an answer.
			if r.Err == nil {
				t.Errorf("got status %d, want a transport error", r.Status)
			}
		}},
	}
	onEachFrontend(t, openaitest.Options{}, 10*time.Second, func(t *testing.T, s *openaitest.Server, c *http.Client) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s.SetModeN(tc.mode, 1)
				tc.check(t, do(t, c, "POST", s.URL()+"/chat/completions", tc.body))
				// Back to OK afterwards, on a fresh connection.
				c.CloseIdleConnections()
				if r := do(t, c, "POST", s.URL()+"/chat/completions", chatBody); r.Status != 200 {
					t.Fatalf("after %s: status %d err %v", tc.name, r.Status, r.Err)
				}
			})
		}
	})
}

func TestToolCall(t *testing.T) {
	opt := openaitest.Options{ToolCall: &openaitest.ToolCall{ID: "call_abc", Name: "get_weather", Arguments: weatherArgs}}
	onEachFrontend(t, opt, 10*time.Second, func(t *testing.T, s *openaitest.Server, c *http.Client) {
		r := do(t, c, "POST", s.URL()+"/chat/completions", toolsBody)
		var cc chatCompletion
		decodeStrict(t, r.Body, &cc)
		ch := cc.Choices[0]
		if ch.FinishReason != "tool_calls" || ch.Message.Content != nil || len(ch.Message.ToolCalls) != 1 {
			t.Fatalf("choice %+v", ch)
		}
		if tc := ch.Message.ToolCalls[0]; tc.ID != "call_abc" || tc.Type != "function" || tc.Function.Name != "get_weather" || tc.Function.Arguments != weatherArgs {
			t.Errorf("tool call %+v", tc)
		}
		if cc.Model != "gpt-4o" || cc.Usage.CompletionTokens != 3 {
			t.Errorf("model %q usage %+v", cc.Model, cc.Usage)
		}

		r = do(t, c, "POST", s.URL()+"/chat/completions", toolsStream)
		chunks, _ := streamChunks(t, r.Body)
		// role+call head, 3 argument pieces, finish, usage.
		if len(chunks) != 6 {
			t.Fatalf("%d chunks: %s", len(chunks), r.Body)
		}
		head := chunks[0].Choices[0].Delta
		if head.Role != "assistant" || len(head.ToolCalls) != 1 || head.ToolCalls[0].ID != "call_abc" || head.ToolCalls[0].Type != "function" || head.ToolCalls[0].Function.Name != "get_weather" {
			t.Errorf("head delta %+v", head)
		}
		var args strings.Builder
		for _, c := range chunks[1:4] {
			d := c.Choices[0].Delta
			if len(d.ToolCalls) != 1 || d.ToolCalls[0].Index != 0 || d.ToolCalls[0].ID != "" || d.ToolCalls[0].Function.Name != "" {
				t.Errorf("argument delta %+v", d)
			}
			args.WriteString(d.ToolCalls[0].Function.Arguments)
		}
		if args.String() != weatherArgs {
			t.Errorf("arguments %q", args.String())
		}
		if fr := deref(chunks[4].Choices[0].FinishReason); fr != "tool_calls" {
			t.Errorf("finish %q", fr)
		}
		if u := chunks[5].Usage; u == nil || u.CompletionTokens != 3 || u.PromptTokens != 1 {
			t.Errorf("usage %+v", u)
		}

		// tool_choice "none", or no tools, answers with text.
		for _, body := range []string{
			`{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none"}`,
			`{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[]}`,
		} {
			r = do(t, c, "POST", s.URL()+"/chat/completions", body)
			decodeStrict(t, r.Body, &cc)
			if cc.Choices[0].FinishReason != "stop" || deref(cc.Choices[0].Message.Content) != openaitest.DefaultReply {
				t.Errorf("%s: %s", body, r.Body)
			}
		}
	})
}

func TestReplyShapes(t *testing.T) {
	cases := []struct {
		name       string
		opt        openaitest.Options
		body       string
		wantText   string
		wantPieces int
		wantFinish string
		wantPrompt int
	}{
		{"chunks option", openaitest.Options{Reply: "abcdefgh", Chunks: 4}, `{"model":"m","messages":[{"role":"user","content":"x"}]}`, "abcdefgh", 4, "stop", 1},
		{"escaped reply", openaitest.Options{Reply: "quote \" back\\slash\nnew line é 😀"}, `{"model":"m","messages":[{"role":"user","content":"x"}]}`, "quote \" back\\slash\nnew line é 😀", 7, "stop", 1},
		{"max_tokens", openaitest.Options{}, `{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"x"}]}`, "Hello from", 2, "length", 1},
		{"max_completion_tokens", openaitest.Options{}, `{"model":"m","max_completion_tokens":3,"max_tokens":1,"messages":[{"role":"user","content":"x"}]}`, "Hello from the", 3, "length", 1},
		{"content parts and escapes", openaitest.Options{}, `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"one two"},{"type":"image_url","image_url":{"url":"data:x"}},{"type":"text","text":"three\nfour\u0020five"}]},{"role":"assistant","content":null,"tool_calls":[]}]}`, openaitest.DefaultReply, 5, "stop", 5},
	}
	for _, fe := range frontends {
		for _, tc := range cases {
			t.Run(fe.name+"/"+tc.name, func(t *testing.T) {
				o := tc.opt
				o.FastHTTP = fe.fast
				s := openaitest.NewT(t, o)
				c := newClient(t, 10*time.Second)
				r := do(t, c, "POST", s.URL()+"/chat/completions", tc.body)
				var cc chatCompletion
				decodeStrict(t, r.Body, &cc)
				if got := deref(cc.Choices[0].Message.Content); got != tc.wantText || cc.Choices[0].FinishReason != tc.wantFinish {
					t.Errorf("content %q finish %q", got, cc.Choices[0].FinishReason)
				}
				if cc.Usage.CompletionTokens != tc.wantPieces || cc.Usage.PromptTokens != tc.wantPrompt {
					t.Errorf("usage %+v", cc.Usage)
				}
				stream := strings.Replace(tc.body, `{"model":"m",`, `{"model":"m","stream":true,`, 1)
				r = do(t, c, "POST", s.URL()+"/chat/completions", stream)
				chunks, _ := streamChunks(t, r.Body)
				if len(chunks) != tc.wantPieces+2 {
					t.Fatalf("%d chunks, want %d", len(chunks), tc.wantPieces+2)
				}
				var text strings.Builder
				for _, c := range chunks {
					text.WriteString(deref(c.Choices[0].Delta.Content))
				}
				if text.String() != tc.wantText || deref(chunks[len(chunks)-1].Choices[0].FinishReason) != tc.wantFinish {
					t.Errorf("streamed %q", text.String())
				}
			})
		}
	}
}

func TestBadRequests(t *testing.T) {
	cases := []struct {
		name, method, path, body string
		status                   int
		typ, param, code         string
		msg                      string
	}{
		{"not json", "POST", "/chat/completions", `{"model":`, 400, "invalid_request_error", "", "", "parse the JSON body"},
		{"wrong type", "POST", "/chat/completions", `{"model":"m","messages":{}}`, 400, "invalid_request_error", "", "", ""},
		{"no model", "POST", "/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "", "", "model"},
		{"model not a string", "POST", "/chat/completions", `{"model":5,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "", "", "model"},
		{"no messages", "POST", "/chat/completions", `{"model":"m"}`, 400, "invalid_request_error", "messages", "missing_required_parameter", ""},
		{"empty messages", "POST", "/chat/completions", `{"model":"m","messages":[]}`, 400, "invalid_request_error", "messages", "missing_required_parameter", ""},
		{"empty body", "POST", "/chat/completions", ``, 400, "invalid_request_error", "", "", ""},
		{"unknown path", "POST", "/nope", `{}`, 404, "invalid_request_error", "", "", "Invalid URL (POST /v1/nope)"},
		{"get chat", "GET", "/chat/completions", ``, 404, "invalid_request_error", "", "", "Invalid URL (GET /v1/chat/completions)"},
		{"unknown model", "GET", "/models/gpt-9", ``, 404, "invalid_request_error", "model", "model_not_found", "gpt-9"},
		{"embeddings no input", "POST", "/embeddings", `{"model":"e"}`, 400, "invalid_request_error", "input", "missing_required_parameter", ""},
		{"embeddings empty input", "POST", "/embeddings", `{"model":"e","input":""}`, 400, "invalid_request_error", "input", "", ""},
		{"embeddings mixed input", "POST", "/embeddings", `{"model":"e","input":["a",1]}`, 400, "invalid_request_error", "input", "", ""},
		{"embeddings object input", "POST", "/embeddings", `{"model":"e","input":{}}`, 400, "invalid_request_error", "input", "", ""},
		{"embeddings dims", "POST", "/embeddings", `{"model":"e","input":"a","dimensions":100000}`, 400, "invalid_request_error", "dimensions", "invalid_value", ""},
		{"embeddings format", "POST", "/embeddings", `{"model":"e","input":"a","encoding_format":"int8"}`, 400, "invalid_request_error", "encoding_format", "invalid_value", ""},
	}
	onEachFrontend(t, openaitest.Options{}, 10*time.Second, func(t *testing.T, s *openaitest.Server, c *http.Client) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := do(t, c, tc.method, s.URL()+tc.path, tc.body)
				wantAPIErrorSaying(t, r, tc.status, tc.typ, tc.param, tc.code, tc.msg)
			})
		}
	})
}

func TestAPIKey(t *testing.T) {
	onEachFrontend(t, openaitest.Options{APIKey: "sk-test-1234567890"}, 10*time.Second, func(t *testing.T, s *openaitest.Server, c *http.Client) {
		for _, path := range []string{"/chat/completions", "/models"} {
			method, body := "POST", chatBody
			if path == "/models" {
				method, body = "GET", ""
			}
			wantAPIErrorSaying(t, do(t, c, method, s.URL()+path, body), 401, "invalid_request_error", "", "", "didn't provide an API key")
			e := wantAPIError(t, do(t, c, method, s.URL()+path, body, "Authorization", "Bearer sk-wrong-0000000000"), 401, "invalid_request_error", "", "invalid_api_key")
			if strings.Contains(e.Error.Message, "wrong-00") || !strings.Contains(e.Error.Message, "0000") {
				t.Errorf("key not masked as OpenAI does: %q", e.Error.Message)
			}
			if r := do(t, c, method, s.URL()+path, body, "Authorization", "Bearer sk-test-1234567890"); r.Status != 200 {
				t.Errorf("right key: status %d %s", r.Status, r.Body)
			}
		}
	})
}

func TestEmbeddings(t *testing.T) {
	onEachFrontend(t, openaitest.Options{}, 10*time.Second, func(t *testing.T, s *openaitest.Server, c *http.Client) {
		get := func(t *testing.T, body string) embeddingList {
			t.Helper()
			r := do(t, c, "POST", s.URL()+"/embeddings", body)
			if r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			wantOpenAIHeaders(t, r)
			var l embeddingList
			decodeStrict(t, r.Body, &l)
			if l.Object != "list" {
				t.Errorf("object %q", l.Object)
			}
			for i, d := range l.Data {
				if d.Object != "embedding" || d.Index != i {
					t.Errorf("data[%d] %+v", i, d)
				}
			}
			return l
		}
		one := get(t, embeddingsBody)
		if len(one.Data) != 1 || one.Model != "text-embedding-3-small" || one.Usage.PromptTokens != 4 || one.Usage.TotalTokens != 4 {
			t.Fatalf("%+v", one)
		}
		v := floats(t, one.Data[0].Embedding)
		if len(v) != openaitest.DefaultEmbeddingDims {
			t.Errorf("dims %d", len(v))
		}
		if n := norm(v); math.Abs(n-1) > 1e-5 {
			t.Errorf("norm %v", n)
		}

		many := get(t, `{"model":"e","input":["the quick brown fox","other text"],"dimensions":16}`)
		if len(many.Data) != 2 || many.Usage.PromptTokens != 6 {
			t.Fatalf("%+v", many)
		}
		a, b := floats(t, many.Data[0].Embedding), floats(t, many.Data[1].Embedding)
		if len(a) != 16 || slices.Equal(a, b) {
			t.Errorf("vectors %v %v", a, b)
		}
		// Same text, same vector prefix generator: the 8-dim vector is a
		// different normalisation, so compare 16 with 16.
		again := get(t, `{"model":"e","input":"the quick brown fox","dimensions":16}`)
		if !slices.Equal(floats(t, again.Data[0].Embedding), a) {
			t.Errorf("not deterministic")
		}

		b64 := get(t, `{"model":"e","input":"the quick brown fox","dimensions":16,"encoding_format":"base64"}`)
		raw, err := base64.StdEncoding.DecodeString(b64.Data[0].Embedding.(string))
		if err != nil || len(raw) != 16*4 {
			t.Fatalf("base64 %v %d", err, len(raw))
		}
		for i := range a {
			f := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			if f != float32(a[i]) {
				t.Errorf("base64[%d] %v != %v", i, f, a[i])
			}
		}

		tok := get(t, `{"model":"e","input":[1,2,3]}`)
		if len(tok.Data) != 1 || tok.Usage.PromptTokens != 3 {
			t.Errorf("token input %+v", tok)
		}
		toks := get(t, `{"model":"e","input":[[1,2],[3]]}`)
		if len(toks.Data) != 2 || toks.Usage.PromptTokens != 3 {
			t.Errorf("token inputs %+v", toks)
		}

		// Fault modes apply to embeddings too.
		s.SetModeN(openaitest.ContextTooLong, 1)
		wantAPIError(t, do(t, c, "POST", s.URL()+"/embeddings", embeddingsBody), 400, "invalid_request_error", "input", "context_length_exceeded")
		s.SetModeN(openaitest.RateLimit429, 1)
		wantAPIError(t, do(t, c, "POST", s.URL()+"/embeddings", embeddingsBody), 429, "requests", "", "rate_limit_exceeded")
		s.SetModeN(openaitest.MalformedJSON, 1)
		if r := do(t, c, "POST", s.URL()+"/embeddings", embeddingsBody); r.Status != 200 || json.Valid(r.Body) {
			t.Errorf("malformed: %d %s", r.Status, r.Body)
		}
		if s.Requests() != 0 {
			t.Errorf("embeddings counted as chat requests: %d", s.Requests())
		}
	})
}

func floats(t *testing.T, v any) []float64 {
	t.Helper()
	arr, ok := v.([]any)
	if !ok {
		t.Fatalf("embedding is %T", v)
	}
	out := make([]float64, len(arr))
	for i, x := range arr {
		out[i] = x.(float64)
	}
	return out
}

func norm(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

func TestModels(t *testing.T) {
	onEachFrontend(t, openaitest.Options{}, 10*time.Second, func(t *testing.T, s *openaitest.Server, c *http.Client) {
		// Modes do not touch /v1/models.
		s.SetMode(openaitest.Error500)
		r := do(t, c, "GET", s.URL()+"/models", "")
		if r.Status != 200 {
			t.Fatalf("status %d", r.Status)
		}
		wantOpenAIHeaders(t, r)
		var l modelList
		decodeStrict(t, r.Body, &l)
		if l.Object != "list" || len(l.Data) != 2 || l.Data[0].ID != "gpt-4o-mini" || l.Data[1].ID != "text-embedding-3-small" {
			t.Fatalf("%+v", l)
		}
		for _, m := range l.Data {
			if m.Object != "model" || m.Created == 0 || m.OwnedBy == "" {
				t.Errorf("model %+v", m)
			}
		}
		r = do(t, c, "GET", s.URL()+"/models/text-embedding-3-small", "")
		var m model
		decodeStrict(t, r.Body, &m)
		if m.ID != "text-embedding-3-small" || m.Object != "model" {
			t.Errorf("%+v", m)
		}
	})
}

func TestRefuseThenOK(t *testing.T) {
	onEachFrontend(t, openaitest.Options{}, 5*time.Second, func(t *testing.T, s *openaitest.Server, c *http.Client) {
		url := s.URL()
		if r := do(t, c, "POST", url+"/chat/completions", chatBody); r.Status != 200 {
			t.Fatalf("status %d", r.Status)
		}
		s.SetMode(openaitest.Refuse)
		// Pooled connections were closed by the server; a client that
		// reuses one sees EOF instead of a refusal.
		c.CloseIdleConnections()
		for i := 0; i < 2; i++ {
			r := do(t, c, "POST", url+"/chat/completions", chatBody)
			if r.Err == nil || !strings.Contains(r.Err.Error(), "connection refused") {
				t.Fatalf("refused: status %d err %v", r.Status, r.Err)
			}
		}
		s.SetMode(openaitest.OK)
		if s.URL() != url {
			t.Fatalf("URL changed %s -> %s", url, s.URL())
		}
		if r := do(t, c, "POST", url+"/chat/completions", chatBody); r.Status != 200 {
			t.Fatalf("after OK: status %d err %v", r.Status, r.Err)
		}
		// SetModeN also brings a refusing server back.
		s.SetMode(openaitest.Refuse)
		c.CloseIdleConnections()
		s.SetModeN(openaitest.Error500, 1)
		if r := do(t, c, "POST", url+"/chat/completions", chatBody); r.Status != 500 {
			t.Fatalf("SetModeN after Refuse: status %d err %v", r.Status, r.Err)
		}
	})
}

func TestSetModeN(t *testing.T) {
	s := openaitest.NewT(t, openaitest.Options{})
	c := newClient(t, 5*time.Second)
	s.SetModeN(openaitest.Error500, 2)
	var got []int
	for i := 0; i < 4; i++ {
		// Models requests do not consume the budget.
		do(t, c, "GET", s.URL()+"/models", "")
		got = append(got, do(t, c, "POST", s.URL()+"/chat/completions", chatBody).Status)
	}
	if want := []int{500, 500, 200, 200}; !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	s.SetMode(openaitest.Overloaded503)
	s.SetModeN(openaitest.RateLimit429, 1)
	got = got[:0]
	for i := 0; i < 2; i++ {
		got = append(got, do(t, c, "POST", s.URL()+"/chat/completions", chatBody).Status)
	}
	if want := []int{429, 200}; !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v (SetModeN returns to OK)", got, want)
	}
	s.SetModeN(openaitest.Error500, 5)
	s.SetMode(openaitest.OK)
	if r := do(t, c, "POST", s.URL()+"/chat/completions", chatBody); r.Status != 200 {
		t.Errorf("SetMode did not cancel SetModeN: %d", r.Status)
	}
	if s.Requests() != 7 {
		t.Errorf("Requests %d, want 7", s.Requests())
	}
}

func TestRequestsAndLastRequest(t *testing.T) {
	s := openaitest.NewT(t, openaitest.Options{})
	c := newClient(t, 5*time.Second)
	if s.LastRequest() != nil || s.Requests() != 0 {
		t.Fatal("fresh server has requests")
	}
	do(t, c, "POST", s.URL()+"/chat/completions", chatBody)
	do(t, c, "POST", s.URL()+"/chat/completions", streamBody)
	do(t, c, "POST", s.URL()+"/embeddings", embeddingsBody)
	if s.Requests() != 2 {
		t.Errorf("Requests %d", s.Requests())
	}
	last := s.LastRequest()
	if string(last) != streamBody {
		t.Errorf("LastRequest %s", last)
	}
	last[0] = 'X'
	if string(s.LastRequest()) != streamBody {
		t.Error("LastRequest is not a copy")
	}
}

func TestStallCountsAbort(t *testing.T) {
	onEachFrontend(t, openaitest.Options{}, 0, func(t *testing.T, s *openaitest.Server, c *http.Client) {
		s.SetMode(openaitest.Stall)
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		start := time.Now()
		r := testkit.Do(t, ctx, c, "POST", s.URL()+"/chat/completions", streamBody)
		if r.Err == nil || time.Since(start) < 150*time.Millisecond {
			t.Fatalf("stall answered: %d %v", r.Status, r.Err)
		}
		testkit.Until(t, "the disconnect counted as aborted", func() bool { return s.Aborted() == 1 })
		// A stall ended by the server closing is not an abort.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			testkit.Do(t, ctx, c, "POST", s.URL()+"/chat/completions", chatBody)
		}()
		testkit.Until(t, "the second request arrived", func() bool { return s.Requests() == 2 })
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s.Aborted() != 1 {
			t.Errorf("Aborted %d after Close, want 1", s.Aborted())
		}
	})
}

func TestLatencyAndChunkDelay(t *testing.T) {
	onEachFrontend(t, openaitest.Options{Latency: 80 * time.Millisecond, ChunkDelay: 40 * time.Millisecond}, 10*time.Second, func(t *testing.T, s *openaitest.Server, c *http.Client) {
		start := time.Now()
		r := do(t, c, "POST", s.URL()+"/chat/completions", chatBody)
		if r.Status != 200 || time.Since(start) < 80*time.Millisecond {
			t.Fatalf("status %d after %v", r.Status, time.Since(start))
		}
		start = time.Now()
		r = do(t, c, "POST", s.URL()+"/chat/completions", streamBody)
		if el := time.Since(start); el < 80*time.Millisecond+6*40*time.Millisecond {
			t.Errorf("stream took %v", el)
		}
		streamChunks(t, r.Body)

		// Cancel after the first event: the server notices.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", s.URL()+"/chat/completions", strings.NewReader(streamBody))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		if _, err := resp.Body.Read(buf); err != nil {
			t.Fatal(err)
		}
		cancel()
		resp.Body.Close()
		testkit.Until(t, "the mid-stream cancel counted as aborted", func() bool { return s.Aborted() == 1 })
	})
}

func TestConcurrentModes(t *testing.T) {
	onEachFrontend(t, openaitest.Options{}, 10*time.Second, func(t *testing.T, s *openaitest.Server, c *http.Client) {
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 30; i++ {
					body := chatBody
					if i%2 == 1 {
						body = streamUsage
					}
					r := do(t, c, "POST", s.URL()+"/chat/completions", body)
					switch r.Status {
					case 200, 500, 429:
					default:
						t.Errorf("status %d err %v", r.Status, r.Err)
					}
				}
			}()
		}
		modes := []openaitest.Mode{openaitest.Error500, openaitest.OK, openaitest.RateLimit429}
		for i := 0; i < 30; i++ {
			s.SetMode(modes[i%len(modes)])
			s.SetModeN(modes[(i+1)%len(modes)], 2)
		}
		wg.Wait()
		if s.Requests() != 120 {
			t.Errorf("Requests %d", s.Requests())
		}
	})
}

func TestOptionsValidation(t *testing.T) {
	cases := []struct {
		name string
		opt  openaitest.Options
	}{
		{"public addr", openaitest.Options{Addr: "0.0.0.0:0"}},
		{"bad addr", openaitest.Options{Addr: "nope"}},
		{"negative chunks", openaitest.Options{Chunks: -1}},
		{"huge dims", openaitest.Options{EmbeddingDims: openaitest.MaxEmbeddingDims + 1}},
		{"negative latency", openaitest.Options{Latency: -time.Second}},
		{"nameless tool", openaitest.Options{ToolCall: &openaitest.ToolCall{Arguments: "{}"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := openaitest.New(tc.opt)
			if err == nil {
				s.Close()
				t.Fatal("accepted")
			}
		})
	}
	s, err := openaitest.New(openaitest.Options{Addr: "localhost:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestParseMode(t *testing.T) {
	for m := openaitest.OK; m <= openaitest.Unauthorized; m++ {
		got, err := openaitest.ParseMode(strings.ToUpper(m.String()))
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if m, err := openaitest.ParseMode("ratelimit"); err != nil || m != openaitest.RateLimit429 {
		t.Errorf("alias: %v %v", m, err)
	}
	if _, err := openaitest.ParseMode("nope"); err == nil {
		t.Error("unknown mode accepted")
	}
	if s := openaitest.Mode(99).String(); s != "Mode(99)" {
		t.Errorf("String %q", s)
	}
}

func BenchmarkChat(b *testing.B) {
	for _, fe := range frontends {
		for _, stream := range []bool{false, true} {
			name := fe.name + "/json"
			body := chatBody
			if stream {
				name, body = fe.name+"/stream", streamUsage
			}
			b.Run(name, func(b *testing.B) {
				s, err := openaitest.New(openaitest.Options{FastHTTP: fe.fast})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				tr := &http.Transport{MaxIdleConnsPerHost: 64}
				defer tr.CloseIdleConnections()
				c := &http.Client{Transport: tr}
				url := s.URL() + "/chat/completions"
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						resp, err := c.Post(url, "application/json", strings.NewReader(body))
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							b.Errorf("status %d", resp.StatusCode)
							return
						}
					}
				})
			})
		}
	}
}
