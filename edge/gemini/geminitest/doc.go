// Package geminitest is an in-process fake of Google's Gemini API (the
// Generative Language API v1beta) for edgeway's tests. It is written from
// Google's REST reference independently of package edge/gemini, so tests
// through both check one against the other.
//
// It serves, on a loopback port only, under /v1beta (and /v1):
//
//	POST models/{model}:streamGenerateContent  with ?alt=sse: one SSE event
//	                                           ("data: {...}\r\n\r\n") per reply
//	                                           piece; without it, a JSON array
//	POST models/{model}:generateContent        one GenerateContentResponse
//	POST models/{model}:batchEmbedContents     deterministic vectors, at most
//	                                           100 requests of the URL's model
//	POST models/{model}:embedContent           one vector
//	GET  models                                pageSize / pageToken paging
//	GET  models/{model}                        one model, or 404 NOT_FOUND
//
// Errors use Google's envelope {"error":{"code","message","status",
// "details"}}. With Options.APIKey set, the key must come in
// x-goog-api-key or ?key=. Request bodies are decoded with unknown fields
// refused and checked the way the real API checks them (roles, one datum
// per part, base64, function names, OBJECT schemas with properties,
// string formats, functionCallingConfig), so a client bug that Gemini
// would answer with 400 gets 400 here too.
//
// # Deterministic numbers
//
// The reply is split into word pieces (each keeping its leading
// whitespace), or into Options.Chunks pieces. Each piece is one completion
// token; promptTokenCount is the number of words in the text parts of the
// contents and system instruction; maxOutputTokens below the piece count
// sends that many pieces with finishReason MAX_TOKENS. Usage is cumulative
// on every event. A declared function (with Options.FunctionCall set) is
// answered with that call, a thoughtSignature and finishReason STOP.
// Embeddings are Vector(text, dims).
//
// # Faults
//
// SetMode and SetModeN inject the faults listed with Mode. They apply to
// the generate and embed methods, never to the model list, so health
// probes do not consume SetModeN budgets. Aborted counts requests whose
// client went away before the answer finished, which lets a test assert
// that a cancellation reached the upstream.
package geminitest
