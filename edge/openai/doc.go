// Package openai speaks OpenAI's wire dialect for edgeway, in both
// directions.
//
// Ingress: DecodeChatRequest and DecodeEmbedRequest turn the bodies of
// /v1/chat/completions and /v1/embeddings into llm requests, validating
// them the way OpenAI does and naming the offending field in every error
// (an *ingress.Error carrying one of the Code constants, read with the
// frame the three ingress dialects share, edge/internal/ingress). The
// Append functions render responses, stream chunks and
// errors into caller-owned buffers without reflection; AppendStreamChunk
// does not allocate.
//
// Upstream: Client is an llm.Provider (and Embedder, ModelLister, Pinger)
// for OpenAI and every OpenAI-compatible API: Mistral, Groq, DeepSeek,
// OpenRouter, vLLM, LM Studio, llama-server. It always streams, parses SSE
// with a bounded reader (wire.SSEReader), and maps every upstream failure to an
// *llm.Error whose Kind drives failover.
//
// JSON is read by a small pull parser (wire.Reader, shared by the dialect
// packages through edge/internal/wire) rather than
// encoding/json, for two reasons: request errors must name the field and
// byte offset ("messages[2].content must be ..."), and the stream parser
// runs once per token, where reflection and per-field allocation show.
// Everything that is not on a hot path (error bodies, embeddings, model
// lists) uses encoding/json.
package openai
