package upstream

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

	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
)

// Defaults of a Client, the same for every HTTP provider.
const (
	// DefaultTimeout bounds a whole request, stream included: long enough
	// for a slow local model to write a long answer.
	DefaultTimeout = 10 * time.Minute
	// DefaultMaxResponseBytes bounds a non-streamed response body and one
	// SSE event. Embedding responses are the large ones: 16 MiB holds
	// about 400 vectors of 1536 floats written as JSON.
	DefaultMaxResponseBytes = 16 << 20
	// PingTimeout bounds Ping whatever the caller's deadline.
	PingTimeout = 10 * time.Second
	// maxPingDrain bounds how much of a Ping answer is read so the
	// connection can be reused.
	maxPingDrain = 4 << 10
	// userAgent identifies edgeway to upstreams.
	userAgent = "edgeway"
)

// Auth says how a provider carries its API key.
type Auth struct {
	// Header carries the key, written as the provider's documentation
	// writes it (errors name it so).
	Header string
	// Prefix goes before the key ("Bearer ").
	Prefix string
}

// The auth styles of the providers edgeway speaks to.
var (
	// BearerAuth is OpenAI's and most compatible servers'.
	BearerAuth = Auth{Header: "Authorization", Prefix: "Bearer "}
	// XAPIKeyAuth is Anthropic's.
	XAPIKeyAuth = Auth{Header: "x-api-key"}
	// GoogAPIKeyAuth is Google's, as its REST reference shows.
	GoogAPIKeyAuth = Auth{Header: "x-goog-api-key"}
)

// FixedHeader is a header the provider sets from one of its own options;
// Headers may not override it.
type FixedHeader struct {
	Name, Value string
	// Option is the provider option that sets it, named in errors.
	Option string
}

// ErrorInfo is what a provider makes of an upstream error body.
type ErrorInfo struct {
	// Kind is the failure's kind, refined from the body; KindUnknown keeps
	// the kind of the HTTP status.
	Kind llm.Kind
	// Status is, for an error inside a 200 stream, the HTTP status the
	// body names (0 when none); it is ignored for a non-2xx answer.
	Status int
	// Type is the upstream's error type or code, shown after the operation.
	Type string
	// Message is the upstream's message.
	Message string
	// RetryAfter is a delay the body asks for; it wins over headers.
	RetryAfter time.Duration
	// Err, when set, is a provider sentinel the *llm.Error wraps.
	Err error
}

// ErrorParser reads an upstream error body. status is the HTTP status, or
// 0 for an error event inside a 200 stream; kind is what the status alone
// says (llm.KindForStatus, KindUnknown for 0). ok is false when body is
// not of the provider's shape.
type ErrorParser func(body []byte, status int, kind llm.Kind) (info ErrorInfo, ok bool)

// ResetDelay reads a provider's own rate-limit reset headers on a 429
// that carries no Retry-After.
type ResetDelay func(h http.Header, now time.Time) time.Duration

// ClientOptions configure a Client. Zero values take the defaults above;
// zero never means unlimited.
// Endpoint is what every HTTP provider is configured with: where it is,
// its credential, and its bounds. Provider Options embed it, so the
// configuration is mapped onto it in one place.
type Endpoint struct {
	// Name is the provider name in errors ("openai", "mistral", ...);
	// empty is the provider package's own.
	Name string
	// BaseURL is the API root including its version path. Required; a
	// trailing slash is ignored.
	BaseURL string
	// APIKey is sent as the provider's Auth says; empty sends none (local
	// servers, or a proxy that adds it). It is redacted from every
	// upstream message.
	APIKey string
	// Headers are extra request headers from the configuration.
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
}

// ClientOptions configure a Client: the provider's Endpoint and what the
// provider package fixes about its wire.
type ClientOptions struct {
	Endpoint
	Auth Auth
	// Fixed are headers the provider sets (anthropic-version).
	Fixed []FixedHeader
	// ParseError reads error bodies; nil keeps the status's kind and shows
	// a short plain-text body.
	ParseError ErrorParser
	// ResetDelay reads the provider's rate-limit reset headers; nil reads
	// none.
	ResetDelay ResetDelay
}

// Client is the one client frame of edgeway's HTTP providers: it sends
// requests, bounds what it reads, and turns every failure into an
// *llm.Error with credentials redacted. A provider package adds only its
// wire mapping. It is safe for concurrent use.
type Client struct {
	name       string
	base       string
	secrets    []string // redacted by value from upstream text
	header     http.Header
	hc         *http.Client
	timeout    time.Duration
	maxBytes   int64
	parseError ErrorParser
	resetDelay ResetDelay
}

// NewClient validates o and returns a Client. component is the provider
// package, whose name is the default Name. The error names component and
// reports every problem in o at once, with extra: problems the provider
// found in its own options.
func NewClient(component string, o ClientOptions, extra ...error) (*Client, error) {
	errs := extra
	if o.Name == "" {
		o.Name = component
	}
	c := &Client{
		name:       o.Name,
		secrets:    endpointSecrets(o.Endpoint),
		timeout:    o.Timeout,
		maxBytes:   o.MaxResponseBytes,
		header:     make(http.Header, 4+len(o.Fixed)+len(o.Headers)),
		parseError: o.ParseError,
		resetDelay: o.ResetDelay,
	}
	u, err := url.Parse(o.BaseURL)
	shown := o.BaseURL // what errors print: no password
	if err == nil && u.User != nil {
		shown = u.Redacted()
	} else if err != nil {
		shown = "(unparsable)"
	}
	switch {
	case o.BaseURL == "":
		errs = append(errs, errors.New("BaseURL is required"))
	case err != nil:
		errs = append(errs, fmt.Errorf("BaseURL %s: %w", shown, redactURLError(err)))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, fmt.Errorf("BaseURL %q: scheme must be http or https", shown))
	case u.Host == "":
		errs = append(errs, fmt.Errorf("BaseURL %q: host is missing", shown))
	case u.RawQuery != "" || u.Fragment != "":
		errs = append(errs, fmt.Errorf("BaseURL %q: must not have a query or fragment", shown))
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
	c.header.Set("User-Agent", userAgent)
	reserved := make(map[string]string, 1+len(o.Fixed))
	for _, f := range o.Fixed {
		if !ValidHeaderValue(f.Value) {
			errs = append(errs, fmt.Errorf("%s: contains control characters", f.Option))
		}
		c.header.Set(f.Name, f.Value)
		reserved[http.CanonicalHeaderKey(f.Name)] = fmt.Sprintf("%s is set by %s", strings.ToLower(f.Name), f.Option)
	}
	if o.APIKey != "" {
		if !ValidHeaderValue(o.APIKey) {
			errs = append(errs, errors.New("APIKey: contains control characters"))
		}
		c.header.Set(o.Auth.Header, o.Auth.Prefix+o.APIKey)
		reserved[http.CanonicalHeaderKey(o.Auth.Header)] = o.Auth.Header + " conflicts with APIKey"
	}
	for k, v := range o.Headers {
		why, taken := reserved[http.CanonicalHeaderKey(k)]
		switch {
		case !ValidHeaderName(k):
			errs = append(errs, fmt.Errorf("Headers: %q is not a valid header name", k))
		case !ValidHeaderValue(v):
			errs = append(errs, fmt.Errorf("Headers[%q]: value contains control characters", k))
		case taken:
			errs = append(errs, errors.New("Headers: "+why))
		default:
			c.header.Set(k, v)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: new %q: %w", component, c.name, errors.Join(errs...))
	}
	if o.HTTPClient != nil {
		hc := *o.HTTPClient
		c.hc = &hc
	} else {
		// Every provider shares the transport's pool defaults, so none
		// drifts from what the router's concurrency caps assume.
		c.hc = &http.Client{Transport: New(Options{ConnectTimeout: connect})}
	}
	c.hc.CheckRedirect = noRedirects
	return c, nil
}

// noRedirects makes a redirect the answer instead of following it. The
// credentials travel in headers net/http does not know to strip on a
// cross-host redirect (x-api-key, x-goog-api-key, a configured header),
// and no LLM API redirects its POSTs on purpose: a 3xx means base_url
// is wrong or something on the way is hostile. So a 3xx is an error
// naming where it pointed (see StatusError), never a second request.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// redactURLError drops the URL a *url.Error quotes, which may hold a
// password.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// endpointSecrets are what e's upstream could echo back that must not be
// shown: the API key, the values of configured headers that carry a
// credential (Azure's api-key, a proxy's Authorization), and a password
// in base_url.
func endpointSecrets(e Endpoint) []string {
	var out []string
	if e.APIKey != "" {
		out = append(out, e.APIKey)
	}
	for k, v := range e.Headers {
		if CredentialHeader(k) && v != "" {
			out = append(out, v)
			if _, after, ok := strings.Cut(v, " "); ok && after != "" {
				out = append(out, after) // the token of "Bearer <token>"
			}
		}
	}
	if u, err := url.Parse(e.BaseURL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			out = append(out, p)
		}
	}
	return out
}

// CredentialHeader reports whether a header name suggests it carries a
// credential.
func CredentialHeader(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"auth", "key", "token", "secret", "cookie", "password", "signature"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Name returns the provider name.
func (c *Client) Name() string { return c.name }

// BaseURL returns the API root without its trailing slash.
func (c *Client) BaseURL() string { return c.base }

// MaxBytes returns the bound on a response body and on one SSE event.
func (c *Client) MaxBytes() int64 { return c.maxBytes }

// CloseIdleConnections closes pooled upstream connections, for shutdown.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// WithTimeout bounds ctx by the whole-request timeout.
func (c *Client) WithTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// Send issues one request to base+path and returns a 2xx answer, whose
// body the caller closes. A failure to get an answer is a transport
// error and a non-2xx answer a status error, both *llm.Error.
func (c *Client) Send(ctx context.Context, op, method, path string, body []byte, accept string) (*http.Response, error) {
	resp, err := c.do(ctx, method, path, body, accept)
	if err != nil {
		return nil, c.TransportError(ctx, op, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, c.StatusError(resp, op)
	}
	return resp, nil
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, accept string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header = c.header.Clone()
	req.Header.Set("Accept", accept)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	addHeaders(ctx, req.Header) // a client's own, forwarded (header.go)
	return c.hc.Do(req)
}

// JSON sends a request (a POST of body, or a GET when body is nil) under
// the whole-request timeout and decodes its JSON answer into v.
func (c *Client) JSON(ctx context.Context, op, path string, body []byte, v any) error {
	ctx, cancel := c.WithTimeout(ctx)
	defer cancel()
	method := http.MethodGet
	if body != nil {
		method = http.MethodPost
	}
	resp, err := c.Send(ctx, op, method, path, body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := c.ReadBody(ctx, resp.Body, op)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return c.Malformed(op, err)
	}
	return nil
}

// ReadBody reads a whole response body of at most MaxBytes.
func (c *Client) ReadBody(ctx context.Context, body io.Reader, op string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(body, c.maxBytes+1))
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, c.StreamCut(op, "body ended early", err)
		}
		return nil, c.TransportError(ctx, op, err)
	}
	if int64(len(b)) > c.maxBytes {
		return nil, c.Malformed(op, fmt.Errorf("%w: body exceeds %d bytes", llm.ErrTooLarge, c.maxBytes))
	}
	return b, nil
}

// SSE returns a reader of body's events bounded by MaxBytes.
func (c *Client) SSE(body io.Reader) *wire.SSEReader {
	return wire.NewSSEReader(body, int(c.maxBytes))
}

// IsJSON reports whether a Content-Type is JSON: an upstream that ignored
// a request to stream answers with one JSON body.
func IsJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// Ping checks that the upstream answers HTTP at all with a GET of path
// that spends no tokens. Any HTTP answer, even 401, proves the link and
// returns nil; a transport failure returns an *llm.Error of
// KindUnavailable or KindTimeout.
func (c *Client) Ping(ctx context.Context, path string) error {
	ctx, cancel := context.WithTimeout(ctx, min(PingTimeout, c.timeout))
	defer cancel()
	resp, err := c.do(ctx, http.MethodGet, path, nil, "application/json")
	if err != nil {
		return c.TransportError(ctx, "ping", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxPingDrain))
	resp.Body.Close()
	return nil
}
