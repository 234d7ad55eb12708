package usage

import (
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func openDB(t testing.TB, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func openLedger(t testing.TB, path string) (*Ledger, *bbolt.DB) {
	t.Helper()
	db := openDB(t, path)
	l, err := Open(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return l, db
}

var t0 = time.Date(2026, 12, 6, 10, 30, 0, 0, time.UTC)

func TestConcurrentAppendsAreOrderedAndDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "u.db")
	l, db := openLedger(t, path)
	const workers, each = 16, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := &Record{ID: fmt.Sprintf("req_%d_%d", w, i), Time: t0, Key: "k", Provider: "p", Model: "m",
					TokensIn: 10, TokensOut: 5, CostUSD: 0.000015, CostKnown: true, Status: 200, Outcome: "ok"}
				if err := l.Append(r); err != nil {
					t.Error(err)
					return
				}
				if r.Seq == 0 {
					t.Error("no sequence number")
				}
			}
		}()
	}
	wg.Wait()
	l.Close()
	if err := l.Append(&Record{}); err != ErrClosed {
		t.Fatalf("append after close: %v", err)
	}
	db.Close()

	// Reopen: every record is there, numbered 1..N without a gap, and
	// the sequence continues.
	l, db = openLedger(t, path)
	defer db.Close()
	defer l.Close()
	var want uint64 = 1
	ids := map[string]bool{}
	err := l.Records(0, func(r *Record) bool {
		if r.Seq != want {
			t.Fatalf("seq %d, want %d", r.Seq, want)
		}
		ids[r.ID] = true
		want++
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); len(ids) != workers*each || st.Records != workers*each || st.LastSeq != workers*each {
		t.Fatalf("%+v (%d ids), want %d", st, len(ids), workers*each)
	}
	r := &Record{ID: "after", Time: t0, Outcome: "ok"}
	if err := l.Append(r); err != nil || r.Seq != workers*each+1 {
		t.Fatalf("seq after reopen %d (%v)", r.Seq, err)
	}
	rows, err := l.Report(t0.Add(-time.Hour), "key", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Group != "k" || rows[0].Requests != workers*each || rows[0].TokensIn != 10*workers*each ||
		math.Abs(rows[0].CostUSD-0.000015*workers*each) > 1e-9 {
		t.Fatalf("report %+v", rows)
	}
}

func TestReport(t *testing.T) {
	l, db := openLedger(t, filepath.Join(t.TempDir(), "u.db"))
	defer db.Close()
	defer l.Close()
	recs := []Record{
		{Time: t0, Key: "a", Team: "x", Provider: "openai", Model: "gpt", TokensIn: 100, TokensOut: 10, CostUSD: 0.5, CostKnown: true, Outcome: "ok"},
		{Time: t0.Add(2 * time.Hour), Key: "a", Team: "x", Provider: "openai", Model: "gpt", TokensIn: 100, TokensOut: 10, CostUSD: 0.25, CostKnown: true, Outcome: "ok"},
		{Time: t0, Key: "b", Team: "x", Provider: "ollama", Model: "qwen", TokensIn: 7, CostKnown: true, Outcome: "ok"},
		{Time: t0, Key: "b", Team: "y", Provider: "cloud", Model: "mystery", TokensIn: 1, Outcome: "ok"},
		{Time: t0, Key: "b", Team: "y", Provider: "cache", Model: "gpt", Cache: "hit", CostKnown: true, Outcome: "ok"},
		{Time: t0, Key: "b", Team: "y", Provider: "", Outcome: "rate_limited", Status: 429},
		{Time: t0.Add(-48 * time.Hour), Key: "old", Provider: "openai", Model: "gpt", CostUSD: 9, CostKnown: true, Outcome: "ok"},
	}
	for i := range recs {
		if err := l.Append(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	since := t0.Add(-time.Hour)
	for _, tc := range []struct {
		by   string
		want map[string]Totals
	}{
		{"", map[string]Totals{"all": {Requests: 6, Errors: 1, CacheHits: 1, TokensIn: 208, TokensOut: 20, CostUSD: 0.75, UnknownCost: 1}}},
		{"team", map[string]Totals{
			"x": {Requests: 3, TokensIn: 207, TokensOut: 20, CostUSD: 0.75},
			"y": {Requests: 3, Errors: 1, CacheHits: 1, TokensIn: 1, UnknownCost: 1},
		}},
		{"provider", map[string]Totals{
			"openai": {Requests: 2, TokensIn: 200, TokensOut: 20, CostUSD: 0.75},
			"ollama": {Requests: 1, TokensIn: 7}, "cloud": {Requests: 1, TokensIn: 1, UnknownCost: 1},
			"cache": {Requests: 1, CacheHits: 1}, "": {Requests: 1, Errors: 1},
		}},
	} {
		rows, err := l.Report(since, tc.by, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(tc.want) {
			t.Fatalf("by %q: %+v", tc.by, rows)
		}
		for _, r := range rows {
			if w := tc.want[r.Group]; r.Totals != w {
				t.Errorf("by %q, %q: %+v, want %+v", tc.by, r.Group, r.Totals, w)
			}
		}
	}
	if _, err := l.Report(since, "color", ""); err == nil {
		t.Fatal("unknown grouping accepted")
	}
	if rows, _ := l.Report(since, "key", "y"); len(rows) != 1 || rows[0].Group != "b" || rows[0].Requests != 3 {
		t.Fatalf("team y by key: %+v", rows)
	}
}

// BenchmarkAppendParallel shows the group commit: with many appenders,
// commits (and fsyncs) are shared.
func BenchmarkAppendParallel(b *testing.B) { benchAppendParallel(b, Options{}) }

func benchAppendParallel(b *testing.B, opts Options) {
	db := openDB(b, filepath.Join(b.TempDir(), "u.db"))
	defer db.Close()
	l, err := Open(db, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := &Record{ID: "req_x", Time: t0, Key: "key_1", Provider: "openai", Model: "gpt-4o-mini", TokensIn: 100, TokensOut: 20, CostKnown: true, Outcome: "ok"}
			if err := l.Append(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAppendSerial is one appender: every record pays a whole
// commit (the latency a lone request adds).
func BenchmarkAppendSerial(b *testing.B) {
	l, db := openLedger(b, filepath.Join(b.TempDir(), "u.db"))
	defer db.Close()
	defer l.Close()
	b.ReportAllocs()
	for b.Loop() {
		r := &Record{ID: "req_x", Time: t0, Key: "key_1", Provider: "openai", Model: "gpt-4o-mini", TokensIn: 100, TokensOut: 20, CostKnown: true, Outcome: "ok"}
		if err := l.Append(r); err != nil {
			b.Fatal(err)
		}
	}
}
