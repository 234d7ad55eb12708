package side

import (
	"testing"
)

// FuzzDecodeUsage feeds the usage message decoder and the rollup it
// feeds: nothing panics, and a record counts once however often it comes.
func FuzzDecodeUsage(f *testing.F) {
	f.Add("edgeway.usage.pi-1", "3", []byte(`{"seq":3,"time":"2026-12-06T10:00:00Z","key":"k","team":"t","provider":"openai","model":"m","tokens_in":5,"tokens_out":2,"cost_usd":0.1,"cost_known":true,"outcome":"ok"}`))
	f.Add("edgeway.usage.pi-1", "", []byte(`{"seq":10,"last_seq":50,"time":"2026-12-06T10:00:00Z","outcome":"rollup","rollup":{"requests":40,"tokens_in":400}}`))
	f.Add("edgeway.usage.a.b", "1", []byte(`{}`))
	f.Add("edgeway.usage.pi-1", "x", []byte(`{"seq":1}`))
	f.Add("edgeway.usage.pi-1", "", []byte(`[`))
	f.Fuzz(func(t *testing.T, subject, h string, data []byte) {
		_, rec, err := decodeUsage(subject, h, data)
		if err != nil {
			return
		}
		var e Entry
		if _, err := e.apply([]record{rec, rec}); err != nil {
			t.Fatal(err)
		}
		if len(e.Applied) != 1 || e.Applied[0] != [2]uint64{rec.seq, rec.seq} {
			t.Fatalf("applied %v for seq %d", e.Applied, rec.seq)
		}
		if changed, _ := e.apply([]record{rec}); changed {
			t.Fatal("counted twice")
		}
	})
}

// FuzzParseDevice feeds the lenient status reader.
func FuzzParseDevice(f *testing.F) {
	f.Add([]byte(`{"device":"pi-1","time":"2026-12-06T10:00:00Z","version":"v1","config_revision":7,"providers":[{"name":"a","healthy":true}],"outbox":{"records":3,"bytes":100}}`))
	f.Add([]byte(`{"providers":{"a":"ok","b":{"state":"open"}},"config_revision":"abc"}`))
	f.Add([]byte(`{"time":12,"outbox":[1]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := parseDevice("pi-1", b)
		if d.Device != "pi-1" {
			t.Fatalf("device %q", d.Device)
		}
	})
}

func TestParseDevice(t *testing.T) {
	tests := []struct {
		name, in, health, rev string
		records               int64
	}{
		{"list", `{"providers":[{"name":"a","healthy":true},{"name":"b","healthy":false}],"config_revision":7,"outbox":{"records":3}}`, "1/2 healthy", "7", 3},
		{"map of states", `{"providers":{"a":"ok","b":{"state":"open"},"c":{"breaker":"closed"}},"config_revision":"r9"}`, "2/3 healthy", "r9", 0},
		{"nothing told", `{"time":"2026-12-06T10:00:00Z"}`, "", "", 0},
		{"not json", `nope`, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := parseDevice("x", []byte(tt.in))
			if d.Health != tt.health || d.ConfigRevision != tt.rev || d.OutboxRecords != tt.records {
				t.Fatalf("got %+v", d)
			}
		})
	}
}
