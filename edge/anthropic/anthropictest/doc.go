// Package anthropictest is an in-process fake of Anthropic's Messages API
// for edgeway's tests: the anthropic client tests, the gateway's
// Anthropic-dialect round trips and the SDK e2e tests.
//
// It serves, on a loopback port only:
//
//	POST /v1/messages               a message object, or the SSE event sequence
//	                                message_start, content_block_start/delta/stop
//	                                per block, message_delta, message_stop
//	                                (with ping events), honouring max_tokens,
//	                                stop_sequences and tools
//	POST /v1/messages/count_tokens  {"input_tokens": n}
//	GET  /v1/models                 Options.Models, paginated by limit/after_id
//	GET  /v1/models/{id}            one model, or 404 not_found_error
//
// Anything else is 404 in Anthropic's error shape. Every answer carries a
// request-id header; successful ones anthropic-ratelimit-* headers too.
// Requests must carry anthropic-version and, when Options.APIKey is set,
// the key as x-api-key or as "Authorization: Bearer" (current SDKs send
// either). Bodies are validated the way Anthropic validates them,
// unknown fields included, so a client sending what the real API would
// refuse fails here too.
//
// Role "system" turns in messages (mid-conversation system messages) are
// accepted only with "anthropic-beta: mid-conversation-system-2026-04-07"
// and where Anthropic's placement rules allow them. A streamed thinking
// block ends with a signature_delta (Options.Signature); a
// redacted_thinking block (Options.RedactedThinking) comes whole in its
// content_block_start. LastRequest and LastHeader give the last messages
// request exactly as it arrived, LastCount the last count_tokens one.
//
// The wire format is written from Anthropic's API reference independently
// of package edge/anthropic, so tests through both check one against the
// other.
//
// # Deterministic numbers
//
// The reply is split into word pieces (each keeping its leading
// whitespace), or into Options.Chunks pieces; a tool call's input into
// Options.Chunks (default 4) pieces streamed as input_json_delta events.
// output_tokens is the number of pieces sent; input_tokens the number of
// words (runs of non-whitespace) in the system prompt and the text of all
// messages; max_tokens below the piece count sends only that many pieces
// with stop_reason max_tokens; a stop sequence found in the reply cuts it
// there with stop_reason stop_sequence.
//
// # Faults
//
// SetMode and SetModeN inject the faults listed with Mode. They apply to
// messages and count_tokens, never to /v1/models (except Refuse).
// Aborted counts requests whose client went away before the answer
// finished, which lets a test assert that a cancellation reached the
// upstream.
package anthropictest
