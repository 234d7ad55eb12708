package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/edge/config"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/sync/fleet/natstest"
	"github.com/edgeway/edgeway/sync/usage"
)

func openLedger(t testing.TB, opts usage.Options) *usage.Ledger {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "u.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.Sync = usage.SyncWrite
	l, err := usage.Open(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); db.Close() })
	return l
}

func appendN(t testing.TB, l *usage.Ledger, n int) {
	t.Helper()
	for i := range n {
		r := &usage.Record{ID: "req-" + strconv.Itoa(i), Time: time.Now(), Key: "k", Provider: "p", Model: "m", TokensIn: 10, TokensOut: 1, Outcome: "ok"}
		if err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
}

func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := Connect(config.Fleet{URL: url}, "test", nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func newPublisher(t testing.TB, nc *nats.Conn, l Outbox, opts PublisherOptions) *Publisher {
	t.Helper()
	if opts.Device == "" {
		opts.Device = "dev1"
	}
	// Quick retries: the tests restart the server.
	opts.BackoffMin, opts.BackoffMax, opts.Poll = time.Millisecond, 20*time.Millisecond, 5*time.Millisecond
	p, err := NewPublisher(nc, l, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// streamSeqs reads every message of device's subject, in stream order,
// and returns the device sequence numbers they carry.
func streamSeqs(t testing.TB, nc *nats.Conn, device string) []uint64 {
	t.Helper()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	s, err := js.Stream(ctx, UsageStream)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for seq := uint64(1); ; seq++ {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(UsageSubject(device)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return seqs
		}
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseUint(m.Header.Get(MsgSeqHeader), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if m.Header.Get(nats.MsgIdHdr) != device+"-"+strconv.FormatUint(n, 10) {
			t.Fatalf("message %d: Nats-Msg-Id %q", m.Sequence, m.Header.Get(nats.MsgIdHdr))
		}
		seqs = append(seqs, n)
		seq = m.Sequence
	}
}

// exactlyOnce waits until the outbox is empty and checks the stream holds
// 1..n once each, in order.
func exactlyOnce(t testing.TB, nc *nats.Conn, l *usage.Ledger, device string, n int) {
	t.Helper()
	testkit.Eventually(t, "outbox drained", func() error {
		if st := l.Stats(); st.Records != 0 {
			return fmt.Errorf("outbox %+v", st)
		}
		return nil
	})
	seqs := streamSeqs(t, nc, device)
	if len(seqs) != n {
		t.Fatalf("stream holds %d messages for %s, want %d", len(seqs), device, n)
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("message %d carries seq %d", i, s)
		}
	}
}

func createStream(t testing.TB, nc *nats.Conn, dup time.Duration) {
	t.Helper()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateOrUpdateStream(context.Background(), UsageStreamConfig(dup)); err != nil {
		t.Fatal(err)
	}
}

// TestOfflineThenOnline: records made while NATS is down all arrive once
// it is up, once each; the publisher starts before the server does.
func TestOfflineThenOnline(t *testing.T) {
	srv := natstest.Start(t)
	url := srv.URL()
	srv.Stop()
	l := openLedger(t, usage.Options{})
	nc := connect(t, url)
	p := newPublisher(t, nc, l, PublisherOptions{})
	p.Start()
	defer p.Stop()
	const n = 500
	appendN(t, l, n)
	if st := l.Stats(); st.Records != n {
		t.Fatalf("outbox %+v while offline", st)
	}
	srv.Restart()
	exactlyOnce(t, nc, l, "dev1", n)
}

// TestBeyondTheDuplicateWindow: the device published part of its outbox
// and died before the acks removed it; it comes back after the stream's
// duplicate window has passed, so dedupe cannot help: resync must.
func TestBeyondTheDuplicateWindow(t *testing.T) {
	for _, tc := range []struct {
		name      string
		published int // before the "death"
	}{
		{"none", 0},
		{"some", 37},
		{"all", 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := natstest.Start(t)
			nc := connect(t, srv.URL())
			const window = 100 * time.Millisecond
			createStream(t, nc, window)
			l := openLedger(t, usage.Options{})
			const n = 100
			appendN(t, l, n)
			// The dead device's publishes: acked by the stream, never
			// removed from the outbox.
			dead := newPublisher(t, nc, l, PublisherOptions{})
			js, _ := jetstream.New(nc)
			i := 0
			l.Records(0, func(r *usage.Record) bool {
				if i == tc.published {
					return false
				}
				i++
				m, err := dead.message(r)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := js.PublishMsg(context.Background(), m); err != nil {
					t.Fatal(err)
				}
				return true
			})
			// The scenario's input, not synchronisation: the device stays
			// away past the duplicate window.
			time.Sleep(4 * window)
			p := newPublisher(t, nc, l, PublisherOptions{DuplicateWindow: window})
			p.Start()
			defer p.Stop()
			exactlyOnce(t, nc, l, "dev1", n)
		})
	}
}

// TestNATSRestartMidPublish: the server restarts while the outbox
// drains; the stream still ends with every record once.
func TestNATSRestartMidPublish(t *testing.T) {
	srv := natstest.Start(t)
	nc := connect(t, srv.URL())
	l := openLedger(t, usage.Options{})
	const n = 20000
	appendN(t, l, n)
	p := newPublisher(t, nc, l, PublisherOptions{Window: 64})
	p.Start()
	defer p.Stop()
	for range 2 {
		before := p.State().Published
		testkit.Until(t, "some records published", func() bool { return p.State().Published > before })
		srv.Restart()
	}
	exactlyOnce(t, nc, l, "dev1", n)
}

// TestTwoDevicesShareTheStream: each device's seqs are its own.
func TestTwoDevicesShareTheStream(t *testing.T) {
	srv := natstest.Start(t)
	nc := connect(t, srv.URL())
	var ls []*usage.Ledger
	for i, dev := range []string{"a", "b"} {
		l := openLedger(t, usage.Options{})
		appendN(t, l, 50+i*10)
		p := newPublisher(t, nc, l, PublisherOptions{Device: dev})
		p.Start()
		defer p.Stop()
		ls = append(ls, l)
	}
	exactlyOnce(t, nc, ls[0], "a", 50)
	exactlyOnce(t, nc, ls[1], "b", 60)
}

// resyncSetup is a publisher of a ledger of 10 records, not started,
// and the stream.
func resyncSetup(t *testing.T) (*Publisher, *usage.Ledger, jetstream.Stream) {
	t.Helper()
	srv := natstest.Start(t)
	nc := connect(t, srv.URL())
	l := openLedger(t, usage.Options{})
	appendN(t, l, 10)
	p := newPublisher(t, nc, l, PublisherOptions{})
	s, err := p.ensureStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p, l, s
}

// TestResync covers the resync rules directly: the stream's last
// message (a plain or a fold record) decides what the outbox drops, and
// a publish whose expected last subject sequence is stale is refused.
func TestResync(t *testing.T) {
	p, l, s := resyncSetup(t)
	ctx := context.Background()
	last, mark, err := p.resync(ctx, s)
	if err != nil || last != 0 || mark != 0 {
		t.Fatalf("empty stream: last %d mark %d err %v", last, mark, err)
	}
	// Someone (a copy of this device) published a fold record covering
	// 1..4 after the resync: the publisher's expectation is now stale.
	fold := &usage.Record{Seq: 1, LastSeq: 4, Rollup: &usage.Totals{Requests: 4}, Outcome: "rollup"}
	m, _ := p.message(fold)
	if m.Header.Get(MsgLastSeqHeader) != "4" {
		t.Fatalf("fold headers %v", m.Header)
	}
	if _, err := p.js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	n, err := p.window(ctx, &last, &mark)
	var apiErr *jetstream.APIError
	if n != 0 || !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
		t.Fatalf("stale expectation: %d acked, err %v", n, err)
	}
	if st := l.Stats(); st.Records != 10 {
		t.Fatalf("a refused window removed records: %+v", st)
	}
	if last, mark, err = p.resync(ctx, s); err != nil || last != 1 || mark != 4 {
		t.Fatalf("after the fold: last %d mark %d err %v", last, mark, err)
	}
	if st := l.Stats(); st.Records != 6 {
		t.Fatalf("resync left %+v, want records 5..10", st)
	}
	if n, err = p.window(ctx, &last, &mark); n != 6 || err != nil || mark != 10 {
		t.Fatalf("window: %d acked, mark %d, err %v", n, mark, err)
	}
}

func TestMessageMark(t *testing.T) {
	for _, tc := range []struct {
		name    string
		hdr     map[string]string
		want    uint64
		wantErr bool
	}{
		{"plain", map[string]string{MsgSeqHeader: "7"}, 7, false},
		{"fold", map[string]string{MsgSeqHeader: "3", MsgLastSeqHeader: "9"}, 9, false},
		{"none", nil, 0, true},
		{"garbage", map[string]string{MsgSeqHeader: "x"}, 0, true},
		{"negative", map[string]string{MsgSeqHeader: "-1"}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := nats.Header{}
			for k, v := range tc.hdr {
				h.Set(k, v)
			}
			got, err := MessageMark(h)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("got %d, %v", got, err)
			}
		})
	}
}

// BenchmarkDrainAfterReconnect: 10k records made offline, then the
// server comes up; it reports the time from the server being up to the
// outbox being empty, records/s, and outbox bytes per 1k records. Run
// with -benchtime=1x.
func BenchmarkDrainAfterReconnect(b *testing.B) {
	const n = 10000
	for range b.N {
		b.StopTimer()
		srv := natstest.Start(b)
		url := srv.URL()
		srv.Stop()
		l := openLedger(b, usage.Options{})
		appendN(b, l, n)
		st := l.Stats()
		nc := connect(b, url)
		p := newPublisher(b, nc, l, PublisherOptions{})
		p.Start()
		b.StartTimer()
		start := time.Now()
		srv.Restart()
		testkit.Until(b, "drained", func() bool { return p.State().Published == n })
		d := time.Since(start)
		b.StopTimer()
		p.Stop()
		b.ReportMetric(d.Seconds(), "s-to-drain-10k")
		b.ReportMetric(n/d.Seconds(), "records/s")
		b.ReportMetric(float64(st.Bytes)/n*1000, "outbox-bytes/1k")
	}
}

// BenchmarkDrainConnected: records/s while connected (one publish in
// flight against a server on loopback). Run with -benchtime=1x.
func BenchmarkDrainConnected(b *testing.B) {
	const n = 10000
	for range b.N {
		b.StopTimer()
		srv := natstest.Start(b)
		l := openLedger(b, usage.Options{})
		appendN(b, l, n)
		nc := connect(b, srv.URL())
		p := newPublisher(b, nc, l, PublisherOptions{})
		b.StartTimer()
		start := time.Now()
		p.Start()
		testkit.Until(b, "drained", func() bool { return p.State().Published == n })
		d := time.Since(start)
		b.StopTimer()
		p.Stop()
		b.ReportMetric(n/d.Seconds(), "records/s")
	}
}

// TestResyncRefusesAStreamAhead: a stream holding sequence numbers the
// ledger never reached (its data file replaced under the same device id)
// stops the drain rather than drop new records as delivered.
func TestResyncRefusesAStreamAhead(t *testing.T) {
	p, l, s := resyncSetup(t)
	ctx := context.Background()
	m, _ := p.message(&usage.Record{Seq: 50})
	if _, err := p.js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.resync(ctx, s); err == nil {
		t.Fatal("resync accepted a stream ahead of the ledger")
	}
	if st := l.Stats(); st.Records != 10 {
		t.Fatalf("outbox %+v", st)
	}
}

// TestFoldRecordsArePublished: an outbox folded while offline drains as
// fold records and plain ones whose ranges cover 1..n once each, and a
// restart of the publisher after that publishes nothing again.
func TestFoldRecordsArePublished(t *testing.T) {
	srv := natstest.Start(t)
	url := srv.URL()
	srv.Stop()
	l := openLedger(t, usage.Options{MaxBytes: 8000})
	const n = 300
	appendN(t, l, n)
	if st := l.Stats(); st.Folded == 0 {
		t.Fatalf("nothing folded: %+v", st)
	}
	srv.Restart()
	nc := connect(t, url)
	p := newPublisher(t, nc, l, PublisherOptions{Window: 7})
	p.Start()
	testkit.Eventually(t, "outbox drained", func() error {
		if st := l.Stats(); st.Records != 0 {
			return fmt.Errorf("outbox %+v", st)
		}
		return nil
	})
	p.Stop()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	s, err := js.Stream(ctx, UsageStream)
	if err != nil {
		t.Fatal(err)
	}
	next, requests := uint64(1), int64(0)
	info, _ := s.Info(ctx)
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		var r usage.Record
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		if r.Seq != next {
			t.Fatalf("message %d starts at seq %d, want %d", seq, r.Seq, next)
		}
		mark, err := MessageMark(m.Header)
		if err != nil || mark != max(r.Seq, r.LastSeq) {
			t.Fatalf("message %d: mark %d (%v) for record %d..%d", seq, mark, err, r.Seq, r.LastSeq)
		}
		next = mark + 1
		if r.Rollup != nil {
			requests += r.Rollup.Requests
		} else {
			requests++
		}
	}
	if next != n+1 || requests != n {
		t.Fatalf("stream covers seqs 1..%d with %d requests, want 1..%d with %d", next-1, requests, n, n)
	}
}
