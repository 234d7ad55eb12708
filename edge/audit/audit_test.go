package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func testLog(t testing.TB, opts Options) (*Log, *bbolt.DB) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "t.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if opts.Window == 0 {
		opts.Window = time.Hour // tests flush by hand
	}
	l, err := Open(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, db
}

// fill appends n admin records.
func fill(t testing.TB, l *Log, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if err := l.Admin("admin", "team.create", fmt.Sprintf("team-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVerifyOK(t *testing.T) {
	l, db := testLog(t, Options{})
	if sum, err := Verify(db); err != nil || sum.Records != 0 {
		t.Fatalf("empty log: %+v, %v", sum, err)
	}
	fill(t, l, 5)
	sum, err := Verify(db)
	if err != nil || sum.Records != 5 || len(sum.Head) != 64 {
		t.Fatalf("Verify = %+v, %v", sum, err)
	}
	recs, err := Tail(db, 2)
	if err != nil || len(recs) != 2 || recs[0].Seq != 4 || recs[1].Target != "team-5" {
		t.Fatalf("Tail = %+v, %v", recs, err)
	}
	if recs[1].Prev != hashOfRecord(t, db, 4) {
		t.Error("record 5 does not hold record 4's hash")
	}
}

func hashOfRecord(t *testing.T, db *bbolt.DB, seq uint64) string {
	var h string
	db.View(func(tx *bbolt.Tx) error { h = hashOf(tx.Bucket(bucketName).Get(seqKey(seq))); return nil })
	return h
}

// TestTamper: each way of breaking the chain is found and names the record.
func TestTamper(t *testing.T) {
	edit := func(seq uint64, f func(b []byte) []byte) func(tx *bbolt.Tx) error {
		return func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketName)
			return b.Put(seqKey(seq), f(append([]byte(nil), b.Get(seqKey(seq))...)))
		}
	}
	for _, tc := range []struct {
		name    string
		tamper  func(tx *bbolt.Tx) error
		wantSeq uint64
		reason  string
	}{
		{"edit a middle record", edit(3, func(b []byte) []byte { return bytes.Replace(b, []byte("team-3"), []byte("team-X"), 1) }), 3, "altered"},
		{"edit the last record", edit(5, func(b []byte) []byte { return bytes.Replace(b, []byte("team-5"), []byte("team-X"), 1) }), 5, "altered"},
		{"non-canonical bytes", edit(2, func(b []byte) []byte { return append(b, ' ') }), 2, "canonical"},
		{"not json", edit(2, func(b []byte) []byte { return b[1:] }), 2, "not a record"},
		{"delete a middle record", func(tx *bbolt.Tx) error { return tx.Bucket(bucketName).Delete(seqKey(3)) }, 3, "missing"},
		{"delete the first record", func(tx *bbolt.Tx) error { return tx.Bucket(bucketName).Delete(seqKey(1)) }, 1, "missing"},
		{"delete the last record", func(tx *bbolt.Tx) error { return tx.Bucket(bucketName).Delete(seqKey(5)) }, 5, "missing"},
		{"swap two records", func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketName)
			two, four := append([]byte(nil), b.Get(seqKey(2))...), append([]byte(nil), b.Get(seqKey(4))...)
			b.Put(seqKey(2), four)
			return b.Put(seqKey(4), two)
		}, 2, "out of place"},
		{"delete the head", func(tx *bbolt.Tx) error { return tx.Bucket(headBucket).Delete(headKey) }, 5, "head"},
		{"append behind its back", func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketName)
			enc, _ := encode(&Record{Seq: 6, Prev: hashOf(b.Get(seqKey(5))), Kind: KindAdmin, Action: "forged"})
			return b.Put(seqKey(6), enc)
		}, 6, "behind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, db := testLog(t, Options{})
			fill(t, l, 5)
			if err := db.Update(tc.tamper); err != nil {
				t.Fatal(err)
			}
			_, err := Verify(db)
			var ce *ChainError
			if !errors.As(err, &ce) {
				t.Fatalf("Verify = %v, want a *ChainError", err)
			}
			if ce.Seq != tc.wantSeq || !strings.Contains(ce.Reason, tc.reason) {
				t.Errorf("Verify = %v, want record %d (%s)", err, tc.wantSeq, tc.reason)
			}
		})
	}
}

// TestCoalesce: a flood of refusals costs a bounded number of records,
// and every event is counted.
func TestCoalesce(t *testing.T) {
	l, db := testLog(t, Options{MaxDistinct: 3})
	for i := range 1000 {
		l.AuthFailure(fmt.Sprintf("ew-%06d…", i%10), "10.0.0.1")
		l.LimitHit("ew-abcdef… (bot)", "rate_limit_exceeded")
	}
	l.AuthFailure("", "10.0.0.2")
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	recs, err := Tail(db, 100)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, r := range recs {
		counts[r.Kind] += r.Count
	}
	// auth: 3 distinct + 1 overflow; limit: 1.
	if len(recs) != 5 {
		t.Errorf("%d records for the flood, want 5: %+v", len(recs), recs)
	}
	if counts[KindAuth] != 1001 || counts[KindLimit] != 1000 {
		t.Errorf("counts = %v, want auth 1001, limit 1000", counts)
	}
	if _, err := Verify(db); err != nil {
		t.Error(err)
	}
	// Nothing pending: a flush writes nothing.
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if again, _ := Tail(db, 100); len(again) != len(recs) {
		t.Errorf("an empty flush wrote %d records", len(again)-len(recs))
	}
}

// TestCloseFlushes: refusals counted before Close are in the log after it.
func TestCloseFlushes(t *testing.T) {
	l, db := testLog(t, Options{})
	l.LimitHit("ew-abcdef… (k)", "budget_exceeded")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := Tail(db, 10)
	if err != nil || len(recs) != 1 || recs[0].Action != "limit.budget_exceeded" || recs[0].Count != 1 {
		t.Fatalf("after Close: %+v, %v", recs, err)
	}
}

// TestCanonical: a record's stored bytes decode and re-encode to themselves.
func TestCanonical(t *testing.T) {
	r := Record{Seq: 1, Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)), Kind: KindAdmin, Action: "a", Target: "<b>&"}
	enc, err := encode(&r)
	if err != nil {
		t.Fatal(err)
	}
	var back Record
	if err := json.Unmarshal(enc, &back); err != nil {
		t.Fatal(err)
	}
	again, _ := encode(&back)
	if !bytes.Equal(enc, again) {
		t.Errorf("not canonical:\n%s\n%s", enc, again)
	}
	if !bytes.Contains(enc, []byte(`"time":"2026-01-02T02:04:05.000000006Z"`)) || !bytes.Contains(enc, []byte("<b>&")) {
		t.Errorf("encoding: %s", enc)
	}
}

// TestConcurrentCounting: refusals counted from many goroutines while
// flushes run are all in the log, once.
func TestConcurrentCounting(t *testing.T) {
	l, db := testLog(t, Options{MaxDistinct: 4})
	const workers, each = 8, 500
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			if err := l.Flush(); err != nil {
				t.Error(err)
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				l.AuthFailure(fmt.Sprintf("ew-%06d…", (w+i)%7), "10.0.0.1")
				l.LimitHit("k", "rate_limit_exceeded")
			}
		})
	}
	wg.Wait()
	<-done
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	recs, err := Tail(db, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range recs {
		got[r.Kind] += r.Count
	}
	if got[KindAuth] != workers*each || got[KindLimit] != workers*each {
		t.Errorf("counted %v, want %d of each", got, workers*each)
	}
	if _, err := Verify(db); err != nil {
		t.Error(err)
	}
}
