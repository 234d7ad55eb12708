package gemini

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
	"strconv"
	"strings"
	"time"

	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
)

// Defaults for Options fields left zero.
const (
	// DefaultName is the provider name when Options.Name is empty.
	DefaultName = "gemini"
	// DefaultBaseURL is Google's Generative Language API root.
	DefaultBaseURL = "https://generativelanguage.googleapis.com/v1beta"
	// DefaultTimeout bounds a whole request, stream included.
	DefaultTimeout = 10 * time.Minute
	// DefaultConnectTimeout bounds dialing the upstream.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultMaxResponseBytes bounds a non-streamed response body and one
	// SSE event. A batch of 100 embeddings of 3072 floats written as JSON
	// is about 7 MiB.
	DefaultMaxResponseBytes = 16 << 20
	// PingTimeout bounds Ping whatever the caller's deadline.
	PingTimeout = 10 * time.Second
	// MaxEmbedBatch is how many inputs go in one batchEmbedContents call;
	// the API refuses more than 100. Embed splits larger requests.
	MaxEmbedBatch = 100
	// maxModelPages bounds how many pages of the model list Models reads.
	maxModelPages = 10
	// modelPageSize is the page size Models asks for (the API's maximum).
	modelPageSize = 1000
	// idleConnTimeout is how long a pooled upstream connection may idle.
	idleConnTimeout = 90 * time.Second
	// maxConnsPerHost bounds the connection pool per upstream host.
	maxConnsPerHost = 64
	// maxPingDrain bounds how much of a Ping answer is read so the
	// connection can be reused.
	maxPingDrain = 4 << 10
)

// userAgent identifies edgeway to upstreams.
const userAgent = "edgeway"

// apiKeyHeader carries the API key, as Google's REST reference shows.
const apiKeyHeader = "X-Goog-Api-Key"

// Options configure a Client. Zero values take the named defaults; zero
// never means unlimited.
type Options struct {
	// Name is the provider name used in errors ("gemini" when empty).
	Name string
	// BaseURL is the API root including its version path; empty means
	// DefaultBaseURL. Tests point it at a local fake. A trailing slash is
	// ignored.
	BaseURL string
	// APIKey is sent in the x-goog-api-key header. It is required with the
	// default BaseURL; with another BaseURL empty sends no key.
	APIKey string
	// Headers are extra request headers.
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

// Client is an llm.Provider (and Embedder, ModelLister, Pinger) for the
// Gemini API. It is safe for concurrent use.
type Client struct {
	name     string
	base     string
	header   http.Header
	hc       *http.Client
	timeout  time.Duration
	maxBytes int64
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
		header:   make(http.Header, 4+len(o.Headers)),
	}
	if c.name == "" {
		c.name = DefaultName
	}
	base := o.BaseURL
	if base == "" {
		base = DefaultBaseURL
		if o.APIKey == "" {
			errs = append(errs, errors.New("APIKey is required for "+DefaultBaseURL))
		}
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
	c.header.Set("User-Agent", userAgent)
	if o.APIKey != "" {
		if !upstream.ValidHeaderValue(o.APIKey) {
			errs = append(errs, errors.New("APIKey: contains control characters"))
		}
		c.header.Set(apiKeyHeader, o.APIKey)
	}
	for k, v := range o.Headers {
		switch {
		case !upstream.ValidHeaderName(k):
			errs = append(errs, fmt.Errorf("Headers: %q is not a valid header name", k))
		case !upstream.ValidHeaderValue(v):
			errs = append(errs, fmt.Errorf("Headers[%q]: value contains control characters", k))
		case o.APIKey != "" && http.CanonicalHeaderKey(k) == apiKeyHeader:
			errs = append(errs, errors.New("Headers: x-goog-api-key conflicts with APIKey"))
		default:
			c.header.Set(k, v)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("gemini: new %q: %w", c.name, errors.Join(errs...))
	}
	c.hc = o.HTTPClient
	if c.hc == nil {
		c.hc = &http.Client{Transport: newTransport(connect)}
	}
	return c, nil
}

// newTransport returns edgeway's upstream transport (see package upstream).
func newTransport(connect time.Duration) http.RoundTripper {
	return upstream.New(upstream.Options{ConnectTimeout: connect, MaxConnsPerHost: maxConnsPerHost, IdleTimeout: idleConnTimeout})
}

// Name returns the configured provider name.
func (c *Client) Name() string { return c.name }

// CloseIdleConnections closes pooled upstream connections, for shutdown.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// modelPath returns "/models/{model}" for a model name given with or
// without its "models/" prefix. Tuned models ("tunedModels/x") keep their
// own collection. It refuses names that would change the URL's shape.
func modelPath(model string) (string, error) {
	collection := "models"
	switch {
	case strings.HasPrefix(model, "models/"):
		model = model[len("models/"):]
	case strings.HasPrefix(model, "tunedModels/"):
		collection, model = "tunedModels", model[len("tunedModels/"):]
	}
	if model == "" {
		return "", errors.New("model is required")
	}
	for i := 0; i < len(model); i++ {
		if c := model[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("/?#%:\\", c) >= 0 {
			return "", fmt.Errorf("model %q: is not a valid Gemini model name", model)
		}
	}
	return "/" + collection + "/" + model, nil
}

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

// Chat streams the completion of req from
// {base}/models/{model}:streamGenerateContent?alt=sse to emit, passing each
// chunk on as it arrives and reusing one llm.Chunk. Canceling ctx aborts
// the upstream request at once. Errors from emit are returned unchanged;
// every other failure is an *llm.Error.
func (c *Client) Chat(ctx context.Context, req *llm.ChatRequest, emit func(*llm.Chunk) error) (llm.Usage, error) {
	path, err := modelPath(req.Model)
	if err != nil {
		return llm.Usage{}, &llm.Error{Provider: c.name, Kind: llm.KindBadRequest, Err: fmt.Errorf("chat: %w", err)}
	}
	body, err := appendGenerateRequest(make([]byte, 0, 1024), req)
	if err != nil {
		return llm.Usage{}, &llm.Error{Provider: c.name, Kind: llm.KindBadRequest, Err: fmt.Errorf("chat: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.send(ctx, http.MethodPost, path+":streamGenerateContent?alt=sse", body, "text/event-stream")
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
		// Without alt=sse (a proxy dropped the query) the API answers
		// with a JSON array of the same responses; a non-streaming proxy
		// answers with one object.
		b, err := c.readBody(ctx, resp.Body, "chat")
		if err != nil {
			return llm.Usage{}, err
		}
		return s.consumeJSON(b, emit)
	}
	return s.read(ctx, resp.Body, emit)
}

// Embed computes embeddings of req.Input, one vector per input in order,
// with batchEmbedContents calls of at most MaxEmbedBatch inputs each.
// Dimensions becomes outputDimensionality. The API reports no token
// counts for embeddings, so Usage stays zero.
func (c *Client) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	bad := func(err error) error {
		return &llm.Error{Provider: c.name, Kind: llm.KindBadRequest, Err: fmt.Errorf("embed: %w", err)}
	}
	if len(req.Input) == 0 {
		return nil, bad(errors.New("no input"))
	}
	if req.Dimensions != nil && *req.Dimensions <= 0 {
		return nil, bad(fmt.Errorf("dimensions %d: must be positive", *req.Dimensions))
	}
	path, err := modelPath(req.Model)
	if err != nil {
		return nil, bad(err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	out := &llm.EmbedResponse{Model: req.Model, Vectors: make([][]float32, 0, len(req.Input))}
	var body []byte
	for start := 0; start < len(req.Input); start += MaxEmbedBatch {
		batch := req.Input[start:min(start+MaxEmbedBatch, len(req.Input))]
		body = appendEmbedRequest(body[:0], path[1:], batch, req.Dimensions)
		vecs, err := c.embedBatch(ctx, path, body, len(batch))
		if err != nil {
			return nil, err
		}
		out.Vectors = append(out.Vectors, vecs...)
	}
	return out, nil
}

func (c *Client) embedBatch(ctx context.Context, path string, body []byte, n int) ([][]float32, error) {
	resp, err := c.send(ctx, http.MethodPost, path+":batchEmbedContents", body, "application/json")
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
		Embeddings []struct {
			Values []float32 `json:"values"`
		} `json:"embeddings"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, c.malformed("embed", err)
	}
	if len(w.Embeddings) != n {
		return nil, c.malformed("embed", fmt.Errorf("%d vectors for %d inputs", len(w.Embeddings), n))
	}
	out := make([][]float32, n)
	for i := range w.Embeddings {
		if len(w.Embeddings[i].Values) == 0 {
			return nil, c.malformed("embed", fmt.Errorf("embeddings[%d] is empty", i))
		}
		out[i] = w.Embeddings[i].Values
	}
	return out, nil
}

// appendEmbedRequest appends a batchEmbedContents body. model is
// "models/x" as every request in the batch must name it.
func appendEmbedRequest(dst []byte, model string, inputs []string, dims *int) []byte {
	dst = append(dst, `{"requests":[`...)
	for i, s := range inputs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"model":`...)
		dst = wire.AppendString(dst, model)
		dst = append(dst, `,"content":{"parts":[{"text":`...)
		dst = wire.AppendString(dst, s)
		dst = append(dst, `}]}`...)
		if dims != nil {
			dst = append(dst, `,"outputDimensionality":`...)
			dst = strconv.AppendInt(dst, int64(*dims), 10)
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// generationMethods are the methods that make a listed model useful to
// edgeway; models offering none of them (image, video, AQA) are left out.
var generationMethods = map[string]bool{
	"generateContent": true, "streamGenerateContent": true,
	"embedContent": true, "batchEmbedContents": true,
}

// Models lists the upstream's chat and embedding models by their upstream
// names without the "models/" prefix. It reads at most maxModelPages
// pages of the list.
func (c *Client) Models(ctx context.Context) ([]llm.Model, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var (
		out   []llm.Model
		token string
		seen  = make(map[string]bool)
	)
	for range maxModelPages {
		path := "/models?pageSize=" + strconv.Itoa(modelPageSize)
		if token != "" {
			path += "&pageToken=" + url.QueryEscape(token)
		}
		page, next, err := c.modelPage(ctx, path)
		if err != nil {
			return nil, err
		}
		for _, m := range page {
			if !seen[m.ID] {
				seen[m.ID] = true
				out = append(out, m)
			}
		}
		if next == "" || next == token {
			break
		}
		token = next
	}
	return out, nil
}

func (c *Client) modelPage(ctx context.Context, path string) ([]llm.Model, string, error) {
	resp, err := c.send(ctx, http.MethodGet, path, nil, "application/json")
	if err != nil {
		return nil, "", c.transportError(ctx, "models", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, "", c.statusError(resp, "models")
	}
	b, err := c.readBody(ctx, resp.Body, "models")
	if err != nil {
		return nil, "", err
	}
	var w struct {
		Models []struct {
			Name    string   `json:"name"`
			Methods []string `json:"supportedGenerationMethods"`
		} `json:"models"`
		NextPageToken string `json:"nextPageToken"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, "", c.malformed("models", err)
	}
	out := make([]llm.Model, 0, len(w.Models))
	for _, m := range w.Models {
		id := strings.TrimPrefix(m.Name, "models/")
		if id == "" || !useful(m.Methods) {
			continue
		}
		out = append(out, llm.Model{ID: id, Provider: c.name, OwnedBy: "google"})
	}
	return out, w.NextPageToken, nil
}

// useful reports whether a model offers a method edgeway calls. A list
// without the field says nothing, so the model is kept.
func useful(methods []string) bool {
	if methods == nil {
		return true
	}
	for _, m := range methods {
		if generationMethods[m] {
			return true
		}
	}
	return false
}

// Ping checks that the upstream answers HTTP with GET
// {base}/models?pageSize=1. Any HTTP answer, even an auth error, proves
// the link; only failing to get one is an error. It spends no tokens.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	resp, err := c.send(ctx, http.MethodGet, "/models?pageSize=1", nil, "application/json")
	if err != nil {
		return c.transportError(ctx, "ping", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxPingDrain))
	resp.Body.Close()
	return nil
}
