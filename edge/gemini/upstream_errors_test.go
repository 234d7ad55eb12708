package gemini

import (
	"net/http"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
	"github.com/edgeway/edgeway/edge/upstream/upstreamtest"
)

func TestChatErrors(t *testing.T) {
	fixture := func(name string) string { return string(readFixture(t, name)) }
	tests := []struct {
		name        string
		handler     http.HandlerFunc
		opts        func(*Options)
		wantKind    llm.Kind
		wantStatus  int
		wantRetry   time.Duration
		wantMessage string // substring of Message
		wantIs      error
		wantErrText string // substring of Error()
	}{
		{name: "400 INVALID_ARGUMENT", handler: frame.JSON(400, nil, fixture("error_400.json")),
			wantKind: llm.KindBadRequest, wantStatus: 400, wantMessage: "temperature: must be in [0, 2]", wantErrText: "chat: INVALID_ARGUMENT"},
		{name: "400 input token count", handler: frame.JSON(400, nil, fixture("error_400_context.json")),
			wantKind: llm.KindContextLength, wantStatus: 400, wantMessage: "exceeds the maximum number of tokens allowed (1048576)"},
		{name: "400 payload size", handler: frame.JSON(400, nil, `{"error":{"code":400,"message":"Request payload size exceeds the limit: 20971520 bytes.","status":"INVALID_ARGUMENT"}}`),
			wantKind: llm.KindContextLength, wantStatus: 400},
		{name: "400 API key not valid", handler: frame.JSON(400, nil, fixture("error_400_api_key.json")),
			wantKind: llm.KindAuth, wantStatus: 400, wantMessage: "API key not valid"},
		{name: "400 wrapped in an array", handler: frame.JSON(400, nil, fixture("error_array.json")),
			wantKind: llm.KindAuth, wantStatus: 400, wantMessage: "API key not valid"},
		{name: "400 FAILED_PRECONDITION", handler: frame.JSON(400, nil, fixture("error_400_precondition.json")),
			wantKind: llm.KindAuth, wantStatus: 400, wantMessage: "User location is not supported"},
		{name: "401 UNAUTHENTICATED", handler: frame.JSON(401, nil, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`),
			wantKind: llm.KindAuth, wantStatus: 401, wantMessage: "invalid authentication credentials"},
		{name: "403 PERMISSION_DENIED", handler: frame.JSON(403, nil, fixture("error_403.json")),
			wantKind: llm.KindAuth, wantStatus: 403, wantMessage: "unregistered callers"},
		{name: "404 NOT_FOUND", handler: frame.JSON(404, nil, fixture("error_404.json")),
			wantKind: llm.KindNotFound, wantStatus: 404, wantMessage: "models/gemini-9-ultra is not found"},
		{name: "429 RetryInfo", handler: frame.JSON(429, map[string]string{"Retry-After": "2"}, fixture("error_429.json")),
			wantKind: llm.KindRateLimited, wantStatus: 429, wantRetry: 13 * time.Second, wantMessage: "exceeded your current quota"},
		{name: "429 daily quota", handler: frame.JSON(429, nil, fixture("error_429_daily.json")),
			wantKind: llm.KindRateLimited, wantStatus: 429, wantRetry: 42500 * time.Millisecond, wantIs: ErrQuotaExhausted},
		{name: "429 Retry-After header only", handler: frame.JSON(429, map[string]string{"Retry-After": "7"}, `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`),
			wantKind: llm.KindRateLimited, wantStatus: 429, wantRetry: 7 * time.Second},
		{name: "500 INTERNAL", handler: frame.JSON(500, nil, fixture("error_500.json")),
			wantKind: llm.KindServer, wantStatus: 500, wantMessage: "An internal error has occurred"},
		{name: "503 UNAVAILABLE", handler: frame.JSON(503, nil, fixture("error_503.json")),
			wantKind: llm.KindOverloaded, wantStatus: 503, wantMessage: "The model is overloaded"},
		{name: "504 DEADLINE_EXCEEDED", handler: frame.JSON(504, nil, fixture("error_504.json")),
			wantKind: llm.KindTimeout, wantStatus: 504, wantMessage: "Deadline expired"},
		{name: "stream without finishReason", handler: frame.SSE(fixture("stream_cut.sse")), wantKind: llm.KindServer, wantIs: llm.ErrStreamCut},
		{name: "error event in the stream", handler: frame.SSE(fixture("stream_error_event.sse")),
			wantKind: llm.KindOverloaded, wantStatus: 503, wantMessage: "overloaded"},
		{name: "malformed event", handler: frame.SSE(event(`{"candidates":[{`)), wantKind: llm.KindServer, wantIs: llm.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := upstreamtest.NewFake(t, tt.handler)
			c := newTestClient(t, f.URL, tt.opts)
			_, _, _, err := upstreamtest.Collect(c.Chat, simpleRequest())
			upstreamtest.CheckError(t, err, upstreamtest.WantError{Kind: tt.wantKind, Status: tt.wantStatus, Retry: tt.wantRetry, Message: tt.wantMessage, Is: tt.wantIs, Text: tt.wantErrText})
		})
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		name   string
		status int
		info   errorInfo
		want   llm.Kind
	}{
		{"status name beats HTTP status", 400, errorInfo{status: "RESOURCE_EXHAUSTED"}, llm.KindRateLimited},
		{"stream error uses the code", 0, errorInfo{code: 500, message: "boom"}, llm.KindServer},
		{"stream error without code", 0, errorInfo{message: "boom"}, llm.KindServer},
		{"UNIMPLEMENTED", 501, errorInfo{status: "UNIMPLEMENTED"}, llm.KindNotFound},
		{"CANCELLED", 499, errorInfo{status: "CANCELLED"}, llm.KindServer},
		{"unknown status name falls back to HTTP", 409, errorInfo{status: "SOMETHING_NEW"}, llm.KindBadRequest},
		{"API_KEY_EXPIRED reason", 400, errorInfo{status: "INVALID_ARGUMENT", reason: "API_KEY_EXPIRED"}, llm.KindAuth},
		{"context message on a rate limit stays a rate limit", 429,
			errorInfo{status: "RESOURCE_EXHAUSTED", message: "input token count exceeds the maximum number of tokens per minute"}, llm.KindRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kindOf(tt.status, tt.info); got != tt.want {
				t.Errorf("kindOf = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"13s": 13 * time.Second, "0.5s": 500 * time.Millisecond, "1.000340s": 1000340 * time.Microsecond,
		"": 0, "13": 0, "s": 0, "-1s": 0, "NaNs": 0, "1e9s": upstream.MaxRetryAfter, "Infs": upstream.MaxRetryAfter, " 2s ": 2 * time.Second,
	} {
		if got := parseDuration(in); got != want {
			t.Errorf("parseDuration(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestParseErrorBody(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		wantOK bool
		want   errorInfo
	}{
		{name: "empty", body: ``},
		{name: "not JSON", body: `oops`},
		{name: "no error key", body: `{"message":"x"}`},
		{name: "empty array", body: `[]`},
		{name: "details of unknown types skipped", wantOK: true,
			body: `{"error":{"code":400,"message":"m","status":"invalid_argument","details":[7,{"@type":"x"},{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"R1"},{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"R2"}]}}`,
			want: errorInfo{code: 400, status: "INVALID_ARGUMENT", message: "m", reason: "R1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseErrorBody([]byte(tt.body))
			if ok != tt.wantOK || got != tt.want {
				t.Errorf("parseErrorBody = %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParseErrorBullet(t *testing.T) {
	body := `{"error":{"code":400,"message":"* GenerateContentRequest.contents: contents is not specified\n","status":"INVALID_ARGUMENT"}}`
	info, ok := parseError([]byte(body), 400, llm.KindBadRequest)
	if !ok || info.Message != "GenerateContentRequest.contents: contents is not specified" || info.Type != "INVALID_ARGUMENT" {
		t.Errorf("parseError = %+v, %v; the bullet should go", info, ok)
	}
}
