package anthropic

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
)

// Defaults for Options fields left zero; the rest are upstream's
// (upstream.DefaultTimeout, ...).
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
	// maxModelPages bounds how many pages of /v1/models Models follows.
	maxModelPages = 10
	// modelPageSize is the page size Models asks for (Anthropic's
	// maximum).
	modelPageSize = 1000
)

// Options configure a Client: the Endpoint (the key goes as x-api-key)
// and the Messages API's own settings. Zero values take the named
// defaults; zero never means unlimited.
type Options struct {
	upstream.Endpoint

	// Version is the anthropic-version header (DefaultVersion when empty).
	Version string
	// DefaultMaxTokens is max_tokens for requests that set none
	// (DefaultMaxTokens when zero).
	DefaultMaxTokens int
}

// Client is an llm.Provider (and ModelLister and Pinger) for Anthropic's
// Messages API. Anthropic has no embeddings endpoint, so it is not an
// Embedder. It is safe for concurrent use.
type Client struct {
	up   *upstream.Client
	wire wireOptions
}

var (
	_ llm.Provider    = (*Client)(nil)
	_ llm.ModelLister = (*Client)(nil)
	_ llm.Pinger      = (*Client)(nil)
)

// New validates o and returns a Client. It reports every problem in o at
// once.
func New(o Options) (*Client, error) {
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	var errs []error
	wo := wireOptions{defaultMaxTokens: o.DefaultMaxTokens}
	switch {
	case o.DefaultMaxTokens < 0:
		errs = append(errs, fmt.Errorf("DefaultMaxTokens %d: must not be negative", o.DefaultMaxTokens))
	case o.DefaultMaxTokens == 0:
		wo.defaultMaxTokens = DefaultMaxTokens
	}
	up, err := upstream.NewClient(DefaultName, upstream.ClientOptions{
		Endpoint: o.Endpoint, Auth: upstream.XAPIKeyAuth,
		Fixed:      []upstream.FixedHeader{{Name: "anthropic-version", Value: o.Version, Option: "Version"}},
		ParseError: parseError, ResetDelay: resetDelay,
	}, errs...)
	if err != nil {
		return nil, err
	}
	return &Client{up: up, wire: wo}, nil
}

// Name returns the configured provider name.
func (c *Client) Name() string { return c.up.Name() }

// CloseIdleConnections closes pooled upstream connections, for shutdown.
func (c *Client) CloseIdleConnections() { c.up.CloseIdleConnections() }

// Chat streams the completion of req from Anthropic to emit. It always
// asks for an SSE stream and passes each chunk on as it arrives, reusing
// one llm.Chunk; the role and model ride on the first chunk that carries
// content, so an error event right after message_start still reaches
// the caller before anything was emitted (see upstream.Client.Chat). See
// appendMessagesRequest for how the request is translated.
//
// A request decoded from an Anthropic client (one with an Anthropic
// passthrough) is sent as the client wrote it, with only model and stream
// replaced, and with the client's anthropic-beta header: thinking,
// prompt-cache breakpoints, betas and fields edgeway does not know all
// reach the upstream (see appendPassthrough).
func (c *Client) Chat(ctx context.Context, req *llm.ChatRequest, emit func(*llm.Chunk) error) (llm.Usage, error) {
	var (
		body []byte
		err  error
	)
	if p := passthroughOf(req); p != nil {
		body, err = appendPassthrough(make([]byte, 0, len(p.Body)+64), p.Body, req.Model, true, systemInPlace(p))
		ctx = upstream.WithHeaders(ctx, p.Headers)
	} else {
		body, err = appendMessagesRequest(make([]byte, 0, 1024), req, c.wire)
		if req.Passthrough != nil {
			ctx = upstream.WithHeaders(ctx, req.Passthrough.Headers)
		}
	}
	if err != nil {
		return llm.Usage{}, c.up.BadRequest("chat", err)
	}
	s := msgStream{c: c}
	s.wire.reset()
	err = c.up.Chat(ctx, "/messages", body, true, &s, emit)
	return s.usage, err
}

// CountTokens asks the upstream's /messages/count_tokens how many input
// tokens req holds. req must carry an Anthropic passthrough (a
// count_tokens body from an Anthropic client), which is sent with only
// its model replaced.
func (c *Client) CountTokens(ctx context.Context, req *llm.ChatRequest) (int, error) {
	p := passthroughOf(req)
	if p == nil {
		return 0, c.up.BadRequest("count_tokens", errors.New("count_tokens needs an Anthropic request body"))
	}
	body, err := appendPassthrough(make([]byte, 0, len(p.Body)+64), p.Body, req.Model, false, systemInPlace(p))
	if err != nil {
		return 0, c.up.BadRequest("count_tokens", err)
	}
	var out struct {
		InputTokens *int `json:"input_tokens"`
	}
	if err := c.up.JSON(upstream.WithHeaders(ctx, p.Headers), "count_tokens", "/messages/count_tokens", body, &out); err != nil {
		return 0, err
	}
	if out.InputTokens == nil || *out.InputTokens < 0 {
		return 0, c.up.Malformed("count_tokens", errors.New("answer has no input_tokens"))
	}
	return *out.InputTokens, nil
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
	ctx, cancel := c.up.WithTimeout(ctx)
	defer cancel()
	var out []llm.Model
	after := ""
	for page := 0; page < maxModelPages; page++ {
		q := url.Values{"limit": {fmt.Sprint(modelPageSize)}}
		if after != "" {
			q.Set("after_id", after)
		}
		var w wireModels
		if err := c.up.JSON(ctx, "models", "/models?"+q.Encode(), nil, &w); err != nil {
			return nil, err
		}
		for _, m := range w.Data {
			if m.ID == "" {
				continue
			}
			mm := llm.Model{ID: m.ID, Provider: c.up.Name(), OwnedBy: "anthropic"}
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

// Ping checks that the upstream answers HTTP at all, with a GET of
// {base}/models?limit=1 that spends no tokens (see upstream.Client.Ping).
func (c *Client) Ping(ctx context.Context) error { return c.up.Ping(ctx, "/models?limit=1") }
