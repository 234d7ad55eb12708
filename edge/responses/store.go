// Package responses keeps the answers of OpenAI's Responses API that
// clients asked to store (store: true, the API's default), so GET
// /v1/responses/{id} returns them and previous_response_id continues
// their conversation. Each is readable only by the key that made it, and
// the store is bounded by age and by count, oldest out first. A Put is
// visible at once and written to bbolt by a background goroutine, so the
// request that made it never waits for a disk flush.
package responses

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/edge/llm"
)

// Defaults.
const (
	// DefaultTTL is how long a stored response is kept: OpenAI's 30 days.
	DefaultTTL = 30 * 24 * time.Hour
	// DefaultMaxEntries bounds how many are kept.
	DefaultMaxEntries = 10000
	// maxStored bounds one stored entry (decoded), against a corrupt file.
	maxStored = 64 << 20
)

var (
	dataBucket  = []byte("responses/v1")      // id → zstd(JSON entry)
	timeBucket  = []byte("responses/time/v1") // created (8 bytes) + id → nil
	countBucket = []byte("responses/meta/v1")
	countKey    = []byte("n")
)

// entry is one stored response.
type entry struct {
	Owner   string          `json:"owner"`
	Created int64           `json:"created"` // Unix nanoseconds
	Body    json.RawMessage `json:"body"`
	Conv    []llm.Message   `json:"conv"`
}

// Options bound a Store; zero fields take the defaults.
type Options struct {
	TTL        time.Duration
	MaxEntries int
	Logger     *slog.Logger
	// Now is the clock, for tests.
	Now func() time.Time
}

// Store is the stored responses in a bbolt file. It is safe for
// concurrent use.
type Store struct {
	db  *bbolt.DB
	o   Options
	enc *zstd.Encoder
	dec *zstd.Decoder

	mu      sync.Mutex
	pending map[string]*entry // put, not yet in bbolt
	closed  bool
	kick    chan struct{}
	stopped chan struct{}
}

// Open opens the store in db, creating its buckets, and starts its writer.
func Open(db *bbolt.DB, o Options) (*Store, error) {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{dataBucket, timeBucket, countBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("responses: open: %w", err)
	}
	s := &Store{db: db, o: o, pending: map[string]*entry{}, kick: make(chan struct{}, 1), stopped: make(chan struct{})}
	if s.enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1)); err != nil {
		return nil, fmt.Errorf("responses: %w", err)
	}
	if s.dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxStored)); err != nil {
		return nil, fmt.Errorf("responses: %w", err)
	}
	go s.writeLoop()
	return s, nil
}

// Put stores the response body (the response object's JSON) and the
// conversation it ended, under id, for owner (a key id). body and conv
// are kept: the caller must not change them.
func (s *Store) Put(id, owner string, body []byte, conv []llm.Message) {
	e := &entry{Owner: owner, Created: s.o.Now().UnixNano(), Body: body, Conv: conv}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.pending[id] = e
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// get finds id for owner ("admin" reads any), pending or stored.
func (s *Store) get(id, owner string) (*entry, bool) {
	s.mu.Lock()
	e, ok := s.pending[id]
	s.mu.Unlock()
	if !ok {
		err := s.db.View(func(tx *bbolt.Tx) error {
			v := tx.Bucket(dataBucket).Get([]byte(id))
			if v == nil {
				return errNotFound
			}
			raw, err := s.dec.DecodeAll(v, nil)
			if err != nil {
				return err
			}
			e = new(entry)
			return json.Unmarshal(raw, e)
		})
		if err != nil {
			if !errors.Is(err, errNotFound) {
				s.o.Logger.Error("responses: stored response unreadable", "id", id, "err", err)
			}
			return nil, false
		}
	}
	if e.Owner != owner && owner != "admin" || s.o.Now().UnixNano()-e.Created > int64(s.o.TTL) {
		return nil, false
	}
	return e, true
}

var errNotFound = errors.New("responses: not found")

// Get returns the stored response object.
func (s *Store) Get(id, owner string) ([]byte, bool) {
	e, ok := s.get(id, owner)
	if !ok {
		return nil, false
	}
	return e.Body, true
}

// Conversation returns the messages a continuation of id starts from: the
// request's input and the answer.
func (s *Store) Conversation(id, owner string) ([]llm.Message, bool) {
	e, ok := s.get(id, owner)
	if !ok {
		return nil, false
	}
	return e.Conv, true
}

// Delete removes id, reporting whether owner could see it.
func (s *Store) Delete(id, owner string) bool {
	e, ok := s.get(id, owner)
	if !ok {
		return false
	}
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
	err := s.db.Update(func(tx *bbolt.Tx) error { return s.remove(tx, []byte(id), e.Created) })
	if err != nil {
		s.o.Logger.Error("responses: delete", "id", id, "err", err)
	}
	return true
}

// Close writes what is pending and stops the writer.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.kick)
	<-s.stopped
	return nil
}

func (s *Store) writeLoop() {
	defer close(s.stopped)
	for range s.kick {
		s.flush()
	}
	s.flush()
}

// flush writes the pending entries in one transaction and evicts what is
// past the age or count bound.
func (s *Store) flush() {
	s.mu.Lock()
	batch := make(map[string]*entry, len(s.pending))
	for id, e := range s.pending {
		batch[id] = e
	}
	s.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		data, times := tx.Bucket(dataBucket), tx.Bucket(timeBucket)
		n := s.count(tx)
		for id, e := range batch {
			raw, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if data.Get([]byte(id)) == nil {
				n++
			}
			if err := data.Put([]byte(id), s.enc.EncodeAll(raw, nil)); err != nil {
				return err
			}
			if err := times.Put(timeKey(e.Created, id), nil); err != nil {
				return err
			}
		}
		// Oldest first: past the count bound, or past the age bound.
		c := times.Cursor()
		cutoff := s.o.Now().UnixNano() - int64(s.o.TTL)
		for k, _ := c.First(); k != nil && len(k) > 8; k, _ = c.First() {
			created := int64(binary.BigEndian.Uint64(k[:8]))
			if n <= int64(s.o.MaxEntries) && created >= cutoff {
				break
			}
			if err := data.Delete(k[8:]); err != nil {
				return err
			}
			if err := times.Delete(k); err != nil {
				return err
			}
			n--
		}
		return s.setCount(tx, n)
	})
	s.mu.Lock()
	if err == nil {
		for id, e := range batch {
			if s.pending[id] == e {
				delete(s.pending, id)
			}
		}
	}
	s.mu.Unlock()
	if err != nil {
		// They stay pending, visible, and are written with the next Put.
		s.o.Logger.Error("responses: cannot store responses", "count", len(batch), "err", err)
	}
}

func (s *Store) remove(tx *bbolt.Tx, id []byte, created int64) error {
	data := tx.Bucket(dataBucket)
	if data.Get(id) == nil {
		return nil
	}
	if err := data.Delete(id); err != nil {
		return err
	}
	if err := tx.Bucket(timeBucket).Delete(timeKey(created, string(id))); err != nil {
		return err
	}
	return s.setCount(tx, s.count(tx)-1)
}

func (s *Store) count(tx *bbolt.Tx) int64 {
	if v := tx.Bucket(countBucket).Get(countKey); len(v) == 8 {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

func (s *Store) setCount(tx *bbolt.Tx, n int64) error {
	return tx.Bucket(countBucket).Put(countKey, binary.BigEndian.AppendUint64(nil, uint64(max(n, 0))))
}

func timeKey(created int64, id string) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(id)), uint64(created)), id...)
}
