// Package llamacpp is an llm.Provider for llama.cpp's llama-server, which
// speaks the OpenAI wire format. It reuses edge/openai's client and adds
// what differs: a local default address, no API key by default, and a
// health check on llama-server's own /health endpoint, which says whether
// the model is loaded rather than just whether the port is open.
package llamacpp

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/openai"
	"github.com/edgeway/edgeway/edge/upstream"
)

// DefaultBaseURL is where llama-server listens unless told otherwise.
const DefaultBaseURL = "http://127.0.0.1:8080/v1"

// healthTimeout bounds a /health check when ctx has no deadline.
const healthTimeout = 2 * time.Second

// Options configure a Provider: the Endpoint (APIKey is llama-server's
// --api-key, if it was started with one) and openai.Options' quirks.
type Options struct {
	upstream.Endpoint

	// NoStreamOptions and MaxTokensField are openai.Options' quirks, for a
	// llama-server build or proxy that needs them.
	NoStreamOptions bool
	MaxTokensField  string
}

// Provider serves chats and embeddings from a llama-server. It is safe for
// concurrent use.
type Provider struct {
	*openai.Client
	health string
	key    string
	hc     *http.Client
}

// New returns a Provider for o.
func New(o Options) (*Provider, error) {
	if o.Name == "" {
		o.Name = "llamacpp"
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	base := strings.TrimRight(o.BaseURL, "/")
	ep := o.Endpoint
	ep.BaseURL = base
	c, err := openai.New(openai.Options{Endpoint: ep, NoStreamOptions: o.NoStreamOptions, MaxTokensField: o.MaxTokensField})
	if err != nil {
		return nil, fmt.Errorf("llamacpp: %w", err)
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: healthTimeout}
	}
	return &Provider{Client: c, health: strings.TrimSuffix(base, "/v1") + "/health", key: o.APIKey, hc: hc}, nil
}

// Ping asks llama-server's /health, which answers 503 while the model is
// still loading: such a server is up but cannot serve yet.
func (p *Provider) Ping(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, healthTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.health, nil)
	if err != nil {
		return fmt.Errorf("llamacpp: health: %w", err)
	}
	if p.key != "" {
		req.Header.Set("Authorization", "Bearer "+p.key)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return llm.TransportError(p.Name(), err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusServiceUnavailable:
		return &llm.Error{Provider: p.Name(), Status: resp.StatusCode, Kind: llm.KindOverloaded, Message: "model still loading"}
	}
	return &llm.Error{Provider: p.Name(), Status: resp.StatusCode, Kind: llm.KindForStatus(resp.StatusCode), Message: "health check failed"}
}
