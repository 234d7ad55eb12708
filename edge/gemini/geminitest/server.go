package geminitest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Defaults and bounds.
const (
	// DefaultReply is the model's text when Options.Reply is empty.
	DefaultReply = "Hello from the fake Gemini."
	// DefaultEmbeddingDims is the vector length when Options.EmbeddingDims
	// is zero and the request sets no outputDimensionality.
	DefaultEmbeddingDims = 8
	// MaxEmbeddingDims bounds Options.EmbeddingDims and
	// outputDimensionality, as gemini-embedding-001 does.
	MaxEmbeddingDims = 3072
	// MaxEmbedBatch is the most requests one batchEmbedContents call may
	// hold, as the real API enforces.
	MaxEmbedBatch = 100
	// MaxBodyBytes bounds a request body; larger ones get 400 as Google
	// answers an oversized payload.
	MaxBodyBytes = 8 << 20
	// StallLimit is how long a Stall request is held at most.
	StallLimit = 2 * time.Minute
	// InputTokenLimit is the context window the fake claims; TooManyTokens
	// reports one token more.
	InputTokenLimit = 1048576
	// closeWait bounds how long Close waits for running handlers.
	closeWait = 5 * time.Second
	// relistenWait bounds how long leaving Refuse retries binding the port.
	relistenWait = 2 * time.Second
)

// DefaultModels is the model list when Options.Models is empty. Names
// with "embedding" in them offer the embedding methods, the others the
// generation methods.
var DefaultModels = []string{"gemini-2.5-flash", "gemini-embedding-001"}

// FunctionCall is the call the fake answers with when a request declares
// functions (and its functionCallingConfig mode is not NONE).
type FunctionCall struct {
	Name string
	// Args is the JSON object of arguments; empty sends {}.
	Args json.RawMessage
}

// Options configure a Server. The zero value is usable.
type Options struct {
	// APIKey, when set, makes requests without it (in x-goog-api-key or
	// ?key=) fail: 403 PERMISSION_DENIED when none is sent, 400
	// API_KEY_INVALID when another is.
	APIKey string
	// Reply is the model's text (DefaultReply when empty). Streams carry
	// it split into words, each piece keeping its leading whitespace.
	Reply string
	// Chunks, when positive, splits Reply into that many pieces of nearly
	// equal length instead of words.
	Chunks int
	// FunctionCall, when set, answers requests that declare functions with
	// this call and finishReason STOP.
	FunctionCall *FunctionCall
	// EmbeddingDims is the default vector length (DefaultEmbeddingDims
	// when zero).
	EmbeddingDims int
	// Models is the model list (DefaultModels when empty).
	Models []string
	// RejectUnknownModels answers 404 NOT_FOUND to work requests naming a
	// model not in Models, as the real API does. Off by default so tests
	// may use any model name.
	RejectUnknownModels bool
	// Latency delays the first byte of work answers.
	Latency time.Duration
	// ChunkDelay pauses between streamed events, so a test can cancel in
	// the middle of a stream. Zero sends the whole stream at once.
	ChunkDelay time.Duration
	// Addr is the listen address, "127.0.0.1:0" when empty. Only loopback
	// hosts are accepted.
	Addr string
}

// Server is a fake Gemini API on a loopback port. All methods are safe
// for concurrent use.
type Server struct {
	opt  Options
	addr string // host:port actually bound; kept across Refuse
	url  string
	seq  atomic.Uint64

	requests atomic.Int64
	embeds   atomic.Int64
	aborted  atomic.Int64
	// base is the Mode applied when pending is exhausted.
	base atomic.Int32
	// pending packs SetModeN's mode (high 32 bits) and remaining count.
	pending atomic.Int64
	active  atomic.Int64 // handlers running, for Close to wait on
	closing atomic.Bool

	mu     sync.Mutex // guards cur and closed
	cur    *epoch     // nil while refusing or closed
	closed bool

	lastMu sync.Mutex
	last   []byte
}

// epoch is one period of listening; Refuse ends it, leaving Refuse starts
// a new one on the same address.
type epoch struct {
	s      *Server
	done   chan struct{} // closed when the epoch ends
	srv    *http.Server
	served chan struct{} // closed when Serve returns
}

// New starts a fake on Options.Addr (127.0.0.1:0 by default).
func New(o Options) (*Server, error) {
	if err := normalize(&o); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("geminitest: listen: %w", err)
	}
	s := &Server{opt: o, addr: ln.Addr().String()}
	s.url = "http://" + s.addr + "/v1beta"
	s.cur = s.startEpoch(ln)
	return s, nil
}

// NewT is New for tests: it fails t on error and closes the server in
// t.Cleanup.
func NewT(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatalf("geminitest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func normalize(o *Options) error {
	var errs []error
	if o.Reply == "" {
		o.Reply = DefaultReply
	}
	if o.Chunks < 0 {
		errs = append(errs, fmt.Errorf("geminitest: Chunks %d is negative", o.Chunks))
	}
	if o.EmbeddingDims == 0 {
		o.EmbeddingDims = DefaultEmbeddingDims
	}
	if o.EmbeddingDims < 0 || o.EmbeddingDims > MaxEmbeddingDims {
		errs = append(errs, fmt.Errorf("geminitest: EmbeddingDims %d is outside 1..%d", o.EmbeddingDims, MaxEmbeddingDims))
	}
	if len(o.Models) == 0 {
		o.Models = DefaultModels
	}
	if o.Latency < 0 || o.ChunkDelay < 0 {
		errs = append(errs, fmt.Errorf("geminitest: Latency %v and ChunkDelay %v must not be negative", o.Latency, o.ChunkDelay))
	}
	if fc := o.FunctionCall; fc != nil {
		if fc.Name == "" {
			errs = append(errs, errors.New("geminitest: FunctionCall.Name is empty"))
		}
		if len(fc.Args) > 0 && !json.Valid(fc.Args) {
			errs = append(errs, errors.New("geminitest: FunctionCall.Args is not valid JSON"))
		}
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		errs = append(errs, fmt.Errorf("geminitest: Addr: %w", err))
	} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		errs = append(errs, fmt.Errorf("geminitest: Addr %q is not a loopback address", o.Addr))
	}
	return errors.Join(errs...)
}

// URL returns the base URL clients use, "http://127.0.0.1:PORT/v1beta".
func (s *Server) URL() string { return s.url }

// Addr returns the host:port the server listens on (also while refusing).
func (s *Server) Addr() string { return s.addr }

// SetMode makes subsequent requests fail (or succeed) as m says and
// cancels what SetModeN left pending. Entering Refuse also closes every
// open connection, so a client's next request on a kept-alive connection
// fails, and new connections are refused. Leaving Refuse listens again at
// the same address.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending.Store(0)
	s.base.Store(int32(m))
	if m == Refuse {
		s.stopLocked()
		return
	}
	s.listenLocked()
}

// SetModeN gives the next n work requests mode m and then returns to OK.
// Refuse under SetModeN closes each counted request's connection without
// an answer.
func (s *Server) SetModeN(m Mode, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.base.Store(int32(OK))
	s.listenLocked()
	if n <= 0 {
		s.pending.Store(0)
		return
	}
	if n > 1<<31-1 {
		n = 1<<31 - 1
	}
	s.pending.Store(int64(m)<<32 | int64(n))
}

// takeMode returns the mode for one work request, consuming SetModeN.
func (s *Server) takeMode() Mode {
	for {
		p := s.pending.Load()
		if p&0xffffffff == 0 {
			return Mode(s.base.Load())
		}
		if s.pending.CompareAndSwap(p, p-1) {
			return Mode(p >> 32)
		}
	}
}

// Requests returns how many generateContent and streamGenerateContent
// requests arrived.
func (s *Server) Requests() int64 { return s.requests.Load() }

// EmbedRequests returns how many embedContent and batchEmbedContents
// requests arrived.
func (s *Server) EmbedRequests() int64 { return s.embeds.Load() }

// Aborted returns how many requests saw their client disconnect before the
// answer was complete (during Latency, ChunkDelay, a failed write or
// Stall), which lets a test assert that a cancellation reached the
// upstream.
func (s *Server) Aborted() int64 { return s.aborted.Load() }

// LastRequest returns a copy of the body of the last generate request.
func (s *Server) LastRequest() []byte {
	s.lastMu.Lock()
	defer s.lastMu.Unlock()
	if s.last == nil {
		return nil
	}
	return append([]byte(nil), s.last...)
}

func (s *Server) record(body []byte) {
	s.requests.Add(1)
	s.lastMu.Lock()
	s.last = append(s.last[:0], body...)
	s.lastMu.Unlock()
}

// Close stops listening, closes every connection and waits (boundedly) for
// running handlers to return. Stalled requests end without counting as
// aborted.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.closing.Store(true)
	s.stopLocked()
	s.mu.Unlock()
	deadline := time.Now().Add(closeWait)
	for s.active.Load() > 0 {
		if time.Now().After(deadline) {
			return errors.New("geminitest: close: handlers still running")
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

func (s *Server) stopLocked() {
	if s.cur == nil {
		return
	}
	e := s.cur
	s.cur = nil
	close(e.done)
	_ = e.srv.Close()
	<-e.served
}

func (s *Server) listenLocked() {
	if s.cur != nil || s.closed {
		return
	}
	deadline := time.Now().Add(relistenWait)
	for {
		ln, err := net.Listen("tcp", s.addr)
		if err == nil {
			s.cur = s.startEpoch(ln)
			return
		}
		if time.Now().After(deadline) {
			// The port was taken meanwhile: clients keep seeing refused
			// connections, which a test notices.
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Server) startEpoch(ln net.Listener) *epoch {
	e := &epoch{s: s, done: make(chan struct{}), served: make(chan struct{})}
	e.srv = &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(e.served)
		_ = e.srv.Serve(ln)
	}()
	return e
}

// ended reports whether the epoch is over, so a handler woken by the
// server closing its connection does not count an abort.
func (e *epoch) ended() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// abort counts a client disconnect unless the server itself is closing
// the connections.
func (e *epoch) abort() {
	if !e.ended() {
		e.s.aborted.Add(1)
	}
}

// wait sleeps d unless the epoch ends or the client leaves first; it
// counts an abort when the client left.
func (e *epoch) wait(gone <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.done:
		return false
	case <-gone:
		e.abort()
		return false
	}
}
