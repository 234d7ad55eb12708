package openaitest

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/internal/fakeupstream"
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
	StallLimit = fakeupstream.StallLimit
	// defaultToolArgChunks is how many pieces streamed tool arguments are
	// split into when Options.Chunks is zero.
	defaultToolArgChunks = 3
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
	// AnswerToolResults makes a request whose last message is a tool
	// result get the Reply instead of the call again, as a model that
	// called a tool and got its answer does: an agent's round trip ends.
	AnswerToolResults bool
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
// concurrent use. Addr, SetMode, SetModeN, Requests (chat completions),
// Aborted, LastRequest (of those) and Close come from the shared frame.
type Server struct {
	frame
	opt  Options
	seed uint64 // random per server so ids differ between servers
	wire *precomputed
	seq  atomic.Uint64
}

type frame = fakeupstream.Frame[Mode]

// epoch is one period of listening as the frontends see it.
type epoch struct {
	*fakeupstream.Epoch
	s *Server
}

// New starts a fake on Options.Addr (127.0.0.1:0 by default).
func New(o Options) (*Server, error) {
	if err := normalize(&o); err != nil {
		return nil, err
	}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	s := &Server{opt: o, seed: binary.LittleEndian.Uint64(seed[:]), wire: precompute(&o)}
	serve := s.serveNet
	if o.FastHTTP {
		serve = s.serveFast
	}
	return fakeupstream.Start(s, &s.frame, fakeupstream.Config{
		Name: "openaitest", Addr: o.Addr, ChunkDelay: o.ChunkDelay, Serve: serve,
	})
}

// NewT is New for tests: it fails t on error and closes the server in
// t.Cleanup.
func NewT(t testing.TB, o Options) *Server {
	t.Helper()
	return fakeupstream.NewT(t, New, o)
}

func normalize(o *Options) error {
	o.Reply = cmp.Or(o.Reply, DefaultReply)
	errs := []error{fakeupstream.CheckDims("openaitest", &o.EmbeddingDims, DefaultEmbeddingDims, MaxEmbeddingDims)}
	if len(o.Models) == 0 {
		o.Models = DefaultModels
	}
	if o.ToolCall != nil && o.ToolCall.Name == "" {
		errs = append(errs, errors.New("openaitest: ToolCall.Name is empty"))
	}
	errs = append(errs, fakeupstream.Check("openaitest", o.Chunks, o.Latency, o.ChunkDelay, &o.Addr))
	return errors.Join(errs...)
}

// URL returns the base URL clients use, "http://127.0.0.1:PORT/v1".
func (s *Server) URL() string { return "http://" + s.Addr() + "/v1" }
