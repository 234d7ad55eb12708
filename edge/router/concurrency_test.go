package router

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
)

// TestRouteConcurrent hammers Route from many goroutines: no fake ever sees
// more concurrent calls than its MaxInFlight, requests that find every
// target busy fail as busy (503), and all slots are returned.
func TestRouteConcurrent(t *testing.T) {
	for _, tc := range []struct {
		name      string
		threshold int
	}{{"breaker closed", 1 << 20}, {"breaker tripping", 1}} {
		t.Run(tc.name, func(t *testing.T) { testRouteConcurrent(t, tc.threshold) })
	}
}

func testRouteConcurrent(t *testing.T, threshold int) {
	const (
		workers  = 32
		perWork  = 40
		localCap = 2
		cloudCap = 3
	)
	local := newFake("ollama", step{wait: 200 * time.Microsecond, chunks: 2})
	cloud := newFake("openai", step{wait: 300 * time.Microsecond, chunks: 2})
	flaky := newFake("anthropic", step{err: withStatus(llm.KindServer, 500)}, step{chunks: 1})
	r := newTestRouter(t, []Upstream{
		{Name: "ollama", Type: "ollama", Provider: local, Local: true, MaxInFlight: localCap},
		{Name: "openai", Type: "openai", Provider: cloud, MaxInFlight: cloudCap},
		{Name: "anthropic", Type: "anthropic", Provider: flaky, MaxInFlight: 1},
	}, map[string][]string{"chat": {"openai/gpt-4o", "ollama/m", "anthropic/claude-3"}}, func(c *Config) {
		c.BreakerThreshold = threshold
		c.BreakerCooldown = time.Millisecond
	})

	var ok, busy atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWork {
				var st Status
				_, err := collect(context.Background(), r, "chat", &st)
				var ee *ExhaustedError
				switch {
				case err == nil:
					ok.Add(1)
				case errors.As(err, &ee) && (ee.Status() == http.StatusServiceUnavailable ||
					ee.Status() == http.StatusBadGateway): // busy, or busy and anthropic's one scripted failure
					busy.Add(1)
				default:
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("unexpected error: %v", err)
	}
	if p := local.peak.Load(); p > localCap {
		t.Errorf("local saw %d concurrent calls, cap %d", p, localCap)
	}
	if p := cloud.peak.Load(); p > cloudCap {
		t.Errorf("cloud saw %d concurrent calls, cap %d", p, cloudCap)
	}
	if p := flaky.peak.Load(); p > 1 {
		t.Errorf("anthropic saw %d concurrent calls, cap 1", p)
	}
	for _, h := range r.Health() {
		if h.InFlight != 0 {
			t.Errorf("%s: %d still in flight", h.Name, h.InFlight)
		}
	}
	if ok.Load() == 0 {
		t.Error("no request succeeded")
	}
	t.Logf("ok %d, busy %d, local calls %d (peak %d), cloud calls %d (peak %d)",
		ok.Load(), busy.Load(), local.calls.Load(), local.peak.Load(), cloud.calls.Load(), cloud.peak.Load())
}
