// Package ollamaapi speaks Ollama's native API (/api/chat, /api/generate,
// /api/embed, /api/embeddings, /api/tags, /api/show, /api/version) on
// edgeway's ingress, so an app written against Ollama can point at edgeway
// and gain its cache and failover to other runtimes and clouds. The
// upstream direction (edgeway calling a real Ollama) is runtime/ollama;
// the two map fields the same way.
//
// # Decoding
//
// The Decode functions turn request bodies into llm requests. They read
// JSON with the decoding frame the ingress dialects share
// (edge/internal/ingress, on wire.Reader) rather than encoding/json and
// the ollama/api types, because every error must name the offending field
// ("messages[2].images[0] is not valid base64") and because decoding
// base64 images into bytes only to encode them again would cost a
// Raspberry Pi the size of every image twice. Errors are *ingress.Error,
// rendered in Ollama's shape {"error":"…"} by AppendError.
// Unknown fields are ignored, as Ollama ignores them.
//
// The mapping onto llm.ChatRequest:
//
//   - messages: role (any case, as Ollama lowercases it) is system, user,
//     assistant or tool; content is a text part; images (base64) become
//     image parts holding data: URLs whose media type is sniffed from the
//     bytes (PNG, JPEG, GIF, WebP; anything else is refused). An
//     assistant's tool_calls become llm.ToolCalls with the arguments
//     object as JSON text; a call without an id gets "call_<n>", n being
//     its position among the request's calls, so the same conversation
//     always yields the same canonical request (and cache key).
//   - Tool results: Ollama links a result to its call by tool_name only,
//     while every other dialect needs the call's id. A result's
//     tool_call_id is used when sent; otherwise it answers the first
//     unanswered call of that tool_name (of any name when tool_name is
//     empty), latest assistant turn first. tool_name is kept as the
//     message's Name. A result no call matches gets an id of its own, so
//     the request still serves where Ollama would serve it.
//   - An assistant message's thinking is dropped: no upstream wants its
//     earlier reasoning back.
//   - tools (type "function") map one to one. format "json" is response
//     format json_object; a JSON schema object is json_schema named
//     "response".
//   - options: temperature, top_p, top_k, num_predict, stop, seed,
//     presence_penalty and frequency_penalty map to their canonical
//     fields. Values only Ollama's runtime gives a meaning are mapped to
//     that meaning: num_predict ≤ 0 (-1 "no limit", -2 "fill the
//     context") sets no limit, seed -1 ("random") sets none, a negative
//     temperature is 0 (greedy), top_p is clamped to [0, 1] and top_k
//     below 0 is 0 (off).
//
// What is dropped, and why not kept in llm.ChatRequest.Extra: Extra is
// forwarded verbatim by OpenAI-wire providers, and OpenAI refuses unknown
// fields, so a request that failed over from the local runtime to a cloud
// would fail for a field the client never expected to matter. Ollama's
// other options (num_ctx, num_thread, num_gpu, min_p, repeat_penalty, ...)
// are the local runtime's tuning, which edgeway configures per provider
// (and a per-request num_ctx would make Ollama reload the model);
// keep_alive is likewise the provider's. think (true, false, "high",
// "medium", "low"), truncate, shift, logprobs and top_logprobs are
// type-checked and dropped: the canonical request has no reasoning or
// log-probability control yet. Reasoning a model produces still reaches
// the client, as "thinking".
//
// A chat with no messages, a generate with an empty prompt and an embed
// with no input are Ollama's "load the model" requests. They decode
// without error into a request with no messages (no input), and the
// caller answers them with the encoder's Load (or an empty embeddings
// answer) instead of calling a provider.
//
// # Encoding
//
// ChatEncoder and GenerateEncoder render responses as Ollama emits them:
// NDJSON lines ending in "\n", the last with done:true, done_reason and
// durations in nanoseconds; Whole renders the non-streaming object. They
// buffer streamed tool-call fragments until a call is complete, because
// Ollama sends calls whole with their arguments as an object. The Append
// functions render the other answers. Everything appends to a
// caller-owned buffer without reflection; a text chunk costs no
// allocation.
package ollamaapi
