package upstream

import (
	"context"
	"net/http"

	"github.com/edgeway/edgeway/edge/llm"
)

// headersKey marks a context carrying a client's headers for the upstream.
type headersKey struct{}

// WithHeaders returns ctx carrying headers that requests made with it also
// send: a client's own headers an upstream of its dialect understands
// (anthropic-beta), which a provider forwards with its passthrough. They
// ride on the context because they belong to one call, not to the
// Client. A header the Client sets itself (the key, anthropic-version,
// Accept, Content-Type), any header that looks like a credential, and
// malformed ones are never taken from here.
func WithHeaders(ctx context.Context, h []llm.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	return context.WithValue(ctx, headersKey{}, h)
}

// addHeaders adds the headers ctx carries (see WithHeaders) to h.
func addHeaders(ctx context.Context, h http.Header) {
	extra, _ := ctx.Value(headersKey{}).([]llm.Header)
	if len(extra) == 0 {
		return
	}
	// The Client's own headers are h's before anything is added; a
	// client may send one of its own several times.
	own := make(map[string]bool, len(h))
	for k := range h {
		own[k] = true
	}
	for _, x := range extra {
		k := http.CanonicalHeaderKey(x.Name)
		if own[k] || CredentialHeader(k) || !ValidHeaderName(k) || !ValidHeaderValue(x.Value) {
			continue
		}
		h.Add(k, x.Value)
	}
}
