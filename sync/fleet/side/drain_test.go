package side

import (
	"fmt"
	"testing"
	"time"

	"github.com/edgeway/edgeway/sync/fleet/natstest"
)

// TestDrainRate fills the stream first, then measures one replica
// draining it: the records/s a replica counts. It asserts only
// exactness; the rate is logged for the issue note.
func TestDrainRate(t *testing.T) {
	if testing.Short() {
		t.Skip("drain rate")
	}
	const devices, records = 20, 500
	n := natstest.Start(t)
	js := jsOf(t, connect(t, n.URL()))
	if err := ensureUsageStream(t.Context(), js); err != nil {
		t.Fatal(err)
	}
	devs := make([]*device, devices)
	for i := range devs {
		devs[i] = &device{name: fmt.Sprintf("drain-%02d", i)}
	}
	for i := range records {
		for _, d := range devs {
			d.send(t, js, i)
		}
	}
	start := time.Now()
	startReplica(t, n.URL(), nil)
	waitExact(t, js, devs)
	t.Logf("one replica counted %d records in %v: %.0f records/s", devices*records, time.Since(start), float64(devices*records)/time.Since(start).Seconds())
}
