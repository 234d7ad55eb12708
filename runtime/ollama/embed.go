package ollama

import (
	"context"
	"net/http"

	"github.com/ollama/ollama/api"

	"github.com/edgeway/edgeway/edge/llm"
)

// Embed computes one vector per input with /api/embed, in one request.
// Ollama truncates inputs longer than the model's context rather than
// failing; Dimensions shortens the vectors on models that allow it.
func (p *Provider) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	if req.Model == "" {
		return nil, llm.Errorf(p.name, llm.KindBadRequest, "embed: model is required")
	}
	if len(req.Input) == 0 {
		return nil, llm.Errorf(p.name, llm.KindBadRequest, "embed: no input")
	}
	in := api.EmbedRequest{Model: req.Model, Input: req.Input, KeepAlive: p.keepAlive, Options: p.options}
	if req.Dimensions != nil {
		if *req.Dimensions <= 0 {
			return nil, llm.Errorf(p.name, llm.KindBadRequest, "embed: dimensions %d: want a positive number", *req.Dimensions)
		}
		in.Dimensions = *req.Dimensions
	}
	var out api.EmbedResponse
	if err := p.doJSON(ctx, "embed", http.MethodPost, p.embedURL, &in, &out); err != nil {
		return nil, err
	}
	if len(out.Embeddings) != len(req.Input) {
		return nil, llm.Errorf(p.name, llm.KindServer, "embed: %d vectors for %d inputs", len(out.Embeddings), len(req.Input))
	}
	n := max(out.PromptEvalCount, 0)
	return &llm.EmbedResponse{
		Model:   out.Model,
		Vectors: out.Embeddings,
		Usage:   llm.Usage{PromptTokens: n, TotalTokens: n},
	}, nil
}
