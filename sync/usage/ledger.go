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
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// Buckets this package owns in the gateway's bbolt file.
var (
	outboxBucket = []byte("usage/outbox/v1") // seq (8 bytes, big-endian) → Record JSON
	rollupBucket = []byte("usage/rollup/v1") // hour + group → totals
	metaBucket   = []byte("usage/meta/v1")
	seqKey       = []byte("seq")
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
}

// Ledger appends records durably. It is safe for concurrent use.
type Ledger struct {
	db *bbolt.DB

	mu      sync.Mutex
	queue   []*pending
	kick    chan struct{}
	closed  bool
	stopped chan struct{}

	// seq is the last sequence number committed; only the committer
	// goroutine writes it.
	seq uint64
}

type pending struct {
	r    *Record
	done chan error
}

var pendingPool = sync.Pool{New: func() any { return &pending{done: make(chan error, 1)} }}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("usage: ledger closed")

// Open opens the ledger in db, creating its buckets, and starts its
// committer.
func Open(db *bbolt.DB) (*Ledger, error) {
	l := &Ledger{db: db, kick: make(chan struct{}, 1), stopped: make(chan struct{})}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{outboxBucket, rollupBucket, metaBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if v := tx.Bucket(metaBucket).Get(seqKey); len(v) == 8 {
			l.seq = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("usage: open: %w", err)
	}
	go l.commitLoop()
	return l, nil
}

// Append assigns r its sequence number and returns once r is committed
// to disk. r must not be changed until Append returns.
func (l *Ledger) Append(r *Record) error {
	p := pendingPool.Get().(*pending)
	p.r = r
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
	err := <-p.done
	p.r = nil
	pendingPool.Put(p)
	return err
}

// Close commits what is queued and stops the committer.
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
	return nil
}

// commitLoop commits everything queued in one transaction, then looks
// again: whatever queued during a commit's fsync forms the next group.
func (l *Ledger) commitLoop() {
	defer close(l.stopped)
	var batch []*pending
	for range l.kick {
		// Drain until empty: appends that queued while this group
		// committed found the kick already pending, or none needed.
		for {
			l.mu.Lock()
			batch, l.queue = l.queue, batch[:0]
			l.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			err := l.commit(batch)
			for i, p := range batch {
				p.done <- err
				batch[i] = nil
			}
		}
	}
}

// commit writes batch: each record in the outbox under its sequence
// number, its rollup, and the new last sequence number.
func (l *Ledger) commit(batch []*pending) error {
	seq := l.seq
	err := l.db.Update(func(tx *bbolt.Tx) error {
		out, roll := tx.Bucket(outboxBucket), tx.Bucket(rollupBucket)
		var k [8]byte
		for _, p := range batch {
			seq++
			p.r.Seq = seq
			v, err := json.Marshal(p.r)
			if err != nil {
				return fmt.Errorf("usage: encode record %s: %w", p.r.ID, err)
			}
			binary.BigEndian.PutUint64(k[:], seq)
			if err := out.Put(k[:], v); err != nil {
				return err
			}
			if err := addRollup(roll, p.r); err != nil {
				return err
			}
		}
		binary.BigEndian.PutUint64(k[:], seq)
		return tx.Bucket(metaBucket).Put(seqKey, k[:])
	})
	if err != nil {
		for _, p := range batch {
			p.r.Seq = 0
		}
		return fmt.Errorf("usage: commit %d records: %w", len(batch), err)
	}
	l.seq = seq
	return nil
}

// Records calls fn for every record in the outbox from sequence number
// from on, in order, until fn returns false.
func (l *Ledger) Records(from uint64, fn func(*Record) bool) error {
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

// Len returns how many records the outbox holds.
func (l *Ledger) Len() int {
	n := 0
	l.db.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket(outboxBucket).Stats().KeyN
		return nil
	})
	return n
}

// Recent calls fn for the outbox's records from since on, newest first
// (for the limits' last minute at start).
func (l *Ledger) Recent(since time.Time, fn func(*Record)) error {
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
			fn(r)
		}
		return nil
	})
}
