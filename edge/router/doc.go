// Package router decides which upstream serves a request and moves the
// request on when one fails. It sees upstreams only as llm.Provider values
// (plus the optional llm.Embedder, llm.ModelLister and llm.Pinger). It is
// not itself a Provider: Route and Embed take a *Status the server reads
// afterwards (which upstream answered, the attempts, the skips), which the
// Provider contract has no place for.
//
// # Model resolution
//
// The model a client asks for resolves to an ordered list of targets
// ("provider/model"):
//
//   - an alias from Config.Aliases gives its targets, stably reordered so
//     Local upstreams come first;
//   - "provider/model", where provider is a configured upstream name, gives
//     that single target. The name is split at the first "/", so the model
//     may itself hold "/" or ":" ("ollama/llama3.2:1b",
//     "openrouter/meta-llama/llama-3-8b");
//   - any other name is bare: it goes to every Local upstream that has the
//     model, then to each cloud upstream whose Type claims the name by its
//     well-known prefix: type "openai" claims gpt-, o1, o3, o4, chatgpt- and
//     text-embedding- (except text-embedding-004); "anthropic" claims
//     claude-; "gemini" claims gemini-, gemini-embedding and
//     text-embedding-004; an "openai-compatible" upstream named "mistral"
//     (or of type "mistral") claims mistral-, ministral-, codestral-,
//     open-mistral and pixtral-. A Local upstream "has" the model when its
//     last model list (refreshed every ProbeInterval through llm.ModelLister;
//     "name" also matches "name:latest") names it, or when no list is known
//     yet, in which case a KindNotFound answer simply fails over;
//   - a name that resolves to nothing is an *UnknownModelError.
//
// # Failover
//
// Route tries the targets in order and streams the first success. Failover
// happens only before the first chunk reaches the caller; after that an
// error is returned as it is. A caller fault (llm.KindBadRequest) or
// llm.KindCanceled stops at once. llm.KindContextLength skips the remaining
// targets whose ContextLength is known and not larger than the failed
// one's. Every other kind moves on to the next target.
//
// Retries of the same target come only after every target has had its
// turn, so a local runtime that is down sends the request to the cloud at
// once. A target is retried when its failure was llm.Kind.Retryable, with
// two exceptions that retrying cannot fix: a refused or unreachable
// connection (llm.KindUnavailable with no HTTP status: the runtime is not
// running, or the network is gone) and the router's own first-token
// timeout. The wait is exponential backoff with full jitter between
// RetryBase and RetryMax; a Retry-After larger than RetryMax, or longer than
// the deadline left, drops the target instead of waiting. MaxAttempts,
// Deadline (which bounds the time to the first chunk, not the stream) and
// the caller's ctx bound every loop.
//
// # Circuit breaker
//
// Each upstream keeps a breaker per model, so a broken model does not take
// the upstream's other models down; since model names come from clients,
// at most DefaultMaxBreakers are kept per upstream, the least recently
// used (closed ones first) dropped beyond that. A breaker is closed, open
// after BreakerThreshold consecutive failures, half-open after
// BreakerCooldown, when exactly one trial request goes through; its success closes the
// circuit and its failure reopens it. Failures are the kinds that say the
// upstream is in trouble: unavailable, timeout, overloaded, server,
// unknown, and auth (refused gateway credentials do not fix themselves, so
// hammering the upstream is pointless). Answers about the request itself
// (bad request, not found, context length, unsupported) and rate limiting are neutral:
// they neither count nor reset the count, but they do close a half-open
// circuit because the upstream answered. Rate limits carry their own
// Retry-After and often last a second, far shorter than a cooldown. A
// request the caller abandoned decides nothing. A result from before the
// circuit last changed state is ignored.
//
// # Busy cap, first-token timeout, connectivity
//
// An upstream with MaxInFlight requests in flight is skipped ("busy"), which
// counts as a failover, not a failure: a busy local runtime sends the
// request to the cloud. An attempt (local or cloud) that produces no chunk
// within its upstream's FirstTokenTimeout is canceled and fails over as
// llm.KindTimeout; this is told apart from the caller's own cancellation,
// which stops everything.
//
// # Stalls and runaway answers
//
// Once a stream has begun, an attempt that goes StallTimeout without a
// chunk (the time the caller takes to take one does not count) is
// canceled as llm.KindTimeout wrapping ErrStalled. A whole-answer caller
// has seen nothing yet, so it fails over; a streaming caller gets the
// error (the server turns it into the dialect's in-stream error event).
// An answer collected for a whole-answer caller is bounded by
// MaxAnswerBytes: past it the attempt is canceled and Route returns an
// llm.KindServer error wrapping llm.ErrTooLarge, with no failover and no
// retry (another try would cost as much again); the same holds for a
// provider's own llm.ErrTooLarge (a response body past its bound). Each
// of these is an Attempt in Status, and counted in Failovers when the
// request moved on.
//
// After Start, each cloud upstream that implements llm.Pinger is probed
// every ProbeInterval. A failed probe, or a real request that fails at the
// transport level (unavailable or timeout with no HTTP status), marks it
// offline; a successful probe or request marks it online. Offline targets
// are skipped without any network attempt, which is what makes an offline
// device fail fast. Local upstreams are never skipped as offline: their
// Online flag (from the model-list refresh) is informational.
//
// When every target was skipped or failed, Route returns *ExhaustedError,
// which carries the HTTP status and Retry-After the server should use.
package router
