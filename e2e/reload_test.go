package e2e

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/openai/openaitest"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/sync/fleet"
	"github.com/edgeway/edgeway/sync/fleet/natstest"
)

// load sends chat requests for alias chat from a few goroutines until
// stopped, counting failures and remembering who served the last one.
type load struct {
	failed, sent atomic.Int64
	last         atomic.Value // string: the provider of the last answer
	mu           sync.Mutex
	firstErr     string
	stop         chan struct{}
	wg           sync.WaitGroup
}

func startLoad(t *testing.T, url string, workers int) *load {
	t.Helper()
	l := &load{stop: make(chan struct{})}
	l.last.Store("")
	c := testkit.Client(t, 0)
	for w := range workers {
		// Half the workers stream: a stream that straddles a reload
		// must end on the config it began with.
		body := `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`
		if w%2 == 1 {
			body = `{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`
		}
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				res := testkit.Do(t, ctx, c, "POST", url+"/v1/chat/completions", body)
				cancel()
				l.sent.Add(1)
				// A whole answer: its text, and a stream's end.
				whole := strings.Contains(string(res.Body), "from") && (w%2 == 0 || strings.Contains(string(res.Body), "data: [DONE]"))
				if res.Err != nil || res.Status != 200 || !whole {
					l.failed.Add(1)
					l.mu.Lock()
					if l.firstErr == "" {
						l.firstErr = string(res.Body)
						if res.Err != nil {
							l.firstErr = res.Err.Error()
						}
					}
					l.mu.Unlock()
					continue
				}
				l.last.Store(res.Header.Get("x-edgeway-provider"))
			}
		})
	}
	t.Cleanup(l.halt)
	return l
}

func (l *load) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// servedBy waits until the load's answers come from provider p: the
// switch happened under load.
func (l *load) servedBy(t *testing.T, p string) {
	t.Helper()
	testkit.Until(t, "requests served by "+p, func() bool {
		// Two answers after seeing it, so it is not one straggler.
		if l.last.Load() != p {
			return false
		}
		n := l.sent.Load()
		testkit.Until(t, "more requests", func() bool { return l.sent.Load() > n+2 })
		return l.last.Load() == p
	})
}

func (l *load) noFailures(t *testing.T) {
	t.Helper()
	if n := l.failed.Load(); n > 0 {
		l.mu.Lock()
		defer l.mu.Unlock()
		t.Fatalf("%d of %d requests failed; first: %s", n, l.sent.Load(), l.firstErr)
	}
}

// TestConfigPushUnderLoad runs the real binary with a fleet: a config
// pushed to the KV bucket re-points an alias under load with no failed
// request; a file edit with SIGHUP does the same; an invalid push is
// refused, published on the status subject, and the gateway keeps
// serving.
func TestConfigPushUnderLoad(t *testing.T) {
	ns := natstest.Start(t)
	a := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", Reply: "from a"})
	b := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", Reply: "from b"})
	alias := func(p string) string { return "models:\n  chat: [" + p + "/gpt-4o-mini]\n" }
	body := providers(cloudProvider("a", "openai", a.URL()), cloudProvider("b", "openai", b.URL())) +
		"fleet:\n  url: " + ns.URL() + "\n  device: e2e1\n"
	g := startEdgeway(t, body+alias("a"))

	nc, js := ns.Client(t)
	status, err := nc.SubscribeSync(fleet.StatusSubject("e2e1"))
	if err != nil {
		t.Fatal(err)
	}
	kv := natstest.Bucket(t, js, fleet.ConfigBucket)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	l := startLoad(t, g.URL, 4)
	l.servedBy(t, "a")

	// Fleet push.
	if _, err := kv.Put(ctx, "global", []byte(alias("b"))); err != nil {
		t.Fatal(err)
	}
	l.servedBy(t, "b")
	l.noFailures(t)

	// Back to the file's a by deleting the push, then the file says b,
	// with SIGHUP.
	if err := kv.Delete(ctx, "global"); err != nil {
		t.Fatal(err)
	}
	l.servedBy(t, "a")
	cfg, err := os.ReadFile(g.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(g.Config, []byte(strings.Replace(string(cfg), alias("a"), alias("b"), 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	l.servedBy(t, "b")
	testkit.Until(t, "the log shows the SIGHUP reload", func() bool { return strings.Contains(g.out.String(), "source=sighup") })
	l.noFailures(t)

	// An invalid push is refused and published; b keeps serving.
	rev, err := kv.Put(ctx, "device.e2e1", []byte(alias("nope")))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := status.NextMsg(30 * time.Second)
	if err != nil {
		t.Fatalf("no refusal on %s: %v", fleet.StatusSubject("e2e1"), err)
	}
	var r struct {
		Type      string            `json:"type"`
		Revisions map[string]uint64 `json:"revisions"`
		Problems  []string          `json:"problems"`
	}
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		t.Fatal(err)
	}
	if r.Type != "config_refused" || r.Revisions["device.e2e1"] != rev || len(r.Problems) == 0 || !strings.Contains(r.Problems[0], `"nope"`) {
		t.Errorf("refusal: %s", msg.Data)
	}
	n := l.sent.Load()
	testkit.Until(t, "more requests after the refusal", func() bool { return l.sent.Load() > n+10 })
	if got := l.last.Load(); got != "b" {
		t.Errorf("after the refused push served by %v, want b", got)
	}
	l.halt()
	l.noFailures(t)
	t.Logf("%d requests, none failed", l.sent.Load())
}
