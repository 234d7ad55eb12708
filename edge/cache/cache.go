package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/edge/llm"
)

// Defaults for Options and SemanticOptions; a zero field takes its default.
const (
	DefaultMaxBytes           = 64 << 20
	DefaultTTL                = 24 * time.Hour
	DefaultMaxEntryBytes      = 1 << 20
	DefaultWriteQueue         = 256
	DefaultThreshold          = 0.95
	DefaultMaxSemanticEntries = 100_000
	DefaultEmbedTimeout       = 2 * time.Second
)

// Internal bounds of the writer.
const (
	// maxBatch bounds the operations committed in one transaction.
	maxBatch = 128
	// maxPendingTouches bounds the access-time updates waiting for the
	// writer; more hits in one interval lose their LRU refresh.
	maxPendingTouches = 4096
	touchInterval     = time.Second
	sweepInterval     = time.Minute
	// sweepBatch, evictBatch and purgeBatch bound the deletes per
	// transaction, so no transaction dirties most of the file.
	sweepBatch = 1000
	evictBatch = 512
	purgeBatch = 1000
	// closeDrain bounds how long Close spends committing queued writes.
	closeDrain = 5 * time.Second
	// purgeWait bounds how long Purge waits for room in the queue.
	purgeWait = 30 * time.Second
	// entryOverhead approximates the index rows (atime, lru, exp) kept per
	// entry; semOverhead the keys of a semantic record. Both count toward
	// MaxBytes so the bound covers what the cache really stores.
	entryOverhead = 3*(32+8) + 3*16
	semOverhead   = 2 * (32 + 16)
	// maxBodyPool: decode buffers that grew past this are not pooled.
	maxBodyPool = 64 << 10
)

// Options configures a Cache. Zero fields take the Default* values; negative
// ones are an error.
type Options struct {
	// MaxBytes bounds the stored bytes: compressed values, semantic
	// records and an estimate of their index rows. Past it the least
	// recently used entries are evicted, down to 90% of it. The bbolt file
	// itself also holds free pages and does not shrink.
	MaxBytes int64
	// DefaultTTL is the lifetime of an entry Put with ttl <= 0.
	DefaultTTL time.Duration
	// MaxEntryBytes bounds an entry's uncompressed body: larger responses
	// are not stored, and a stored body claiming more is corrupt.
	MaxEntryBytes int
	// WriteQueue bounds the queued writes; Put drops (and counts) beyond it.
	WriteQueue int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Semantic enables the semantic cache; nil means exact only.
	Semantic *SemanticOptions
	// Logger receives write failures and guard refusals; discarded when nil.
	Logger *slog.Logger
}

// SemanticOptions configures the semantic cache.
type SemanticOptions struct {
	// Embedder computes embeddings; it is called with
	// EmbedRequest{Model: EmbedModel, Input: [last user text]}. Required.
	Embedder   llm.Embedder
	EmbedModel string
	// Threshold is the cosine similarity a match needs, in (0, 1].
	Threshold float32
	// MaxEntries bounds the in-memory index; the oldest vectors are
	// evicted (from memory and from the file) beyond it.
	MaxEntries int
	// Guard, when set, is asked about every match above Threshold with
	// (stored last user text, new last user text) and may refuse it,
	// giving a reason for the log.
	Guard func(a, b string) (ok bool, reason string)
	// EmbedTimeout bounds an embedding call on the request path; past it
	// the lookup is a miss.
	EmbedTimeout time.Duration
}

// orDefault sets *v to def when it is unset (zero).
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func (o Options) withDefaults() (Options, error) {
	var errs []error
	neg := func(name string, v int64) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %d", name, v))
		}
	}
	neg("MaxBytes", o.MaxBytes)
	neg("DefaultTTL", int64(o.DefaultTTL))
	neg("MaxEntryBytes", int64(o.MaxEntryBytes))
	neg("WriteQueue", int64(o.WriteQueue))
	orDefault(&o.MaxBytes, DefaultMaxBytes)
	orDefault(&o.DefaultTTL, DefaultTTL)
	orDefault(&o.MaxEntryBytes, DefaultMaxEntryBytes)
	orDefault(&o.WriteQueue, DefaultWriteQueue)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if s := o.Semantic; s != nil {
		so := *s
		if so.Embedder == nil {
			errs = append(errs, errors.New("Semantic.Embedder is required"))
		}
		if so.Threshold < 0 || so.Threshold > 1 {
			errs = append(errs, fmt.Errorf("Semantic.Threshold must be in (0, 1], got %v", so.Threshold))
		}
		neg("Semantic.MaxEntries", int64(so.MaxEntries))
		neg("Semantic.EmbedTimeout", int64(so.EmbedTimeout))
		orDefault(&so.Threshold, DefaultThreshold)
		orDefault(&so.MaxEntries, DefaultMaxSemanticEntries)
		orDefault(&so.EmbedTimeout, DefaultEmbedTimeout)
		o.Semantic = &so
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("cache: options: %w", errors.Join(errs...))
	}
	return o, nil
}

// Stats are the cache's counters since Open, and its current size.
type Stats struct {
	Hits, Misses uint64
	// SemanticHits and SemanticMisses count GetSemantic answers.
	SemanticHits, SemanticMisses uint64
	// GuardRefusals counts matches above the threshold that Guard refused.
	GuardRefusals uint64
	// Evictions counts entries removed for the byte bound.
	Evictions uint64
	// Expired counts entries found or swept past their TTL.
	Expired uint64
	// Dropped counts writes lost to a full queue or to Close.
	Dropped uint64
	// Rejected counts Put calls refused by the storage rules (unfinished
	// or empty response, body over MaxEntryBytes).
	Rejected uint64
	// DecodeErrors counts stored entries that failed to decode (and were
	// deleted).
	DecodeErrors uint64
	// WriteErrors counts failed write transactions.
	WriteErrors uint64
	// EmbedErrors counts failed or timed-out embedding calls.
	EmbedErrors uint64
	// Entries, Bytes and SemanticEntries describe what is stored now.
	Entries         int64
	Bytes           int64
	SemanticEntries int64
}

// Cache is the response cache. Its methods are safe for concurrent use.
// Reads run in bbolt read transactions on the caller's goroutine; every
// write goes through one writer goroutine fed by a bounded queue, so a
// response never waits for a disk write.
type Cache struct {
	db  *bbolt.DB
	o   Options
	log *slog.Logger
	enc *zstd.Encoder
	dec *zstd.Decoder

	q         chan op
	stop      chan struct{}
	done      chan struct{}
	closing   atomic.Bool
	closeOnce sync.Once

	touchMu    sync.Mutex
	touches    map[Key]struct{}
	touchSpare map[Key]struct{}

	sem *semantic

	hits, misses, semHits, semMisses, guardRefusals atomic.Uint64
	evictions, expired, dropped, rejected           atomic.Uint64
	decodeErrors, writeErrors, embedErrors          atomic.Uint64
	entries, bytes                                  atomic.Int64

	// Owned by the writer goroutine.
	arena, body   []byte
	vals          [][]byte
	touchKeys     []Key
	pendingSemDel []Key
	waiters       []chan opResult
}

// Bucket names; the layout is described in doc.go.
var (
	rootName    = []byte("cache/v1")
	entriesName = []byte("entries")
	atimeName   = []byte("atime")
	lruName     = []byte("lru")
	expName     = []byte("exp")
	semIdxName  = []byte("semidx")
	semVecName  = []byte("semvec")
	metaName    = []byte("meta")

	metaLayout  = []byte("layout")
	metaEntries = []byte("entries")
	metaBytes   = []byte("bytes")
)

const layoutVersion = 1

type buckets struct {
	entries, atime, lru, exp, semIdx, semVec, meta *bbolt.Bucket
}

func openBuckets(tx *bbolt.Tx) (buckets, error) {
	root := tx.Bucket(rootName)
	if root == nil {
		return buckets{}, errors.New("cache: bucket cache/v1 missing")
	}
	b := buckets{
		entries: root.Bucket(entriesName), atime: root.Bucket(atimeName), lru: root.Bucket(lruName),
		exp: root.Bucket(expName), semIdx: root.Bucket(semIdxName), semVec: root.Bucket(semVecName), meta: root.Bucket(metaName),
	}
	if b.entries == nil || b.atime == nil || b.lru == nil || b.exp == nil || b.semIdx == nil || b.semVec == nil || b.meta == nil {
		return b, errors.New("cache: bucket under cache/v1 missing")
	}
	return b, nil
}

// Open opens the cache kept in db, creating its buckets, loads the
// semantic index and starts the writer. The caller owns db (open it with
// Options.Timeout set) and closes it after Close.
func Open(db *bbolt.DB, o Options) (*Cache, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Cache{
		db: db, o: o, log: o.Logger,
		q:          make(chan op, o.WriteQueue),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		touches:    make(map[Key]struct{}, maxPendingTouches),
		touchSpare: make(map[Key]struct{}, maxPendingTouches),
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(rootName)
		if err != nil {
			return err
		}
		for _, name := range [][]byte{entriesName, atimeName, lruName, expName, semIdxName, semVecName, metaName} {
			if _, err := root.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := root.Bucket(metaName)
		switch v := meta.Get(metaLayout); {
		case v == nil:
			if err := meta.Put(metaLayout, binary.BigEndian.AppendUint64(nil, layoutVersion)); err != nil {
				return err
			}
		case len(v) != 8 || binary.BigEndian.Uint64(v) != layoutVersion:
			return ErrLayout
		}
		if v := meta.Get(metaEntries); len(v) == 8 {
			c.entries.Store(int64(binary.BigEndian.Uint64(v)))
		}
		if v := meta.Get(metaBytes); len(v) == 8 {
			c.bytes.Store(int64(binary.BigEndian.Uint64(v)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cache: open: %w", err)
	}
	c.enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithLowerEncoderMem(true),
		zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("cache: open: %w", err)
	}
	c.dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(o.MaxEntryBytes)),
		zstd.WithDecoderMaxWindow(uint64(max(o.MaxEntryBytes, zstd.MinWindowSize))), zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		c.enc.Close()
		return nil, fmt.Errorf("cache: open: %w", err)
	}
	if o.Semantic != nil {
		c.sem = newSemantic(c, *o.Semantic)
		if err := c.sem.load(); err != nil {
			c.enc.Close()
			c.dec.Close()
			return nil, fmt.Errorf("cache: open: %w", err)
		}
		c.sem.start()
	}
	go c.run()
	return c, nil
}

// Close stops the cache: queued semantic work is abandoned, queued writes
// are committed for at most a few seconds (the rest count as Dropped), and
// the writer stops. It does not close the bbolt file. Get and GetSemantic
// miss after Close; Put is dropped.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		if c.sem != nil {
			c.sem.stop()
		}
		close(c.stop)
		<-c.done
		c.enc.Close()
		c.dec.Close()
	})
	return nil
}

func (c *Cache) now() time.Time { return c.o.Now() }

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() Stats {
	s := Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), SemanticHits: c.semHits.Load(), SemanticMisses: c.semMisses.Load(),
		GuardRefusals: c.guardRefusals.Load(), Evictions: c.evictions.Load(), Expired: c.expired.Load(),
		Dropped: c.dropped.Load(), Rejected: c.rejected.Load(), DecodeErrors: c.decodeErrors.Load(),
		WriteErrors: c.writeErrors.Load(), EmbedErrors: c.embedErrors.Load(),
		Entries: c.entries.Load(), Bytes: c.bytes.Load(),
	}
	if c.sem != nil {
		s.SemanticEntries = int64(c.sem.idx.len())
	}
	return s
}

type lookupResult uint8

const (
	lookupMiss lookupResult = iota
	lookupHit
	lookupExpired
	lookupCorrupt
)

var bodyPool = sync.Pool{New: func() any { return new([]byte) }}

// Get returns the entry stored under key. An expired entry is a miss (the
// writer deletes it later); an entry that fails to decode is a miss and is
// deleted. A hit refreshes the entry's place in the LRU order, batched by
// the writer. The returned Entry belongs to the caller.
func (c *Cache) Get(key Key) (*Entry, bool) {
	e, r := c.lookup(key)
	if r == lookupHit {
		c.hits.Add(1)
		return e, true
	}
	c.misses.Add(1)
	return nil, false
}

// lookup reads key and does the bookkeeping of what it found, except the
// hit and miss counters, which differ between Get and GetSemantic.
func (c *Cache) lookup(key Key) (*Entry, lookupResult) {
	if c.closing.Load() {
		return nil, lookupMiss
	}
	var (
		e   *Entry
		r   = lookupMiss
		now = c.now().UnixNano()
		bp  = bodyPool.Get().(*[]byte)
	)
	err := c.db.View(func(tx *bbolt.Tx) error {
		root := tx.Bucket(rootName)
		if root == nil {
			return nil
		}
		b := root.Bucket(entriesName)
		if b == nil {
			return nil
		}
		v := b.Get(key[:])
		if v == nil {
			return nil
		}
		h, err := parseHeader(v)
		if err != nil {
			r = lookupCorrupt
			return nil
		}
		if h.expires <= now {
			r = lookupExpired
			return nil
		}
		e, *bp, err = decodeValue(v, h, c.dec, c.o.MaxEntryBytes, *bp)
		if err != nil {
			r = lookupCorrupt
			return nil
		}
		r = lookupHit
		return nil
	})
	if cap(*bp) <= maxBodyPool {
		bodyPool.Put(bp)
	}
	if err != nil {
		c.log.Warn("cache: read failed", "err", err)
		return nil, lookupMiss
	}
	switch r {
	case lookupHit:
		c.touch(key)
	case lookupExpired:
		c.expired.Add(1)
		c.trySend(op{kind: opDelete, key: key, reason: deleteExpired})
	case lookupCorrupt:
		c.decodeErrors.Add(1)
		c.trySend(op{kind: opDelete, key: key, reason: deleteCorrupt})
	}
	return e, r
}

// touch records a hit for the writer's next LRU update. Repeated hits on
// one key between updates cost one map write.
func (c *Cache) touch(key Key) {
	c.touchMu.Lock()
	if len(c.touches) < maxPendingTouches {
		c.touches[key] = struct{}{}
	}
	c.touchMu.Unlock()
}

// Put stores e under key for ttl (DefaultTTL when ttl <= 0). It never
// blocks: the write is queued, and dropped (counted in Stats.Dropped) when
// the queue is full. Put takes ownership of e: the caller must not modify
// it afterwards. Only finished responses are stored: FinishReason stop or
// tool_calls, with some text, reasoning or tool call, and a body within
// MaxEntryBytes; a truncated (length), filtered or empty response is
// refused and counted in Stats.Rejected. Whether tool-call responses are
// cached at all is the caller's Policy (see Policy.StoreAllowed).
func (c *Cache) Put(key Key, e *Entry, ttl time.Duration) {
	if e == nil || !finished(e) || bodySize(e) > c.o.MaxEntryBytes {
		c.rejected.Add(1)
		return
	}
	if ttl <= 0 {
		ttl = c.o.DefaultTTL
	}
	now := c.now()
	c.send(op{kind: opPut, key: key, entry: e, created: now.UnixNano(), expires: now.Add(ttl).UnixNano()})
}

func finished(e *Entry) bool {
	if e.FinishReason != llm.FinishStop && e.FinishReason != llm.FinishToolCalls {
		return false
	}
	return e.Text != "" || e.Reasoning != "" || len(e.ToolCalls) > 0
}

// send queues o without blocking, counting a drop when it cannot.
func (c *Cache) send(o op) {
	if !c.trySend(o) {
		c.dropped.Add(1)
	}
}

func (c *Cache) trySend(o op) bool {
	if c.closing.Load() {
		return false
	}
	select {
	case c.q <- o:
		return true
	default:
		return false
	}
}

// Flush waits until every write queued before it (including semantic
// writes still waiting for their embedding) is committed, or ctx ends. It
// exists for tests, graceful shutdown and tools; the request path never
// calls it.
func (c *Cache) Flush(ctx context.Context) error {
	done := make(chan opResult, 1)
	if c.sem != nil {
		if err := c.sem.barrier(ctx, done); err != nil {
			return err
		}
	} else if err := c.sendWait(ctx, op{kind: opBarrier, done: done}); err != nil {
		return err
	}
	return c.wait(ctx, done)
}

// sendWait queues o, waiting for room until ctx ends or the cache closes.
func (c *Cache) sendWait(ctx context.Context, o op) error {
	if c.closing.Load() {
		return ErrClosed
	}
	select {
	case c.q <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stop:
		return ErrClosed
	}
}

func (c *Cache) wait(ctx context.Context, done chan opResult) error {
	select {
	case r := <-done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		select {
		case r := <-done:
			return r.err
		default:
			return ErrClosed
		}
	}
}

// Purge deletes the entries (and their semantic records) stored under
// namespace ns for model, and returns how many it deleted. An empty ns or
// model matches any. model matches the model the client named
// (Entry.RequestModel), the model that served (Entry.Model) or
// "provider/model". It runs in the writer, in transactions of a bounded
// size, and waits for the result.
func (c *Cache) Purge(ns, model string) (int, error) {
	done := make(chan opResult, 1)
	ctx, cancel := context.WithTimeout(context.Background(), purgeWait)
	err := c.sendWait(ctx, op{kind: opPurge, ns: ns, model: model, done: done})
	cancel()
	if errors.Is(err, context.DeadlineExceeded) {
		return 0, ErrBusy
	}
	if err != nil {
		return 0, err
	}
	select {
	case r := <-done:
		return r.n, r.err
	case <-c.done:
		select {
		case r := <-done:
			return r.n, r.err
		default:
			return 0, ErrClosed
		}
	}
}
