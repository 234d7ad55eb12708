package usage

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// walRecords writes recs straight into the ledger's write-ahead file, as
// a gateway killed between a group's fdatasync and its bbolt commit
// leaves it.
func walRecords(t *testing.T, path string, recs ...*Record) {
	t.Helper()
	w, err := openWAL(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.scan(func(uint64, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var as []applyRec
	for _, r := range recs {
		v, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		as = append(as, toApply(r.Seq, v, r))
	}
	if err := w.append(as); err != nil {
		t.Fatal(err)
	}
	w.close()
}

func TestReplayAfterKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "u.db")
	l, db := openLedger(t, path)
	for i := range 3 {
		if err := l.Append(&Record{ID: "a" + string(rune('0'+i)), Time: t0, Key: "k", TokensIn: 1, Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	db.Close()

	// The kill: records 2 and 3 again (applied before it), 4 and 5 only in
	// the file, and a torn sixth frame that was never acknowledged.
	walPath := path + ".ledger"
	walRecords(t, walPath,
		&Record{Seq: 2, ID: "a1", Time: t0, Key: "k", TokensIn: 1, Outcome: "ok"},
		&Record{Seq: 3, ID: "a2", Time: t0, Key: "k", TokensIn: 1, Outcome: "ok"},
		&Record{Seq: 4, ID: "b4", Time: t0, Key: "k", TokensIn: 10, Outcome: "ok"},
		&Record{Seq: 5, ID: "b5", Time: t0, Key: "j", TokensIn: 100, Outcome: "ok"})
	f, err := os.OpenFile(walPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, 6, 0, 0, 0, 0, 0, 0, 0, '{', '"'})
	f.Close()

	l, db = openLedger(t, path)
	var ids []string
	l.Records(0, func(r *Record) bool { ids = append(ids, r.ID); return true })
	if want := []string{"a0", "a1", "a2", "b4", "b5"}; len(ids) != len(want) || ids[3] != "b4" || ids[4] != "b5" {
		t.Fatalf("outbox %v, want %v", ids, want)
	}
	rows, err := l.Report(t0.Add(-time.Hour), "key", "")
	if err != nil || len(rows) != 2 {
		t.Fatalf("%+v %v", rows, err)
	}
	for _, r := range rows {
		if want := map[string]int64{"k": 13, "j": 100}[r.Group]; r.TokensIn != want || (r.Group == "k") != (r.Requests == 4) {
			t.Errorf("%s: %+v, want %d tokens (replayed records counted once)", r.Group, r.Totals, want)
		}
	}
	r := &Record{ID: "c", Time: t0, Outcome: "ok"}
	if err := l.Append(r); err != nil || r.Seq != 6 {
		t.Fatalf("seq after replay %d (%v)", r.Seq, err)
	}

	// The file still holds the replayed frames after the new one; a second
	// kill and start counts none of them twice.
	l.Close()
	db.Close()
	l, db = openLedger(t, path)
	defer db.Close()
	defer l.Close()
	if st := l.Stats(); st.Records != 6 || st.LastSeq != 6 {
		t.Fatalf("after a second start: %+v, want 6 records", st)
	}
	if rows, _ := l.Report(t0.Add(-time.Hour), "", ""); len(rows) != 1 || rows[0].Requests != 6 || rows[0].TokensIn != 113 {
		t.Fatalf("after a second start: %+v", rows)
	}
}

// TestWriteAheadFileRotates appends past the rotation size: the file is
// emptied once bbolt holds what it held, and nothing is lost.
func TestWriteAheadFileRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "u.db")
	l, db := openLedger(t, path)
	defer db.Close()
	big := map[string]string{"pad": string(make([]byte, 4000))}
	n := walRotate/4000 + 50
	for range n {
		if err := l.Append(&Record{ID: "r", Time: t0, Tags: big, Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if st := l.Stats(); st.Records != n {
		t.Fatalf("%+v, want %d records", st, n)
	}
	l.Close()
	if fi, err := os.Stat(path + ".ledger"); err != nil || fi.Size() != walPrealloc {
		t.Fatalf("write-ahead file %d bytes after %d records, want it to stay at %d (%v)", fi.Size(), n, walPrealloc, err)
	}
}

func TestFoldKeepsEveryRequest(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "u.db"))
	defer db.Close()
	const maxBytes = 8000
	l := openBounded(t, db, maxBytes)
	defer l.Close()
	var want Totals
	const n = 300
	for i := range n {
		r := &Record{ID: "req", Time: t0.Add(time.Duration(i) * time.Minute), Key: []string{"a", "b"}[i%2],
			Provider: "p", Model: "m", TokensIn: i, TokensOut: 1, CostUSD: 0.001, CostKnown: true, Outcome: "ok"}
		if err := l.Append(r); err != nil {
			t.Fatal(err)
		}
		want.add(r)
	}
	st := l.Stats()
	if st.Bytes > maxBytes || st.Folded == 0 || st.LastSeq != n {
		t.Fatalf("outbox %+v after %d records, bound %d", st, n, maxBytes)
	}
	var got Totals
	last := uint64(0)
	err := l.Records(0, func(r *Record) bool {
		if r.Seq <= last {
			t.Fatalf("seq %d after %d", r.Seq, last)
		}
		last = r.Seq
		if r.Rollup != nil {
			got.Add(*r.Rollup)
		} else {
			got.add(r)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Requests != want.Requests || got.TokensIn != want.TokensIn || got.TokensOut != want.TokensOut ||
		got.CostUSD-want.CostUSD > 1e-9 || want.CostUSD-got.CostUSD > 1e-9 {
		t.Fatalf("outbox sums %+v, want %+v", got, want)
	}
	rows, err := l.Report(t0.Add(-time.Hour), "", "")
	if err != nil || len(rows) != 1 || rows[0].Requests != n || rows[0].TokensIn != want.TokensIn {
		t.Fatalf("report after folding %+v %v", rows, err)
	}
}

func FuzzWALScan(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, '{', '}'})
	f.Add([]byte{255, 255, 255, 255, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "w")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		w, err := openWAL(path, false)
		if err != nil {
			t.Fatal(err)
		}
		defer w.close()
		total := 0
		if err := w.scan(func(_ uint64, rec []byte) error { total += walHeader + len(rec); return nil }); err != nil {
			t.Fatal(err)
		}
		if w.size != int64(total) || w.size > int64(len(data)) {
			t.Fatalf("size %d after frames of %d bytes in %d", w.size, total, len(data))
		}
	})
}

// BenchmarkAppendParallelWrite is BenchmarkAppendParallel with sync:
// write: no fdatasync, so what is left is the committer and the write.
func BenchmarkAppendParallelWrite(b *testing.B) { benchAppendParallel(b, Options{Sync: SyncWrite}) }
