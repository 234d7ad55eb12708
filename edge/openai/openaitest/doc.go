// Package openaitest is an in-process fake of the OpenAI API (and of the
// OpenAI-compatible servers that copy it) for edgeway's tests, the SDK e2e
// tests, the benchmark and the ARM smoke test.
//
// It serves, on a loopback port only:
//
//	POST /v1/chat/completions  chat.completion JSON, or SSE chat.completion.chunk
//	                           events ending with "data: [DONE]", honouring
//	                           stream_options.include_usage, tools and max_tokens
//	POST /v1/embeddings        input as a string, strings, or token arrays;
//	                           encoding_format float or base64; dimensions
//	GET  /v1/models            the Options.Models list
//	GET  /v1/models/{id}       one model, or 404 model_not_found
//
// The same paths without the /v1 prefix are served too, for clients whose
// base URL omits it. Anything else is 404 in OpenAI's error shape. Every answer carries
// x-request-id, openai-version, openai-processing-ms and the
// x-ratelimit-* headers; 429 adds retry-after.
//
// The wire format is written from OpenAI's API reference independently of
// package edge/openai, so tests through both check one against the other.
//
// # Deterministic numbers
//
// The reply is split into word pieces (each keeping its leading
// whitespace), or into Options.Chunks pieces. Then:
//
//   - completion_tokens is the number of pieces sent (content pieces, or
//     tool-argument pieces for a tool call), also when not streaming;
//   - prompt_tokens is the number of words (runs of non-whitespace, ASCII
//     whitespace separating) in the text of all messages: string contents
//     and the "text" of content parts;
//   - max_completion_tokens (or max_tokens) below the piece count sends
//     only that many pieces, with finish_reason "length";
//   - embeddings are unit vectors drawn from a generator seeded with the
//     FNV-1a hash of the input text (of the JSON array for token inputs),
//     so equal inputs give equal vectors; prompt_tokens counts words (or
//     tokens).
//
// # Faults
//
// SetMode and SetModeN inject the faults listed with Mode. They apply to
// chat completions and embeddings, never to /v1/models, so health probes do
// not consume SetModeN budgets. Aborted counts requests whose client went
// away before the answer finished, which lets a test assert that a
// cancellation reached the upstream.
package openaitest
