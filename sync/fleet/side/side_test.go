package side

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/sync/fleet"
	"github.com/edgeway/edgeway/sync/fleet/natstest"
	"github.com/edgeway/edgeway/sync/usage"
)

var day0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func jsOf(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// replica is one fleet serve running in the test until stop.
type replica struct {
	s      *Server
	cancel context.CancelFunc
	done   chan struct{}
}

func startReplica(t *testing.T, url string, hook func() bool) *replica {
	t.Helper()
	nc := connect(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, nc, Options{AckWait: time.Second, Batch: 32, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.afterWrite = hook
	r := &replica{s: s, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); s.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

// stop ends the replica as a crash would: its connection closes with
// whatever it holds unacked.
func (r *replica) stop() {
	r.cancel()
	r.s.nc.Close()
	<-r.done
}

// device publishes usage records the way a gateway does.
type device struct {
	name string
	seq  uint64
	sent usage.Totals
}

func (d *device) record(i int) usage.Record {
	return usage.Record{ID: "req-" + strconv.Itoa(i), Time: day0.Add(time.Duration(i) * time.Minute),
		Key: "k" + strconv.Itoa(i%3), Team: "t" + strconv.Itoa(i%2), Provider: "openai", Model: "m" + strconv.Itoa(i%2),
		TokensIn: 10 + i%7, TokensOut: 5 + i%5, CostUSD: 0.000123 * float64(1+i%4), CostKnown: true, Status: 200, Outcome: "ok"}
}

// publish sends r as record seq; count says whether the fleet must count
// it (false for a duplicate of one already sent).
func publish(t *testing.T, js jetstream.JetStream, dev string, r usage.Record, msgID string) {
	t.Helper()
	b, _ := json.Marshal(r)
	m := &nats.Msg{Subject: fleet.UsageSubject(dev), Data: b, Header: nats.Header{}}
	m.Header.Set(fleet.MsgSeqHeader, strconv.FormatUint(r.Seq, 10))
	if msgID != "" {
		m.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	// NATS may be restarting: a gateway retries too.
	testkit.Eventually(t, "usage record published", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := js.PublishMsg(ctx, m)
		return err
	})
}

func (d *device) send(t *testing.T, js jetstream.JetStream, i int) {
	t.Helper()
	d.seq++
	r := d.record(i)
	r.Seq = d.seq
	d.sent.Add(r.Totals())
	publish(t, js, d.name, r, d.name+"-"+strconv.FormatUint(r.Seq, 10))
}

// total sums the rollups of every device.
func total(t *testing.T, js jetstream.JetStream) map[string]usage.Totals {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := Usage(ctx, js, day0.AddDate(0, 0, -1), day0.AddDate(0, 0, 5), "device")
	if err != nil {
		t.Logf("usage: %v", err)
		return nil
	}
	out := map[string]usage.Totals{}
	for _, r := range rows {
		out[r.Group] = r.Totals
	}
	return out
}

// waitExact waits until every device's rollup equals what it sent and
// every message is acked (redeliveries done), and checks again.
func waitExact(t *testing.T, js jetstream.JetStream, devs []*device) {
	t.Helper()
	exact(t, js, devs)
	testkit.Eventually(t, "every usage message acked", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, fleet.UsageStream, Durable)
		if err != nil {
			return err
		}
		ci, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if ci.NumPending != 0 || ci.NumAckPending != 0 || ci.NumRedelivered != 0 {
			return fmt.Errorf("%d pending, %d unacked, %d redelivering", ci.NumPending, ci.NumAckPending, ci.NumRedelivered)
		}
		return nil
	})
	exact(t, js, devs)
}

func exact(t *testing.T, js jetstream.JetStream, devs []*device) {
	t.Helper()
	testkit.Eventually(t, "rollups equal what the devices sent", func() error {
		got := total(t, js)
		for _, d := range devs {
			if g := got[d.name]; !sameTotals(g, d.sent) {
				return fmt.Errorf("%s: got %+v, sent %+v", d.name, g, d.sent)
			}
		}
		if len(got) != len(devs) {
			return fmt.Errorf("%d devices in rollups, want %d", len(got), len(devs))
		}
		return nil
	})
}

// sameTotals compares with cost in nanodollars, the unit rollups keep.
func sameTotals(a, b usage.Totals) bool {
	var x, y Sums
	x.add(a)
	y.add(b)
	return x.CostNanos == y.CostNanos && a.Requests == b.Requests && a.TokensIn == b.TokensIn && a.TokensOut == b.TokensOut &&
		a.Errors == b.Errors && a.CacheHits == b.CacheHits && a.UnknownCost == b.UnknownCost && a.Estimated == b.Estimated
}

func TestRollupsExact(t *testing.T) {
	n := natstest.Start(t)
	js := jsOf(t, connect(t, n.URL()))
	// The first write's ack is lost, as when a replica dies between its
	// write and its acks: those records come back and must not count twice.
	var lost atomic.Bool
	startReplica(t, n.URL(), func() bool { return !lost.CompareAndSwap(false, true) })
	devs := []*device{{name: "dev-a"}, {name: "dev-b"}, {name: "dev_c"}}
	for i := range 30 {
		devs[i%3].send(t, js, i)
	}
	// A duplicate the stream's dedupe window did not catch (a new message
	// id, as after a window passed): same sequence, counted once.
	r := devs[0].record(0)
	r.Seq = 1
	publish(t, js, "dev-a", r, "")
	// A fold record sums many requests: its totals count, not 1.
	fold := usage.Record{Seq: devs[1].seq + 1, LastSeq: devs[1].seq + 40, Time: day0.Add(24 * time.Hour), Key: "k1", Team: "t1",
		Provider: "openai", Model: "m1", Outcome: "rollup", Rollup: &usage.Totals{Requests: 40, TokensIn: 400, TokensOut: 80, CostUSD: 0.25}}
	devs[1].seq = fold.LastSeq
	devs[1].sent.Add(*fold.Rollup)
	publish(t, js, "dev-b", fold, "dev-b-"+strconv.FormatUint(fold.Seq, 10))
	// Records that cannot be read are dropped, not retried forever.
	js.Publish(context.Background(), fleet.UsageSubject("dev-a"), []byte("{not json"))
	waitExact(t, js, devs)
	if !lost.Load() {
		t.Fatal("no ack was lost: the redelivery case did not run")
	}

	ctx := context.Background()
	rows, err := Usage(ctx, js, day0, day0.AddDate(0, 0, 2), "day")
	if err != nil || len(rows) != 2 {
		t.Fatalf("by day: %v %+v", err, rows)
	}
	kv, _ := js.KeyValue(ctx, RollupBucket)
	e, _ := kv.Get(ctx, RollupKey(day0, "dev-a"))
	ent, _ := decodeEntry(e.Value())
	if len(ent.Applied) != 1 || ent.Applied[0] != [2]uint64{1, 10} {
		t.Fatalf("dev-a counted %v, want [[1 10]]", ent.Applied)
	}
}

func TestReplicasRacing(t *testing.T) {
	n := natstest.Start(t)
	js := jsOf(t, connect(t, n.URL()))
	a := startReplica(t, n.URL(), nil)
	var writes atomic.Int64
	var once sync.Once
	// b dies after some writes, holding messages it wrote but never acked.
	var b *replica
	stopB := make(chan struct{})
	b = startReplica(t, n.URL(), func() bool {
		if writes.Add(1) >= 5 {
			once.Do(func() { close(stopB) })
			return false
		}
		return true
	})
	devs := []*device{{name: "d1"}, {name: "d2"}, {name: "d3"}}
	for i := range 600 {
		devs[i%3].send(t, js, i)
		if i == 300 {
			testkit.Closed(t, "replica b wrote", stopB)
			b.stop()
		}
	}
	waitExact(t, js, devs)
	_ = a
}

func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	// 50 devices, each a real ledger in its own bbolt file drained by its
	// own publisher over its own connection, against one server that is
	// restarted twice, with two fleet replicas, one stopped mid-way. What
	// the devices' ledgers hold is what the fleet must count.
	const devices, records = 50, 100
	n := natstest.Start(t)
	js := jsOf(t, connect(t, n.URL()))
	startReplica(t, n.URL(), nil)
	b := startReplica(t, n.URL(), nil)
	devs := make([]*device, devices)
	ledgers := make([]*usage.Ledger, devices)
	for i := range devs {
		devs[i] = &device{name: fmt.Sprintf("soak-%02d", i)}
		db, err := bbolt.Open(filepath.Join(t.TempDir(), "edgeway.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		l, err := usage.Open(db, usage.Options{Sync: usage.SyncWrite})
		if err != nil {
			t.Fatal(err)
		}
		nc, err := nats.Connect(n.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.RetryOnFailedConnect(true))
		if err != nil {
			t.Fatal(err)
		}
		p, err := fleet.NewPublisher(nc, l, fleet.PublisherOptions{Device: devs[i].name, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		p.Start()
		t.Cleanup(func() { p.Stop(); nc.Close(); l.Close(); db.Close() })
		ledgers[i] = l
	}
	for i := range records {
		for d, dev := range devs {
			r := dev.record(i)
			if err := ledgers[d].Append(&r); err != nil {
				t.Fatal(err)
			}
			dev.sent.Add(r.Totals())
		}
		switch i {
		case 30, 70:
			n.Restart()
		case 50:
			b.stop()
		}
	}
	waitExact(t, js, devs)
}

func TestEntrySet(t *testing.T) {
	tests := []struct {
		name string
		seqs []uint64
		want [][2]uint64
	}{
		{"in order", []uint64{1, 2, 3}, [][2]uint64{{1, 3}}},
		{"reverse", []uint64{3, 2, 1}, [][2]uint64{{1, 3}}},
		{"gap filled", []uint64{1, 3, 5, 2, 4}, [][2]uint64{{1, 5}}},
		{"gaps", []uint64{10, 1, 5}, [][2]uint64{{1, 1}, {5, 5}, {10, 10}}},
		{"duplicates", []uint64{2, 2, 1, 2}, [][2]uint64{{1, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Entry
			var recs []record
			for _, s := range tt.seqs {
				recs = append(recs, record{seq: s, r: usage.Record{Outcome: "ok"}})
			}
			if _, err := e.apply(recs); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(e.Applied) != fmt.Sprint(tt.want) {
				t.Fatalf("applied %v, want %v", e.Applied, tt.want)
			}
			distinct := map[uint64]bool{}
			for _, s := range tt.seqs {
				distinct[s] = true
			}
			if e.Groups[0].Requests != int64(len(distinct)) {
				t.Fatalf("%d requests counted, want %d", e.Groups[0].Requests, len(distinct))
			}
		})
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

// TestStatusMerged: a config refusal on the status subject leaves the
// last heartbeat's health in place; the next heartbeat updates it.
func TestStatusMerged(t *testing.T) {
	n := natstest.Start(t)
	nc := connect(t, n.URL())
	js := jsOf(t, nc)
	startReplica(t, n.URL(), nil)
	hb := `{"device":"pi-1","time":"2026-12-06T10:00:00Z","version":"v1","providers":{"ollama":{"healthy":true}},"config_revision":3}`
	refusal := `{"device":"pi-1","time":"2026-12-06T10:00:05Z","config_refused":{"revision":4,"problems":["log.level: \"loud\" is not debug, info, warn or error"]}}`
	for _, tc := range []struct{ msg, want string }{
		{hb, `"config_revision":3`},
		{refusal, `"config_refused"`},
	} {
		testkit.Eventually(t, "status kept", func() error {
			nc.Publish(fleet.StatusSubject("pi-1"), []byte(tc.msg))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ds, err := Devices(ctx, js)
			if err != nil || len(ds) != 1 || !strings.Contains(string(ds[0].Status), tc.want) {
				return fmt.Errorf("devices %v: %+v", err, ds)
			}
			if ds[0].Health != "1/1 healthy" || ds[0].ConfigRevision != "3" {
				return fmt.Errorf("heartbeat fields lost: %+v", ds[0])
			}
			return nil
		})
	}
}
