// Package usage is the usage ledger: one record per request (cache hits
// and failures too), durable in the gateway's bbolt file before the
// response's last byte goes out, numbered by a per-device sequence, and
// kept in an outbox until the fleet sync has delivered it. Appends from
// concurrent requests share one commit (group commit): a committer
// goroutine writes whatever has queued while the previous fsync ran, so
// a lone request pays one fsync and a crowd pays one between them, with
// no timer adding latency. Hourly rollups per key, team, provider and
// model are kept in the same transaction, so reports and budgets survive
// both restarts and the outbox being drained.
package usage

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// Buckets this package owns in the gateway's bbolt file.
var (
	outboxBucket = []byte("usage/outbox/v1") // seq (8 bytes, big-endian) → Record JSON
	rollupBucket = []byte("usage/rollup/v1") // hour + group → totals
	metaBucket   = []byte("usage/meta/v1")
	seqKey       = []byte("seq")
	foldedKey    = []byte("folded")
)

// Record is one request's usage.
type Record struct {
	// Seq is the per-device sequence number, assigned by Append.
	Seq  uint64    `json:"seq"`
	ID   string    `json:"id"` // the request id
	Time time.Time `json:"time"`
	Key  string    `json:"key,omitempty"` // the virtual key's id; "admin" or "" (open gateway)
	Team string    `json:"team,omitempty"`
	// Tags are the client's x-edgeway-tags.
	Tags    map[string]string `json:"tags,omitempty"`
	Dialect string            `json:"dialect"`         // openai, anthropic, ollama
	Alias   string            `json:"alias,omitempty"` // the model the client asked for
	// Provider and Model served the request ("cache" for a hit).
	Provider     string `json:"provider,omitempty"`
	Model        string `json:"model,omitempty"`
	TokensIn     int    `json:"tokens_in"`
	TokensOut    int    `json:"tokens_out"`
	TokensCached int    `json:"tokens_cached,omitempty"`
	// Estimated is set when the provider reported no usage and the tokens
	// were counted here.
	Estimated bool `json:"estimated,omitempty"`
	// CostUSD is what the request cost; meaningful only when CostKnown (a
	// model without a price is never recorded as free).
	CostUSD   float64 `json:"cost_usd"`
	CostKnown bool    `json:"cost_known"`
	LatencyMS float64 `json:"latency_ms"`
	TTFTMS    float64 `json:"ttft_ms,omitempty"`
	Cache     string  `json:"cache,omitempty"` // hit, semantic, miss, bypass
	Failovers int     `json:"failovers,omitempty"`
	Status    int     `json:"status"`
	Outcome   string  `json:"outcome"` // ok, or the error code
	// PIIFound counts the personal data found in the prompt and PIIAction
	// is the policy applied to it (allow, redact-for-cloud, local-only,
	// block); both empty when the key has no PII policy or none was found.
	PIIFound  int    `json:"pii_found,omitempty"`
	PIIAction string `json:"pii_action,omitempty"`
	// Rollup is set on a record the outbox's bound folded other records
	// into (see Ledger.fold): their totals, for the hour of Time and the
	// Key, Team, Provider and Model they share; Seq is the first folded
	// record's and LastSeq the last one's.
	Rollup  *Totals `json:"rollup,omitempty"`
	LastSeq uint64  `json:"last_seq,omitempty"`
}

// SyncMode says when an appended record counts as stored.
type SyncMode string

const (
	// SyncFsync acknowledges a group of records once the write-ahead file
	// holding them is fdatasynced: the record survives a power cut.
	SyncFsync SyncMode = "fsync"
	// SyncWrite acknowledges once the group is written to the file: the
	// record survives the gateway being killed, and a power cut from the
	// moment the bbolt commit that follows (milliseconds later) is done.
	SyncWrite SyncMode = "write"
)

// DefaultMaxBytes bounds the outbox when Options.MaxBytes is 0: about
// 130,000 records, days of a busy device's traffic without a link.
const DefaultMaxBytes = 64 << 20

// Options tune a ledger; the zero value is the safe default.
type Options struct {
	// WAL is the write-ahead file's path; "" puts it next to the bbolt
	// file, named after it with ".ledger" appended.
	WAL  string
	Sync SyncMode
	// MaxBytes bounds the outbox's records; past it the oldest are folded
	// into hourly rollup records (see Fold).
	MaxBytes int64
	Logger   *slog.Logger
}

// Ledger appends records durably. It is safe for concurrent use.
//
// A record is durable once its group is in the write-ahead file (one
// write and one fdatasync for the whole group); an applier goroutine then
// moves groups into bbolt (outbox, rollups, sequence number) in commits
// of its own, off the request path. Open replays what the file holds
// beyond bbolt's last sequence number, so a kill between the two loses
// nothing. Readers first wait for the applier to catch up, so they see
// every record appended before they were called.
type Ledger struct {
	db   *bbolt.DB
	opts Options
	log  *slog.Logger
	wal  *wal

	mu      sync.Mutex
	queue   []*pending
	kick    chan struct{}
	closed  bool
	stopped chan struct{}

	// seq is the last sequence number written; only the committer
	// goroutine writes it.
	seq uint64

	amu      sync.Mutex
	acond    *sync.Cond
	applyQ   []applyRec
	applied  uint64 // last sequence number in bbolt
	written  uint64 // last sequence number handed to the applier
	applyErr error  // the applier's last failure, nil once it succeeds
	aclosed  bool
	// applyKick wakes the idle applier; urgent makes it commit at once
	// rather than let records gather (a reader or rotate waits for it).
	applyKick chan struct{}
	urgent    chan struct{}
	astopped  chan struct{}

	// bytes is the outbox's size in record bytes; folded counts records
	// folded into rollups. Only the applier writes them after Open.
	bytes  atomic.Int64
	folded atomic.Int64
	// held is the hold mark (see Hold): fold leaves keys up to it alone.
	held atomic.Uint64
}

type pending struct {
	r    *Record
	a    applyRec // r encoded by Append, numbered by the committer
	done chan error
}

// applyRec is a record on its way from the write-ahead file to bbolt,
// held as bytes: the caller may reuse its Record once Append returns.
type applyRec struct {
	seq  uint64
	json []byte
	roll []byte // rollupKey
	t    Totals
}

var pendingPool = sync.Pool{New: func() any { return &pending{done: make(chan error, 1)} }}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("usage: ledger closed")

// Open opens the ledger in db, creating its buckets, replays its
// write-ahead file and starts its committer and applier.
func Open(db *bbolt.DB, opts Options) (*Ledger, error) {
	if opts.WAL == "" {
		opts.WAL = db.Path() + ".ledger"
	}
	if opts.Sync == "" {
		opts.Sync = SyncFsync
	}
	if opts.Sync != SyncFsync && opts.Sync != SyncWrite {
		return nil, fmt.Errorf("usage: sync %q is not fsync or write", opts.Sync)
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	l := &Ledger{db: db, opts: opts, log: opts.Logger, kick: make(chan struct{}, 1),
		stopped: make(chan struct{}), astopped: make(chan struct{}),
		applyKick: make(chan struct{}, 1), urgent: make(chan struct{}, 1)}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.acond = sync.NewCond(&l.amu)
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{outboxBucket, rollupBucket, metaBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(metaBucket)
		if v := meta.Get(seqKey); len(v) == 8 {
			l.seq = binary.BigEndian.Uint64(v)
		}
		if v := meta.Get(foldedKey); len(v) == 8 {
			l.folded.Store(int64(binary.BigEndian.Uint64(v)))
		}
		if v := meta.Get(heldKey); len(v) == 8 {
			l.held.Store(binary.BigEndian.Uint64(v))
		}
		var n int64
		tx.Bucket(outboxBucket).ForEach(func(_, v []byte) error { n += int64(len(v)); return nil })
		l.bytes.Store(n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("usage: open: %w", err)
	}
	if l.wal, err = openWAL(opts.WAL, opts.Sync == SyncFsync); err != nil {
		return nil, err
	}
	if err := l.replay(); err != nil {
		l.wal.close()
		return nil, err
	}
	l.applied, l.written = l.seq, l.seq
	go l.commitLoop()
	go l.applyLoop()
	return l, nil
}

// replay moves the records the write-ahead file holds beyond bbolt's
// last sequence number into bbolt, then empties the file.
func (l *Ledger) replay() error {
	var recs []applyRec
	err := l.wal.scan(func(seq uint64, v []byte) error {
		if seq <= l.seq {
			return nil // already in bbolt: the kill came after the apply
		}
		if want := l.seq + uint64(len(recs)) + 1; seq != want {
			// Kept all the same: a gap is for the fleet to see, and a
			// gateway that will not start loses more than it protects.
			l.log.Warn("usage ledger: the write-ahead file skips sequence numbers", "want", want, "got", seq)
		}
		r := new(Record)
		if err := json.Unmarshal(v, r); err != nil {
			return fmt.Errorf("usage: %s: record %d: %w", l.opts.WAL, seq, err)
		}
		recs = append(recs, toApply(seq, v, r))
		return nil
	})
	if err != nil {
		return err
	}
	if len(recs) > 0 {
		if err := l.apply(recs); err != nil {
			return err
		}
		l.seq = recs[len(recs)-1].seq
		l.log.Info("usage ledger: replayed records from the write-ahead file", "records", len(recs), "last_seq", l.seq)
	}
	return l.wal.reset()
}

func toApply(seq uint64, v []byte, r *Record) applyRec {
	a := applyRec{seq: seq, json: v, roll: rollupKey(r)}
	a.t.add(r)
	return a
}

// Append assigns r its sequence number and returns once r is durable.
// r must not be changed until Append returns.
func (l *Ledger) Append(r *Record) error {
	// Encoded here, in the caller's goroutine, so the committer (one for
	// all requests) only numbers and writes.
	r.Seq = 0
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("usage: encode record %s: %w", r.ID, err)
	}
	p := pendingPool.Get().(*pending)
	p.r, p.a = r, toApply(0, v, r)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		pendingPool.Put(p)
		return ErrClosed
	}
	l.queue = append(l.queue, p)
	select {
	case l.kick <- struct{}{}:
	default: // the committer is already due to look
	}
	l.mu.Unlock()
	err = <-p.done
	p.r, p.a = nil, applyRec{}
	pendingPool.Put(p)
	return err
}

// Close stores what is queued, waits for the applier to move it into
// bbolt and stops both goroutines.
func (l *Ledger) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.kick)
	<-l.stopped
	l.amu.Lock()
	l.aclosed = true
	l.amu.Unlock()
	signal(l.urgent)
	<-l.astopped
	return l.wal.close()
}

// commitLoop writes everything queued as one group, then looks again:
// whatever queued during a group's fdatasync forms the next.
func (l *Ledger) commitLoop() {
	defer close(l.stopped)
	var batch []*pending
	for range l.kick {
		for {
			l.mu.Lock()
			batch, l.queue = l.queue, batch[:0]
			l.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			recs, err := l.write(batch)
			if err == nil {
				// Before the acknowledgements: a caller that reads right
				// after its Append returned must find its record.
				l.handOff(recs)
			}
			for i, p := range batch {
				p.done <- err
				batch[i] = nil
			}
		}
	}
}

// write assigns the group its sequence numbers and stores it in the
// write-ahead file.
func (l *Ledger) write(batch []*pending) ([]applyRec, error) {
	if l.wal.size >= walRotate {
		l.rotate()
	}
	recs := make([]applyRec, 0, len(batch))
	seq := l.seq
	for _, p := range batch {
		seq++
		a := p.a
		a.seq, a.json = seq, numbered(a.json, seq)
		recs = append(recs, a)
	}
	if err := l.wal.append(recs); err != nil {
		return nil, fmt.Errorf("usage: store %d records: %w", len(batch), err)
	}
	for i, p := range batch {
		p.r.Seq = recs[i].seq
	}
	l.seq = seq
	return recs, nil
}

// numbered writes seq into a record encoded with Seq 0, which encodes
// first: {"seq":0,... becomes {"seq":seq,...
func numbered(v []byte, seq uint64) []byte {
	const zero = `{"seq":0`
	out := make([]byte, 0, len(v)+20)
	out = strconv.AppendUint(append(out, zero[:len(zero)-1]...), seq, 10)
	return append(out, v[len(zero):]...)
}

// walRotate is the write-ahead file's size at which it is emptied, once
// the applier has moved everything in it into bbolt.
const walRotate = 1 << 20

// rotate empties the write-ahead file once bbolt holds all it holds. It
// waits for the applier (one commit, milliseconds) unless the applier is
// failing, in which case the file keeps growing and keeps the records.
func (l *Ledger) rotate() {
	signal(l.urgent)
	l.amu.Lock()
	for l.applied < l.seq && l.applyErr == nil {
		l.acond.Wait()
	}
	done := l.applied == l.seq
	l.amu.Unlock()
	if !done {
		return
	}
	if err := l.wal.reset(); err != nil {
		l.log.Error("usage ledger: cannot empty the write-ahead file", "err", err)
	}
}

func (l *Ledger) handOff(recs []applyRec) {
	l.amu.Lock()
	l.applyQ = append(l.applyQ, recs...)
	l.written = recs[len(recs)-1].seq
	n := len(l.applyQ)
	l.amu.Unlock()
	signal(l.applyKick)
	if n >= applyBatch {
		signal(l.urgent)
	}
}

// signal wakes whoever waits on c, or leaves the wake-up pending.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// The applier lets records gather for up to applyDelay, or applyBatch of
// them: each bbolt commit is two device flushes, and the write-ahead
// file's fdatasync, which requests wait for, queues behind them.
const (
	applyDelay = 50 * time.Millisecond
	applyBatch = 2048
)

// applyLoop moves written groups into bbolt, as many per commit as have
// queued, retrying with backoff while bbolt fails (the records are safe
// in the write-ahead file meanwhile), and folds the outbox when it has
// grown past its bound.
func (l *Ledger) applyLoop() {
	defer close(l.astopped)
	backoff := 10 * time.Millisecond
	foldAt := l.opts.MaxBytes
	for {
		l.amu.Lock()
		n, closing := len(l.applyQ), l.aclosed
		l.amu.Unlock()
		if n == 0 && !closing {
			select {
			case <-l.applyKick:
			case <-l.urgent:
			}
			continue
		}
		if n > 0 && n < applyBatch && !closing {
			t := time.NewTimer(applyDelay)
			select {
			case <-t.C:
			case <-l.urgent:
			}
			t.Stop()
		}
		l.amu.Lock()
		q := l.applyQ
		l.applyQ = nil
		closed := l.aclosed
		l.amu.Unlock()
		if len(q) == 0 && closed {
			return
		}
		err := l.apply(q)
		if err == nil && l.bytes.Load() > foldAt {
			// Before the records count as applied, so a reader that
			// waited for them sees the outbox within its bound.
			if err := l.fold(l.opts.MaxBytes * 3 / 4); err != nil {
				l.log.Error("usage ledger: cannot fold the outbox", "err", err)
			}
			// An outbox of rollups only cannot shrink: wait for an eighth
			// more before reading it all again.
			foldAt = max(l.opts.MaxBytes, l.bytes.Load()+l.opts.MaxBytes/8)
		}
		l.amu.Lock()
		if err != nil {
			l.applyQ = append(q, l.applyQ...)
			l.applyErr = err
		} else {
			l.applied, l.applyErr = q[len(q)-1].seq, nil
		}
		l.acond.Broadcast()
		l.amu.Unlock()
		if err != nil {
			l.log.Error("usage ledger: cannot move records into the database; they stay in the write-ahead file", "records", len(q), "err", err, "retry_in", backoff)
			if closed {
				return // Open replays them
			}
			time.Sleep(backoff) // backoff, not synchronisation: bbolt is failing
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 10 * time.Millisecond
	}
}

// apply commits recs to bbolt: each record in the outbox under its
// sequence number, its rollup, and the new last sequence number.
func (l *Ledger) apply(recs []applyRec) error {
	var added int64
	err := l.db.Update(func(tx *bbolt.Tx) error {
		out, roll := tx.Bucket(outboxBucket), tx.Bucket(rollupBucket)
		var k [8]byte
		for _, a := range recs {
			binary.BigEndian.PutUint64(k[:], a.seq)
			if err := out.Put(k[:], a.json); err != nil {
				return err
			}
			added += int64(len(a.json))
			if err := addRollup(roll, a.roll, a.t); err != nil {
				return err
			}
		}
		binary.BigEndian.PutUint64(k[:], recs[len(recs)-1].seq)
		return tx.Bucket(metaBucket).Put(seqKey, k[:])
	})
	if err != nil {
		return fmt.Errorf("usage: commit %d records: %w", len(recs), err)
	}
	l.bytes.Add(added)
	return nil
}

// caughtUp waits until bbolt holds every record appended before the
// call, or the applier is failing.
func (l *Ledger) caughtUp() {
	signal(l.urgent)
	l.amu.Lock()
	for target := l.written; l.applied < target && l.applyErr == nil && !l.aclosed; {
		l.acond.Wait()
	}
	l.amu.Unlock()
}

// Records calls fn for every record in the outbox from sequence number
// from on, in order, until fn returns false.
func (l *Ledger) Records(from uint64, fn func(*Record) bool) error {
	l.caughtUp()
	return l.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(outboxBucket).Cursor()
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], from)
		for key, v := c.Seek(k[:]); key != nil; key, v = c.Next() {
			r := new(Record)
			if err := json.Unmarshal(v, r); err != nil {
				return fmt.Errorf("usage: record %d: %w", binary.BigEndian.Uint64(key), err)
			}
			if !fn(r) {
				return nil
			}
		}
		return nil
	})
}

// Stats describes the outbox.
type Stats struct {
	Records int   `json:"records"`
	Bytes   int64 `json:"bytes"`
	// Folded counts the records folded into rollup records since the
	// ledger was created.
	Folded  int64  `json:"folded"`
	LastSeq uint64 `json:"last_seq"`
}

// Stats returns the outbox's size and what was folded.
func (l *Ledger) Stats() Stats {
	l.caughtUp()
	s := Stats{Bytes: l.bytes.Load(), Folded: l.folded.Load()}
	l.db.View(func(tx *bbolt.Tx) error {
		s.Records = tx.Bucket(outboxBucket).Stats().KeyN
		if v := tx.Bucket(metaBucket).Get(seqKey); len(v) == 8 {
			s.LastSeq = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return s
}

// Recent calls fn for the outbox's records from since on, newest first
// (for the limits' last minute at start).
func (l *Ledger) Recent(since time.Time, fn func(*Record)) error {
	l.caughtUp()
	return l.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(outboxBucket).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			r := new(Record)
			if err := json.Unmarshal(v, r); err != nil {
				return fmt.Errorf("usage: record %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if r.Time.Before(since) {
				return nil
			}
			if r.Rollup == nil {
				fn(r)
			}
		}
		return nil
	})
}
