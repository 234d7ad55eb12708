package ollama

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
)

// maxRunning bounds the loaded models taken from one /api/ps answer; a
// device holds a handful at most.
const maxRunning = 256

// Running lists the models Ollama has loaded (/api/ps), each as the JSON
// object Ollama sent (name, model, size, digest, details, expires_at,
// size_vram, context_length), so a gateway can pass them on without
// losing a field a newer Ollama adds.
func (p *Provider) Running(ctx context.Context) ([]json.RawMessage, error) {
	var ps struct {
		Models []json.RawMessage `json:"models"`
	}
	if err := p.doJSON(ctx, "ps", http.MethodGet, p.apiURL("api/ps"), nil, &ps); err != nil {
		return nil, err
	}
	if len(ps.Models) > maxRunning {
		ps.Models = ps.Models[:maxRunning]
	}
	return ps.Models, nil
}

// apiURL is path under Ollama's base URL, derived from the tags URL that
// New sets for every Provider (a base URL's own path prefix is kept).
func (p *Provider) apiURL(path string) string {
	return strings.TrimSuffix(p.tagsURL, "api/tags") + path
}
