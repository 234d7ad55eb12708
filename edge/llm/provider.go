package llm

import "context"

// Provider is an upstream that completes chats: a local runtime, a cloud API,
// or the router in front of them.
type Provider interface {
	// Name is the configured provider name ("ollama", "openai", ...).
	Name() string
	// Chat streams the completion of req to emit and returns the usage the
	// upstream reported (zero when it reported none). The *Chunk passed to
	// emit is valid only during that call. If emit returns an error, Chat
	// stops and returns it. Non-streaming clients are served by aggregating
	// chunks (see Aggregate).
	//
	// Errors from the upstream are *Error with a Kind; errors returned by
	// emit are passed through unchanged so callers can tell them apart.
	Chat(ctx context.Context, req *ChatRequest, emit func(*Chunk) error) (Usage, error)
}

// Embedder is implemented by providers that compute embeddings.
type Embedder interface {
	Embed(ctx context.Context, req *EmbedRequest) (*EmbedResponse, error)
}

// ModelLister is implemented by providers that can list their models. IDs
// are the upstream's own names, without the provider prefix.
type ModelLister interface {
	Models(ctx context.Context) ([]Model, error)
}

// Pinger is implemented by providers with a cheap reachability check, used
// by the router's connectivity probe. Ping must not spend tokens.
type Pinger interface {
	Ping(ctx context.Context) error
}
