package ollamatest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FakeMode is a fault the Fake injects into /api/chat.
type FakeMode int32

// Fake modes.
const (
	// FakeOK streams the reply as Ollama does, one NDJSON line per word
	// and a final line with done:true.
	FakeOK FakeMode = iota
	// FakeStall reads the request and sends nothing (not even headers)
	// until the client leaves: a model that never starts.
	FakeStall
	// FakeStallMidStream sends the first two lines and then nothing until
	// the client leaves: a runner that hangs mid-generation.
	FakeStallMidStream
	// FakeEndless sends content lines without end until the client leaves.
	FakeEndless
	// FakeNoTools answers a request with tools 400 in Ollama's words for a
	// model without tool support; other requests are served.
	FakeNoTools
	// FakeTooLong answers 400 in Ollama's words for a prompt over the
	// context length.
	FakeTooLong
)

// fakeStallLimit bounds how long the Fake holds a stalled request.
const fakeStallLimit = 2 * time.Minute

// fakeMaxBody bounds a request body the Fake reads.
const fakeMaxBody = 8 << 20

// Fake is an in-process stand-in for Ollama's chat API (/api/chat,
// /api/tags, /api/version) speaking its wire, for fault tests the real
// server cannot be made to produce. Its messages are Ollama's own (see
// server/routes.go and server/images.go in github.com/ollama/ollama). Safe
// for concurrent use.
type Fake struct {
	// URL is the base URL, http://127.0.0.1:<port>.
	URL string

	srv      *http.Server
	mode     atomic.Int32
	requests atomic.Int64
	aborted  atomic.Int64
	done     chan struct{}
	wg       sync.WaitGroup
}

// NewFake starts a Fake on a loopback port, stopped when the test ends.
func NewFake(tb testing.TB) *Fake {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	f := &Fake{URL: "http://" + ln.Addr().String(), done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/chat", f.chat)
	mux.HandleFunc("GET /api/tags", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, `{"models":[{"name":"`+Model+`:latest","model":"`+Model+`:latest","size":1,"digest":"0"}]}`)
	})
	mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, `{"version":"`+Version+`"}`)
	})
	f.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		_ = f.srv.Serve(ln)
	}()
	tb.Cleanup(func() {
		close(f.done)
		_ = f.srv.Close()
		f.wg.Wait()
	})
	return f
}

// SetMode makes the following /api/chat requests behave as m says.
func (f *Fake) SetMode(m FakeMode) { f.mode.Store(int32(m)) }

// Requests returns how many /api/chat requests arrived.
func (f *Fake) Requests() int64 { return f.requests.Load() }

// Aborted returns how many /api/chat requests saw their client leave
// before the answer was complete: proof that the upstream request was
// canceled.
func (f *Fake) Aborted() int64 { return f.aborted.Load() }

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (f *Fake) chat(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	var req struct {
		Model string            `json:"model"`
		Tools []json.RawMessage `json:"tools"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, fakeMaxBody))
	if err != nil {
		return
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, 400, `{"error":"invalid character in request body"}`)
		return
	}
	gone := r.Context().Done()
	switch FakeMode(f.mode.Load()) {
	case FakeStall:
		f.hold(gone)
		return
	case FakeNoTools:
		if len(req.Tools) > 0 {
			// scheduleRunner: fmt.Errorf("%s %w", model.Name, errCapabilities...),
			// answered 400 by handleScheduleError.
			msg, _ := json.Marshal(fullName(req.Model) + " does not support tools")
			writeJSON(w, 400, `{"error":`+string(msg)+`}`)
			return
		}
	case FakeTooLong:
		writeJSON(w, 400, `{"error":"the input length exceeds the context length"}`)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(200)
	rc := http.NewResponseController(w)
	model, _ := json.Marshal(req.Model)
	line := func(content string, done bool) error {
		b := fmt.Appendf(nil, `{"model":%s,"created_at":%q,"message":{"role":"assistant","content":%q},"done":%t`,
			model, time.Now().UTC().Format(time.RFC3339Nano), content, done)
		if done {
			b = append(b, `,"done_reason":"stop","total_duration":1000,"load_duration":10,"prompt_eval_count":5,"prompt_eval_duration":100,"eval_count":3,"eval_duration":100`...)
		}
		b = append(b, "}\n"...)
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	switch FakeMode(f.mode.Load()) {
	case FakeStallMidStream:
		if line("Hello", false) == nil && line(" from", false) == nil {
			f.hold(gone)
		}
		return
	case FakeEndless:
		for i := 0; ; i++ {
			select {
			case <-gone:
				f.aborted.Add(1)
				return
			case <-f.done:
				return
			default:
			}
			if line(" word"+strconv.Itoa(i%10), false) != nil {
				f.aborted.Add(1)
				return
			}
		}
	}
	for _, word := range []string{"Hello", " from", " the", " fake", " Ollama."} {
		if line(word, false) != nil {
			f.aborted.Add(1)
			return
		}
	}
	_ = line("", true)
}

// hold keeps a request open and silent until its client leaves (counted
// as aborted), the Fake stops or fakeStallLimit passes.
func (f *Fake) hold(gone <-chan struct{}) {
	t := time.NewTimer(fakeStallLimit)
	defer t.Stop()
	select {
	case <-gone:
		f.aborted.Add(1)
	case <-f.done:
	case <-t.C:
	}
}

// fullName is the name Ollama's errors show for a model: host, namespace
// and tag filled in with their defaults ("tiny" is
// "registry.ollama.ai/library/tiny:latest"), as model.ParseName does.
func fullName(m string) string {
	if !strings.Contains(m[strings.LastIndexByte(m, '/')+1:], ":") {
		m += ":latest"
	}
	switch strings.Count(m, "/") {
	case 0:
		m = "registry.ollama.ai/library/" + m
	case 1:
		m = "registry.ollama.ai/" + m
	}
	return m
}
