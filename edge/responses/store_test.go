package responses

import (
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/edge/llm"
)

func openStore(t *testing.T, path string, o Options) (*Store, *bbolt.DB) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(db, o)
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

func TestPutGetAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	s, db := openStore(t, path, Options{})
	conv := []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "hi"}}}}
	s.Put("resp_1", "key_a", []byte(`{"id":"resp_1"}`), conv)
	// Visible at once, before the writer has run.
	if b, ok := s.Get("resp_1", "key_a"); !ok || string(b) != `{"id":"resp_1"}` {
		t.Fatalf("get pending: %s %v", b, ok)
	}
	if _, ok := s.Get("resp_1", "key_b"); ok {
		t.Fatal("another key read the response")
	}
	s.Close()
	db.Close()

	s, db = openStore(t, path, Options{})
	defer db.Close()
	defer s.Close()
	if c, ok := s.Conversation("resp_1", "key_a"); !ok || len(c) != 1 || c[0].Text() != "hi" {
		t.Fatalf("conversation after restart: %+v %v", c, ok)
	}
	if _, ok := s.Get("resp_1", "admin"); !ok {
		t.Fatal("admin cannot read it")
	}
	if !s.Delete("resp_1", "key_a") || s.Delete("resp_1", "key_a") {
		t.Fatal("delete")
	}
	if _, ok := s.Get("resp_1", "key_a"); ok {
		t.Fatal("deleted response still there")
	}
}

func TestBounds(t *testing.T) {
	var clock atomic.Int64 // the writer goroutine reads it too
	clock.Store(1_800_000_000)
	s, db := openStore(t, filepath.Join(t.TempDir(), "r.db"), Options{MaxEntries: 3, TTL: time.Hour,
		Now: func() time.Time { return time.Unix(clock.Load(), 0) }})
	defer db.Close()
	for i := range 5 {
		s.Put("resp_"+strconv.Itoa(i), "k", []byte("{}"), nil)
		s.flush()
		clock.Add(1)
	}
	for i := range 5 {
		if _, ok := s.Get("resp_"+strconv.Itoa(i), "k"); ok != (i >= 2) {
			t.Errorf("resp_%d kept %v with 3 entries at most", i, ok)
		}
	}
	clock.Add(7200)
	if _, ok := s.Get("resp_4", "k"); ok {
		t.Fatal("expired response served")
	}
	s.Put("resp_5", "k", []byte("{}"), nil)
	s.Close()
	db.View(func(tx *bbolt.Tx) error {
		if n := tx.Bucket(dataBucket).Stats().KeyN; n != 1 {
			t.Errorf("%d entries after expiry, want 1", n)
		}
		return nil
	})
}
