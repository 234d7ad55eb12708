package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeway/edgeway/edge/openai/openaitest"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/sync/fleet"
	"github.com/edgeway/edgeway/sync/fleet/natstest"
	"github.com/edgeway/edgeway/sync/usage"
)

func fleetConfig(cloudURL, natsURL, device string) string {
	return ledgerConfig(cloudURL) + "fleet:\n  url: " + natsURL + "\n  device: " + device + "\n  heartbeat: 1s\n"
}

// streamedUsage is what EDGEWAY_USAGE holds for device, in stream order.
type streamedUsage struct {
	seqs []uint64
	ids  map[string]int // request id → messages carrying it
}

func readUsageStream(t *testing.T, natsURL, device string) streamedUsage {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	out := streamedUsage{ids: map[string]int{}}
	s, err := js.Stream(ctx, fleet.UsageStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); ; seq++ {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(fleet.UsageSubject(device)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var r usage.Record
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatalf("stream message %d: %v", m.Sequence, err)
		}
		if h := m.Header.Get(fleet.MsgSeqHeader); h != strconv.FormatUint(r.Seq, 10) || m.Header.Get(nats.MsgIdHdr) != device+"-"+h {
			t.Fatalf("stream message %d: headers %v for seq %d", m.Sequence, m.Header, r.Seq)
		}
		out.seqs = append(out.seqs, r.Seq)
		out.ids[r.ID]++
		seq = m.Sequence
	}
}

// exactlyOnce checks the stream holds seqs 1..n once each, in order.
func (u streamedUsage) exactlyOnce(n uint64) error {
	if uint64(len(u.seqs)) != n {
		return fmt.Errorf("stream holds %d records, want %d", len(u.seqs), n)
	}
	for i, s := range u.seqs {
		if s != uint64(i+1) {
			return fmt.Errorf("stream message %d carries seq %d", i, s)
		}
	}
	return nil
}

// TestFleetUsageOfflineThenOnline: the gateway answers with NATS down;
// once NATS is up the stream holds exactly one message per request, and
// heartbeats arrive on the status subject.
func TestFleetUsageOfflineThenOnline(t *testing.T) {
	cloud := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", Reply: "a short answer"})
	srv := natstest.Start(t)
	url := srv.URL()
	srv.Stop()
	g := startEdgeway(t, fleetConfig(cloud.URL(), url, "e2e-dev"))
	if !contains(g.out.String(), "fleet: on, device e2e-dev") {
		t.Fatalf("start output does not say fleet sync is on:\n%s", g.out.String())
	}
	const n = 30
	ids := map[string]bool{}
	for i := range n {
		id, ok := oneAnswer(g.URL, i%2 == 0)
		if !ok {
			t.Fatalf("request %d failed with NATS down", i)
		}
		ids[id] = true
	}
	srv.Restart()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	beats, _ := nc.SubscribeSync(fleet.StatusSubject("e2e-dev"))
	testkit.Eventually(t, "every request in the stream", func() error {
		return readUsageStream(t, url, "e2e-dev").exactlyOnce(n)
	})
	u := readUsageStream(t, url, "e2e-dev")
	for id := range ids {
		if u.ids[id] != 1 {
			t.Fatalf("request %s is in the stream %d times", id, u.ids[id])
		}
	}
	m, err := beats.NextMsg(testkit.Patience)
	if err != nil {
		t.Fatal(err)
	}
	var st fleet.Status
	if err := json.Unmarshal(m.Data, &st); err != nil || st.Device != "e2e-dev" || len(st.Providers) != 1 || !st.Connectivity.NATS {
		t.Fatalf("heartbeat %s (%v)", m.Data, err)
	}
}

// TestFleetUsageKillDrill: the gateway is killed with SIGKILL at random
// moments while it serves and publishes, twenty times; once a last run
// has drained its outbox, the stream holds every ledger record exactly
// once, and every answer a client received among them.
func TestFleetUsageKillDrill(t *testing.T) {
	cloud := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", Reply: "a short answer"})
	srv := natstest.Start(t)
	dir := t.TempDir()
	cfg := fleetConfig(cloud.URL(), srv.URL(), "drill") + "ledger: {sync: write}\n"
	const rounds, clients = 20, 4
	rng := rand.New(rand.NewPCG(3, 4))
	received := map[string]bool{}
	for round := range rounds {
		g := startEdgewayIn(t, dir, cfg)
		trafficUntilKill(g, clients, 1+rng.IntN(60), func(id string) { received[id] = true })
		if round == rounds/2 {
			srv.Restart() // NATS goes too, between two kills
		}
	}
	g := startDrained(t, dir, cfg, srv.URL(), "drill")
	g.cmd.Process.Kill()
	<-g.done
	st := ledgerStats(t, filepath.Join(dir, "data", "edgeway.db"))
	u := readUsageStream(t, srv.URL(), "drill")
	if err := u.exactlyOnce(st.LastSeq); err != nil {
		t.Fatalf("ledger %+v: %v", st, err)
	}
	if st.Records != 0 {
		t.Fatalf("outbox not drained: %+v", st)
	}
	for id := range received {
		if u.ids[id] != 1 {
			t.Fatalf("answer %s is in the stream %d times", id, u.ids[id])
		}
	}
	t.Logf("%d rounds, %d answers received, %d records, each once in the stream", rounds, len(received), st.LastSeq)
}

func ledgerStats(t *testing.T, path string) (st usage.Stats) {
	t.Helper()
	withLedger(t, path, func(l *usage.Ledger) { st = l.Stats() })
	return st
}

// startDrained starts a gateway in dir that serves nothing and returns
// once a heartbeat says its outbox is empty: every record is out.
func startDrained(t *testing.T, dir, cfg, natsURL, device string) *gateway {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	beats, _ := nc.SubscribeSync(fleet.StatusSubject(device))
	g := startEdgewayIn(t, dir, cfg)
	for {
		m, err := beats.NextMsg(testkit.Patience)
		if err != nil {
			t.Fatalf("no heartbeat with an empty outbox from %s: %v", device, err)
		}
		var st fleet.Status
		if err := json.Unmarshal(m.Data, &st); err != nil {
			t.Fatal(err)
		}
		if st.Outbox.Records == 0 {
			return g
		}
	}
}

// TestFleetEndToEnd is the fleet from end to end with the real binary:
// two devices serve requests, some while NATS is down, one of them is
// killed mid-traffic and restarted; `edgeway fleet serve` (two replicas,
// one killed mid-way) rolls usage up in JetStream KV; `edgeway fleet
// usage` then shows each device's requests and cost exactly as its own
// ledger has them, and `edgeway fleet devices` lists both.
func TestFleetEndToEnd(t *testing.T) {
	cloud := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", Reply: "a short answer"})
	srv := natstest.Start(t)
	url := srv.URL()
	fleetCmd := func(args ...string) *exec.Cmd {
		cmd := exec.Command(edgewayBin(t), append([]string{"fleet"}, args...)...)
		cmd.Env = append(os.Environ(), "EDGEWAY_NATS_URL="+url)
		return cmd
	}
	replicas := make([]*exec.Cmd, 2)
	for i := range replicas {
		replicas[i] = fleetCmd("serve")
		var out output
		replicas[i].Stdout, replicas[i].Stderr = &out, &out
		if err := replicas[i].Start(); err != nil {
			t.Fatal(err)
		}
		r := replicas[i]
		t.Cleanup(func() { r.Process.Kill(); r.Wait() })
	}
	dirs := []string{t.TempDir(), t.TempDir()}
	devices := []string{"site-a-1", "site-b-7"}
	served := []int{0, 0}
	round := func(stopNATS bool, kill int) {
		if stopNATS {
			srv.Stop()
		}
		for d := range devices {
			g := startEdgewayIn(t, dirs[d], fleetConfig(cloud.URL(), url, devices[d]))
			for i := range 15 {
				if _, ok := oneAnswer(g.URL, i%2 == 0); ok {
					served[d]++
				}
				if d == kill && i == 9 {
					g.cmd.Process.Kill() // mid-traffic: the ledger keeps what was answered
					<-g.done
					break
				}
			}
			if d != kill {
				stop(t, g)
			}
		}
		if stopNATS {
			srv.Restart()
		}
	}
	round(false, -1)
	round(true, 0)
	replicas[1].Process.Kill() // one replica dies; the other carries on
	round(false, 1)
	// The last records leave each outbox once a gateway runs with NATS up.
	for d := range devices {
		stop(t, startDrained(t, dirs[d], fleetConfig(cloud.URL(), url, devices[d]), url, devices[d]))
	}
	want := map[string]usage.Totals{}
	for d := range devices {
		st := ledgerStats(t, filepath.Join(dirs[d], "data", "edgeway.db"))
		if err := readUsageStream(t, url, devices[d]).exactlyOnce(st.LastSeq); err != nil {
			t.Fatalf("%s: %v", devices[d], err)
		}
		var tot usage.Totals
		withLedger(t, filepath.Join(dirs[d], "data", "edgeway.db"), func(l *usage.Ledger) {
			rows, err := l.Report(time.Now().Add(-24*time.Hour), "", "")
			if err != nil || len(rows) != 1 {
				t.Fatalf("%s ledger report %+v %v", devices[d], rows, err)
			}
			tot = rows[0].Totals
		})
		if tot.Requests < int64(served[d]) {
			t.Fatalf("%s: the ledger counts %d requests, clients got %d answers", devices[d], tot.Requests, served[d])
		}
		want[devices[d]] = tot
	}
	testkit.Eventually(t, "the fleet's rollups match every device's ledger", func() error {
		out, err := fleetCmd("usage", "--by", "device", "--format", "json").Output()
		if err != nil {
			return err
		}
		var rep struct{ Rows []usage.Row }
		if err := json.Unmarshal(out, &rep); err != nil {
			return err
		}
		got := map[string]usage.Totals{}
		for _, r := range rep.Rows {
			got[r.Group] = r.Totals
		}
		for dev, w := range want {
			if g := got[dev]; g.Requests != w.Requests || g.TokensIn != w.TokensIn || g.TokensOut != w.TokensOut ||
				math.Abs(g.CostUSD-w.CostUSD) > 1e-9 {
				return fmt.Errorf("%s: fleet %+v, ledger %+v", dev, g, w)
			}
		}
		return nil
	})
	out, err := fleetCmd("devices").Output()
	if err != nil || !contains(string(out), devices[0], devices[1]) {
		t.Fatalf("fleet devices: %v\n%s", err, out)
	}
	t.Logf("fleet usage matches both ledgers: %+v", want)
}
