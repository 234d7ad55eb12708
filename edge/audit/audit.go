// Package audit keeps the gateway's audit log: an append-only chain of
// records in the bbolt file (bucket "audit/v1") of who changed keys, teams
// and secrets, which config the gateway started with, and who was refused
// (401s) or limited (429s). Each record holds the SHA-256 of the previous
// record's stored bytes, and the bucket "audit/head/v1" holds the last
// record's sequence number and hash, so Verify finds any record altered,
// deleted, reordered or cut off the end by someone who did not recompute
// the whole chain. (Whoever can rewrite the file can recompute it; Verify
// prints the head hash so an operator can keep it elsewhere and compare.)
//
// A record's stored bytes are its canonical encoding: encoding/json of
// Record, whose fields are written in declaration order with no maps, and
// times in UTC. Verify re-encodes each record and refuses bytes that
// differ, so the hash covers exactly what a reader sees.
//
// Refusals come in floods, so they are not written one by one: AuthFailure
// and LimitHit count in memory and a flush (every Options.Window, default
// a minute, and at Close) writes one record per distinct (event, actor,
// client) with its count, at most MaxDistinct of them per window plus one
// record counting the rest. An attacker can make the log grow by at most
// 2×(MaxDistinct+1) records a window (about 10 MB a day with the
// defaults), whatever the request rate.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

var (
	bucketName = []byte("audit/v1")
	headBucket = []byte("audit/head/v1")
	headKey    = []byte("head")
)

// Kinds of record.
const (
	KindAdmin  = "admin"  // a change through the admin API or the CLI
	KindConfig = "config" // the effective config at start and at each live reload
	KindAuth   = "auth"   // requests refused for their key (401)
	KindLimit  = "limit"  // requests refused by a limit (429)
)

// Record is one entry of the log. Its JSON encoding is canonical (see the
// package doc): do not add maps or reorder fields without a new bucket.
type Record struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Prev is the hex SHA-256 of the previous record's stored bytes; empty
	// for the first record.
	Prev   string `json:"prev"`
	Kind   string `json:"kind"`
	Actor  string `json:"actor,omitempty"`
	Action string `json:"action"`
	Target string `json:"target,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Count is how many events a coalesced record stands for (0 for one),
	// the first of them at Since.
	Count int       `json:"count,omitempty"`
	Since time.Time `json:"since,omitzero"`
}

// Event is what a caller appends; the log fills in the chain fields.
type Event struct {
	Kind, Actor, Action, Target, Detail string
}

// Options tune a Log. Zero fields take the defaults.
type Options struct {
	// Window is how often coalesced refusals are written (default 1m).
	Window time.Duration
	// MaxDistinct bounds the records written per window for each of auth
	// failures and limit hits (default 16); the rest are counted in one.
	MaxDistinct int
	// Now is the clock (time.Now).
	Now func() time.Time
	// OnError is told about writes that failed in the background (the
	// coalesced flush); nil drops them.
	OnError func(error)
}

// Defaults for zero Options fields.
const (
	DefaultWindow      = time.Minute
	DefaultMaxDistinct = 16
)

// Log appends to the audit chain. It is safe for concurrent use; Close
// stops its flusher and writes what is pending.
type Log struct {
	db   *bbolt.DB
	opts Options

	mu       sync.Mutex
	pending  map[noisy]*tally
	overflow [2]tally // auth, limit
	distinct [2]int   // pending keys of each
	stop     chan struct{}
	done     chan struct{}
	closed   bool
}

// noisy identifies a coalesced event.
type noisy struct{ kind, actor, action, remote string }

type tally struct {
	n           int
	first, last time.Time
}

// Open returns the log over db, creating its buckets, and starts the
// flusher of coalesced events.
func Open(db *bbolt.DB, opts Options) (*Log, error) {
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.MaxDistinct <= 0 {
		opts.MaxDistinct = DefaultMaxDistinct
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketName); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(headBucket)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	l := &Log{db: db, opts: opts, pending: map[noisy]*tally{}, stop: make(chan struct{}), done: make(chan struct{})}
	go l.flusher()
	return l, nil
}

func (l *Log) flusher() {
	defer close(l.done)
	t := time.NewTicker(l.opts.Window)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			if err := l.Flush(); err != nil && l.opts.OnError != nil {
				l.opts.OnError(err)
			}
		}
	}
}

// Close stops the flusher and writes the pending coalesced records.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	return l.Flush()
}

// Append writes one record, durable when it returns.
func (l *Log) Append(e Event) error {
	now := l.opts.Now().UTC()
	return l.write([]Record{{Time: now, Kind: e.Kind, Actor: e.Actor, Action: e.Action, Target: e.Target, Detail: e.Detail}})
}

// write chains recs after the current head and stores them in one
// transaction (one fsync).
func (l *Log) write(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	err := l.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketName)
		var seq uint64
		prev := ""
		if k, v := b.Cursor().Last(); k != nil {
			seq = binary.BigEndian.Uint64(k)
			prev = hashOf(v)
		}
		var enc []byte
		for i := range recs {
			r := &recs[i]
			seq++
			r.Seq, r.Prev = seq, prev
			var err error
			if enc, err = encode(r); err != nil {
				return err
			}
			if err := b.Put(seqKey(seq), enc); err != nil {
				return err
			}
			prev = hashOf(enc)
		}
		h, _ := json.Marshal(head{Seq: seq, Hash: prev})
		return tx.Bucket(headBucket).Put(headKey, h)
	})
	if err != nil {
		return fmt.Errorf("audit: append: %w", err)
	}
	return nil
}

// head is the chain's end as last written.
type head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// encode is the canonical encoding of r.
func encode(r *Record) ([]byte, error) {
	r.Time = r.Time.UTC()
	if !r.Since.IsZero() {
		r.Since = r.Since.UTC()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Verify flushes the pending refusals and verifies the chain (see the
// function Verify).
func (l *Log) Verify() (Summary, error) {
	if err := l.Flush(); err != nil {
		return Summary{}, err
	}
	return Verify(l.db)
}

// Tail flushes the pending refusals and returns the last n records.
func (l *Log) Tail(n int) ([]Record, error) {
	if err := l.Flush(); err != nil {
		return nil, err
	}
	return Tail(l.db, n)
}

// Admin records a change made through the admin API or the CLI.
func (l *Log) Admin(actor, action, target string) error {
	return l.Append(Event{Kind: KindAdmin, Actor: actor, Action: action, Target: target})
}

// AuthFailure counts a request refused for its key: presented is the part
// of the key that may be shown (its prefix), remote the client's address.
// It is written at the next flush.
func (l *Log) AuthFailure(presented, remote string) {
	action := "auth.invalid_key"
	if presented == "" {
		action = "auth.missing_key"
	}
	l.count(noisy{KindAuth, presented, action, remote}, slotAuth)
}

// LimitHit counts a request refused by a limit (code as limits.Refusal's).
// It is written at the next flush.
func (l *Log) LimitHit(actor, code string) {
	l.count(noisy{KindLimit, actor, "limit." + code, ""}, slotLimit)
}

func (l *Log) count(k noisy, slot int) {
	now := l.opts.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.pending[k]
	if !ok {
		if l.distinct[slot] >= l.opts.MaxDistinct {
			t = &l.overflow[slot]
		} else {
			t = &tally{}
			l.pending[k] = t
			l.distinct[slot]++
		}
	}
	if t.n == 0 {
		t.first = now
	}
	t.n++
	t.last = now
}

// Slots of the per-kind tallies.
const (
	slotAuth = iota
	slotLimit
)

// Flush writes the coalesced refusals counted since the last flush.
func (l *Log) Flush() error {
	l.mu.Lock()
	var recs []Record
	for k, t := range l.pending {
		recs = append(recs, Record{Time: t.last, Since: t.first, Count: t.n, Kind: k.kind, Actor: k.actor, Action: k.action, Detail: remoteDetail(k.remote)})
	}
	for i, kind := range []string{KindAuth, KindLimit} {
		if t := l.overflow[i]; t.n > 0 {
			recs = append(recs, Record{Time: t.last, Since: t.first, Count: t.n, Kind: kind, Action: kind + ".other",
				Detail: fmt.Sprintf("more than %d distinct callers this window; the rest counted here", l.opts.MaxDistinct)})
		}
	}
	clear(l.pending)
	l.overflow = [2]tally{}
	l.distinct = [2]int{}
	l.mu.Unlock()
	sortRecords(recs)
	return l.write(recs)
}

func remoteDetail(remote string) string {
	if remote == "" {
		return ""
	}
	return "from " + remote
}

// sortRecords orders a flush's records by time, then fields, so a flush
// is written in a reproducible order.
func sortRecords(recs []Record) {
	less := func(a, b *Record) bool {
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		if a.Action != b.Action {
			return a.Action < b.Action
		}
		if a.Actor != b.Actor {
			return a.Actor < b.Actor
		}
		return a.Detail < b.Detail
	}
	for i := 1; i < len(recs); i++ {
		for j := i; j > 0 && less(&recs[j], &recs[j-1]); j-- {
			recs[j], recs[j-1] = recs[j-1], recs[j]
		}
	}
}

// ChainError says where the chain is broken. Verify returns it.
type ChainError struct {
	Seq    uint64 // the record at fault
	Reason string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("audit chain broken at record %d: %s", e.Seq, e.Reason)
}

// ErrNoLog is returned by Verify and Tail for a file without an audit log.
var ErrNoLog = errors.New("audit: the data file holds no audit log")

// Summary is what Verify found in a sound chain.
type Summary struct {
	Records uint64
	// Head is the hex SHA-256 of the last record: keep it elsewhere to
	// detect a chain rewritten from scratch.
	Head string
}

// Verify walks the whole chain and returns a *ChainError naming the first
// record at fault: one altered (its successor's Prev, or the head, does
// not match its hash; or its bytes are not canonical), missing (a gap in
// the sequence), out of place (its Seq is not its position) or cut off
// the end (the head names a later record).
func Verify(db *bbolt.DB) (Summary, error) {
	var sum Summary
	err := db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketName)
		if b == nil {
			return ErrNoLog
		}
		var (
			want uint64 = 1
			prev string
		)
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) != 8 {
				return &ChainError{Seq: want, Reason: fmt.Sprintf("a stray key %x in the log", k)}
			}
			seq := binary.BigEndian.Uint64(k)
			if seq != want {
				if want == 1 {
					return &ChainError{Seq: 1, Reason: fmt.Sprintf("records 1 to %d are missing", seq-1)}
				}
				return &ChainError{Seq: want, Reason: fmt.Sprintf("missing (the next record is %d)", seq)}
			}
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return &ChainError{Seq: seq, Reason: "altered: not a record (" + err.Error() + ")"}
			}
			if r.Seq != seq {
				return &ChainError{Seq: seq, Reason: fmt.Sprintf("out of place: it says it is record %d", r.Seq)}
			}
			if r.Prev != prev {
				return &ChainError{Seq: seq - 1, Reason: fmt.Sprintf("altered: record %d holds a different hash of it", seq)}
			}
			if enc, err := encode(&r); err != nil || !bytes.Equal(enc, v) {
				return &ChainError{Seq: seq, Reason: "altered: its bytes are not the canonical encoding of what they say"}
			}
			prev = hashOf(v)
			want++
		}
		sum = Summary{Records: want - 1, Head: prev}
		var h head
		hv := tx.Bucket(headBucket)
		if hv == nil || hv.Get(headKey) == nil {
			if sum.Records == 0 {
				return nil
			}
			return &ChainError{Seq: sum.Records, Reason: "the head record is missing"}
		}
		if err := json.Unmarshal(hv.Get(headKey), &h); err != nil {
			return &ChainError{Seq: sum.Records, Reason: "the head record is damaged"}
		}
		switch {
		case h.Seq > sum.Records:
			return &ChainError{Seq: sum.Records + 1, Reason: fmt.Sprintf("missing: the log ends at %d but its head says %d", sum.Records, h.Seq)}
		case h.Seq < sum.Records:
			return &ChainError{Seq: h.Seq + 1, Reason: fmt.Sprintf("appended behind the log's back (the head says %d)", h.Seq)}
		case h.Hash != prev:
			return &ChainError{Seq: sum.Records, Reason: "altered: the head holds a different hash of it"}
		}
		return nil
	})
	return sum, err
}

// Tail returns the last n records, oldest first.
func Tail(db *bbolt.DB, n int) ([]Record, error) {
	var out []Record
	err := db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketName)
		if b == nil {
			return ErrNoLog
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				r = Record{Action: "(unreadable record)"}
				if len(k) == 8 {
					r.Seq = binary.BigEndian.Uint64(k)
				}
			}
			out = append(out, r)
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}
