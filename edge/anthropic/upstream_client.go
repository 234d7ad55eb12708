package anthropic

import (
	"bytes"
	"context"
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
	DefaultName = "anthropic"
	// DefaultBaseURL is Anthropic's API root.
	DefaultBaseURL = "https://api.anthropic.com/v1"
	// DefaultVersion is the anthropic-version header every current SDK
	// sends; it is the only version of the Messages API.
	DefaultVersion = "2023-06-01"
	// DefaultMaxTokens is sent as max_tokens when a request sets none:
	// Anthropic requires it, and every current model can write this much.
	DefaultMaxTokens = 4096
	// DefaultTimeout bounds a whole request, stream included.
	DefaultTimeout = 10 * time.Minute
	// DefaultConnectTimeout bounds dialing the upstream.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultMaxResponseBytes bounds a non-streamed response body and one
	// SSE event.
	DefaultMaxResponseBytes = 16 << 20
	// PingTimeout bounds Ping whatever the caller's deadline.
	PingTimeout = 10 * time.Second
	// maxModelPages bounds how many pages of /v1/models Models follows.
	maxModelPages = 10
	// modelPageSize is the page size Models asks for (Anthropic's
	// maximum).
	modelPageSize = 1000
	// idleConnTimeout is how long a pooled upstream connection may idle.
	idleConnTimeout = 90 * time.Second
	// maxConnsPerHost bounds the connection pool per upstream host; the
	// router caps requests in flight well below it.
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
	// Name is the provider name used in errors.
	Name string
	// BaseURL is the API root including its version path
	// (DefaultBaseURL when empty). A trailing slash is ignored.
	BaseURL string
	// APIKey is sent as x-api-key; empty sends none (a proxy that adds
	// it, or an Authorization header in Headers).
	APIKey string
	// Version is the anthropic-version header (DefaultVersion when empty).
	Version string
	// Headers are extra request headers, such as anthropic-beta.
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
	// DefaultMaxTokens is max_tokens for requests that set none
	// (DefaultMaxTokens when zero).
	DefaultMaxTokens int
}

// Client is an llm.Provider (and ModelLister and Pinger) for Anthropic's
// Messages API. Anthropic has no embeddings endpoint, so it is not an
// Embedder. It is safe for concurrent use.
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
		wire:     wireOptions{defaultMaxTokens: o.DefaultMaxTokens},
		header:   make(http.Header, 4+len(o.Headers)),
	}
	if c.name == "" {
		c.name = DefaultName
	}
	base := o.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("BaseURL %q: %w", base, err))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, fmt.Errorf("BaseURL %q: scheme must be http or https", base))
	case u.Host == "":
		errs = append(errs, fmt.Errorf("BaseURL %q: host is missing", base))
	case u.RawQuery != "" || u.Fragment != "":
		errs = append(errs, fmt.Errorf("BaseURL %q: must not have a query or fragment", base))
	default:
		c.base = strings.TrimRight(base, "/")
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
	switch {
	case o.DefaultMaxTokens < 0:
		errs = append(errs, fmt.Errorf("DefaultMaxTokens %d: must not be negative", o.DefaultMaxTokens))
	case o.DefaultMaxTokens == 0:
		c.wire.defaultMaxTokens = DefaultMaxTokens
	}
	version := o.Version
	if version == "" {
		version = DefaultVersion
	}
	if !upstream.ValidHeaderValue(version) {
		errs = append(errs, errors.New("Version: contains control characters"))
	}
	c.header.Set("User-Agent", userAgent)
	c.header.Set("Anthropic-Version", version)
	if o.APIKey != "" {
		if !upstream.ValidHeaderValue(o.APIKey) {
			errs = append(errs, errors.New("APIKey: contains control characters"))
		}
		c.header.Set("X-Api-Key", o.APIKey)
	}
	for k, v := range o.Headers {
		ck := http.CanonicalHeaderKey(k)
		switch {
		case !upstream.ValidHeaderName(k):
			errs = append(errs, fmt.Errorf("Headers: %q is not a valid header name", k))
		case !upstream.ValidHeaderValue(v):
			errs = append(errs, fmt.Errorf("Headers[%q]: value contains control characters", k))
		case o.APIKey != "" && ck == "X-Api-Key":
			errs = append(errs, errors.New("Headers: x-api-key conflicts with APIKey"))
		case ck == "Anthropic-Version":
			errs = append(errs, errors.New("Headers: anthropic-version is set by Version"))
		default:
			c.header.Set(k, v)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("anthropic: new %q: %w", c.name, errors.Join(errs...))
	}
	c.hc = o.HTTPClient
	if c.hc == nil {
		c.hc = &http.Client{Transport: newTransport(connect)}
	}
	return c, nil
}

// newTransport returns edgeway's upstream transport: HTTP/1.1 with no
// goroutine per request (see package upstream for why not net/http's).
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
			return nil, c.streamCut(op, "body ended early", err)
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

// Chat streams the completion of req from Anthropic to emit. It always
// asks for an SSE stream and passes each chunk on as it arrives, reusing
// one llm.Chunk; the role and model ride on the first chunk that carries
// content, so an error event right after message_start still reaches
// the caller before anything was emitted. Canceling ctx aborts the
// upstream request at once. Errors from emit are returned unchanged;
// every other failure is an *llm.Error. See appendMessagesRequest for
// how the request is translated.
func (c *Client) Chat(ctx context.Context, req *llm.ChatRequest, emit func(*llm.Chunk) error) (llm.Usage, error) {
	body, err := appendMessagesRequest(make([]byte, 0, 1024), req, c.wire)
	if err != nil {
		return llm.Usage{}, &llm.Error{Provider: c.name, Kind: llm.KindBadRequest, Err: fmt.Errorf("chat: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.send(ctx, http.MethodPost, "/messages", body, "text/event-stream")
	if err != nil {
		return llm.Usage{}, c.transportError(ctx, "chat", err)
	}
	// Closing an unfinished body drops the connection, which is what
	// tells the upstream to stop generating.
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return llm.Usage{}, c.statusError(resp, "chat")
	}
	s := msgStream{c: c}
	if isJSON(resp.Header.Get("Content-Type")) {
		// A proxy that ignored stream:true answers with one message.
		b, err := c.readBody(ctx, resp.Body, "chat")
		if err != nil {
			return llm.Usage{}, err
		}
		return s.usage, s.whole(b, emit)
	}
	return s.read(ctx, resp.Body, emit)
}

// wireModels is a page of GET /v1/models.
type wireModels struct {
	Data []struct {
		ID          string `json:"id"`
		DisplayName string `json:"display_name"`
		CreatedAt   string `json:"created_at"`
	} `json:"data"`
	HasMore bool   `json:"has_more"`
	LastID  string `json:"last_id"`
}

// Models lists the upstream's models by their upstream names, following
// at most maxModelPages pages.
func (c *Client) Models(ctx context.Context) ([]llm.Model, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var out []llm.Model
	after := ""
	for page := 0; page < maxModelPages; page++ {
		q := url.Values{"limit": {fmt.Sprint(modelPageSize)}}
		if after != "" {
			q.Set("after_id", after)
		}
		w, err := c.modelPage(ctx, "/models?"+q.Encode())
		if err != nil {
			return nil, err
		}
		for _, m := range w.Data {
			if m.ID == "" {
				continue
			}
			mm := llm.Model{ID: m.ID, Provider: c.name, OwnedBy: "anthropic"}
			if t, err := time.Parse(time.RFC3339, m.CreatedAt); err == nil {
				mm.Created = t.UTC()
			}
			out = append(out, mm)
		}
		if !w.HasMore || w.LastID == "" || w.LastID == after {
			break
		}
		after = w.LastID
	}
	return out, nil
}

func (c *Client) modelPage(ctx context.Context, path string) (*wireModels, error) {
	resp, err := c.send(ctx, http.MethodGet, path, nil, "application/json")
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
	var w wireModels
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, c.malformed("models", err)
	}
	return &w, nil
}

// Ping checks that the upstream answers HTTP at all, with a GET of
// {base}/models?limit=1 that spends no tokens. Any HTTP answer, even 401,
// proves the link is up and returns nil; a transport failure returns an
// *llm.Error of KindUnavailable or KindTimeout.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(PingTimeout, c.timeout))
	defer cancel()
	resp, err := c.send(ctx, http.MethodGet, "/models?limit=1", nil, "application/json")
	if err != nil {
		return c.transportError(ctx, "ping", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxPingDrain))
	resp.Body.Close()
	return nil
}
