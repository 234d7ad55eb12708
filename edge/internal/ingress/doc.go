// Package ingress is the decoding frame the three client dialects
// (edge/openai, edge/anthropic, edge/ollamaapi) build their request
// decoders on: one error type for a client's field fault (Error), a
// Decoder that tracks the path of the field being read and reads typed
// values and string lists at it, and the pieces of a request the dialects
// share (OpenAI style function tools and calls, message slots reused
// across requests, base64 images and data: URLs).
//
// A dialect describes itself once in a Dialect: how it prints a path
// ("messages[2].content" or "messages.2.content"), how it words a field
// error ("messages[2].content must be a string" or "messages.2.content:
// Input should be a valid string"), and which error codes it names. The
// dialect package keeps only what differs: its field names, its mapping
// onto llm requests and its error body on the wire.
//
// Paths are kept as a stack of names and indexes and formatted only when
// an error names one, so a request that decodes costs no strings beyond
// the values it keeps. Objects and arrays are walked with wire.Iter loops
// rather than a callback: a closure call per member cost 5-7% on small
// requests.
package ingress
