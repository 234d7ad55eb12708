package ollama

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/ollama/ollama/api"

	"github.com/edgeway/edgeway/edge/llm"
)

// maxProgressLineBytes bounds one line of a pull's progress stream; Ollama
// sends a status, a digest and two counters per line.
const maxProgressLineBytes = 64 << 10

// Pull asks Ollama to download model (/api/pull, streamed), calling
// progress with each progress line as Ollama sent it (one JSON object,
// without the newline; valid only during the call). An {"error":...} line
// ends the pull as an *llm.Error without reaching progress, as does a
// failure status. A download runs for minutes, so the whole-request
// timeout that bounds chat does not apply: ctx bounds it.
func (p *Provider) Pull(ctx context.Context, model string, insecure bool, progress func(line []byte) error) error {
	stream := true
	body, err := json.Marshal(api.PullRequest{Model: model, Insecure: insecure, Stream: &stream})
	if err != nil {
		return llm.Errorf(p.name, llm.KindBadRequest, "pull: encode request: %w", err)
	}
	// The same Provider over a client without the whole-request timeout.
	q := *p
	q.client = &http.Client{Transport: p.client.Transport}
	resp, err := q.send(ctx, "pull", http.MethodPost, p.apiURL("api/pull"), body, "application/x-ndjson")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	lr := newLineReader(resp.Body, maxProgressLineBytes)
	for {
		line, err := lr.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return p.transportError(ctx, "pull", err)
		}
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(line, &e) == nil && e.Error != "" {
			return p.streamError(e.Error)
		}
		if err := progress(line); err != nil {
			return err
		}
	}
}

// Delete removes model from Ollama's store (/api/delete).
func (p *Provider) Delete(ctx context.Context, model string) error {
	return p.manage(ctx, "delete", http.MethodDelete, "api/delete", api.DeleteRequest{Model: model})
}

// Copy copies model src to the name dst in Ollama's store (/api/copy).
func (p *Provider) Copy(ctx context.Context, src, dst string) error {
	return p.manage(ctx, "copy", http.MethodPost, "api/copy", api.CopyRequest{Source: src, Destination: dst})
}

// manage sends one of Ollama's model-store requests, whose success is a
// 200 with no body worth reading.
func (p *Provider) manage(ctx context.Context, op, method, path string, in any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return llm.Errorf(p.name, llm.KindBadRequest, "%s: encode request: %w", op, err)
	}
	resp, err := p.send(ctx, op, method, p.apiURL(path), body, "application/json")
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBodyBytes))
	return resp.Body.Close()
}
