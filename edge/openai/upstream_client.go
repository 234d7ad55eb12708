package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
)

// DefaultName is the provider name when Options.Name is empty.
const DefaultName = "openai"

// Options configure a Client: the Endpoint (the key goes as
// "Authorization: Bearer"; none is sent when it is empty, for local
// servers) and the quirks of some compatible servers. Zero values take
// upstream's defaults; zero never means unlimited.
type Options struct {
	upstream.Endpoint

	// NoStreamOptions leaves out stream_options, which some compatible
	// servers reject; usage is then whatever the server sends unasked.
	NoStreamOptions bool
	// MaxTokensField is the request field carrying the token limit:
	// "max_tokens" (the default, understood by every compatible server)
	// or "max_completion_tokens" (required by OpenAI's reasoning models).
	MaxTokensField string
	// Responses speaks the Responses API (POST /responses) instead of
	// Chat Completions, for models served only there.
	Responses bool
}

// Client is an llm.Provider (and Embedder, ModelLister, Pinger) for OpenAI
// and every API speaking its wire format. It is safe for concurrent use.
type Client struct {
	up        *upstream.Client
	wire      wireOptions
	responses bool
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
	switch o.MaxTokensField {
	case "", "max_tokens", "max_completion_tokens":
	default:
		errs = append(errs, fmt.Errorf("MaxTokensField %q: must be max_tokens or max_completion_tokens", o.MaxTokensField))
	}
	up, err := upstream.NewClient(DefaultName, upstream.ClientOptions{
		Endpoint: o.Endpoint, Auth: upstream.BearerAuth,
		ParseError: parseError, ResetDelay: resetDelay,
	}, errs...)
	if err != nil {
		return nil, err
	}
	return &Client{up: up, wire: wireOptions{maxTokensField: o.MaxTokensField, noStreamOptions: o.NoStreamOptions}, responses: o.Responses}, nil
}

// Name returns the configured provider name.
func (c *Client) Name() string { return c.up.Name() }

// CloseIdleConnections closes pooled upstream connections, for shutdown.
func (c *Client) CloseIdleConnections() { c.up.CloseIdleConnections() }

// Chat streams the completion of req from the upstream to emit. For a
// streaming request it asks for an SSE stream (with usage, unless
// NoStreamOptions) and passes each chunk on as it arrives, reusing one
// llm.Chunk; otherwise it asks for one JSON answer and emits it whole
// (see upstream.Client.Chat).
func (c *Client) Chat(ctx context.Context, req *llm.ChatRequest, emit func(*llm.Chunk) error) (llm.Usage, error) {
	if c.responses {
		body, err := appendResponsesRequest(make([]byte, 0, 1024), req)
		if err != nil {
			return llm.Usage{}, c.up.BadRequest("responses", err)
		}
		s := responsesStream{c: c}
		err = c.up.Chat(ctx, "/responses", body, req.Stream, &s, emit)
		return s.usage, err
	}
	body, err := appendChatRequest(make([]byte, 0, 1024), req, c.wire)
	if err != nil {
		return llm.Usage{}, c.up.BadRequest("chat", err)
	}
	s := chatStream{c: c}
	err = c.up.Chat(ctx, "/chat/completions", body, req.Stream, &s, emit)
	return s.usage, err
}

// Embed computes embeddings of req.Input, one vector per input in order.
func (c *Client) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	if len(req.Input) == 0 {
		return nil, c.up.BadRequest("embed", errors.New("no input"))
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
	if err := c.up.JSON(ctx, "embed", "/embeddings", appendEmbedRequest(nil, req), &w); err != nil {
		return nil, err
	}
	if len(w.Data) != len(req.Input) {
		return nil, c.up.Malformed("embed", fmt.Errorf("%d vectors for %d inputs", len(w.Data), len(req.Input)))
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
			return nil, c.up.Malformed("embed", fmt.Errorf("bad or repeated index %d", at))
		}
		v, err := decodeVector(d.Embedding)
		if err != nil {
			return nil, c.up.Malformed("embed", fmt.Errorf("data[%d].embedding: %w", i, err))
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
	var w struct {
		Data []struct {
			ID      string `json:"id"`
			Created int64  `json:"created"`
			OwnedBy string `json:"owned_by"`
		} `json:"data"`
	}
	if err := c.up.JSON(ctx, "models", "/models", nil, &w); err != nil {
		return nil, err
	}
	out := make([]llm.Model, 0, len(w.Data))
	for _, m := range w.Data {
		if m.ID == "" {
			continue
		}
		mm := llm.Model{ID: m.ID, Provider: c.up.Name(), OwnedBy: m.OwnedBy}
		if m.Created > 0 {
			mm.Created = time.Unix(m.Created, 0).UTC()
		}
		out = append(out, mm)
	}
	return out, nil
}

// Ping checks that the upstream answers HTTP at all, with a GET of
// {base}/models that spends no tokens (see upstream.Client.Ping).
func (c *Client) Ping(ctx context.Context) error { return c.up.Ping(ctx, "/models") }
