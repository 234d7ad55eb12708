package usage

import (
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// TestHoldAndRemove: held records are never folded, even across a
// reopen; Remove deletes through a key and keeps the outbox's byte count
// equal to what it holds.
func TestHoldAndRemove(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "u.db"))
	defer db.Close()
	const maxBytes = 8000
	l := openBounded(t, db, maxBytes)
	add := func(from, to int) {
		for i := from; i < to; i++ {
			r := &Record{ID: "req", Time: t0.Add(time.Duration(i) * time.Minute), Key: "a", Provider: "p", Model: "m", TokensIn: i, Outcome: "ok"}
			if err := l.Append(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(0, 20)
	if err := l.Hold(10); err != nil {
		t.Fatal(err)
	}
	if err := l.Hold(5); err != nil { // lower: no effect
		t.Fatal(err)
	}
	l.Close()
	l = openBounded(t, db, maxBytes)
	defer l.Close()
	add(20, 300)
	if st := l.Stats(); st.Folded == 0 {
		t.Fatalf("nothing folded: %+v", st)
	}
	var seqs []uint64
	l.Records(0, func(r *Record) bool {
		if r.Seq <= 10 && r.Rollup != nil {
			t.Errorf("held record %d was folded", r.Seq)
		}
		seqs = append(seqs, r.Seq)
		return true
	})
	for i := range 10 {
		if seqs[i] != uint64(i+1) {
			t.Fatalf("held records %v", seqs[:11])
		}
	}
	for _, through := range []uint64{0, 4, 10, seqs[len(seqs)/2], 1 << 62} {
		if err := l.Remove(through); err != nil {
			t.Fatal(err)
		}
		var n int
		var bytes int64
		l.Records(0, func(r *Record) bool {
			if r.Seq <= through {
				t.Fatalf("record %d left after Remove(%d)", r.Seq, through)
			}
			n++
			return true
		})
		db.View(func(tx *bbolt.Tx) error {
			return tx.Bucket(outboxBucket).ForEach(func(_, v []byte) error { bytes += int64(len(v)); return nil })
		})
		if st := l.Stats(); st.Records != n || st.Bytes != bytes {
			t.Fatalf("after Remove(%d): stats %+v, outbox %d records %d bytes", through, st, n, bytes)
		}
	}
	if l.Appended() != 300 {
		t.Fatalf("Appended %d", l.Appended())
	}
}

// openBounded opens a ledger in db whose outbox folds past maxBytes.
func openBounded(t *testing.T, db *bbolt.DB, maxBytes int64) *Ledger {
	t.Helper()
	l, err := Open(db, Options{MaxBytes: maxBytes, Sync: SyncWrite})
	if err != nil {
		t.Fatal(err)
	}
	return l
}
