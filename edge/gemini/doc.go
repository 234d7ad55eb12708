// Package gemini is edgeway's provider for Google's Gemini API (the
// Generative Language API, https://generativelanguage.googleapis.com/v1beta),
// written from Google's REST reference.
//
// Client is an llm.Provider (and Embedder, ModelLister, Pinger). It sends
// the API key in the x-goog-api-key header and always streams: Chat posts
// to models/{model}:streamGenerateContent?alt=sse and turns each SSE event
// (one whole GenerateContentResponse) into an llm.Chunk as it arrives. It
// maps every upstream failure to an *llm.Error whose Kind drives failover,
// reading the google.rpc status name, ErrorInfo reason and RetryInfo delay
// of error bodies. Canceling ctx aborts the upstream request.
//
// # Canonical to Gemini
//
// System messages become systemInstruction; user turns role "user",
// assistant turns role "model"; tool results functionResponse parts in a
// "user" turn, named after the tool call they answer (looked up by
// ToolCallID in the earlier assistant turns, since Gemini matches results
// by name). Consecutive turns of one role are merged. Sampling fields go in
// generationConfig; response formats become responseMimeType
// "application/json" plus a responseSchema. Tool parameter schemas and
// response schemas are rewritten from JSON Schema into the OpenAPI subset
// Gemini accepts; schema.go lists what is kept, rewritten and dropped.
//
// # Gemini to canonical
//
// Text parts are Text, thought parts Reasoning, and each functionCall one
// complete ToolCallDelta. Gemini gives calls no ids, so they are numbered
// "call_0", "call_1", ... in stream order: stable, so a cached answer is
// identical to a fresh one. finishReason STOP after function calls is
// tool_calls; the safety family (and a blocked prompt) is content_filter.
// Usage counts thinking tokens as completion tokens.
//
// # Limitations
//
//   - Images: a data: URL is sent inline; any other URL is sent as
//     fileData with a MIME type guessed from its extension. Gemini fetches
//     Files API URIs (and, on recent models, public URLs) itself and
//     refuses the rest; edgeway does not download images for it.
//   - Thought signatures: Gemini 3 wants the signature it attached to a
//     function call back with the call. The canonical ToolCall has no room
//     for it and OpenAI-style clients would not return it, so replayed calls
//     carry Google's documented placeholder ("skip_thought_signature_validator")
//     instead: accepted, at some cost to the model's reasoning continuity.
//   - Tool results are text: a result that is a JSON object is sent as the
//     response object, anything else as {"content": text}; image parts of
//     tool results are not sent.
//   - Message.Name, ParallelToolCalls, User and Extra have no Gemini field
//     and are not sent.
//   - Embeddings carry no token counts: the API reports none.
package gemini
