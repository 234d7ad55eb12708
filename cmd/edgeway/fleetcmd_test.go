package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/sync/fleet"
	"github.com/edgeway/edgeway/sync/fleet/natstest"
	"github.com/edgeway/edgeway/sync/fleet/side"
	"github.com/edgeway/edgeway/sync/usage"
)

func runFleet(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"fleet"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestFleetCLI(t *testing.T) {
	n := natstest.Start(t)
	url := n.URL()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := side.New(ctx, nc, side.Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	js, _ := jetstream.New(nc)
	now := time.Now().UTC()
	for i, dev := range []string{"pi-1", "pi-1", "pi-2"} {
		r := usage.Record{Seq: uint64(i + 1), Time: now, Key: "k1", Team: "ops", Provider: "openai", Model: "gpt-4o-mini",
			TokensIn: 100, TokensOut: 10, CostUSD: 0.5, CostKnown: true, Status: 200, Outcome: "ok"}
		if dev == "pi-2" {
			r.Seq = 1
		}
		b, _ := json.Marshal(r)
		m := &nats.Msg{Subject: fleet.UsageSubject(dev), Data: b, Header: nats.Header{}}
		m.Header.Set(fleet.MsgSeqHeader, strconv.FormatUint(r.Seq, 10))
		m.Header.Set(jetstream.MsgIDHeader, dev+"-"+strconv.FormatUint(r.Seq, 10))
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	hb := `{"device":"pi-1","time":"` + now.Format(time.RFC3339) + `","version":"v1.2.3","config_revision":7,` +
		`"providers":[{"name":"ollama","healthy":true},{"name":"openai","healthy":false}],"outbox":{"records":12,"bytes":4096}}`
	testkit.Eventually(t, "usage rolled up", func() error {
		code, out, errs := runFleet(t, "usage", "--nats", url, "--by", "device", "--format", "csv")
		want := "device,requests,errors,cache_hits,tokens_in,tokens_out,tokens_cached,cost_usd,unknown_cost_requests,estimated_requests\n" +
			"pi-1,2,0,0,200,20,0,1.000000,0,0\npi-2,1,0,0,100,10,0,0.500000,0,0\n"
		if code != 0 || out != want {
			return &mismatch{out + errs}
		}
		return nil
	})
	// Status is core NATS: publish until the fleet side has it.
	testkit.Eventually(t, "device status kept", func() error {
		nc.Publish(fleet.StatusSubject("pi-1"), []byte(hb))
		_, out, errs := runFleet(t, "devices", "--nats", url, "--format", "json")
		if !strings.Contains(out, `"health": "1/2 healthy"`) {
			return &mismatch{out + errs}
		}
		return nil
	})

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"usage table", []string{"usage", "--by", "team"}, 0, []string{"fleet usage since", "TEAM", "ops", "3", "1.500000", "TOTAL"}, nil},
		{"usage json", []string{"usage", "--by", "model", "--format", "json"}, 0, []string{`"group": "openai/gpt-4o-mini"`, `"requests": 3`, `"by": "model"`}, nil},
		{"usage bad by", []string{"usage", "--by", "colour"}, 1, nil, []string{"group by device, team"}},
		{"usage bad since", []string{"usage", "--since", "yesterday"}, 1, nil, []string{"--since"}},
		{"devices table", []string{"devices"}, 0, []string{"DEVICE", "pi-1", "v1.2.3", "1/2 healthy", "7", "12 (4.0 KiB)"}, nil},
		{"config put", []string{"config", "put", "--global", writeConfig(t, "log:\n  level: debug\n")}, 0, []string{"global: revision 1 written to edgeway_config"}, nil},
		{"config put again", []string{"config", "put", "--global", writeConfig(t, "log:\n  level: warn\n")}, 0, []string{"global: revision 2"}, nil},
		{"config put invalid", []string{"config", "put", "--group", "lab", writeConfig(t, "log:\n  level: loud\nledger:\n  sync: maybe\n")}, 1, nil,
			[]string{"refused, nothing written", `log.level: "loud" is not debug`, `ledger.sync: "maybe" is not fsync or write`}},
		{"config put unknown field", []string{"config", "put", "--device", "pi-1", writeConfig(t, "lisen: x\n")}, 1, nil, []string{"field lisen not found"}},
		{"config put leaning on the device file", []string{"config", "put", "--device", "pi-1", writeConfig(t, "models:\n  chat: [ollama/llama3.2:1b]\n")}, 1, nil,
			[]string{`names provider "ollama", which is not configured`}},
		{"config put schema only", []string{"config", "put", "--device", "pi-1", "--schema-only", writeConfig(t, "models:\n  chat: [ollama/llama3.2:1b]\n")}, 0, []string{"device.pi-1: revision"}, nil},
		{"config put two layers", []string{"config", "put", "--global", "--group", "g", "x"}, 1, nil, []string{"one of --global"}},
		{"config put bad name", []string{"config", "put", "--group", "a.b", "x"}, 1, nil, []string{"not a device or group name"}},
		{"config get", []string{"config", "get", "--global"}, 0, []string{"level: warn"}, nil},
		{"config get revision", []string{"config", "get", "--global", "--revision", "1"}, 0, []string{"level: debug"}, nil},
		{"config get missing", []string{"config", "get", "--group", "nobody"}, 1, nil, []string{"group.nobody", "not found"}},
		{"config history", []string{"config", "history", "--global"}, 0, []string{"KEY", "global", "1", "2", "put"}, nil},
		{"config history json", []string{"config", "history", "--global", "--format", "json"}, 0, []string{`"revision": 2`, `"value": "log:\n  level: warn\n"`}, nil},
		{"config delete", []string{"config", "delete", "--device", "pi-1"}, 0, []string{"device.pi-1: deleted"}, nil},
		{"no nats", []string{"devices", "--nats", ""}, 1, nil, []string{"no NATS"}},
		{"two auth methods", []string{"devices", "--user", "u", "--token", "env:T"}, 1, nil, []string{"set one of user/password, token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.name != "no nats" {
				args = append(args[:len(args):len(args)], "--nats", url)
				// Flags go before FILE.
				if args[0] == "config" && args[1] == "put" {
					args = append(append([]string{}, tt.args[:len(tt.args)-1]...), "--nats", url, tt.args[len(tt.args)-1])
				}
			}
			code, out, errs := runFleet(t, args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errs)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
		})
	}
	// The refused overlay was not written.
	if code, _, _ := runFleet(t, "config", "get", "--group", "lab", "--nats", url); code != 1 {
		t.Fatal("a refused overlay was written")
	}
}

type mismatch struct{ got string }

func (m *mismatch) Error() string { return "got:\n" + m.got }

// TestFleetServeCLI runs fleet serve as an operator would, with NATS from
// a config's fleet: section: it sets up JetStream, counts a record, and
// stops on SIGINT.
func TestFleetServeCLI(t *testing.T) {
	n := natstest.Start(t)
	cfg := writeConfig(t, "fleet:\n  url: "+n.URL()+"\n")
	out := &lockedBuffer{}
	done := make(chan int, 1)
	go func() { done <- run([]string{"fleet", "serve", "--config", cfg}, out, io.Discard) }()
	testkit.Until(t, "fleet serve says it runs", func() bool {
		return strings.Contains(out.String(), "fleet serve: EDGEWAY_USAGE into bucket edgeway_rollups")
	})

	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	m := &nats.Msg{Subject: fleet.UsageSubject("pi-9"), Header: nats.Header{},
		Data: []byte(`{"seq":1,"time":"` + time.Now().UTC().Format(time.RFC3339) + `","team":"ops","provider":"ollama","model":"tiny","tokens_in":3,"tokens_out":4,"outcome":"ok"}`)}
	m.Header.Set(fleet.MsgSeqHeader, "1")
	js, _ := jetstream.New(nc)
	if _, err := js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the record counted", func() error {
		_, got, errs := runFleet(t, "usage", "--config", cfg, "--format", "csv")
		if !strings.Contains(got, "pi-9,1,0,0,3,4,0,0.000000,1,0") {
			return &mismatch{got + errs}
		}
		return nil
	})
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	testkit.Closed(t, "fleet serve stops on SIGINT", done)
}
