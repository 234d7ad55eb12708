// Package cache is edgeway's response cache: an exact cache keyed by a hash
// of the canonical request, and an optional semantic cache that answers a
// request whose last user turn means the same as a stored one. Both live in
// the gateway's single bbolt file, with no external database, and work
// offline.
//
// # Reads, writes and ownership
//
// Get and GetSemantic run bbolt read transactions on the caller's
// goroutine. Every write (Put, the semantic record, LRU updates, deletes of
// expired or corrupt entries, eviction, sweeps, Purge) goes through one
// writer goroutine fed by a bounded queue (Options.WriteQueue), so a
// response never waits for the disk: Put copies nothing, queues a pointer
// and returns; a full queue drops the write and counts it
// (Stats.Dropped). The writer commits up to 128 queued operations per
// transaction. Flush waits for everything queued before it to be committed;
// the crash drill uses it to know what was acknowledged.
//
// # Keys
//
// A Key is the SHA-256 of the canonical form of everything that can change
// the answer (see KeyOf): namespace, the model as the client named it,
// messages, tools, tool_choice, parallel_tool_calls, response_format, the
// sampling parameters and Extra. Stream and User are left out, so a streamed
// answer serves a non-streaming client and the reverse. Fields are
// length-prefixed and JSON documents (schemas, tool arguments, Extra values)
// canonicalised (object keys sorted, whitespace removed, escapes
// normalised), so formatting never changes a key. An explicit parameter
// always differs from an unset one, even at the upstream's default value:
// edgeway cannot know every upstream's defaults and a miss is cheap. SHA-256
// rather than a faster 128-bit hash because the key is the tenant boundary:
// a non-cryptographic hash lets a client craft a collision with another
// namespace's request. KeyOf does not allocate (pooled 4 KiB buffer; longer
// inputs such as inline images are hashed in pieces).
//
// # What is stored
//
// Policy decides per alias or route: by default only deterministic requests
// (temperature 0 or a seed) use the cache, tool-call responses are stored
// only with Policy.CacheToolCalls, and Cache-Control is the caller's to map.
// Put itself refuses unfinished answers: FinishReason must be stop or
// tool_calls (a "length" answer is truncated, a content-filtered one is not
// an answer), the response must hold something, and its body must fit
// MaxEntryBytes. Each entry has its own TTL.
//
// # Bucket layout (version 1)
//
// Everything is under the top-level bucket "cache/v1"; a future
// incompatible layout gets "cache/v2", and Open refuses a cache/v1 whose
// meta says another layout (ErrLayout). Nested buckets:
//
//	entries  key(32) → value: [version=1][codec][created ns BE 8][expires ns BE 8]
//	                   uvarint-prefixed namespace, request model, provider, model,
//	                   uvarint body length, body (raw, or one zstd frame)
//	atime    key(32) → access sequence (8, BE)
//	lru      access sequence (8, BE) ‖ key(32) → empty: least recently used first
//	exp      expiry ns (8, BE) ‖ key(32) → empty: soonest expiry first
//	semidx   key(32) → [version][scope 32][created 8][dim 2][words 1][scale f32]
//	                   signature words (u64 LE), int8 codes
//	semvec   key(32) → [version][scope 32][dim 2] float32 vector (LE),
//	                   uvarint-prefixed namespace, model, last user text
//	meta     "layout" → 1, "entries" → count, "bytes" → stored bytes
//
// The value header stays uncompressed so expiry checks, Purge filters and
// byte accounting never decompress. Bodies of at least 128 bytes are zstd
// compressed (klauspost/compress, SpeedFastest, low-memory encoder, one
// encoder and one decoder, concurrency 1) when that saves space. Decoding
// is bounded: a body claiming more than MaxEntryBytes is corrupt, and the
// decoder's memory, window and DecodeAll capacity limits hold it to the
// claimed size.
//
// # TTL, LRU and the byte bound
//
// An expired entry is a miss; the reader queues its delete, and a sweep in
// the writer (every minute) walks the exp index from the oldest expiry, so
// unread entries go too. A hit records the key in a bounded in-memory set
// (4096 keys) that the writer folds into the lru index with its next
// transaction, at least every second: hits never cost a write transaction.
// Stats.Bytes counts stored values, semantic records and an estimate of
// their index rows; the counters live in meta, updated in the same
// transaction as the data, so they survive crashes. When Bytes passes
// MaxBytes the writer evicts from the lru index's oldest end down to 90% of
// MaxBytes, at most 512 entries per transaction. The bbolt file also holds
// free pages and never shrinks, so it can be larger than MaxBytes.
//
// # Durability
//
// All state changes are bbolt transactions; a crash loses at most the
// queued writes, never consistency. An entry that fails to decode is a miss,
// counted in Stats.DecodeErrors, and deleted by the writer; nothing read
// from the file can panic the process (FuzzDecodeValue). TestCrashDrill
// SIGKILLs a writer process six times mid-load and checks bbolt's tx.Check,
// every acknowledged entry and semantic record, and the counters.
//
// # Semantic cache
//
// Only a request ending in a plain-text user turn (no image, at most 8 KiB)
// takes part, and only that turn is embedded. Its scope is the hash of
// everything else KeyOf covers (namespace, model, system prompts, every
// earlier turn, tools, response_format, sampling parameters, Extra) plus
// the embedding model: a stored turn can only match within its scope, so an
// answer is never replayed into another conversation or tenant. A lookup in
// an empty scope costs no embedding call. The embedding runs with
// EmbedTimeout and at most 8 calls in flight on the request path; a slow
// embedder makes lookups misses, not stalls. PutSemantic embeds on a
// background worker (with a 64-entry memo, so a miss followed by its store
// embeds once). A match needs a float32 cosine of at least Threshold and,
// when set, Guard's approval of (stored text, new text); refused matches
// are counted in Stats.GuardRefusals. A semantic record exists only while
// its exact entry does: it is written only if the entry exists and deleted
// with it (eviction, expiry, Purge).
//
// # Semantic index
//
// Vectors are L2-normalised, then int8-quantised with a scale per vector:
// normalised embeddings differ in their largest component, and a global
// scale sized for the largest wastes most of the int8 range on the others;
// 4 bytes per vector buy it. The measured int8 cosine error is under 0.003
// (TestQuantisationError). The index is in memory, per scope: flat int8
// arrays, scales, 256-bit signatures and keys.
//
// Plain int8 brute force over 100k vectors of 384 dimensions costs 21-27 ms
// in pure Go on a 2-core EPYC (BenchmarkSemanticSearch/100k/int8_full), far
// over a 1 ms budget. So a scope of more than 2048 vectors is first narrowed
// by signature: each signature is the signs of a fast structured random
// rotation (two rounds of random sign flips and a Walsh-Hadamard transform,
// fixed seed) so the Hamming distance of two signatures estimates their
// angle; a histogram of the distances picks the 256 nearest (up to 1024 on
// ties), which are scored in int8, and the best 8 are re-ranked in float32.
// The float32 vectors are read from bbolt (semvec) for those 8 only:
// keeping them in memory would cost 154 MB per 100k at 384 dimensions.
//
// Measured on the same machine, one scope holding every vector (the worst
// case), near-duplicate queries at cosine 0.80-0.99 (the regime a semantic
// cache decides in): 10k vectors p50 0.13 ms, p99 0.2 ms; 100k vectors p50
// 0.5 ms, p99 0.74-0.82 ms; recall@1 against float32 brute force 1.000 at
// both sizes (and 1.000 in TestIndexRecall down to cosine 0.5). For
// uniformly random queries, whose nearest neighbour sits near cosine 0.2 and
// could never pass a threshold, recall@1 drops to 0.2-0.5: the signature
// stage trades exactness far from the query for speed near it. The index
// holds about 59 MiB of heap per 100k vectors of 384 dimensions (codes 384
// B, signature 32 B, key 32 B, scale and order 12 B, map entry and slack).
// In practice MaxBytes bounds it first: a semantic entry stores about 2.4
// KB, so the default 64 MiB holds under 30k of them.
package cache
