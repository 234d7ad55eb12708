package gemini

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
)

// Defaults for Options fields left zero; the rest are upstream's
// (upstream.DefaultTimeout, ...).
const (
	// DefaultName is the provider name when Options.Name is empty.
	DefaultName = "gemini"
	// DefaultBaseURL is Google's Generative Language API root.
	DefaultBaseURL = "https://generativelanguage.googleapis.com/v1beta"
	// MaxEmbedBatch is how many inputs go in one batchEmbedContents call;
	// the API refuses more than 100. Embed splits larger requests.
	MaxEmbedBatch = 100
	// maxModelPages bounds how many pages of the model list Models reads.
	maxModelPages = 10
	// modelPageSize is the page size Models asks for (the API's maximum).
	modelPageSize = 1000
)

// Options configure a Client: the Endpoint (the key goes as
// x-goog-api-key, never in the URL, where logs would keep it). Zero values
// take the named defaults; zero never means unlimited.
type Options struct {
	upstream.Endpoint
}

// Client is an llm.Provider (and Embedder, ModelLister, Pinger) for the
// Gemini API. It is safe for concurrent use.
type Client struct {
	up *upstream.Client
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
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
		if o.APIKey == "" {
			errs = append(errs, errors.New("APIKey is required for "+DefaultBaseURL))
		}
	}
	up, err := upstream.NewClient(DefaultName, upstream.ClientOptions{
		Endpoint: o.Endpoint, Auth: upstream.GoogAPIKeyAuth,
		ParseError: parseError,
	}, errs...)
	if err != nil {
		return nil, err
	}
	return &Client{up: up}, nil
}

// Name returns the configured provider name.
func (c *Client) Name() string { return c.up.Name() }

// CloseIdleConnections closes pooled upstream connections, for shutdown.
func (c *Client) CloseIdleConnections() { c.up.CloseIdleConnections() }

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

// Chat streams the completion of req from
// {base}/models/{model}:streamGenerateContent?alt=sse to emit, passing each
// chunk on as it arrives and reusing one llm.Chunk (see
// upstream.Client.Chat).
func (c *Client) Chat(ctx context.Context, req *llm.ChatRequest, emit func(*llm.Chunk) error) (llm.Usage, error) {
	path, err := modelPath(req.Model)
	if err != nil {
		return llm.Usage{}, c.up.BadRequest("chat", err)
	}
	body, err := appendGenerateRequest(make([]byte, 0, 1024), req)
	if err != nil {
		return llm.Usage{}, c.up.BadRequest("chat", err)
	}
	s := chatStream{c: c}
	err = c.up.Chat(ctx, path+":streamGenerateContent?alt=sse", body, true, &s, emit)
	return s.usage, err
}

// Embed computes embeddings of req.Input, one vector per input in order,
// with batchEmbedContents calls of at most MaxEmbedBatch inputs each.
// Dimensions becomes outputDimensionality. The API reports no token
// counts for embeddings, so Usage stays zero.
func (c *Client) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	bad := func(err error) error { return c.up.BadRequest("embed", err) }
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
	ctx, cancel := c.up.WithTimeout(ctx)
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
	var w struct {
		Embeddings []struct {
			Values []float32 `json:"values"`
		} `json:"embeddings"`
	}
	if err := c.up.JSON(ctx, "embed", path+":batchEmbedContents", body, &w); err != nil {
		return nil, err
	}
	if len(w.Embeddings) != n {
		return nil, c.up.Malformed("embed", fmt.Errorf("%d vectors for %d inputs", len(w.Embeddings), n))
	}
	out := make([][]float32, n)
	for i := range w.Embeddings {
		if len(w.Embeddings[i].Values) == 0 {
			return nil, c.up.Malformed("embed", fmt.Errorf("embeddings[%d] is empty", i))
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
		dst = upstream.AppendIntField(dst, "outputDimensionality", dims)
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
	ctx, cancel := c.up.WithTimeout(ctx)
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
	var w struct {
		Models []struct {
			Name    string   `json:"name"`
			Methods []string `json:"supportedGenerationMethods"`
		} `json:"models"`
		NextPageToken string `json:"nextPageToken"`
	}
	if err := c.up.JSON(ctx, "models", path, nil, &w); err != nil {
		return nil, "", err
	}
	out := make([]llm.Model, 0, len(w.Models))
	for _, m := range w.Models {
		id := strings.TrimPrefix(m.Name, "models/")
		if id == "" || !useful(m.Methods) {
			continue
		}
		out = append(out, llm.Model{ID: id, Provider: c.up.Name(), OwnedBy: "google"})
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
// {base}/models?pageSize=1, which spends no tokens (see
// upstream.Client.Ping).
func (c *Client) Ping(ctx context.Context) error { return c.up.Ping(ctx, "/models?pageSize=1") }
