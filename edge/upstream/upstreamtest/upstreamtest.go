// Package upstreamtest is the test frame of edgeway's HTTP provider
// clients (edge/upstream and the openai, anthropic and gemini packages on
// top of it): a fake upstream that records what it was sent, canned
// answers in a provider's framing, and the checks every client test makes
// the same way. It lives outside _test files so that each provider's tests
// keep only their wire mapping cases, not a copy of this frame.
package upstreamtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
)

// Request is one request the fake upstream saw.
type Request struct {
	Method string
	Path   string // unescaped URL path
	Query  string // raw query
	URI    string // request URI as sent: escaped path and query
	Header http.Header
	Body   []byte
}

// Fake is an httptest server on 127.0.0.1:0 that records every request and
// answers with its handler.
type Fake struct {
	URL string

	mu   sync.Mutex
	reqs []Request
}

// NewFake starts a Fake, closed when the test ends. The handler may read
// the request body again: the recorded copy is handed on.
func NewFake(tb testing.TB, handler http.HandlerFunc) *Fake {
	tb.Helper()
	f := &Fake{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, Request{r.Method, r.URL.Path, r.URL.RawQuery, r.URL.RequestURI(), r.Header.Clone(), body})
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		handler(w, r)
	}))
	tb.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// Last returns the latest request, failing the test if there was none.
func (f *Fake) Last(tb testing.TB) Request {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		tb.Fatal("the fake upstream saw no request")
	}
	return f.reqs[len(f.reqs)-1]
}

// All returns a copy of every request so far, oldest first.
func (f *Fake) All() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.reqs...)
}

// Framing is how a provider frames its answers. The providers differ here
// on purpose (Anthropic adds a charset to its event streams, Gemini to its
// JSON and ends events with CRLF), and the clients must cope with each.
type Framing struct {
	JSONType  string // Content-Type of JSON answers
	EventType string // Content-Type of event streams
	EventSep  string // what ends one event
}

// Plain is the framing of OpenAI and of most compatible servers.
var Plain = Framing{JSONType: "application/json", EventType: "text/event-stream", EventSep: "\n\n"}

// JSON answers with status, the given headers and body, typed as JSON
// unless header names another Content-Type.
func (fr Framing) JSON(status int, header map[string]string, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", fr.JSONType)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// SSE answers with body as an event stream, flushing after each event so
// that the client reads them as they would arrive from a real upstream.
func (fr Framing) SSE(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", fr.EventType)
		fl := w.(http.Flusher)
		for _, ev := range strings.SplitAfter(body, fr.EventSep) {
			io.WriteString(w, ev)
			fl.Flush()
		}
	}
}

// CheckEmitAbort checks that an error from emit comes back from Chat
// unchanged and ends the upstream request: the fake sends the event first,
// then holds the stream open until the client newClient built on its URL
// goes away.
func CheckEmitAbort[O any, C Chatter](t *testing.T, fr Framing, first string, req *llm.ChatRequest, newClient NewTestClient[O, C]) {
	t.Helper()
	gone := make(chan struct{})
	f := NewFake(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", fr.EventType)
		io.WriteString(w, first)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(gone)
	})
	stop := errors.New("client write failed")
	_, err := newClient(t, f.URL).Chat(context.Background(), req, func(*llm.Chunk) error { return stop })
	if err != stop {
		t.Errorf("error = %v, want the emit error unchanged", err)
	}
	testkit.Closed(t, "the upstream request aborted", gone)
}

// ChatFunc is a provider client's Chat method.
type ChatFunc func(ctx context.Context, req *llm.ChatRequest, emit func(*llm.Chunk) error) (llm.Usage, error)

// Chatter is a provider client.
type Chatter interface {
	Chat(ctx context.Context, req *llm.ChatRequest, emit func(*llm.Chunk) error) (llm.Usage, error)
}

// NewTestClient is a client test's constructor: a client of the upstream
// at url, its options changed by each mod.
type NewTestClient[O any, C Chatter] func(t *testing.T, url string, mod ...func(*O)) C

// CopyChunk copies what a receiver must copy out of an emitted chunk: the
// client reuses the chunk and its slices once emit returns.
func CopyChunk(ch *llm.Chunk) llm.Chunk {
	cp := *ch
	cp.ToolCalls = append([]llm.ToolCallDelta(nil), ch.ToolCalls...)
	if ch.Usage != nil {
		u := *ch.Usage
		cp.Usage = &u
	}
	return cp
}

// Collect runs chat and returns copies of the emitted chunks and their
// aggregate.
func Collect(chat ChatFunc, req *llm.ChatRequest) ([]llm.Chunk, *llm.Aggregate, llm.Usage, error) {
	return CollectCtx(context.Background(), chat, req)
}

// CollectCtx is Collect under ctx.
func CollectCtx(ctx context.Context, chat ChatFunc, req *llm.ChatRequest) ([]llm.Chunk, *llm.Aggregate, llm.Usage, error) {
	var chunks []llm.Chunk
	agg := &llm.Aggregate{}
	u, err := chat(ctx, req, func(ch *llm.Chunk) error {
		chunks = append(chunks, CopyChunk(ch))
		agg.Add(ch)
		return nil
	})
	return chunks, agg, u, err
}

// MustChat has a fake upstream answer with h, sends req through the
// client newClient builds on the fake's URL, and fails the test if Chat
// fails. It returns the fake and what Collect returns.
func MustChat[O any, C Chatter](t *testing.T, h http.HandlerFunc, newClient NewTestClient[O, C], req *llm.ChatRequest) (*Fake, []llm.Chunk, *llm.Aggregate, llm.Usage) {
	t.Helper()
	f := NewFake(t, h)
	chunks, agg, u, err := Collect(newClient(t, f.URL).Chat, req)
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	return f, chunks, agg, u
}

// CheckAnswer checks what every answer's aggregate holds: the finish
// reason, the model, the assistant role, and usage both as Chat returned
// it and as the chunks carried it.
func CheckAnswer(tb testing.TB, agg *llm.Aggregate, u llm.Usage, finish llm.FinishReason, model string, usage llm.Usage) {
	tb.Helper()
	if agg.FinishReason != finish || agg.Model != model || agg.Role != llm.RoleAssistant {
		tb.Errorf("aggregate = finish %q model %q role %q", agg.FinishReason, agg.Model, agg.Role)
	}
	if u != usage || agg.Usage != usage {
		tb.Errorf("usage = %+v / %+v, want %+v", u, agg.Usage, usage)
	}
}

// CheckRoleFirst checks that only the first chunk carries the role.
func CheckRoleFirst(tb testing.TB, chunks []llm.Chunk) {
	tb.Helper()
	for i, ch := range chunks {
		if (ch.Role != "") != (i == 0) {
			tb.Errorf("chunk %d role = %q; the role belongs on the first chunk only", i, ch.Role)
		}
	}
}

// NewClient builds a client with newClient from o changed by each non-nil
// mod in turn, failing the test on error, and closes its idle connections
// when the test ends.
func NewClient[O any, C interface{ CloseIdleConnections() }](tb testing.TB, newClient func(O) (C, error), o O, mod ...func(*O)) C {
	tb.Helper()
	for _, m := range mod {
		if m != nil {
			m(&o)
		}
	}
	c, err := newClient(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.CloseIdleConnections)
	return c
}

// WantError is what a client test expects of a failed call. Message and
// Text need only be contained; Is is checked when set.
type WantError struct {
	Kind    llm.Kind
	Status  int
	Retry   time.Duration
	Message string
	Is      error
	Text    string // in err.Error()

	// RetrySlack allows Retry to come out up to this much short, for
	// delays computed from reset times of one-second resolution.
	RetrySlack time.Duration
}

// CheckError checks that err is an *llm.Error from the provider "fake" as
// want describes.
func CheckError(tb testing.TB, err error, want WantError) {
	tb.Helper()
	var le *llm.Error
	if !errors.As(err, &le) {
		tb.Fatalf("error = %v (%T), want *llm.Error", err, err)
	}
	if le.Provider != "fake" {
		tb.Errorf("Provider = %q", le.Provider)
	}
	if le.Kind != want.Kind {
		tb.Errorf("Kind = %v, want %v (%v)", le.Kind, want.Kind, err)
	}
	if le.Status != want.Status {
		tb.Errorf("Status = %d, want %d", le.Status, want.Status)
	}
	if d := le.RetryAfter - want.Retry; d > 0 || d < -want.RetrySlack || (want.Retry == 0) != (le.RetryAfter == 0) {
		tb.Errorf("RetryAfter = %v, want %v", le.RetryAfter, want.Retry)
	}
	if !strings.Contains(le.Message, want.Message) {
		tb.Errorf("Message = %q, want it to contain %q", le.Message, want.Message)
	}
	if want.Is != nil && !errors.Is(err, want.Is) {
		tb.Errorf("error %v is not %v", err, want.Is)
	}
	if !strings.Contains(err.Error(), want.Text) {
		tb.Errorf("Error() = %q, want it to contain %q", err, want.Text)
	}
}

// ErrorCase is a row of a client's error table: the fake upstream answers
// with Handler, the client is built with Opts, and Chat fails as Want
// says.
type ErrorCase[O any] struct {
	Name    string
	Handler http.HandlerFunc
	Opts    func(*O)
	Want    WantError
}

// CheckErrors runs each case as a subtest: newClient builds a client on
// the fake's URL with the case's Opts, and that client is sent req().
func CheckErrors[O any, C Chatter](t *testing.T, cases []ErrorCase[O], req func() *llm.ChatRequest, newClient NewTestClient[O, C]) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.Name, func(t *testing.T) {
			f := NewFake(t, tt.Handler)
			_, _, _, err := Collect(newClient(t, f.URL, tt.Opts).Chat, req())
			CheckError(t, err, tt.Want)
		})
	}
}

// Answer is a named answer of the fake upstream.
type Answer struct {
	Name    string
	Handler http.HandlerFunc
}

// CheckPing checks, as a subtest an answer, that Ping succeeds whatever
// the upstream answers (any answer proves the link) from a client that
// newClient builds with mod; check looks at the request it sent.
func CheckPing[O any, C interface{ Ping(context.Context) error }](t *testing.T, newClient func(t *testing.T, url string, mod ...func(*O)) C, mod func(*O), check func(t *testing.T, r Request), answers ...Answer) {
	t.Helper()
	for _, a := range answers {
		t.Run(a.Name, func(t *testing.T) {
			f := NewFake(t, a.Handler)
			if err := newClient(t, f.URL, mod).Ping(context.Background()); err != nil {
				t.Errorf("Ping = %v", err)
			}
			check(t, f.Last(t))
		})
	}
}

// ParseEvents checks an event stream's framing exactly, as a strict client
// would: a sequence of "data: <payload>" events each ended by EventSep,
// and nothing else. It returns the payloads.
func (fr Framing) ParseEvents(tb testing.TB, body []byte) [][]byte {
	tb.Helper()
	var out [][]byte
	rest := body
	for len(rest) > 0 {
		if !bytes.HasPrefix(rest, []byte("data: ")) {
			tb.Fatalf("event does not start with %q: %q", "data: ", rest)
		}
		end := bytes.Index(rest, []byte(fr.EventSep))
		if end < 0 {
			tb.Fatalf("unterminated event: %q", rest)
		}
		payload := rest[len("data: "):end]
		if bytes.ContainsAny(payload, "\r\n") {
			tb.Fatalf("payload spans lines: %q", payload)
		}
		out = append(out, payload)
		rest = rest[end+len(fr.EventSep):]
	}
	return out
}

// Header returns a header holding each name and value of kv.
func Header(kv map[string]string) http.Header {
	h := http.Header{}
	for k, v := range kv {
		h.Set(k, v)
	}
	return h
}

// CheckCall checks r's method and unescaped path.
func (r Request) CheckCall(tb testing.TB, method, path string) {
	tb.Helper()
	if r.Method != method || r.Path != path {
		tb.Errorf("request = %s %s, want %s %s", r.Method, r.Path, method, path)
	}
}

// CheckHeaders checks each header of r against want; an empty value
// wants the header absent.
func (r Request) CheckHeaders(tb testing.TB, want map[string]string) {
	tb.Helper()
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			tb.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

// JSONBody decodes r's body as a JSON object, failing the test if it is
// not one.
func (r Request) JSONBody(tb testing.TB) map[string]any {
	tb.Helper()
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		tb.Fatalf("upstream body is not JSON: %v\n%s", err, r.Body)
	}
	return body
}

// MemClient returns an HTTP client that answers every request with body as
// an event stream, so that a benchmark measures the provider client rather
// than the loopback network.
func MemClient(body []byte) *http.Client {
	return &http.Client{Transport: memTransport{body}}
}

type memTransport struct{ body []byte }

func (m memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: 200,
		Header:     http.Header{"Content-Type": {"text/event-stream"}},
		Body:       io.NopCloser(bytes.NewReader(m.body)),
		Request:    r,
	}, nil
}

// BenchChat runs chat on req in b's loop, counting body's bytes for each
// call, and fails unless every call succeeds with wantTokens in total.
func BenchChat(b *testing.B, chat ChatFunc, req *llm.ChatRequest, body []byte, wantTokens int) {
	b.Helper()
	ctx := context.Background()
	emit := func(*llm.Chunk) error { return nil }
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		u, err := chat(ctx, req, emit)
		if err != nil || u.TotalTokens != wantTokens {
			b.Fatal(u, err)
		}
	}
}

// CheckFuzzedStream runs read, a client's stream parser fed arbitrary
// bytes, and checks what every parser must keep: the role on the first
// chunk only, and failure only with an *llm.Error of the provider "fuzz".
// each, when not nil, checks every chunk besides.
func CheckFuzzedStream(tb testing.TB, read func(emit func(*llm.Chunk) error) error, each func(*llm.Chunk)) {
	tb.Helper()
	n := 0
	err := read(func(ch *llm.Chunk) error {
		if (ch.Role != "") != (n == 0) {
			tb.Fatalf("chunk %d has role %q", n, ch.Role)
		}
		if each != nil {
			each(ch)
		}
		n++
		return nil
	})
	if err != nil {
		var le *llm.Error
		if !errors.As(err, &le) || le.Provider != "fuzz" {
			tb.Fatalf("error %v (%T) is not an *llm.Error", err, err)
		}
	}
}
