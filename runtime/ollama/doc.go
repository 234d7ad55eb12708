// Package ollama is an llm.Provider for a local Ollama server: chat over
// /api/chat, embeddings over /api/embed, the model list over /api/tags and
// a reachability check over /api/version. It also implements llm.Embedder,
// llm.ModelLister and llm.Pinger.
//
// Requests and responses use the wire types of github.com/ollama/ollama/api
// (pure Go, builds with CGO_ENABLED=0), but the HTTP exchange is done here
// rather than by api.Client, because for a gateway api.Client falls short:
// its stream reader drops read errors (a stream cut by a crash or a
// cancelled context looks like a successful, shorter answer), allocates an
// 8 MB scan buffer per request, reads error bodies without a bound and
// hides the response headers. Here every read is bounded (see the max*
// constants), a stream that ends before its "done" line is an error, and
// every upstream failure is an *llm.Error whose Kind drives failover.
//
// Chat always streams from Ollama; one llm.Chunk is emitted per NDJSON
// line that carries something. Ollama sends tool calls whole, so each
// ToolCallDelta is a complete call.
//
// Cancelling ctx (or emit failing) closes the connection, which is the
// only way to stop an Ollama generation. Ollama 0.17.4 has a known bug
// there (github.com/ollama/ollama/issues/17131): when the client leaves at
// the wrong moment, the server's streaming goroutine blocks forever on an
// unbuffered channel while holding the model's slot, and every later
// request for that model waits until Ollama restarts, while /api/version
// (Ping) still answers. With real models and a handful of cancels the odds
// are small but not zero; the router's first-token timeout is what gets
// requests past such a wedged runtime.
//
// A Provider is safe for concurrent use and holds no per-request state.
package ollama
