package anthropictest

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/internal/fakeupstream"
)

// Defaults and bounds.
const (
	// DefaultReply is the assistant text when Options.Reply is empty.
	DefaultReply = "Hello from the fake Anthropic upstream."
	// DefaultToolUseID is the id of the configured tool call when its ID
	// is empty.
	DefaultToolUseID = "toolu_01FakeToolUse0001"
	// DefaultSignature signs the thinking block when Options.Signature is
	// empty.
	DefaultSignature = "ZmFrZQ=="
	// MidConversationSystemBeta is the anthropic-beta value that lets a
	// request hold role "system" turns in messages; without it the fake
	// refuses them, as models without the feature do.
	MidConversationSystemBeta = "mid-conversation-system-2026-04-07"
	// MaxBodyBytes bounds a request body; larger ones get 413, as
	// Anthropic's 32 MB limit does.
	MaxBodyBytes = 8 << 20
	// StallLimit is how long a Stall request is held at most.
	StallLimit = fakeupstream.StallLimit
	// RateLimitReset is when, after a RateLimit429 answer, its
	// anthropic-ratelimit-requests-reset header says the limit resets.
	RateLimitReset = 2 * time.Second
	// defaultToolChunks is how many input_json_delta pieces a tool input
	// is split into when Options.Chunks is zero.
	defaultToolChunks = 4
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
	// Thinking, when set, is sent first as a thinking block, signed with
	// Signature (DefaultSignature when empty).
	Thinking  string
	Signature string
	// RedactedThinking, when set, is the data of a redacted_thinking
	// block sent after the thinking block (or first, without one).
	RedactedThinking string
	// ExtraFields are top-level request fields accepted beyond the ones
	// this fake knows, standing for fields newer than it: a request
	// carrying any other unknown field is refused, as Anthropic refuses
	// it.
	ExtraFields []string
	// ToolUse, when set, answers requests that offer tools with this call
	// and stop_reason "tool_use".
	ToolUse *ToolUse
	// AnswerToolResults makes a request whose last turn carries a
	// tool_result get the Reply instead of the call again, as a model
	// that called a tool and got its answer does: an agent's round trip
	// ends.
	AnswerToolResults bool
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
// for concurrent use. Addr, SetMode, SetModeN, Requests (POST
// /v1/messages), Aborted, LastRequest (of those) and Close come from the
// shared frame.
type Server struct {
	frame
	opt Options

	headerMu   sync.Mutex
	lastHeader http.Header
	lastCount  []byte
	countHdr   http.Header
}

type frame = fakeupstream.Frame[Mode]

// New starts a fake on Options.Addr (127.0.0.1:0 by default).
func New(o Options) (*Server, error) {
	if err := normalize(&o); err != nil {
		return nil, err
	}
	s := &Server{opt: o}
	return fakeupstream.Start(s, &s.frame, fakeupstream.Config{
		Name: "anthropictest", Addr: o.Addr, ChunkDelay: o.ChunkDelay,
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
	var errs []error
	o.Reply = cmp.Or(o.Reply, DefaultReply)
	o.Signature = cmp.Or(o.Signature, DefaultSignature)
	if len(o.Models) == 0 {
		o.Models = DefaultModels
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
	errs = append(errs, fakeupstream.Check("anthropictest", o.Chunks, o.Latency, o.ChunkDelay, &o.Addr))
	return errors.Join(errs...)
}

// URL returns the base URL clients use, "http://127.0.0.1:PORT/v1".
func (s *Server) URL() string { return "http://" + s.Addr() + "/v1" }

// LastHeader returns a copy of the headers of the last POST /v1/messages.
func (s *Server) LastHeader() http.Header {
	s.headerMu.Lock()
	defer s.headerMu.Unlock()
	return s.lastHeader.Clone()
}

// LastCount returns a copy of the body and headers of the last POST
// /v1/messages/count_tokens.
func (s *Server) LastCount() ([]byte, http.Header) {
	s.headerMu.Lock()
	defer s.headerMu.Unlock()
	return append([]byte(nil), s.lastCount...), s.countHdr.Clone()
}

func (s *Server) recordCount(body []byte, h http.Header) {
	s.headerMu.Lock()
	s.lastCount, s.countHdr = append(s.lastCount[:0], body...), h.Clone()
	s.headerMu.Unlock()
}

func (s *Server) record(body []byte, h http.Header) {
	s.headerMu.Lock()
	s.lastHeader = h.Clone()
	s.headerMu.Unlock()
	fakeupstream.Record(&s.frame, body)
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
