// Package upstream is the one client frame of edgeway's HTTP providers
// (openai, anthropic, gemini) and the transport under it.
//
// Client holds everything a provider does not own: options validation and
// defaults, auth and extra headers, sending, bounded reads, Ping, and the
// mapping of every failure to an *llm.Error (status to kind, Retry-After,
// stream cuts, malformed answers), with credentials redacted from any
// upstream text that comes back. Client.Chat is the one chat exchange:
// send, then a JSON answer whole or an SSE stream event by event into the
// provider's ChatDecoder. A provider package supplies only its wire
// mapping (with the body and decode helpers here for the pieces every
// provider writes and reads alike) and two hooks: an ErrorParser for its
// error bodies and a ResetDelay for its rate-limit headers.
//
// Transport implements http.RoundTripper for HTTP/1.1 on fasthttp's
// connection pool and wire code, and does every read and write in the
// caller's goroutine.
//
// net/http's Transport hands each request to two goroutines per connection
// (a reader and a writer). On a quiet 2-core board those handoffs, each a
// wake-up of a parked thread, cost more latency than the proxying itself
// (measured: ~230 µs added at one connection, against ~40 µs for a plain
// fasthttp proxy). Here a request costs no goroutine at all; cancellation,
// which fasthttp's own client lacks, comes from context.AfterFunc setting a
// past deadline on the request's connection, which aborts a blocked read or
// write at once. Clients keep net/http's types, so a provider's code does
// not change, and requests that must go through an HTTP proxy (the
// HTTP(S)_PROXY environment) are handed to net/http, which does that right.
package upstream
