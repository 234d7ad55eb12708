package openaitest

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Defaults and bounds.
const (
	// DefaultReply is the assistant text when Options.Reply is empty.
	DefaultReply = "Hello from the fake upstream."
	// DefaultEmbeddingDims is the vector length when Options.EmbeddingDims
	// is zero.
	DefaultEmbeddingDims = 8
	// MaxEmbeddingDims bounds Options.EmbeddingDims and the "dimensions"
	// request field.
	MaxEmbeddingDims = 4096
	// MaxEmbeddingInputs bounds the inputs of one embeddings request, as
	// OpenAI does.
	MaxEmbeddingInputs = 2048
	// MaxBodyBytes bounds a request body; larger ones get 413.
	MaxBodyBytes = 8 << 20
	// StallLimit is how long a Stall request is held at most.
	StallLimit = 2 * time.Minute
	// defaultToolArgChunks is how many pieces streamed tool arguments are
	// split into when Options.Chunks is zero.
	defaultToolArgChunks = 3
	// closeWait bounds how long Close waits for running handlers.
	closeWait = 5 * time.Second
	// relistenWait bounds how long leaving Refuse retries binding the port.
	relistenWait = 2 * time.Second
)

// DefaultModels is the /v1/models list when Options.Models is empty.
var DefaultModels = []string{"gpt-4o-mini", "text-embedding-3-small"}

// ToolCall is the function call the fake answers with when a request offers
// tools. Arguments is sent verbatim, so it may be invalid JSON on purpose.
type ToolCall struct {
	// ID defaults to "call_fake0001".
	ID        string
	Name      string
	Arguments string
}

// Options configure a Server. The zero value is usable.
type Options struct {
	// APIKey, when set, makes requests without "Authorization: Bearer
	// <APIKey>" fail with 401.
	APIKey string
	// Reply is the assistant text (DefaultReply when empty). Streams carry
	// it split into words, each piece keeping its leading whitespace.
	Reply string
	// Chunks, when positive, splits Reply (and tool arguments) into that many
	// pieces of nearly equal length instead of words.
	Chunks int
	// ToolCall, when set, answers requests that offer tools (and do not say
	// tool_choice "none") with this call and finish_reason "tool_calls".
	ToolCall *ToolCall
	// EmbeddingDims is the vector length (DefaultEmbeddingDims when zero).
	EmbeddingDims int
	// Models is the /v1/models list (DefaultModels when empty).
	Models []string
	// Latency delays the first byte of chat and embeddings answers.
	Latency time.Duration
	// ChunkDelay pauses between streamed events, so a test can cancel in
	// the middle of a stream. Zero sends the whole stream at once.
	ChunkDelay time.Duration
	// Addr is the listen address, "127.0.0.1:0" when empty. Only loopback
	// hosts are accepted.
	Addr string
	// FastHTTP serves with fasthttp instead of net/http: cheaper per
	// request, for benchmarks. Client disconnects are then only noticed when
	// a write fails or, under Stall, when the connection reads EOF.
	FastHTTP bool
}

// Server is a fake OpenAI API on a loopback port. All methods are safe for
// concurrent use.
type Server struct {
	opt   Options
	addr  string // host:port actually bound; kept across Refuse
	url   string
	seed  uint64 // random per server so ids differ between servers
	wire  *precomputed
	seq   atomic.Uint64
	stats struct {
		requests atomic.Int64
		aborted  atomic.Int64
	}
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

// epoch is one period of listening; Refuse ends it, leaving Refuse starts a
// new one on the same address.
type epoch struct {
	s      *Server
	done   chan struct{} // closed when the epoch ends
	ln     net.Listener
	served chan struct{} // closed when Serve returns
	stop   func()        // closes the listener and every connection
}

// New starts a fake on Options.Addr (127.0.0.1:0 by default).
func New(o Options) (*Server, error) {
	if err := normalize(&o); err != nil {
		return nil, err
	}
	w := precompute(&o)
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("openaitest: listen: %w", err)
	}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	s := &Server{
		opt:  o,
		addr: ln.Addr().String(),
		seed: binary.LittleEndian.Uint64(seed[:]),
		wire: w,
	}
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
		t.Fatalf("openaitest: %v", err)
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
		errs = append(errs, fmt.Errorf("openaitest: Chunks %d is negative", o.Chunks))
	}
	if o.EmbeddingDims == 0 {
		o.EmbeddingDims = DefaultEmbeddingDims
	}
	if o.EmbeddingDims < 0 || o.EmbeddingDims > MaxEmbeddingDims {
		errs = append(errs, fmt.Errorf("openaitest: EmbeddingDims %d is outside 1..%d", o.EmbeddingDims, MaxEmbeddingDims))
	}
	if len(o.Models) == 0 {
		o.Models = DefaultModels
	}
	if o.Latency < 0 || o.ChunkDelay < 0 {
		errs = append(errs, fmt.Errorf("openaitest: Latency %v and ChunkDelay %v must not be negative", o.Latency, o.ChunkDelay))
	}
	if o.ToolCall != nil && o.ToolCall.Name == "" {
		errs = append(errs, errors.New("openaitest: ToolCall.Name is empty"))
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		errs = append(errs, fmt.Errorf("openaitest: Addr: %w", err))
	} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		errs = append(errs, fmt.Errorf("openaitest: Addr %q is not a loopback address", o.Addr))
	}
	return errors.Join(errs...)
}

// URL returns the base URL clients use, "http://127.0.0.1:PORT/v1".
func (s *Server) URL() string { return s.url }

// Addr returns the host:port the server listens on (also while refusing).
func (s *Server) Addr() string { return s.addr }

// SetMode makes subsequent requests fail (or succeed) as m says and cancels
// what SetModeN left pending. Entering Refuse also closes every open
// connection, so a client's next request on a kept-alive connection fails
// with EOF or a reset, and only new connections are refused. Leaving Refuse
// listens again at the same address.
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
// returns to OK. Refuse under SetModeN closes each counted request's
// connection without an answer.
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

// Requests returns how many chat completion requests arrived.
func (s *Server) Requests() int64 { return s.stats.requests.Load() }

// Aborted returns how many requests saw their client disconnect before the
// answer was complete (during Latency, ChunkDelay, a failed write or Stall).
func (s *Server) Aborted() int64 { return s.stats.aborted.Load() }

// LastRequest returns a copy of the body of the last chat request.
func (s *Server) LastRequest() []byte {
	s.lastMu.Lock()
	defer s.lastMu.Unlock()
	if s.last == nil {
		return nil
	}
	return append([]byte(nil), s.last...)
}

func (s *Server) recordChat(body []byte) {
	s.stats.requests.Add(1)
	s.lastMu.Lock()
	if cap(s.last) > MaxBodyBytes/4 && len(body) < cap(s.last)/4 {
		s.last = nil // do not pin a huge buffer after one big request
	}
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
			return errors.New("openaitest: close: handlers still running")
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// enter registers a running handler; it fails once Close has begun.
func (s *Server) enter() bool {
	s.active.Add(1)
	if s.closing.Load() {
		s.active.Add(-1)
		return false
	}
	return true
}

func (s *Server) leave() { s.active.Add(-1) }

func (s *Server) stopLocked() {
	if s.cur == nil {
		return
	}
	e := s.cur
	s.cur = nil
	close(e.done)
	e.stop()
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
	e := &epoch{s: s, done: make(chan struct{}), ln: ln, served: make(chan struct{})}
	if s.opt.FastHTTP {
		e.startFast()
	} else {
		e.startNet()
	}
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
