package anthropictest

import (
	"crypto/rand"
	"encoding/hex"
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
	// DefaultReply is the assistant text when Options.Reply is empty.
	DefaultReply = "Hello from the fake Anthropic upstream."
	// DefaultToolUseID is the id of the configured tool call when its ID
	// is empty.
	DefaultToolUseID = "toolu_01FakeToolUse0001"
	// MaxBodyBytes bounds a request body; larger ones get 413, as
	// Anthropic's 32 MB limit does.
	MaxBodyBytes = 8 << 20
	// StallLimit is how long a Stall request is held at most.
	StallLimit = 2 * time.Minute
	// RateLimitReset is when, after a RateLimit429 answer, its
	// anthropic-ratelimit-requests-reset header says the limit resets.
	RateLimitReset = 2 * time.Second
	// defaultToolChunks is how many input_json_delta pieces a tool input
	// is split into when Options.Chunks is zero.
	defaultToolChunks = 4
	// closeWait bounds how long Close waits for running handlers.
	closeWait = 5 * time.Second
	// relistenWait bounds how long leaving Refuse retries binding the port.
	relistenWait = 2 * time.Second
)

// DefaultModels is the /v1/models list when Options.Models is empty.
var DefaultModels = []string{"claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"}

// ToolUse is the tool call the fake answers with when a request offers
// tools and tool_choice is not "none".
type ToolUse struct {
	// ID defaults to DefaultToolUseID.
	ID   string
	Name string
	// Input is the JSON text of the input object, streamed verbatim split
	// across input_json_delta events.
	Input string
	// Preamble, when set, is a text block sent before the tool_use block
	// (so the tool_use block has index 1), as Claude often does.
	Preamble string
}

// Options configure a Server. The zero value is usable.
type Options struct {
	// APIKey, when set, makes requests that carry neither "x-api-key:
	// <APIKey>" nor "Authorization: Bearer <APIKey>" fail with 401.
	APIKey string
	// Reply is the assistant text (DefaultReply when empty). Streams carry
	// it split into words, each piece keeping its leading whitespace.
	Reply string
	// Chunks, when positive, splits Reply (and tool input) into that many
	// pieces of nearly equal length instead of words.
	Chunks int
	// Thinking, when set, is sent first as a thinking block.
	Thinking string
	// ToolUse, when set, answers requests that offer tools with this call
	// and stop_reason "tool_use".
	ToolUse *ToolUse
	// CacheReadTokens and CacheCreationTokens are reported in usage as
	// cache_read_input_tokens and cache_creation_input_tokens.
	CacheReadTokens     int
	CacheCreationTokens int
	// Models is the /v1/models list (DefaultModels when empty).
	Models []string
	// Latency delays the first byte of work answers.
	Latency time.Duration
	// ChunkDelay pauses between streamed events, so a test can cancel in
	// the middle of a stream.
	ChunkDelay time.Duration
	// Addr is the listen address, "127.0.0.1:0" when empty. Only loopback
	// hosts are accepted.
	Addr string
}

// Server is a fake Anthropic API on a loopback port. All methods are safe
// for concurrent use.
type Server struct {
	opt  Options
	addr string // host:port actually bound; kept across Refuse
	url  string

	stats struct {
		requests atomic.Int64
		aborted  atomic.Int64
	}
	base    atomic.Int32 // the Mode when pending is exhausted
	pending atomic.Int64 // SetModeN's mode (high 32 bits) and remaining count
	active  atomic.Int64 // handlers running, for Close to wait on
	closing atomic.Bool

	mu     sync.Mutex // guards cur and closed
	cur    *epoch     // nil while refusing or closed
	closed bool

	lastMu     sync.Mutex
	last       []byte
	lastHeader http.Header
}

// epoch is one period of listening; Refuse ends it, leaving Refuse starts a
// new one on the same address.
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
		return nil, fmt.Errorf("anthropictest: listen: %w", err)
	}
	s := &Server{opt: o, addr: ln.Addr().String()}
	s.url = "http://" + s.addr + "/v1"
	s.cur = s.startEpoch(ln)
	return s, nil
}

// NewT is New for tests: it fails t on error and closes the server in
// t.Cleanup.
func NewT(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatalf("anthropictest: %v", err)
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
		errs = append(errs, fmt.Errorf("anthropictest: Chunks %d is negative", o.Chunks))
	}
	if len(o.Models) == 0 {
		o.Models = DefaultModels
	}
	if o.Latency < 0 || o.ChunkDelay < 0 {
		errs = append(errs, fmt.Errorf("anthropictest: Latency %v and ChunkDelay %v must not be negative", o.Latency, o.ChunkDelay))
	}
	if o.CacheReadTokens < 0 || o.CacheCreationTokens < 0 {
		errs = append(errs, errors.New("anthropictest: cache token counts must not be negative"))
	}
	if tu := o.ToolUse; tu != nil {
		if tu.Name == "" {
			errs = append(errs, errors.New("anthropictest: ToolUse.Name is empty"))
		}
		if tu.ID == "" {
			cp := *tu
			cp.ID = DefaultToolUseID
			o.ToolUse = &cp
		}
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		errs = append(errs, fmt.Errorf("anthropictest: Addr: %w", err))
	} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		errs = append(errs, fmt.Errorf("anthropictest: Addr %q is not a loopback address", o.Addr))
	}
	return errors.Join(errs...)
}

// URL returns the base URL clients use, "http://127.0.0.1:PORT/v1".
func (s *Server) URL() string { return s.url }

// Addr returns the host:port the server listens on (also while refusing).
func (s *Server) Addr() string { return s.addr }

// SetMode makes subsequent requests fail (or succeed) as m says and cancels
// what SetModeN left pending. Entering Refuse also closes every open
// connection; leaving it listens again at the same address.
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

// SetModeN gives the next n requests to the work endpoints mode m and then
// returns to OK.
func (s *Server) SetModeN(m Mode, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.base.Store(int32(OK))
	s.listenLocked()
	if n <= 0 {
		s.pending.Store(0)
		return
	}
	n = min(n, 1<<31-1)
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

// Requests returns how many POST /v1/messages requests arrived.
func (s *Server) Requests() int64 { return s.stats.requests.Load() }

// Aborted returns how many requests saw their client disconnect before the
// answer was complete (during Latency, ChunkDelay, a failed write or
// Stall).
func (s *Server) Aborted() int64 { return s.stats.aborted.Load() }

// LastRequest returns a copy of the body of the last POST /v1/messages.
func (s *Server) LastRequest() []byte {
	s.lastMu.Lock()
	defer s.lastMu.Unlock()
	if s.last == nil {
		return nil
	}
	return append([]byte(nil), s.last...)
}

// LastHeader returns a copy of the headers of the last POST /v1/messages.
func (s *Server) LastHeader() http.Header {
	s.lastMu.Lock()
	defer s.lastMu.Unlock()
	return s.lastHeader.Clone()
}

func (s *Server) record(body []byte, h http.Header) {
	s.stats.requests.Add(1)
	s.lastMu.Lock()
	s.last = append(s.last[:0], body...)
	s.lastHeader = h.Clone()
	s.lastMu.Unlock()
}

// Close stops listening, closes every connection and waits (boundedly) for
// running handlers to return.
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
			return errors.New("anthropictest: close: handlers still running")
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

// ended reports whether the epoch is over, so a handler woken by the server
// closing its connection does not count an abort.
func (e *epoch) ended() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// abort counts a client disconnect unless the server itself is closing.
func (e *epoch) abort() {
	if !e.ended() {
		e.s.stats.aborted.Add(1)
	}
}

// wait sleeps d unless the epoch ends or the client leaves first; it
// reports whether the sleep completed.
func (e *epoch) wait(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.done:
		return false
	case <-r.Context().Done():
		e.abort()
		return false
	}
}

// newRequestID returns a "req_…" id like Anthropic's request-id header.
func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "req_011C" + hex.EncodeToString(b[:])
}

// newMessageID returns a "msg_…" id.
func newMessageID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "msg_01" + hex.EncodeToString(b[:])
}
