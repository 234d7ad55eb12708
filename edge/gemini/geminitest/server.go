package geminitest

import (
	"cmp"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/internal/fakeupstream"
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
	StallLimit = fakeupstream.StallLimit
	// InputTokenLimit is the context window the fake claims; TooManyTokens
	// reports one token more.
	InputTokenLimit = 1048576
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
// for concurrent use. Addr, SetMode, SetModeN, Requests (generateContent
// and streamGenerateContent), Aborted, LastRequest (of those) and Close
// come from the shared frame.
type Server struct {
	frame
	opt    Options
	seq    atomic.Uint64
	embeds atomic.Int64
}

type frame = fakeupstream.Frame[Mode]

// New starts a fake on Options.Addr (127.0.0.1:0 by default).
func New(o Options) (*Server, error) {
	if err := normalize(&o); err != nil {
		return nil, err
	}
	s := &Server{opt: o}
	return fakeupstream.Start(s, &s.frame, fakeupstream.Config{
		Name: "geminitest", Addr: o.Addr, ChunkDelay: o.ChunkDelay,
		Serve: fakeupstream.HTTP(s.serveHTTP),
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
	errs := []error{fakeupstream.CheckDims("geminitest", &o.EmbeddingDims, DefaultEmbeddingDims, MaxEmbeddingDims)}
	if len(o.Models) == 0 {
		o.Models = DefaultModels
	}
	if fc := o.FunctionCall; fc != nil {
		if fc.Name == "" {
			errs = append(errs, errors.New("geminitest: FunctionCall.Name is empty"))
		}
		if len(fc.Args) > 0 && !json.Valid(fc.Args) {
			errs = append(errs, errors.New("geminitest: FunctionCall.Args is not valid JSON"))
		}
	}
	errs = append(errs, fakeupstream.Check("geminitest", o.Chunks, o.Latency, o.ChunkDelay, &o.Addr))
	return errors.Join(errs...)
}

// URL returns the base URL clients use, "http://127.0.0.1:PORT/v1beta".
func (s *Server) URL() string { return "http://" + s.Addr() + "/v1beta" }

// EmbedRequests returns how many embedContent and batchEmbedContents
// requests arrived.
func (s *Server) EmbedRequests() int64 { return s.embeds.Load() }
