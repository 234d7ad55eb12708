package ollama

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
)

// DefaultBaseURL is where Ollama listens unless told otherwise.
const DefaultBaseURL = "http://127.0.0.1:11434"

// DefaultName is the provider name used when Options.Name is empty.
const DefaultName = "ollama"

// Bounds on what is read from Ollama.
const (
	// maxLineBytes bounds one NDJSON line of a chat stream. Ollama sends one
	// token (or one batch of tool calls) per line, far below this.
	maxLineBytes = 1 << 20
	// maxBodyBytes bounds a whole JSON response; the largest is a batch of
	// embeddings (a 4096-dimension vector is ~80 KB of JSON).
	maxBodyBytes = 64 << 20
	// maxErrorBodyBytes bounds how much of an error response is read.
	maxErrorBodyBytes = 64 << 10
	// maxRetryAfter caps a Retry-After hint.
	maxRetryAfter = time.Minute
	// maxIdleConns bounds connections to one Ollama; the router caps the
	// requests in flight far below it.
	maxIdleConns = 16
)

// Options configures a Provider.
type Options struct {
	// Name is the provider name in errors and models; default DefaultName.
	Name string
	// BaseURL is Ollama's address; default DefaultBaseURL.
	BaseURL string
	// KeepAlive, when not zero, is sent as keep_alive: how long Ollama keeps
	// the model loaded after a request. Negative keeps it loaded forever.
	KeepAlive time.Duration
	// Options are model options sent with every request (for example
	// num_thread or num_ctx). Request fields such as temperature override
	// them. The map is copied by New.
	Options map[string]any
	// APIKey, when set, is sent as "Authorization: Bearer" (an Ollama
	// behind an authenticating reverse proxy); Headers are sent as they are.
	APIKey  string
	Headers map[string]string
	// Timeout bounds a whole request, stream included; zero leaves it to
	// the caller's context. ConnectTimeout bounds dialing; zero is
	// upstream.DefaultConnectTimeout. Both are ignored with HTTPClient.
	Timeout, ConnectTimeout time.Duration
	// HTTPClient sends the requests; default a client with keep-alive
	// connections over edgeway's upstream transport.
	HTTPClient *http.Client
}

// Provider talks to one Ollama server. Create it with New; it is safe for
// concurrent use.
type Provider struct {
	name      string
	client    *http.Client
	keepAlive *api.Duration
	options   map[string]any
	header    http.Header // sent with every request: auth and configured headers

	chatURL, embedURL, tagsURL, versionURL string
}

// Compile-time checks of the optional abilities.
var (
	_ llm.Provider    = (*Provider)(nil)
	_ llm.Embedder    = (*Provider)(nil)
	_ llm.ModelLister = (*Provider)(nil)
	_ llm.Pinger      = (*Provider)(nil)
)

// New returns a Provider for o. It fails only on an unusable BaseURL.
func New(o Options) (*Provider, error) {
	p := &Provider{name: o.Name, client: o.HTTPClient, options: maps.Clone(o.Options)}
	if p.name == "" {
		p.name = DefaultName
	}
	if p.client == nil {
		// edgeway's upstream transport: no goroutine handoffs per request,
		// which on a small board is most of a local call's overhead.
		p.client = &http.Client{Timeout: o.Timeout, Transport: upstream.New(upstream.Options{MaxConnsPerHost: maxIdleConns, ConnectTimeout: o.ConnectTimeout})}
	}
	p.header = http.Header{"User-Agent": {"edgeway"}}
	for k, v := range o.Headers {
		if !upstream.ValidHeaderName(k) || !upstream.ValidHeaderValue(v) {
			return nil, fmt.Errorf("ollama: header %q: invalid name or value", k)
		}
		p.header.Set(k, v)
	}
	if o.APIKey != "" {
		if !upstream.ValidHeaderValue(o.APIKey) {
			return nil, errors.New("ollama: api key: invalid header value")
		}
		p.header.Set("Authorization", "Bearer "+o.APIKey)
	}
	if o.KeepAlive != 0 {
		p.keepAlive = &api.Duration{Duration: o.KeepAlive}
	}
	base := o.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("ollama: base url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("ollama: base url %q: want http(s)://host[:port]", base)
	}
	u.RawQuery, u.Fragment = "", ""
	p.chatURL = u.JoinPath("api/chat").String()
	p.embedURL = u.JoinPath("api/embed").String()
	p.tagsURL = u.JoinPath("api/tags").String()
	p.versionURL = u.JoinPath("api/version").String()
	return p, nil
}

// Name returns the configured provider name.
func (p *Provider) Name() string { return p.name }

// Ping asks Ollama for its version: cheap, and it loads no model.
func (p *Provider) Ping(ctx context.Context) error {
	var v struct {
		Version string `json:"version"`
	}
	return p.doJSON(ctx, "ping", http.MethodGet, p.versionURL, nil, &v)
}

// Models lists the models Ollama has installed (/api/tags). IDs are
// Ollama's own names ("llama3.2:1b"), without the provider prefix.
func (p *Provider) Models(ctx context.Context) ([]llm.Model, error) {
	var list api.ListResponse
	if err := p.doJSON(ctx, "models", http.MethodGet, p.tagsURL, nil, &list); err != nil {
		return nil, err
	}
	models := make([]llm.Model, 0, len(list.Models))
	for _, m := range list.Models {
		name := m.Name
		if name == "" {
			name = m.Model
		}
		models = append(models, llm.Model{
			ID:       name,
			Provider: p.name,
			OwnedBy:  ownedBy(name),
			Created:  m.ModifiedAt,
		})
	}
	return models, nil
}

// ownedBy returns the namespace of an Ollama model name the way Ollama's
// own /v1/models does: "library" for official models, else the segment
// before the model ("hf.co/user/model:tag" is owned by "user").
func ownedBy(name string) string {
	if i := strings.LastIndexByte(name, ':'); i >= 0 && !strings.Contains(name[i:], "/") {
		name = name[:i]
	}
	parts := strings.Split(name, "/")
	if len(parts) < 2 {
		return "library"
	}
	return parts[len(parts)-2]
}

// post sends body as JSON and returns the response when its status is a
// success; the caller closes its body. Failures are *llm.Error.
func (p *Provider) post(ctx context.Context, op, url string, body any, accept string) (*http.Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, llm.Errorf(p.name, llm.KindBadRequest, "%s: encode request: %w", op, err)
	}
	return p.send(ctx, op, http.MethodPost, url, b, accept)
}

func (p *Provider) send(ctx context.Context, op, method, url string, body []byte, accept string) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return nil, llm.Errorf(p.name, llm.KindBadRequest, "%s: %w", op, err)
	}
	for k, v := range p.header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", accept)
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, p.transportError(ctx, op, err)
	}
	if resp.StatusCode >= http.StatusBadRequest {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
		return nil, p.statusError(resp.StatusCode, resp.Header, b)
	}
	return resp, nil
}

// doJSON sends in (when not nil) and decodes the response into out.
func (p *Provider) doJSON(ctx context.Context, op, method, url string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return llm.Errorf(p.name, llm.KindBadRequest, "%s: encode request: %w", op, err)
		}
	}
	resp, err := p.send(ctx, op, method, url, body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return p.transportError(ctx, op, err)
	}
	if len(b) > maxBodyBytes {
		return llm.Errorf(p.name, llm.KindServer, "%s: response larger than %d bytes", op, maxBodyBytes)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return llm.Errorf(p.name, llm.KindServer, "%s: decode response: %w", op, err)
	}
	return nil
}

// transportError classifies a failure to talk to Ollama (see
// upstream.TransportError).
func (p *Provider) transportError(ctx context.Context, op string, err error) *llm.Error {
	return upstream.TransportError(ctx, p.name, op, err)
}
