package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
)

// Defaults for Options fields left zero.
const (
	// DefaultName is the provider name when Options.Name is empty.
	DefaultName = "openai"
	// DefaultTimeout bounds a whole request, stream included: long enough
	// for a slow local model to write a long answer.
	DefaultTimeout = 10 * time.Minute
	// DefaultConnectTimeout bounds dialing the upstream.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultMaxResponseBytes bounds a non-streamed response body and one
	// SSE event. Embedding responses are the large ones: 16 MiB holds
	// about 400 vectors of 1536 floats written as JSON.
	DefaultMaxResponseBytes = 16 << 20
	// PingTimeout bounds Ping whatever the caller's deadline.
	PingTimeout = 10 * time.Second
	// idleConnTimeout is how long a pooled upstream connection may idle.
	idleConnTimeout = 90 * time.Second
	// maxConnsPerHost bounds the connection pool per upstream host.
	// It is above the default cap on concurrent requests per upstream,
	// so under load no connection is closed and redialed.
	maxConnsPerHost = 256
	// maxPingDrain bounds how much of a Ping answer is read so the
	// connection can be reused.
	maxPingDrain = 4 << 10
)

// userAgent identifies edgeway to upstreams.
const userAgent = "edgeway"

// Options configure a Client. Zero values take the named defaults; zero
// never means unlimited.
type Options struct {
	// Name is the provider name used in errors ("openai", "mistral", ...).
	Name string
	// BaseURL is the API root including its version path, e.g.
	// https://api.openai.com/v1 or http://127.0.0.1:8080/v1. Required. A
	// trailing slash is ignored.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer"; empty sends no header
	// (local servers).
	APIKey string
	// Headers are extra request headers (e.g. OpenRouter's HTTP-Referer).
	Headers map[string]string
	// Timeout bounds a whole request including its stream.
	Timeout time.Duration
	// ConnectTimeout bounds dialing. Ignored when HTTPClient is set.
	ConnectTimeout time.Duration
	// MaxResponseBytes bounds a non-streamed response body and one SSE
	// event.
	MaxResponseBytes int64
	// HTTPClient replaces the client's own transport, for tests.
	HTTPClient *http.Client

	// NoStreamOptions leaves out stream_options, which some compatible
	// servers reject; usage is then whatever the server sends unasked.
	NoStreamOptions bool
	// MaxTokensField is the request field carrying the token limit:
	// "max_tokens" (the default, understood by every compatible server)
	// or "max_completion_tokens" (required by OpenAI's reasoning models).
	MaxTokensField string
}

// Client is an llm.Provider (and Embedder, ModelLister, Pinger) for OpenAI
// and every API speaking its wire format. It is safe for concurrent use.
type Client struct {
	name     string
	base     string
	header   http.Header
	hc       *http.Client
	timeout  time.Duration
	maxBytes int64
	wire     wireOptions
}

var (
	_ llm.Provider    = (*Client)(nil)
	_ llm.Embedder    = (*Client)(nil)
	_ llm.ModelLister = (*Client)(nil)
	_ llm.Pinger      = (*Client)(nil)
)

// New validates o and returns a Client. It reports every problem in o at
// once.
func New(o Options) (*Client, error) {
	var errs []error
	c := &Client{
		name:     o.Name,
		timeout:  o.Timeout,
		maxBytes: o.MaxResponseBytes,
		wire:     wireOptions{maxTokensField: o.MaxTokensField, noStreamOptions: o.NoStreamOptions},
		header:   make(http.Header, 4+len(o.Headers)),
	}
	if c.name == "" {
		c.name = DefaultName
	}
	u, err := url.Parse(o.BaseURL)
	switch {
	case o.BaseURL == "":
		errs = append(errs, errors.New("BaseURL is required"))
	case err != nil:
		errs = append(errs, fmt.Errorf("BaseURL %q: %w", o.BaseURL, err))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, fmt.Errorf("BaseURL %q: scheme must be http or https", o.BaseURL))
	case u.Host == "":
		errs = append(errs, fmt.Errorf("BaseURL %q: host is missing", o.BaseURL))
	case u.RawQuery != "" || u.Fragment != "":
		errs = append(errs, fmt.Errorf("BaseURL %q: must not have a query or fragment", o.BaseURL))
	default:
		c.base = strings.TrimRight(o.BaseURL, "/")
	}
	if c.timeout < 0 {
		errs = append(errs, fmt.Errorf("Timeout %v: must not be negative", o.Timeout))
	} else if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	connect := o.ConnectTimeout
	if connect < 0 {
		errs = append(errs, fmt.Errorf("ConnectTimeout %v: must not be negative", o.ConnectTimeout))
	} else if connect == 0 {
		connect = DefaultConnectTimeout
	}
	if c.maxBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxResponseBytes %d: must not be negative", o.MaxResponseBytes))
	} else if c.maxBytes == 0 {
		c.maxBytes = DefaultMaxResponseBytes
	}
	if c.maxBytes > math.MaxInt32 {
		// One SSE event is held in memory; more than 2 GiB is a mistake.
		errs = append(errs, fmt.Errorf("MaxResponseBytes %d: must be at most %d", o.MaxResponseBytes, math.MaxInt32))
	}
	switch o.MaxTokensField {
	case "", "max_tokens", "max_completion_tokens":
	default:
		errs = append(errs, fmt.Errorf("MaxTokensField %q: must be max_tokens or max_completion_tokens", o.MaxTokensField))
	}
	c.header.Set("User-Agent", userAgent)
	if o.APIKey != "" {
		if !upstream.ValidHeaderValue(o.APIKey) {
			errs = append(errs, errors.New("APIKey: contains control characters"))
		}
		c.header.Set("Authorization", "Bearer "+o.APIKey)
	}
	for k, v := range o.Headers {
		switch {
		case !upstream.ValidHeaderName(k):
			errs = append(errs, fmt.Errorf("Headers: %q is not a valid header name", k))
		case !upstream.ValidHeaderValue(v):
			errs = append(errs, fmt.Errorf("Headers[%q]: value contains control characters", k))
		case o.APIKey != "" && http.CanonicalHeaderKey(k) == "Authorization":
			errs = append(errs, errors.New("Headers: Authorization conflicts with APIKey"))
		default:
			c.header.Set(k, v)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("openai: new %q: %w", c.name, errors.Join(errs...))
	}
	c.hc = o.HTTPClient
	if c.hc == nil {
		c.hc = &http.Client{Transport: newTransport(connect)}
	}
	return c, nil
}

// newTransport returns edgeway's upstream transport: HTTP/1.1 with no
// goroutine per request (see package upstream for why not net/http's).
// newTransport returns edgeway's upstream transport (see package upstream).
func newTransport(connect time.Duration) http.RoundTripper {
	return upstream.New(upstream.Options{ConnectTimeout: connect, MaxConnsPerHost: maxConnsPerHost, IdleTimeout: idleConnTimeout})
}

// Name returns the configured provider name.
func (c *Client) Name() string { return c.name }

// CloseIdleConnections closes pooled upstream connections, for shutdown.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// send issues one request. The caller closes the response body.
func (c *Client) send(ctx context.Context, method, path string, body []byte, accept string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header = c.header.Clone()
	req.Header.Set("Accept", accept)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.hc.Do(req)
}

// readBody reads a whole response body of at most c.maxBytes.
func (c *Client) readBody(ctx context.Context, body io.Reader, op string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(body, c.maxBytes+1))
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &llm.Error{Provider: c.name, Kind: llm.KindServer, Err: fmt.Errorf("%s: %w: %w", op, ErrStreamCut, err)}
		}
		return nil, c.transportError(ctx, op, err)
	}
	if int64(len(b)) > c.maxBytes {
		return nil, c.malformed(op, fmt.Errorf("body exceeds %d bytes", c.maxBytes))
	}
	return b, nil
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// Chat streams the completion of req from the upstream to emit. For a
// streaming request it asks for an SSE stream (with usage, unless
// NoStreamOptions) and passes each chunk on as it arrives, reusing one
// llm.Chunk; otherwise it asks for one JSON answer and emits it whole. Canceling ctx aborts
// the upstream request at once. Errors from emit are returned unchanged;
// every other failure is an *llm.Error.
func (c *Client) Chat(ctx context.Context, req *llm.ChatRequest, emit func(*llm.Chunk) error) (llm.Usage, error) {
	body, err := appendChatRequest(make([]byte, 0, 1024), req, c.wire)
	if err != nil {
		return llm.Usage{}, &llm.Error{Provider: c.name, Kind: llm.KindBadRequest, Err: fmt.Errorf("chat: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	accept := "application/json"
	if req.Stream {
		accept = "text/event-stream"
	}
	resp, err := c.send(ctx, http.MethodPost, "/chat/completions", body, accept)
	if err != nil {
		return llm.Usage{}, c.transportError(ctx, "chat", err)
	}
	// Closing an unfinished body drops the connection, which is what
	// tells the upstream to stop generating.
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return llm.Usage{}, c.statusError(resp, "chat")
	}
	s := chatStream{c: c}
	if isJSON(resp.Header.Get("Content-Type")) {
		// A non-streaming answer, or a server that ignored stream:true.
		b, err := c.readBody(ctx, resp.Body, "chat")
		if err != nil {
			return llm.Usage{}, err
		}
		if err := s.consume(b, emit); err != nil {
			return s.usage, err
		}
		return s.usage, nil
	}
	return s.read(ctx, resp.Body, emit)
}

// Embed computes embeddings of req.Input, one vector per input in order.
func (c *Client) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	if len(req.Input) == 0 {
		return nil, &llm.Error{Provider: c.name, Kind: llm.KindBadRequest, Err: errors.New("embed: no input")}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.send(ctx, http.MethodPost, "/embeddings", appendEmbedRequest(nil, req), "application/json")
	if err != nil {
		return nil, c.transportError(ctx, "embed", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, c.statusError(resp, "embed")
	}
	b, err := c.readBody(ctx, resp.Body, "embed")
	if err != nil {
		return nil, err
	}
	var w struct {
		Data []struct {
			Index     *int            `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
		Model string `json:"model"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, c.malformed("embed", err)
	}
	if len(w.Data) != len(req.Input) {
		return nil, c.malformed("embed", fmt.Errorf("%d vectors for %d inputs", len(w.Data), len(req.Input)))
	}
	out := &llm.EmbedResponse{
		Model:   w.Model,
		Vectors: make([][]float32, len(req.Input)),
		Usage:   llm.Usage{PromptTokens: w.Usage.PromptTokens, TotalTokens: w.Usage.TotalTokens},
	}
	for i, d := range w.Data {
		at := i
		if d.Index != nil {
			at = *d.Index
		}
		if at < 0 || at >= len(out.Vectors) || out.Vectors[at] != nil {
			return nil, c.malformed("embed", fmt.Errorf("bad or repeated index %d", at))
		}
		v, err := decodeVector(d.Embedding)
		if err != nil {
			return nil, c.malformed("embed", fmt.Errorf("data[%d].embedding: %w", i, err))
		}
		out.Vectors[at] = v
	}
	return out, nil
}

// decodeVector reads an embedding as a JSON array of numbers or as
// base64 of little-endian float32s.
func decodeVector(raw json.RawMessage) ([]float32, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, err
		}
		if len(b)%4 != 0 {
			return nil, errors.New("base64 vector length is not a multiple of 4")
		}
		v := make([]float32, len(b)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return v, nil
	}
	var v []float32
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	if v == nil {
		return nil, errors.New("missing")
	}
	return v, nil
}

// Models lists the upstream's models by their upstream names.
func (c *Client) Models(ctx context.Context) ([]llm.Model, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.send(ctx, http.MethodGet, "/models", nil, "application/json")
	if err != nil {
		return nil, c.transportError(ctx, "models", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, c.statusError(resp, "models")
	}
	b, err := c.readBody(ctx, resp.Body, "models")
	if err != nil {
		return nil, err
	}
	var w struct {
		Data []struct {
			ID      string `json:"id"`
			Created int64  `json:"created"`
			OwnedBy string `json:"owned_by"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, c.malformed("models", err)
	}
	out := make([]llm.Model, 0, len(w.Data))
	for _, m := range w.Data {
		if m.ID == "" {
			continue
		}
		mm := llm.Model{ID: m.ID, Provider: c.name, OwnedBy: m.OwnedBy}
		if m.Created > 0 {
			mm.Created = time.Unix(m.Created, 0).UTC()
		}
		out = append(out, mm)
	}
	return out, nil
}

// Ping checks that the upstream answers HTTP at all, with a GET of
// {base}/models that spends no tokens. Any HTTP answer, even 401, proves
// the link is up and returns nil; a transport failure returns an
// *llm.Error of KindUnavailable or KindTimeout.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(PingTimeout, c.timeout))
	defer cancel()
	resp, err := c.send(ctx, http.MethodGet, "/models", nil, "application/json")
	if err != nil {
		return c.transportError(ctx, "ping", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxPingDrain))
	resp.Body.Close()
	return nil
}
