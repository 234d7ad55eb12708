// Package server is edgeway's HTTP front end: fasthttp handlers for each API
// dialect, the SSE writer, request limits and the mapping of failures onto
// each dialect's error JSON. It owns no routing policy: every completion is
// handed to a Router, and the server only decodes, streams and reports.
package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/cache"
	"github.com/edgeway/edgeway/edge/config"
	"github.com/edgeway/edgeway/edge/keys"
	"github.com/edgeway/edgeway/edge/limits"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/ollamaapi"
	"github.com/edgeway/edgeway/edge/router"
)

// Router is what the server needs from the router. *router.Router
// implements it; tests substitute fakes.
type Router interface {
	Route(ctx context.Context, req *llm.ChatRequest, st *router.Status, emit func(*llm.Chunk) error) (llm.Usage, error)
	Collect(ctx context.Context, req *llm.ChatRequest, st *router.Status, agg *llm.Aggregate) (llm.Usage, error)
	Embed(ctx context.Context, req *llm.EmbedRequest, st *router.Status) (*llm.EmbedResponse, error)
	Models(ctx context.Context) []llm.Model
	Health() []router.UpstreamHealth
}

// Options configure a Server. Zero durations and sizes take the Default*
// values below.
type Options struct {
	Router         Router
	MaxBodyBytes   int
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration
	RequestTimeout time.Duration
	// MaxConns bounds open client connections (default
	// MaxConcurrency*4+256); see conns.go for how idle and slow ones make
	// room. HeaderTimeout bounds reading a request's headers (default
	// DefaultHeaderTimeout, at most ReadTimeout).
	MaxConns      int
	HeaderTimeout time.Duration
	// MaxConcurrency caps requests being worked on; the next one is shed
	// with 503 and Retry-After rather than queued, because a queue on a
	// small device only turns overload into timeouts.
	MaxConcurrency int
	Logger         *slog.Logger
	Version        string
	// UnavailableHint is added to "no provider available" errors to tell a
	// first-time user what to start or set.
	UnavailableHint string

	// Cache, when set, answers repeated requests; CachePolicy says which
	// requests may use it and CacheTTL how long answers live.
	Cache       Cache
	CachePolicy cache.Policy
	CacheTTL    time.Duration
	// SemanticCache also answers paraphrases of the last user turn.
	// SemanticEmbedderLocal says its embedder runs on the device (glove or
	// a local runtime); if not, local-only callers skip the semantic cache.
	SemanticCache         bool
	SemanticEmbedderLocal bool

	// Auth decides who may call; nil lets everyone in (cmd allows that
	// only on loopback).
	Auth *keys.Auth
	// Ledger, when set, records every chat and embedding request; Pricer
	// prices them. Usage, when set, serves the admin API's reports.
	Ledger Ledger
	// Responses stores Responses API answers (store: true); nil keeps
	// none, and previous_response_id then finds nothing.
	Responses ResponseStore
	Pricer    Pricer
	Usage     UsageReporter
	// PIIDefault and PIIModels are the routes' PII policies (config pii:),
	// for every caller; a key's or team's policy can only be stricter.
	PIIDefault string
	PIIModels  map[string]string
	// Limits, when set, enforces keys' and teams' rate limits and budgets.
	Limits *limits.Limiter
	// Audit, when set, records admin changes, 401s and 429s.
	Audit Auditor

	// AllowedOrigins and AllowedHosts extend the request guard's
	// allow-lists (see guard.go); "*" allows any.
	AllowedOrigins []string
	AllowedHosts   []string
	// Runtimes are the local runtimes (config order), which /api/ps
	// reports on and /api/pull, /api/delete and /api/copy manage.
	Runtimes []Runtime

	// Secrets are the providers' credentials, redacted by value from
	// upstream text wherever it reaches a client or /readyz (the upstream
	// client redacts its own key already; this also covers providers that
	// are not upstream.Clients).
	Secrets []string

	// MaxAnswerBytes bounds a streamed answer the server keeps for the
	// cache (the router bounds a collected one); past it the answer is
	// not cached. Zero means config.DefaultMaxAnswerBytes.
	MaxAnswerBytes int
}

// Defaults for zero Options fields: the config's, defined there once.
const (
	DefaultMaxBodyBytes   = config.DefaultMaxBodyBytes
	DefaultReadTimeout    = config.DefaultReadTimeout
	DefaultWriteTimeout   = config.DefaultWriteTimeout
	DefaultIdleTimeout    = config.DefaultIdleTimeout
	DefaultRequestTimeout = config.DefaultRequestTimeout
	DefaultMaxConcurrency = config.DefaultMaxConcurrency
	// shedRetryAfter is what a shed client is told to wait.
	shedRetryAfter = time.Second
	// streamQueue bounds chunks encoded but not yet written to a slow
	// client; when full, the upstream read waits (backpressure).
	streamQueue = 32
	// maxHeaderBytes bounds a request's line and headers (fasthttp's read
	// buffer); past it the answer is 431.
	maxHeaderBytes = 8 << 10
)

// Server serves the gateway's HTTP API. It is safe for concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger
	srv  *fasthttp.Server
	// inflight and metrics are pointers so that a Server built from a
	// newer config shares them with the one it replaces (live.go).
	inflight *atomic.Int64
	metrics  *metrics
	live     atomic.Pointer[Server] // live.go
	guardCfg guardConfig
	conns    atomic.Pointer[guardListener] // the last Serve's
}

// fasthttpLogger sends fasthttp's messages to the debug log.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	if f.l.Enabled(context.Background(), slog.LevelDebug) {
		f.l.Debug("http: " + fmt.Sprintf(format, args...))
	}
}

// headerReceived gives a request's body the whole read timeout once its
// headers are in (the server's ReadTimeout is the header timeout).
func (s *Server) headerReceived(*fasthttp.RequestHeader) fasthttp.RequestConfig {
	return fasthttp.RequestConfig{ReadTimeout: s.opts.ReadTimeout}
}

// New returns a Server for o. o.Router is required.
func New(o Options) *Server {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.MaxConcurrency <= 0 {
		o.MaxConcurrency = DefaultMaxConcurrency
	}
	if o.MaxConns <= 0 {
		o.MaxConns = o.MaxConcurrency*4 + 256
	}
	if o.HeaderTimeout <= 0 {
		o.HeaderTimeout = DefaultHeaderTimeout
	}
	if o.MaxAnswerBytes <= 0 {
		o.MaxAnswerBytes = config.DefaultMaxAnswerBytes
	}
	o.HeaderTimeout = min(o.HeaderTimeout, o.ReadTimeout)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: o, log: o.Logger, guardCfg: newGuardConfig(o.AllowedOrigins, o.AllowedHosts), inflight: new(atomic.Int64), metrics: &metrics{}}
	s.srv = &fasthttp.Server{
		Handler:            s.handle,
		ErrorHandler:       s.handleTransportError,
		Name:               "edgeway",
		MaxRequestBodySize: o.MaxBodyBytes,
		// ReadTimeout covers the first byte and the headers; once they are
		// in, HeaderReceived gives the body the whole read timeout.
		ReadTimeout:    o.HeaderTimeout,
		HeaderReceived: s.headerReceived,
		WriteTimeout:   o.WriteTimeout,
		IdleTimeout:    o.IdleTimeout,
		ConnState:      connState,
		// fasthttp's own log would quote request bytes (headers with keys
		// among them) to stderr; it goes to the debug log, without them.
		Logger:                fasthttpLogger{o.Logger},
		SecureErrorLogMessage: true,
		// The guard listener keeps the connection bound (conns.go); this
		// is only fasthttp's backstop, above it (closed connections' workers
		// and refused connections still count here for a moment), so that
		// fasthttp's plain-text refusal is never reached.
		Concurrency:                   2 * (o.MaxConns + maxRefusing),
		NoDefaultServerHeader:         false,
		NoDefaultDate:                 true,
		DisableHeaderNamesNormalizing: false,
		CloseOnShutdown:               true,
		ReadBufferSize:                maxHeaderBytes,
	}
	return s
}

// Serve serves on ln until Shutdown. It returns nil after a clean shutdown.
func (s *Server) Serve(ln net.Listener) error {
	gl := newGuardListener(ln, s.opts.MaxConns)
	s.conns.Store(gl)
	if err := s.srv.Serve(gl); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// Shutdown stops accepting connections and waits, up to ctx, for requests
// in flight (streams included) to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.srv.ShutdownWithContext(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	return nil
}

// Handler returns the request handler, for tests and embedding.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

func (s *Server) handle(c *fasthttp.RequestCtx) {
	if n := s.live.Load(); n != nil {
		n.handle(c)
		return
	}
	rid := requestID(c)
	c.Response.Header.SetBytesV("x-request-id", rid)
	defer s.logDone(c)
	path := c.Path()
	if !s.serveConn(c, path) || !s.guard(c, path) || !s.authenticate(c, path) {
		return
	}
	switch string(path) {
	case "/v1/chat/completions", "/chat/completions":
		if s.method(c, fasthttp.MethodPost) {
			s.chatCompletions(c, rid)
		}
	case "/v1/responses", "/responses":
		if s.method(c, fasthttp.MethodPost) {
			s.responses(c, rid)
		}
	case "/v1/messages":
		if s.method(c, fasthttp.MethodPost) {
			s.messages(c, rid)
		}
	case "/v1/messages/count_tokens":
		if s.method(c, fasthttp.MethodPost) {
			s.countTokens(c)
		}
	case "/v1/embeddings", "/embeddings":
		if s.method(c, fasthttp.MethodPost) {
			s.embeddings(c)
		}
	case "/v1/models", "/models":
		if s.method(c, fasthttp.MethodGet) {
			s.models(c)
		}
	case "/api/chat":
		if s.method(c, fasthttp.MethodPost) {
			s.ollamaChatHandler(c, false)
		}
	case "/api/generate":
		if s.method(c, fasthttp.MethodPost) {
			s.ollamaChatHandler(c, true)
		}
	case "/api/embed":
		if s.method(c, fasthttp.MethodPost) {
			s.ollamaEmbed(c, false)
		}
	case "/api/embeddings":
		if s.method(c, fasthttp.MethodPost) {
			s.ollamaEmbed(c, true)
		}
	case "/api/tags":
		if s.method(c, fasthttp.MethodGet, fasthttp.MethodHead) {
			c.SetContentType("application/json; charset=utf-8")
			c.SetBody(ollamaapi.AppendTags(nil, s.listModels()))
		}
	case "/api/version":
		if s.method(c, fasthttp.MethodGet, fasthttp.MethodHead) {
			c.SetContentType("application/json; charset=utf-8")
			c.SetBody(ollamaapi.AppendVersion(nil, OllamaAPIVersion))
		}
	case "/api/show":
		if s.method(c, fasthttp.MethodPost) {
			s.ollamaShow(c)
		}
	// The device's models (ollama_models.go).
	case "/api/ps":
		if s.method(c, fasthttp.MethodGet) {
			s.ollamaPS(c)
		}
	case "/api/pull":
		if s.method(c, fasthttp.MethodPost) {
			s.ollamaPull(c)
		}
	case "/api/delete":
		if s.method(c, fasthttp.MethodDelete) {
			s.ollamaStore(c, false)
		}
	case "/api/copy":
		if s.method(c, fasthttp.MethodPost) {
			s.ollamaStore(c, true)
		}
	case "/api/create", "/api/push":
		ollamaRefuse(c, "a gateway does not build or publish models; run it against Ollama itself")
	case "/api/me", "/api/signout", "/api/status":
		ollamaRefuse(c, "ollama.com accounts are not used through a gateway")
	case "/":
		// Ollama clients probe the root for this exact answer.
		c.SetContentType("text/plain; charset=utf-8")
		c.SetBodyString("Ollama is running")
	case "/healthz":
		c.SetContentType("application/json")
		c.SetBodyString(`{"status":"ok"}`)
	case "/readyz":
		s.readyz(c)
	case "/metrics":
		s.metrics.write(c, s)
	default:
		if bytes.HasPrefix(path, []byte("/admin/")) {
			s.admin(c, string(path))
			return
		}
		if id, ok := bytes.CutPrefix(path, []byte("/v1/responses/")); ok {
			s.storedResponse(c, string(id))
			return
		}
		if bytes.HasPrefix(path, []byte("/api/blobs/")) {
			ollamaRefuse(c, "a gateway does not build models; run it against Ollama itself")
			return
		}
		s.metrics.notFound.Add(1)
		errorDialect(path).writeError(c, &apiError{status: 404, typ: "invalid_request_error", code: "unknown_url",
			message: "unknown path " + echo(path) + ": edgeway serves " + servedPaths})
	}
}

const servedPaths = "/v1/chat/completions, /v1/responses, /v1/messages, /v1/embeddings, /v1/models, /api/chat, /api/generate, /api/embed, /api/tags, /api/show, /api/ps, /api/pull, /api/delete, /api/copy, /api/version, /healthz, /readyz, /metrics"

// errorDialect picks the error shape a client at path understands.
func errorDialect(path []byte) dialect {
	if bytes.HasPrefix(path, []byte("/api/")) {
		return &ollamaChat{}
	}
	if bytes.HasPrefix(path, []byte("/v1/messages")) {
		return &anthropicDialect{}
	}
	return &openaiDialect{}
}

func (s *Server) method(c *fasthttp.RequestCtx, want ...string) bool {
	m := c.Method()
	for _, w := range want {
		if string(m) == w {
			return true
		}
	}
	allow := strings.Join(want, ", ")
	c.Response.Header.Set("Allow", allow)
	errorDialect(c.Path()).writeError(c, &apiError{status: 405, typ: "invalid_request_error", code: "method_not_allowed",
		message: echo(m) + " is not allowed on " + echo(c.Path()) + "; use " + allow})
	return false
}

// handleTransportError answers requests fasthttp could not read (too
// large, malformed, timed out) in the dialect of the path, when it got
// that far. fasthttp's own error text names its internals and may quote
// the request, so it goes to the debug log only.
func (s *Server) handleTransportError(c *fasthttp.RequestCtx, err error) {
	c.Response.Header.SetBytesV("x-request-id", requestID(c))
	c.SetConnectionClose()
	d := errorDialect(c.Path())
	var (
		small *fasthttp.ErrSmallBuffer
		ne    net.Error
	)
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		d.writeError(c, &apiError{status: 413, typ: "invalid_request_error", code: "request_too_large",
			message: "request body is larger than the limit of " + strconv.Itoa(s.opts.MaxBodyBytes) + " bytes (server.max_body_bytes)"})
	case errors.As(err, &small):
		d.writeError(c, &apiError{status: 431, typ: "invalid_request_error", code: "headers_too_large",
			message: "request headers are larger than the limit of " + strconv.Itoa(maxHeaderBytes) + " bytes"})
	case errors.As(err, &ne) && ne.Timeout():
		d.writeError(c, &apiError{status: 408, typ: "invalid_request_error", code: "request_timeout", message: "timed out reading the request"})
	default:
		s.log.Debug("malformed request", "err", err)
		d.writeError(c, &apiError{status: 400, typ: "invalid_request_error", code: "bad_request", message: "malformed HTTP request"})
	}
	s.logDone(c)
}

// acquire takes a request slot, or reports that the gateway is full.
func (s *Server) acquire() bool {
	if s.inflight.Add(1) > int64(s.opts.MaxConcurrency) {
		s.inflight.Add(-1)
		s.metrics.shed.Add(1)
		return false
	}
	return true
}

func (s *Server) release() { s.inflight.Add(-1) }

func (s *Server) shed(c *fasthttp.RequestCtx, d dialect) {
	d.writeError(c, &apiError{status: 503, typ: "server_error", code: "overloaded", retryAfter: shedRetryAfter,
		message: "edgeway is at its limit of " + strconv.Itoa(s.opts.MaxConcurrency) + " concurrent requests (server.max_concurrency); retry shortly"})
}
