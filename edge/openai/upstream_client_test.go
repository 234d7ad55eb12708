package openai

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/edge/upstream"
	"github.com/edgeway/edgeway/edge/upstream/upstreamtest"
)

// frame is how the fake upstream frames its answers.
var frame = upstreamtest.Plain

func newTestClient(t *testing.T, baseURL string, mod ...func(*Options)) *Client {
	t.Helper()
	o := Options{Endpoint: upstream.Endpoint{Name: "fake", BaseURL: baseURL + "/v1/", APIKey: "sk-test", Headers: map[string]string{"X-Title": "edgeway-test"}}}
	return upstreamtest.NewClient(t, New, o, mod...)
}

func simpleRequest() *llm.ChatRequest {
	return &llm.ChatRequest{Model: "gpt-4o-mini", Stream: true, Messages: []llm.Message{{Role: llm.RoleUser, Content: textParts("Hello!")}}}
}

func TestChatStreamText(t *testing.T) {
	f, chunks, agg, usage := upstreamtest.MustChat(t, frame.SSE(string(testkit.Fixture(t, "stream_text.sse"))), newTestClient, simpleRequest())
	if got, want := agg.Text.String(), "Hello! How can I help?\n\u00e9\u2028"; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
	upstreamtest.CheckAnswer(t, agg, usage, llm.FinishStop, "gpt-4o-mini-2024-07-18", llm.Usage{PromptTokens: 19, CompletionTokens: 10, TotalTokens: 29, CachedTokens: 3})
	upstreamtest.CheckRoleFirst(t, chunks)
	if len(chunks) != 6 {
		t.Errorf("emitted %d chunks, want 6 (role, 3 texts, finish, usage)", len(chunks))
	}

	req := f.Last(t)
	req.CheckCall(t, http.MethodPost, "/v1/chat/completions")
	req.CheckHeaders(t, map[string]string{
		"Authorization": "Bearer sk-test", "Accept": "text/event-stream",
		"Content-Type": "application/json", "X-Title": "edgeway-test",
	})
	if body := req.JSONBody(t); body["stream"] != true || !reflect.DeepEqual(body["stream_options"], map[string]any{"include_usage": true}) {
		t.Errorf("body does not ask for a stream with usage: %s", req.Body)
	}
}

func TestChatToolCallStream(t *testing.T) {
	_, chunks, agg, usage := upstreamtest.MustChat(t, frame.SSE(string(testkit.Fixture(t, "stream_tool_calls.sse"))), newTestClient, simpleRequest())
	want := []llm.ToolCall{
		{ID: "call_weather", Name: "get_weather", Arguments: `{"city":"Paris","unit":"c"}`},
		{ID: "call_time", Name: "get_time", Arguments: `{"tz":"Europe/Paris"}`},
	}
	if !reflect.DeepEqual(agg.ToolCalls, want) {
		t.Errorf("tool calls = %+v, want %+v", agg.ToolCalls, want)
	}
	if agg.FinishReason != llm.FinishToolCalls || agg.Text.Len() != 0 {
		t.Errorf("finish = %q, text = %q", agg.FinishReason, agg.Text.String())
	}
	if usage.TotalTokens != 123 {
		t.Errorf("usage = %+v", usage)
	}
	// 1 role + 2 starts + 14 fragments + finish + usage.
	if len(chunks) != 19 {
		t.Errorf("emitted %d chunks, want 19", len(chunks))
	}
}

func TestChatJSONFallback(t *testing.T) {
	_, chunks, agg, usage := upstreamtest.MustChat(t, frame.JSON(200, nil, string(testkit.Fixture(t, "chat_completion.json"))), newTestClient, simpleRequest())
	want := []llm.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Oslo"}`}, {ID: "call_2", Name: "get_time", Arguments: `{}`}}
	if !reflect.DeepEqual(agg.ToolCalls, want) || agg.FinishReason != llm.FinishToolCalls || usage.TotalTokens != 70 || len(chunks) != 1 {
		t.Errorf("calls %+v finish %q usage %+v chunks %d", agg.ToolCalls, agg.FinishReason, usage, len(chunks))
	}
}

func TestChatRequestBody(t *testing.T) {
	var full llm.ChatRequest
	if _, err := DecodeChatRequest(testkit.Fixture(t, "chat_request_full.json"), &full); err != nil {
		t.Fatal(err)
	}
	full.Stream = true // the golden body is a streaming client's
	tests := []struct {
		name   string
		mod    func(*Options)
		golden string
		check  func(t *testing.T, body map[string]any)
	}{
		{name: "golden", golden: "upstream_request_full.json"},
		{name: "no stream options", mod: func(o *Options) { o.NoStreamOptions = true }, check: func(t *testing.T, body map[string]any) {
			if _, ok := body["stream_options"]; ok || body["stream"] != true {
				t.Errorf("stream = %v, stream_options = %v", body["stream"], body["stream_options"])
			}
		}},
		{name: "max_completion_tokens", mod: func(o *Options) { o.MaxTokensField = "max_completion_tokens" }, check: func(t *testing.T, body map[string]any) {
			if _, ok := body["max_tokens"]; ok || body["max_completion_tokens"] != 512.0 {
				t.Errorf("max_tokens = %v, max_completion_tokens = %v", body["max_tokens"], body["max_completion_tokens"])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := upstreamtest.NewFake(t, frame.SSE(string(testkit.Fixture(t, "stream_text.sse"))))
			c := newTestClient(t, f.URL, tt.mod)
			if _, _, _, err := upstreamtest.Collect(c.Chat, &full); err != nil {
				t.Fatal(err)
			}
			last := f.Last(t)
			raw, body := last.Body, last.JSONBody(t)
			if tt.golden != "" {
				var want map[string]any
				if err := json.Unmarshal(testkit.Fixture(t, tt.golden), &want); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(body, want) {
					t.Errorf("upstream body differs from testdata/%s:\n%s", tt.golden, raw)
				}
			}
			if tt.check != nil {
				tt.check(t, body)
			}
		})
	}
}

// want is what a row of an error table expects.
type want = upstreamtest.WantError

func TestChatErrors(t *testing.T) {
	fixture := func(name string) string { return string(testkit.Fixture(t, name)) }
	const textChunk = `data: {"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}` + "\n\n"
	tests := []upstreamtest.ErrorCase[Options]{
		{Name: "400 context length", Handler: frame.JSON(400, nil, fixture("error_context_length.json")),
			Want: want{Kind: llm.KindContextLength, Status: 400, Message: "maximum context length is 128000 tokens"}},
		{Name: "400 bad request", Handler: frame.JSON(400, nil, `{"error":{"message":"Invalid value for 'temperature'","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}`),
			Want: want{Kind: llm.KindBadRequest, Status: 400, Message: "Invalid value for 'temperature'"}},
		{Name: "400 llama-server context", Handler: frame.JSON(400, nil, `{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}}`),
			Want: want{Kind: llm.KindContextLength, Status: 400, Message: "exceeds the available context size"}},
		// llama-server answers what its build or model cannot do with a
		// 500 (its parser throws std::runtime_error); another target can.
		{Name: "500 llama-server without --jinja", Handler: frame.JSON(500, nil, `{"error":{"code":500,"message":"tools param requires --jinja flag","type":"server_error"}}`),
			Want: want{Kind: llm.KindUnsupported, Status: 500, Message: "requires --jinja"}},
		{Name: "500 llama-server without mmproj", Handler: frame.JSON(500, nil, `{"error":{"code":500,"message":"image input is not supported - hint: if this is unexpected, you may need to provide the mmproj","type":"server_error"}}`),
			Want: want{Kind: llm.KindUnsupported, Status: 500, Message: "image input is not supported"}},
		{Name: "500 llama-server image fetch", Handler: frame.JSON(500, nil, `{"error":{"code":500,"message":"Failed to download image","type":"server_error"}}`),
			Want: want{Kind: llm.KindUnsupported, Status: 500, Message: "Failed to download image"}},
		{Name: "400 model not found", Handler: frame.JSON(400, nil, fixture("error_model_not_found.json")),
			Want: want{Kind: llm.KindNotFound, Status: 400, Message: "does not exist"}},
		{Name: "401 bad key", Handler: frame.JSON(401, nil, fixture("error_invalid_api_key.json")),
			Want: want{Kind: llm.KindAuth, Status: 401, Message: "Incorrect API key"}},
		{Name: "403", Handler: frame.JSON(403, nil, `{"error":{"message":"Country, region, or territory not supported","type":"request_forbidden","code":"unsupported_country_region_territory"}}`),
			Want: want{Kind: llm.KindAuth, Status: 403, Message: "not supported"}},
		{Name: "404 model not found", Handler: frame.JSON(404, nil, fixture("error_model_not_found.json")),
			Want: want{Kind: llm.KindNotFound, Status: 404, Message: "gpt-5-ultra"}},
		{Name: "429 token reset", Handler: frame.JSON(429, map[string]string{
			"x-ratelimit-remaining-requests": "499", "x-ratelimit-remaining-tokens": "0",
			"x-ratelimit-reset-requests": "120ms", "x-ratelimit-reset-tokens": "6m0s"}, fixture("error_rate_limit.json")),
			Want: want{Kind: llm.KindRateLimited, Status: 429, Retry: 6 * time.Minute}},
		{Name: "429 insufficient quota", Handler: frame.JSON(429, nil, fixture("error_insufficient_quota.json")),
			Want: want{Kind: llm.KindRateLimited, Status: 429, Message: "exceeded your current quota", Is: ErrInsufficientQuota}},
		{Name: "500", Handler: frame.JSON(500, nil, fixture("error_server.json")),
			Want: want{Kind: llm.KindServer, Status: 500, Message: "The server had an error"}},
		{Name: "503 Retry-After", Handler: frame.JSON(503, map[string]string{"Retry-After": "3"}, `{"error":{"message":"The engine is currently overloaded, please try again later","type":"server_error"}}`),
			Want: want{Kind: llm.KindOverloaded, Status: 503, Retry: 3 * time.Second, Message: "overloaded"}},
		{Name: "vLLM error shape", Handler: frame.JSON(400, nil, `{"object":"error","message":"This model's maximum context length is 4096 tokens.","type":"BadRequestError","param":null,"code":400}`),
			Want: want{Kind: llm.KindContextLength, Status: 400, Message: "4096"}},
		{Name: "Gemini array shape", Handler: frame.JSON(400, nil, `[{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT"}}]`),
			Want: want{Kind: llm.KindBadRequest, Status: 400, Message: "API key not valid."}},
		{Name: "string error", Handler: frame.JSON(404, nil, `{"error":"model \"tiny\" not found, try pulling it first"}`),
			Want: want{Kind: llm.KindNotFound, Status: 404, Message: "try pulling it first"}},
		{Name: "malformed chunk JSON", Handler: frame.SSE("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}\n\ndata: [DONE]\n\n"),
			Want: want{Kind: llm.KindServer, Is: llm.ErrMalformed}},
		{Name: "chunk not an object", Handler: frame.SSE("data: 42\n\n"), Want: want{Kind: llm.KindServer, Is: llm.ErrMalformed}},
		{Name: "stream cut without finish", Handler: frame.SSE(textChunk + textChunk),
			Want: want{Kind: llm.KindServer, Is: llm.ErrStreamCut}},
		{Name: "empty stream", Handler: frame.SSE(""), Want: want{Kind: llm.KindServer, Is: llm.ErrStreamCut}},
		{Name: "SSE error event", Handler: frame.SSE(fixture("stream_error_event.sse")),
			Want: want{Kind: llm.KindServer, Message: "The server had an error"}},
		{Name: "SSE error event context length", Handler: frame.SSE(textChunk + `data: {"error":{"message":"too long","code":"context_length_exceeded"}}` + "\n\n"),
			Want: want{Kind: llm.KindContextLength, Message: "too long"}},
		{Name: "SSE error event numeric code", Handler: frame.SSE(`data: {"error":{"message":"Provider returned error","code":429}}` + "\n\n"),
			Want: want{Kind: llm.KindRateLimited, Status: 429, Message: "Provider returned error"}},
		{Name: "SSE error event type", Handler: frame.SSE("event: error\ndata: {\"message\":\"boom\",\"type\":\"overloaded_error\"}\n\n"),
			Want: want{Kind: llm.KindOverloaded, Message: "boom"}},
	}
	upstreamtest.CheckErrors(t, tests, simpleRequest, newTestClient)
}

func TestChatEmitErrorPassesThrough(t *testing.T) {
	upstreamtest.CheckEmitAbort(t, frame, `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}`+"\n\n", simpleRequest(), newTestClient)
}

func TestChatBadRawJSON(t *testing.T) {
	f := upstreamtest.NewFake(t, frame.SSE(""))
	c := newTestClient(t, f.URL)
	req := simpleRequest()
	req.Tools = []llm.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":`)}}
	_, _, _, err := upstreamtest.Collect(c.Chat, req)
	if k := llm.KindOf(err); k != llm.KindBadRequest {
		t.Errorf("Kind = %v, want bad_request (%v)", k, err)
	}
	if len(f.All()) != 0 {
		t.Error("an invalid request was sent upstream")
	}
}

func TestEmbed(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		want     [][]float32
		wantKind llm.Kind
	}{
		{name: "floats out of order",
			body: `{"object":"list","data":[{"object":"embedding","index":1,"embedding":[0.5,-1]},{"object":"embedding","index":0,"embedding":[1,2]}],"model":"e","usage":{"prompt_tokens":4,"total_tokens":4}}`,
			want: [][]float32{{1, 2}, {0.5, -1}}},
		{name: "base64",
			body: string(AppendEmbeddingResponse(nil, "e", &llm.EmbedResponse{Vectors: [][]float32{{1, 2}, {0.5, -1}}, Usage: llm.Usage{PromptTokens: 4}}, true)),
			want: [][]float32{{1, 2}, {0.5, -1}}},
		{name: "too few vectors", body: `{"data":[{"index":0,"embedding":[1]}]}`, wantKind: llm.KindServer},
		{name: "repeated index", body: `{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}`, wantKind: llm.KindServer},
		{name: "index out of range", body: `{"data":[{"index":0,"embedding":[1]},{"index":7,"embedding":[2]}]}`, wantKind: llm.KindServer},
		{name: "bad base64", body: `{"data":[{"index":0,"embedding":"!!"},{"index":1,"embedding":[2]}]}`, wantKind: llm.KindServer},
		{name: "not JSON", body: `{"data":`, wantKind: llm.KindServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := upstreamtest.NewFake(t, frame.JSON(200, nil, tt.body))
			c := newTestClient(t, f.URL)
			resp, err := c.Embed(context.Background(), &llm.EmbedRequest{Model: "e", Input: []string{"a", "b"}, Dimensions: new(2), User: "u"})
			if tt.wantKind != llm.KindUnknown {
				if k := llm.KindOf(err); k != tt.wantKind {
					t.Errorf("Kind = %v, want %v (%v)", k, tt.wantKind, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Embed: %v", err)
			}
			if !reflect.DeepEqual(resp.Vectors, tt.want) || resp.Usage.PromptTokens != 4 {
				t.Errorf("resp = %+v", resp)
			}
			req := f.Last(t)
			body := req.JSONBody(t)
			want := map[string]any{"model": "e", "input": []any{"a", "b"}, "encoding_format": "float", "dimensions": 2.0, "user": "u"}
			if req.Path != "/v1/embeddings" || !reflect.DeepEqual(body, want) {
				t.Errorf("request %s %s", req.Path, req.Body)
			}
		})
	}
	t.Run("upstream error", func(t *testing.T) {
		f := upstreamtest.NewFake(t, frame.JSON(404, nil, `{"error":{"message":"no such model","code":"model_not_found"}}`))
		c := newTestClient(t, f.URL)
		_, err := c.Embed(context.Background(), &llm.EmbedRequest{Model: "e", Input: []string{"a"}})
		if k := llm.KindOf(err); k != llm.KindNotFound {
			t.Errorf("Kind = %v (%v)", k, err)
		}
	})
	t.Run("no input", func(t *testing.T) {
		c := newTestClient(t, "http://127.0.0.1:1")
		if _, err := c.Embed(context.Background(), &llm.EmbedRequest{Model: "e"}); llm.KindOf(err) != llm.KindBadRequest {
			t.Errorf("error = %v", err)
		}
	})
}

func TestModels(t *testing.T) {
	f := upstreamtest.NewFake(t, frame.JSON(200, nil, `{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"},{"id":"","object":"model"},{"id":"local","object":"model"}]}`))
	c := newTestClient(t, f.URL)
	got, err := c.Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []llm.Model{
		{ID: "gpt-4o", Provider: "fake", OwnedBy: "system", Created: time.Unix(1715367049, 0).UTC()},
		{ID: "local", Provider: "fake"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("models = %+v, want %+v", got, want)
	}
	if r := f.Last(t); r.Method != http.MethodGet || r.Path != "/v1/models" || r.Header.Get("Authorization") != "Bearer sk-test" {
		t.Errorf("request = %s %s %v", r.Method, r.Path, r.Header)
	}
}

func TestPing(t *testing.T) {
	upstreamtest.CheckPing(t, newTestClient, func(o *Options) { o.APIKey = "" }, func(t *testing.T, r upstreamtest.Request) {
		if r.Path != "/v1/models" || r.Header.Get("Authorization") != "" {
			t.Errorf("request %s with Authorization %q", r.Path, r.Header.Get("Authorization"))
		}
	},
		upstreamtest.Answer{Name: "200", Handler: frame.JSON(200, nil, `{"data":[]}`)},
		upstreamtest.Answer{Name: "401 still proves the link", Handler: frame.JSON(401, nil, `{"error":{"message":"bad key"}}`)},
		upstreamtest.Answer{Name: "500 still proves the link", Handler: frame.JSON(500, nil, `oops`)},
	)
}

func TestNew(t *testing.T) {
	c, err := New(Options{Endpoint: upstream.Endpoint{BaseURL: "http://127.0.0.1:8080/v1"}})
	if err != nil || c.Name() != DefaultName {
		t.Fatalf("New = %v, %v", c, err)
	}
	_, err = New(Options{Endpoint: upstream.Endpoint{APIKey: "k", Headers: map[string]string{"authorization": "Bearer other"}}, MaxTokensField: "tokens"})
	for _, w := range []string{`openai: new "openai"`, "BaseURL is required", `MaxTokensField "tokens"`, "Authorization conflicts with APIKey"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not mention %q", err, w)
		}
	}
}

func TestResetDelay(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"none", nil, 0},
		{"reset requests", map[string]string{"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}, time.Second},
		{"reset tokens", map[string]string{"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "20ms"}, 20 * time.Millisecond},
		{"reset unknown which: longer", map[string]string{"x-ratelimit-reset-requests": "1m30.5s", "x-ratelimit-reset-tokens": "7.66s"}, 90*time.Second + 500*time.Millisecond},
		{"reset bare seconds", map[string]string{"x-ratelimit-reset-tokens": "2.5"}, 2500 * time.Millisecond},
		{"reset capped", map[string]string{"x-ratelimit-reset-tokens": "24h"}, upstream.MaxRetryAfter},
		{"reset bare seconds capped", map[string]string{"x-ratelimit-reset-tokens": "1e9"}, upstream.MaxRetryAfter},
		{"reset garbage", map[string]string{"x-ratelimit-reset-tokens": "soon"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resetDelay(upstreamtest.Header(tt.header), time.Time{}); got != tt.want {
				t.Errorf("resetDelay = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestNonStreamingAsksForJSON: a non-streaming client's request goes
// upstream as stream:false (one JSON answer), without stream_options.
func TestNonStreamingAsksForJSON(t *testing.T) {
	f := upstreamtest.NewFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(testkit.Fixture(t, "chat_completion.json"))
	})
	c := newTestClient(t, f.URL)
	req := &llm.ChatRequest{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Text: "hi"}}}}}
	_, agg, u, err := upstreamtest.Collect(c.Chat, req)
	if err != nil {
		t.Fatal(err)
	}
	body := f.Last(t).JSONBody(t)
	if _, ok := body["stream_options"]; ok || body["stream"] != false {
		t.Errorf("stream = %v, stream_options = %v", body["stream"], body["stream_options"])
	}
	if len(agg.ToolCalls) != 2 || agg.FinishReason != llm.FinishToolCalls || u.TotalTokens != 70 {
		t.Errorf("calls %+v finish %q usage %+v", agg.ToolCalls, agg.FinishReason, u)
	}
}
