// Package wire holds the byte-level codecs that every dialect package of
// edgeway speaks: a pull parser for JSON documents held in memory (Reader),
// appenders that write JSON strings and numbers without allocating
// (AppendString, AppendFloat), and a bounded reader of Server-Sent Events
// (SSEReader). The dialect packages (edge/openai, edge/anthropic,
// edge/gemini, edge/ollamaapi) build their request decoders, stream parsers
// and encoders on it, so a fix to escaping or to SSE framing lands in all of
// them at once.
//
// It is internal because its API is shaped by those decoders' needs (a
// cursor to Peek, Rewind and Fail at, byte slices that alias a scratch
// buffer until the next call) rather than for general use, and because
// edge/llm must stay free of wire code. Nothing outside edge/ should depend
// on it; it may change whenever its callers do.
//
// Nothing here panics on bad input, every buffer is bounded by the caller's
// document or by the SSE reader's max, and the hot paths (reading a string
// without escapes, appending a string, reading the next event) do not
// allocate once their buffers have grown.
package wire
