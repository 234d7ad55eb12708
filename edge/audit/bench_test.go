package audit

import (
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/bbolt"
)

// BenchmarkAuthFailure is the cost a 401 flood puts on the request path:
// counting only, nothing written.
func BenchmarkAuthFailure(b *testing.B) {
	l, _ := testLog(b, Options{})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.AuthFailure("ew-abcdef…", "10.0.0.1")
	}
}

// BenchmarkAuthFailureDistinct is a flood from many keys: past
// MaxDistinct, events land in the overflow tally.
func BenchmarkAuthFailureDistinct(b *testing.B) {
	l, _ := testLog(b, Options{})
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("ew-%06d…", i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.AuthFailure(keys[i%len(keys)], "10.0.0.1")
	}
}

// BenchmarkAppend is one admin record: one bbolt transaction and fsync.
func BenchmarkAppend(b *testing.B) {
	l, _ := testLog(b, Options{})
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Admin("admin key", "key.create", "k1"); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzVerify puts arbitrary bytes in place of a record: Verify must name
// a broken chain, never panic or pass.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(`{"seq":2,"time":"2026-01-01T00:00:00Z","prev":"","kind":"admin","action":"x"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, rec []byte) {
		l, db := testLog(t, Options{})
		fill(t, l, 3)
		if err := db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketName).Put(seqKey(2), rec) }); err != nil {
			t.Skip()
		}
		_, err := Verify(db)
		var ce *ChainError
		if !errors.As(err, &ce) {
			t.Fatalf("Verify = %v, want a broken chain", err)
		}
	})
}
