package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/edge/upstream/upstreamtest"
)

// fakeParser reads {"type":…,"message":…} bodies, standing in for a
// provider's parser: "context" in the message refines the kind, "quota"
// as the type names a sentinel, and "delay" asks for 13 s.
var errFakeQuota = errors.New("fake quota")

func fakeParser(body []byte, status int, k llm.Kind) (ErrorInfo, bool) {
	s := string(body)
	if !strings.HasPrefix(s, "{") {
		return ErrorInfo{}, false
	}
	var info ErrorInfo
	if _, rest, ok := strings.Cut(s, `"type":"`); ok {
		info.Type, _, _ = strings.Cut(rest, `"`)
	}
	if _, rest, ok := strings.Cut(s, `"message":"`); ok {
		info.Message, _, _ = strings.Cut(rest, `"`)
	}
	if strings.Contains(info.Message, "context") {
		info.Kind = llm.KindContextLength
	}
	if status == 0 {
		info.Status = 503
		info.Kind = llm.KindOverloaded
	}
	switch info.Type {
	case "quota":
		info.Type, info.Err = "", errFakeQuota
	case "delay":
		info.RetryAfter = 13 * time.Second
	}
	return info, true
}

// fakeReset is a provider's reset header family: x-reset in seconds.
func fakeReset(h http.Header, _ time.Time) time.Duration {
	d, _ := time.ParseDuration(h.Get("x-reset"))
	return d
}

func newTestClient(t *testing.T, base string, mod ...func(*ClientOptions)) *Client {
	t.Helper()
	o := ClientOptions{
		Endpoint:   Endpoint{Name: "fake", BaseURL: base + "/v1/", APIKey: "sk-test-0123456789", Headers: map[string]string{"X-Title": "edgeway-test"}},
		Auth:       BearerAuth,
		ParseError: fakeParser,
		ResetDelay: fakeReset,
	}
	return upstreamtest.NewClient(t, func(o ClientOptions) (*Client, error) { return NewClient("fake", o) }, o, mod...)
}

// hijackCut writes a 200 chunked response with a partial body, then
// drops the connection without the terminating chunk.
func hijackCut(w http.ResponseWriter, r *http.Request) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	const ev = "data: {\"x\":1}\n\n"
	fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", len(ev), ev)
	buf.Flush()
}

func TestNewClient(t *testing.T) {
	tests := []struct {
		name    string
		opts    ClientOptions
		extra   []error
		wantErr []string // substrings; empty means success
	}{
		{name: "minimal", opts: ClientOptions{Endpoint: Endpoint{BaseURL: "http://127.0.0.1:8080/v1"}}},
		{name: "missing base", opts: ClientOptions{}, wantErr: []string{"BaseURL is required"}},
		{name: "bad scheme", opts: ClientOptions{Endpoint: Endpoint{BaseURL: "ftp://x/v1"}}, wantErr: []string{`BaseURL "ftp://x/v1": scheme must be http or https`}},
		{name: "no host", opts: ClientOptions{Endpoint: Endpoint{BaseURL: "http:///v1"}}, wantErr: []string{"host is missing"}},
		{name: "query", opts: ClientOptions{Endpoint: Endpoint{BaseURL: "http://x/v1?key=k"}}, wantErr: []string{"query or fragment"}},
		{name: "huge bound", opts: ClientOptions{Endpoint: Endpoint{BaseURL: "http://x", MaxResponseBytes: 1 << 40}}, wantErr: []string{"must be at most"}},
		{name: "control char in key", opts: ClientOptions{Endpoint: Endpoint{BaseURL: "http://x", APIKey: "k\r\n"}, Auth: BearerAuth}, wantErr: []string{"APIKey: contains control characters"}},
		{name: "everything wrong at once", opts: ClientOptions{
			Endpoint: Endpoint{BaseURL: "http://x", Timeout: -1, ConnectTimeout: -1, MaxResponseBytes: -1, APIKey: "k", Headers: map[string]string{"Bad Name": "v", "X-Ok": "a\nb", "X-API-KEY": "other", "Anthropic-Version": "2024-01-01"}},
			Auth:     XAPIKeyAuth,
			Fixed:    []FixedHeader{{Name: "anthropic-version", Value: "2023\n", Option: "Version"}},
		}, extra: []error{errors.New("Provider option: wrong")},
			wantErr: []string{"Provider option: wrong", "Timeout -1ns", "ConnectTimeout -1ns", "MaxResponseBytes -1", "Version: contains control characters",
				`"Bad Name" is not a valid header name`, `Headers["X-Ok"]`, "Headers: x-api-key conflicts with APIKey", "Headers: anthropic-version is set by Version"}},
		{name: "auth header free without a key", opts: ClientOptions{Endpoint: Endpoint{BaseURL: "http://x", Headers: map[string]string{"Authorization": "Bearer proxy"}}, Auth: BearerAuth}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient("comp", tt.opts, tt.extra...)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("NewClient: %v", err)
				}
				if c.timeout != DefaultTimeout || c.maxBytes != DefaultMaxResponseBytes || c.MaxBytes() != DefaultMaxResponseBytes {
					t.Errorf("defaults not applied: %v %d", c.timeout, c.maxBytes)
				}
				return
			}
			if err == nil {
				t.Fatal("NewClient succeeded")
			}
			if !strings.HasPrefix(err.Error(), `comp: new "comp"`) {
				t.Errorf("error %q lacks the component prefix", err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestSendHeaders(t *testing.T) {
	for _, tt := range []struct {
		auth       Auth
		fixed      []FixedHeader
		want       map[string]string
		wantAbsent string
	}{
		{auth: BearerAuth, want: map[string]string{"Authorization": "Bearer sk-test-0123456789"}},
		{auth: XAPIKeyAuth, fixed: []FixedHeader{{Name: "anthropic-version", Value: "2023-06-01", Option: "Version"}},
			want: map[string]string{"X-Api-Key": "sk-test-0123456789", "Anthropic-Version": "2023-06-01"}, wantAbsent: "Authorization"},
		{auth: GoogAPIKeyAuth, want: map[string]string{"X-Goog-Api-Key": "sk-test-0123456789"}, wantAbsent: "Authorization"},
	} {
		t.Run(tt.auth.Header, func(t *testing.T) {
			f := upstreamtest.NewFake(t, upstreamtest.Plain.JSON(200, nil, `{}`))
			c := newTestClient(t, f.URL, func(o *ClientOptions) { o.Auth, o.Fixed = tt.auth, tt.fixed })
			resp, err := c.Send(context.Background(), "chat", http.MethodPost, "/chat", []byte(`{}`), "text/event-stream")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			r := f.Last(t)
			if r.Method != http.MethodPost || r.URI != "/v1/chat" || string(r.Body) != `{}` {
				t.Errorf("request = %s %s %s", r.Method, r.URI, r.Body)
			}
			want := map[string]string{"User-Agent": "edgeway", "Accept": "text/event-stream", "Content-Type": "application/json", "X-Title": "edgeway-test"}
			for k, v := range tt.want {
				want[k] = v
			}
			r.CheckHeaders(t, want)
			if tt.wantAbsent != "" && r.Header.Get(tt.wantAbsent) != "" {
				t.Errorf("%s sent", tt.wantAbsent)
			}
		})
	}
	t.Run("a client's headers from the context", func(t *testing.T) {
		f := upstreamtest.NewFake(t, upstreamtest.Plain.JSON(200, nil, `{}`))
		c := newTestClient(t, f.URL, func(o *ClientOptions) {
			o.Auth = XAPIKeyAuth
			o.Fixed = []FixedHeader{{Name: "anthropic-version", Value: "2023-06-01", Option: "Version"}}
		})
		ctx := WithHeaders(context.Background(), []llm.Header{
			{Name: "anthropic-beta", Value: "a-1"}, {Name: "Anthropic-Beta", Value: "b-2"},
			{Name: "anthropic-version", Value: "1999-01-01"}, {Name: "x-api-key", Value: "stolen"},
			{Name: "bad name", Value: "v"}, {Name: "x-ok", Value: "bad\nvalue"},
		})
		resp, err := c.Send(ctx, "chat", http.MethodPost, "/chat", []byte(`{}`), "text/event-stream")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := f.Last(t).Header
		if got := h.Values("Anthropic-Beta"); !reflect.DeepEqual(got, []string{"a-1", "b-2"}) {
			t.Errorf("anthropic-beta = %q", got)
		}
		if h.Get("Anthropic-Version") != "2023-06-01" || h.Get("X-Api-Key") != "sk-test-0123456789" || h.Get("X-Ok") != "" {
			t.Errorf("headers = %v", h)
		}
	})
	t.Run("GET sends no Content-Type, no key when none", func(t *testing.T) {
		f := upstreamtest.NewFake(t, upstreamtest.Plain.JSON(200, nil, `{"a":1}`))
		c := newTestClient(t, f.URL, func(o *ClientOptions) { o.APIKey = "" })
		var v struct{ A int }
		if err := c.JSON(context.Background(), "models", "/models?limit=1", nil, &v); err != nil || v.A != 1 {
			t.Fatalf("JSON = %+v, %v", v, err)
		}
		r := f.Last(t)
		if r.Method != http.MethodGet || r.URI != "/v1/models?limit=1" || r.Header.Get("Content-Type") != "" || r.Header.Get("Authorization") != "" {
			t.Errorf("request = %s %s %v", r.Method, r.URI, r.Header)
		}
	})
}

// checkError asserts what every upstream failure must be: an *llm.Error of
// the provider with the wanted kind, status, retry delay, message and
// wrapped sentinel.
func checkError(t *testing.T, err error, kind llm.Kind, status int, retry time.Duration, msg string, is error) {
	t.Helper()
	upstreamtest.CheckError(t, err, upstreamtest.WantError{Kind: kind, Status: status, Retry: retry, Message: msg, Is: is})
}

func TestStatusError(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		kind      llm.Kind
		status    int
		retry     time.Duration
		msg       string
		is        error
		errText   string // substring of Error()
		parseless bool   // a provider without an error parser
	}{
		{name: "400 body refines the kind", handler: upstreamtest.Plain.JSON(400, nil, `{"type":"invalid","message":"context too long"}`),
			kind: llm.KindContextLength, status: 400, msg: "context too long", errText: "chat: invalid"},
		{name: "401 by status", handler: upstreamtest.Plain.JSON(401, nil, `{"message":"bad key"}`), kind: llm.KindAuth, status: 401, msg: "bad key"},
		{name: "404 by status", handler: upstreamtest.Plain.JSON(404, nil, `{}`), kind: llm.KindNotFound, status: 404, msg: "Not Found"},
		{name: "413 plain text", handler: upstreamtest.Plain.JSON(413, map[string]string{"Content-Type": "text/plain"}, "request entity too large"),
			kind: llm.KindContextLength, status: 413, msg: "request entity too large"},
		{name: "429 Retry-After", handler: upstreamtest.Plain.JSON(429, map[string]string{"Retry-After": "7"}, `{"message":"slow"}`),
			kind: llm.KindRateLimited, status: 429, retry: 7 * time.Second, msg: "slow"},
		{name: "429 Retry-After date", handler: upstreamtest.Plain.JSON(429, map[string]string{"Retry-After": now.Add(90 * time.Second).UTC().Format(http.TimeFormat)}, `{}`),
			kind: llm.KindRateLimited, status: 429, retry: -1},
		{name: "429 retry-after-ms wins", handler: upstreamtest.Plain.JSON(429, map[string]string{"retry-after-ms": "20", "Retry-After": "1"}, `{}`),
			kind: llm.KindRateLimited, status: 429, retry: 20 * time.Millisecond},
		{name: "429 retry-after-ms fractional", handler: upstreamtest.Plain.JSON(429, map[string]string{"retry-after-ms": "1500.5"}, `{}`),
			kind: llm.KindRateLimited, status: 429, retry: 1500*time.Millisecond + 500*time.Microsecond},
		{name: "429 retry-after-ms NaN ignored", handler: upstreamtest.Plain.JSON(429, map[string]string{"retry-after-ms": "NaN", "Retry-After": "9"}, `{}`),
			kind: llm.KindRateLimited, status: 429, retry: 9 * time.Second},
		{name: "429 retry-after-ms capped", handler: upstreamtest.Plain.JSON(429, map[string]string{"retry-after-ms": "1e12"}, `{}`),
			kind: llm.KindRateLimited, status: 429, retry: MaxRetryAfter},
		{name: "429 Retry-After capped", handler: upstreamtest.Plain.JSON(429, map[string]string{"Retry-After": "86400"}, `{}`),
			kind: llm.KindRateLimited, status: 429, retry: MaxRetryAfter},
		{name: "429 reset headers", handler: upstreamtest.Plain.JSON(429, map[string]string{"x-reset": "6m"}, `{}`),
			kind: llm.KindRateLimited, status: 429, retry: 6 * time.Minute},
		{name: "429 reset headers capped", handler: upstreamtest.Plain.JSON(429, map[string]string{"x-reset": "24h"}, `{}`),
			kind: llm.KindRateLimited, status: 429, retry: MaxRetryAfter},
		{name: "reset headers ignored off 429", handler: upstreamtest.Plain.JSON(500, map[string]string{"x-reset": "6m"}, `{}`),
			kind: llm.KindServer, status: 500, msg: "Internal Server Error"},
		{name: "body delay wins over headers", handler: upstreamtest.Plain.JSON(429, map[string]string{"Retry-After": "2"}, `{"type":"delay"}`),
			kind: llm.KindRateLimited, status: 429, retry: 13 * time.Second, errText: "chat: delay"},
		{name: "sentinel", handler: upstreamtest.Plain.JSON(429, nil, `{"type":"quota","message":"out of credit"}`),
			kind: llm.KindRateLimited, status: 429, msg: "out of credit", is: errFakeQuota, errText: "chat: fake quota"},
		{name: "502 HTML", handler: upstreamtest.Plain.JSON(502, map[string]string{"Content-Type": "text/html"}, "<html><body>Bad Gateway</body></html>"),
			kind: llm.KindServer, status: 502, msg: "Bad Gateway"},
		{name: "503 Retry-After", handler: upstreamtest.Plain.JSON(503, map[string]string{"Retry-After": "3"}, `{"message":"busy"}`),
			kind: llm.KindOverloaded, status: 503, retry: 3 * time.Second, msg: "busy"},
		{name: "504 empty", handler: upstreamtest.Plain.JSON(504, nil, ``), kind: llm.KindTimeout, status: 504, msg: "Gateway Timeout"},
		{name: "long plain text is not a message", handler: upstreamtest.Plain.JSON(500, map[string]string{"Content-Type": "text/plain"}, strings.Repeat("x", 600)),
			kind: llm.KindServer, status: 500, msg: "Internal Server Error"},
		{name: "key echoed back is redacted", handler: upstreamtest.Plain.JSON(401, nil, `{"message":"Incorrect API key provided: sk-test-0123456789"}`),
			kind: llm.KindAuth, status: 401, msg: "Incorrect API key provided: [redacted]"},
		{name: "no parser", handler: upstreamtest.Plain.JSON(400, nil, `{"message":"context"}`), parseless: true,
			kind: llm.KindBadRequest, status: 400, msg: `{"message":"context"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := upstreamtest.NewFake(t, tt.handler)
			c := newTestClient(t, f.URL, func(o *ClientOptions) {
				if tt.parseless {
					o.ParseError = nil
				}
			})
			_, err := c.Send(context.Background(), "chat", http.MethodPost, "/chat", []byte(`{}`), "application/json")
			retry := tt.retry
			if retry < 0 { // an HTTP date: one-second resolution
				var le *llm.Error
				if errors.As(err, &le) && le.RetryAfter > 88*time.Second && le.RetryAfter <= 90*time.Second {
					retry = le.RetryAfter
				}
			}
			checkError(t, err, tt.kind, tt.status, retry, tt.msg, tt.is)
			if !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("Error() = %q, want it to contain %q", err, tt.errText)
			}
		})
	}
}

func TestEventError(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	err := c.EventError("chat", []byte(`{"type":"quota","message":"over"}`))
	checkError(t, err, llm.KindOverloaded, 503, 0, "over", errFakeQuota)
	if want := "chat: error event: fake quota"; !strings.HasSuffix(err.Error(), want) {
		t.Errorf("Error() = %q, want it to end in %q", err, want)
	}
	checkError(t, c.EventError("chat", []byte(`oops`)), llm.KindServer, 0, 0, "", llm.ErrMalformed)
	c.parseError = nil
	checkError(t, c.EventError("chat", []byte(`{}`)), llm.KindServer, 0, 0, "", llm.ErrMalformed)
}

func TestReadBodyAndStream(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		stream  bool
		max     int64
		is      error
	}{
		{name: "oversized body", handler: upstreamtest.Plain.JSON(200, nil, strings.Repeat("x", 200)), max: 100, is: llm.ErrMalformed},
		{name: "body cut", handler: hijackCut, is: llm.ErrStreamCut},
		{name: "oversized event", handler: upstreamtest.Plain.JSON(200, map[string]string{"Content-Type": "text/event-stream"}, "data: "+strings.Repeat("x", 2000)+"\n\n"),
			stream: true, max: 1024, is: llm.ErrMalformed},
		{name: "stream cut", handler: hijackCut, stream: true, is: llm.ErrStreamCut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := upstreamtest.NewFake(t, tt.handler)
			c := newTestClient(t, f.URL, func(o *ClientOptions) { o.MaxResponseBytes = tt.max })
			ctx := context.Background()
			resp, err := c.Send(ctx, "chat", http.MethodGet, "/x", nil, "text/event-stream")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if !tt.stream {
				_, err = c.ReadBody(ctx, resp.Body, "chat")
			} else {
				sr := c.SSE(resp.Body)
				for err == nil {
					_, _, err = sr.Next()
				}
				err = c.StreamError(ctx, "chat", err)
			}
			checkError(t, err, llm.KindServer, 0, 0, "", tt.is)
		})
	}
}

// silent accepts connections and never answers.
func silent(t *testing.T) string {
	ln := testkit.Listen(t)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, bufio.NewReader(conn)); conn.Close() }()
		}
	}()
	return "http://" + ln.Addr().String()
}

func TestTransportErrors(t *testing.T) {
	ln := testkit.Listen(t)
	refused := "http://" + ln.Addr().String()
	ln.Close()
	t.Run("refused", func(t *testing.T) {
		c := newTestClient(t, refused)
		_, err := c.Send(context.Background(), "chat", http.MethodGet, "/x", nil, "application/json")
		checkError(t, err, llm.KindUnavailable, 0, 0, "", nil)
		checkError(t, c.Ping(context.Background(), "/models"), llm.KindUnavailable, 0, 0, "", nil)
	})
	t.Run("whole-request timeout", func(t *testing.T) {
		c := newTestClient(t, silent(t), func(o *ClientOptions) { o.Timeout = 50 * time.Millisecond })
		err := c.JSON(context.Background(), "models", "/models", nil, new(any))
		checkError(t, err, llm.KindTimeout, 0, 0, "", nil)
	})
	t.Run("ping timeout", func(t *testing.T) {
		c := newTestClient(t, silent(t))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		checkError(t, c.Ping(ctx, "/models"), llm.KindTimeout, 0, 0, "", nil)
	})
	t.Run("canceled mid-stream", func(t *testing.T) {
		gone := make(chan struct{})
		f := upstreamtest.NewFake(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: {}\n\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			close(gone)
		})
		c := newTestClient(t, f.URL)
		ctx, cancel := context.WithCancel(context.Background())
		resp, err := c.Send(ctx, "chat", http.MethodPost, "/chat", []byte(`{}`), "text/event-stream")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sr := c.SSE(resp.Body)
		if _, _, err := sr.Next(); err != nil {
			t.Fatal(err)
		}
		cancel() // the edgeway client disconnected
		_, _, err = sr.Next()
		checkError(t, c.StreamError(ctx, "chat", err), llm.KindCanceled, 0, 0, "", context.Canceled)
		// Closing the unfinished body is what drops the connection.
		resp.Body.Close()
		<-gone // the upstream saw its client leave
	})
}

func TestPing(t *testing.T) {
	for _, status := range []int{200, 401, 500} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			f := upstreamtest.NewFake(t, upstreamtest.Plain.JSON(status, nil, `oops`))
			c := newTestClient(t, f.URL)
			if err := c.Ping(context.Background(), "/models?limit=1"); err != nil {
				t.Errorf("Ping = %v: any answer proves the link", err)
			}
			if r := f.Last(t); r.Method != http.MethodGet || r.URI != "/v1/models?limit=1" {
				t.Errorf("request %s %s", r.Method, r.URI)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Incorrect API key provided: my-own-secret-key.", "Incorrect API key provided: [redacted]."},
		{"Incorrect API key provided: sk-proj-abc123DEF456.", "Incorrect API key provided: [redacted]."},
		{"x-api-key sk-ant-api03-AbCdEf_gh-ij is invalid", "x-api-key [redacted] is invalid"},
		{"header Authorization: Bearer eyJhbGciOi.JIUzI1NiJ9 refused", "header Authorization: Bearer [redacted] refused"},
		{"GET https://x/v1beta/models?key=AIzaSyA-123_456&alt=sse failed", "GET https://x/v1beta/models?key=[redacted]&alt=sse failed"},
		{"API key AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe not valid", "API key [redacted] not valid"},
		{"use ?api_key=abc or api-key=def", "use ?api_key=[redacted] or api-key=[redacted]"},
		{"edgeway key ew-AbCdEf_0123-xyz leaked", "edgeway key [redacted] leaked"},
		{"a new-model and few-shot prompt", "a new-model and few-shot prompt"},
		// Prose that only resembles a credential stays.
		{"the task-force found no monkey=business; Bearer short", "the task-force found no monkey=business; Bearer short"},
		{"a short key k is kept", "a short key k is kept"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in, "my-own-secret-key", "k"); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCleanMessage(t *testing.T) {
	long := strings.Repeat("é", MaxErrorMessage)
	if got := CleanMessage(long); len(got) > MaxErrorMessage+len("…") || !strings.HasSuffix(got, "é…") {
		t.Errorf("long message not bounded on a character: %d bytes", len(got))
	}
	if got := CleanMessage(" bad\xffbyte\n"); got != "bad\uFFFDbyte" {
		t.Errorf("invalid UTF-8 or space kept: %q", got)
	}
	// A key cut by the bound must not leak its head: redaction comes first.
	msg := strings.Repeat("a", MaxErrorMessage-10) + " sk-0123456789abcdef"
	if got := CleanMessage(msg); strings.Contains(got, "sk-01") {
		t.Errorf("truncated key leaked: %q", got[len(got)-30:])
	}
}

func TestIsJSON(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json": true, "application/json; charset=UTF-8": true, "application/problem+json": true,
		"text/event-stream": false, "": false, "text/html": false,
	} {
		if IsJSON(ct) != want {
			t.Errorf("IsJSON(%q) = %v", ct, !want)
		}
	}
}

func TestBadRequest(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	err := c.BadRequest("chat", errors.New("model is required"))
	if err.Kind != llm.KindBadRequest || err.Error() != "fake: bad_request: chat: model is required" {
		t.Errorf("BadRequest = %v", err)
	}
}
