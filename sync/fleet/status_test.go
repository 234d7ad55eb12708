package fleet

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/sync/fleet/natstest"
)

// TestHeartbeat: a heartbeat carries what its source gives and the
// config revision set; offline it sends nothing.
func TestHeartbeat(t *testing.T) {
	srv := natstest.Start(t)
	nc := connect(t, srv.URL())
	sub, err := nc.SubscribeSync(StatusSubject("d1"))
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	src := StatusSource{
		Version: "v1", Board: "rpi5",
		Providers: func() []ProviderStatus {
			return []ProviderStatus{{Name: "ollama", Online: true}, {Name: "openai"}}
		},
		Outbox: func() OutboxStatus { return OutboxStatus{Records: 3, Bytes: 900, OldestAgeS: 12} },
		Cache:  func() any { return map[string]int{"hits": 2} },
		Usage:  func() PublisherState { return PublisherState{Connected: true, Published: 7} },
		Config: func() (uint64, any) { return 42, map[string]string{"source": "fleet"} },
	}
	h := NewHeartbeat(nc, "d1", 0, src, nil)
	if err := h.Beat(); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(testkit.Patience)
	if err != nil {
		t.Fatal(err)
	}
	var st Status
	if err := json.Unmarshal(m.Data, &st); err != nil {
		t.Fatal(err)
	}
	if st.Kind != "heartbeat" || st.Device != "d1" || st.Version != "v1" || st.Board != "rpi5" || st.ConfigRevision != 42 ||
		len(st.Providers) != 2 || st.Connectivity.ProvidersOnline != 1 || !st.Connectivity.NATS ||
		st.Connectivity.Usage.Published != 7 || st.Outbox.Records != 3 || st.Cache == nil || st.Time.IsZero() {
		t.Fatalf("heartbeat %s", m.Data)
	}
	srv.Stop()
	testkit.Until(t, "client sees the server gone", func() bool { return !nc.IsConnected() })
	if err := h.Beat(); !errors.Is(err, errOffline) {
		t.Fatalf("offline beat: %v", err)
	}
}
