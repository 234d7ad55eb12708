// Package anthropic speaks Anthropic's Messages API for edgeway, in both
// directions.
//
// Ingress: DecodeMessagesRequest and DecodeCountTokensRequest turn the
// bodies of POST /v1/messages and /v1/messages/count_tokens into an
// llm.ChatRequest, validating them the way Anthropic does and naming the
// offending field in every error, an *ingress.Error from the decoding
// frame the ingress dialects share ("messages.1.content.0.type: Field
// required"). AppendMessageResponse renders a whole message;
// StreamEncoder renders Anthropic's exact SSE event sequence from
// canonical chunks, without allocating per text chunk; AppendError,
// AppendStreamError and ErrorType render failures in Anthropic's shape.
// CountTokens is an estimate for when no upstream can count.
//
// Upstream: Client is an llm.Provider (and ModelLister and Pinger) for
// api.anthropic.com and anything speaking its wire format. It always
// streams, parses SSE with its own bounded reader, and maps every failure
// to an *llm.Error whose Kind drives failover (529 overloaded_error is
// KindOverloaded, "prompt is too long" KindContextLength, a 429 carries
// the wait its retry-after or anthropic-ratelimit-*-reset headers ask
// for).
//
// What does not cross: canonical requests have no thinking
// configuration, prompt-cache breakpoints, documents, server tools or MCP
// servers, so ingress ignores the first two and refuses the rest by
// name; thinking blocks in history are dropped, since no other upstream
// can verify their signatures. Upstream, OpenAI's json_object mode has no
// Anthropic equivalent and is dropped, while json_schema becomes
// output_config.format (structured outputs).
//
// JSON is read by the small pull parser of edge/internal/wire
// (wire.Reader) for the same reasons as in edge/openai: field-naming
// errors and no reflection per streamed event. The SSE reader and the
// JSON string writer come from there too.
package anthropic
