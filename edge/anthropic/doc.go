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
// CountTokens is an estimate for when no upstream can count;
// Client.CountTokens asks the upstream.
//
// Upstream: Client is an llm.Provider (and ModelLister and Pinger) for
// api.anthropic.com and anything speaking its wire format. It always
// streams, parses SSE with its own bounded reader, and maps every failure
// to an *llm.Error whose Kind drives failover (529 overloaded_error is
// KindOverloaded, "prompt is too long" KindContextLength, a 429 carries
// the wait its retry-after or anthropic-ratelimit-*-reset headers ask
// for).
//
// Same dialect on both sides loses nothing: the decoder keeps the
// client's body in llm.ChatRequest.Passthrough (with its anthropic-beta
// header, which the server adds), and Client sends that body as it came,
// with only model (the upstream's name) and stream replaced: thinking
// (adaptive included), thinking and redacted_thinking blocks in history,
// every cache_control, output_config, context_management, metadata,
// service_tier and fields newer than this package all reach Anthropic.
// The answer keeps what Anthropic sends: a thinking block's signature
// (signature_delta) and a redacted_thinking block ride on llm.Chunk
// (Signature, RedactedReasoning) and are rendered back, streamed and
// whole (llm.Aggregate.ReasoningBlocks); message_start's usage, cache
// tokens included, rides on the first chunk. Why a passthrough rather than
// a canonical field per feature: Anthropic adds request fields every
// month, each meaningless to other upstreams, and a client of the same
// dialect expects every one to work; the canonical form stays the common
// ground, and the passthrough is dropped (the canonical fields are sent)
// when something rewrote the canonical messages, as PII redaction does.
//
// A role "system" turn in messages (a mid-conversation system message,
// which Claude Code sends) is a RoleSystem message in place. Upstream it
// stands in place when the client's anthropic-beta carries
// mid-conversation-system, and is otherwise folded into the user turn
// next to it as a <system-reminder> text block; the leading system
// messages become the top-level system.
//
// Across dialects, Passthrough.Dropped names what the canonical form does
// not carry (thinking, cache_control, anthropic-beta, output_config.effort,
// unknown fields, ...); the server reports it in x-edgeway-dropped when
// another dialect's upstream served. Documents, server tools and MCP
// servers are refused by name, since no other upstream could run them.
// Upstream, OpenAI's json_object mode has no Anthropic equivalent and is
// dropped, while json_schema becomes output_config.format (structured
// outputs).
//
// JSON is read by the small pull parser of edge/internal/wire
// (wire.Reader) for the same reasons as in edge/openai: field-naming
// errors and no reflection per streamed event. The SSE reader and the
// JSON string writer come from there too.
package anthropic
