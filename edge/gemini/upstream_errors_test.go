package gemini

import (
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/edge/upstream"
	"github.com/edgeway/edgeway/edge/upstream/upstreamtest"
)

// want is what a row of an error table expects.
type want = upstreamtest.WantError

func TestChatErrors(t *testing.T) {
	fixture := func(name string) string { return string(testkit.Fixture(t, name)) }
	tests := []upstreamtest.ErrorCase[Options]{
		{Name: "400 INVALID_ARGUMENT", Handler: frame.JSON(400, nil, fixture("error_400.json")),
			Want: want{Kind: llm.KindBadRequest, Status: 400, Message: "temperature: must be in [0, 2]", Text: "chat: INVALID_ARGUMENT"}},
		{Name: "400 input token count", Handler: frame.JSON(400, nil, fixture("error_400_context.json")),
			Want: want{Kind: llm.KindContextLength, Status: 400, Message: "exceeds the maximum number of tokens allowed (1048576)"}},
		{Name: "400 payload size", Handler: frame.JSON(400, nil, `{"error":{"code":400,"message":"Request payload size exceeds the limit: 20971520 bytes.","status":"INVALID_ARGUMENT"}}`),
			Want: want{Kind: llm.KindContextLength, Status: 400}},
		{Name: "400 API key not valid", Handler: frame.JSON(400, nil, fixture("error_400_api_key.json")),
			Want: want{Kind: llm.KindAuth, Status: 400, Message: "API key not valid"}},
		{Name: "400 wrapped in an array", Handler: frame.JSON(400, nil, fixture("error_array.json")),
			Want: want{Kind: llm.KindAuth, Status: 400, Message: "API key not valid"}},
		{Name: "400 FAILED_PRECONDITION", Handler: frame.JSON(400, nil, fixture("error_400_precondition.json")),
			Want: want{Kind: llm.KindAuth, Status: 400, Message: "User location is not supported"}},
		{Name: "401 UNAUTHENTICATED", Handler: frame.JSON(401, nil, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`),
			Want: want{Kind: llm.KindAuth, Status: 401, Message: "invalid authentication credentials"}},
		{Name: "403 PERMISSION_DENIED", Handler: frame.JSON(403, nil, fixture("error_403.json")),
			Want: want{Kind: llm.KindAuth, Status: 403, Message: "unregistered callers"}},
		{Name: "404 NOT_FOUND", Handler: frame.JSON(404, nil, fixture("error_404.json")),
			Want: want{Kind: llm.KindNotFound, Status: 404, Message: "models/gemini-9-ultra is not found"}},
		{Name: "429 RetryInfo", Handler: frame.JSON(429, map[string]string{"Retry-After": "2"}, fixture("error_429.json")),
			Want: want{Kind: llm.KindRateLimited, Status: 429, Retry: 13 * time.Second, Message: "exceeded your current quota"}},
		{Name: "429 daily quota", Handler: frame.JSON(429, nil, fixture("error_429_daily.json")),
			Want: want{Kind: llm.KindRateLimited, Status: 429, Retry: 42500 * time.Millisecond, Is: ErrQuotaExhausted}},
		{Name: "429 Retry-After header only", Handler: frame.JSON(429, map[string]string{"Retry-After": "7"}, `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`),
			Want: want{Kind: llm.KindRateLimited, Status: 429, Retry: 7 * time.Second}},
		{Name: "500 INTERNAL", Handler: frame.JSON(500, nil, fixture("error_500.json")),
			Want: want{Kind: llm.KindServer, Status: 500, Message: "An internal error has occurred"}},
		{Name: "503 UNAVAILABLE", Handler: frame.JSON(503, nil, fixture("error_503.json")),
			Want: want{Kind: llm.KindOverloaded, Status: 503, Message: "The model is overloaded"}},
		{Name: "504 DEADLINE_EXCEEDED", Handler: frame.JSON(504, nil, fixture("error_504.json")),
			Want: want{Kind: llm.KindTimeout, Status: 504, Message: "Deadline expired"}},
		{Name: "stream without finishReason", Handler: frame.SSE(fixture("stream_cut.sse")), Want: want{Kind: llm.KindServer, Is: llm.ErrStreamCut}},
		{Name: "error event in the stream", Handler: frame.SSE(fixture("stream_error_event.sse")),
			Want: want{Kind: llm.KindOverloaded, Status: 503, Message: "overloaded"}},
		{Name: "malformed event", Handler: frame.SSE(event(`{"candidates":[{`)), Want: want{Kind: llm.KindServer, Is: llm.ErrMalformed}},
	}
	upstreamtest.CheckErrors(t, tests, simpleRequest, newTestClient)
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
