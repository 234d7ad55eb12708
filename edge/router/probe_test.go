package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
)

func onlineIs(r *Router, name string, want bool) func() error {
	return func() error {
		if got := r.byName[name].online.Load(); got != want {
			return fmt.Errorf("%s online = %v, want %v", name, got, want)
		}
		return nil
	}
}

// TestProbeOfflineAndBack: a failing probe marks the cloud offline, its
// targets are then skipped with no call, and a succeeding probe brings it
// back by itself.
func TestProbeOfflineAndBack(t *testing.T) {
	cloud := newFake("openai")
	cloud.setPing(refusedErr("openai"))
	r := newTestRouter(t, []Upstream{{Name: "openai", Type: "openai", Provider: cloud}}, nil, func(c *Config) {
		c.ProbeInterval = 5 * time.Millisecond
		c.ProbeTimeout = 100 * time.Millisecond
	})
	r.Start(context.Background())
	testkit.Eventually(t, "openai marked offline", onlineIs(r, "openai", false))

	var st Status
	start := time.Now()
	_, err := collect(context.Background(), r, "openai/gpt-4o", &st)
	elapsed := time.Since(start)
	var ee *ExhaustedError
	if !errors.As(err, &ee) || !ee.Offline || ee.Status() != http.StatusServiceUnavailable {
		t.Fatalf("Route = %v, want offline *ExhaustedError", err)
	}
	if got := summary(st.Attempts); !slices.Equal(got, []string{"openai/gpt-4o:skip=offline"}) {
		t.Errorf("attempts %q", got)
	}
	if cloud.calls.Load() != 0 {
		t.Errorf("offline upstream was called")
	}
	if elapsed > 50*time.Millisecond {
		t.Errorf("offline skip took %v", elapsed)
	}
	if h := r.Health()[0]; h.Online || h.LastError == "" {
		t.Errorf("health %+v, want offline with a last error", h)
	}

	cloud.setPing(nil)
	testkit.Eventually(t, "openai marked online again", onlineIs(r, "openai", true))
	if _, err := collect(context.Background(), r, "openai/gpt-4o", nil); err != nil {
		t.Fatalf("after coming back: %v", err)
	}
}

// TestPassiveOffline: a real request that fails at the transport level
// marks a probed cloud upstream offline at once; an HTTP error does not.
func TestPassiveOffline(t *testing.T) {
	cases := []struct {
		name        string
		start       bool // probes running
		err         error
		wantOffline bool
	}{
		{name: "refused", start: true, err: refusedErr("openai"), wantOffline: true},
		{name: "dial timeout", start: true, err: llm.TransportError("openai", &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}), wantOffline: true},
		{name: "dns failure", start: true, err: llm.TransportError("openai", &net.DNSError{Err: "no such host", Name: "api.example"}), wantOffline: true},
		// The link works when the upstream is merely slow or hangs up
		// after accepting: the breaker deals with those, not offline.
		{name: "request deadline", start: true, err: llm.TransportError("openai", context.DeadlineExceeded)},
		{name: "eof after connect", start: true, err: llm.TransportError("openai", fmt.Errorf("read response header: %w", io.EOF))},
		{name: "gateway timeout answer", start: true, err: withStatus(llm.KindTimeout, 504)},
		{name: "overloaded answer", start: true, err: withStatus(llm.KindOverloaded, 503)},
		{name: "server error", start: true, err: withStatus(llm.KindServer, 500)},
		{name: "refused without probe", start: false, err: refusedErr("openai")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cloud := newFake("openai", step{err: tc.err}, step{chunks: 1})
			r := newTestRouter(t, []Upstream{{Name: "openai", Type: "openai", Provider: cloud}}, nil, func(c *Config) {
				c.ProbeInterval = time.Hour
				c.MaxAttempts = 1
			})
			if tc.start {
				r.Start(context.Background())
				testkit.Eventually(t, "a first probe", func() error {
					if cloud.pings.Load() == 0 {
						return errors.New("no probe yet")
					}
					return nil
				})
			}
			if _, err := collect(context.Background(), r, "openai/gpt-4o", nil); err == nil {
				t.Fatal("first request succeeded")
			}
			if got := !r.byName["openai"].online.Load(); got != tc.wantOffline {
				t.Fatalf("offline = %v, want %v", got, tc.wantOffline)
			}
			var st Status
			_, err := collect(context.Background(), r, "openai/gpt-4o", &st)
			if tc.wantOffline {
				if err == nil || st.Attempts[0].Skipped != SkipOffline {
					t.Fatalf("second request: %v %+v, want skipped offline", err, st.Attempts)
				}
				// One immediate check brings it back.
				if !r.Reachable(context.Background(), "openai") {
					t.Fatal("Reachable = false with a working ping")
				}
				_, err = collect(context.Background(), r, "openai/gpt-4o", nil)
			}
			if err != nil {
				t.Fatalf("request after recovery: %v", err)
			}
		})
	}
}

func TestProbeAnsweredErrorIsOnline(t *testing.T) {
	cloud := newFake("openai")
	cloud.setPing(withStatus(llm.KindAuth, 401))
	r := newTestRouter(t, []Upstream{{Name: "openai", Type: "openai", Provider: cloud}}, nil,
		func(c *Config) { c.ProbeInterval = 5 * time.Millisecond })
	r.Start(context.Background())
	testkit.Eventually(t, "three probes", func() error {
		if cloud.pings.Load() < 3 {
			return errors.New("waiting for probes")
		}
		return nil
	})
	if !r.byName["openai"].online.Load() {
		t.Error("an upstream that answers 401 was marked offline")
	}
}

// TestLocalModelRefresh: Start fetches the local model list, which then
// decides where bare names go.
func TestLocalModelRefresh(t *testing.T) {
	local := newFake("ollama")
	local.models = []string{"llama3.2:latest", "qwen2.5:0.5b"}
	r := newTestRouter(t, []Upstream{
		{Name: "ollama", Type: "ollama", Provider: local, Local: true},
		{Name: "openai", Type: "openai", Provider: newFake("openai")},
	}, nil, func(c *Config) { c.ProbeInterval = time.Hour })
	if _, err := r.resolve("phi3", nil); err != nil {
		t.Fatalf("before the list is known a bare name goes to the local runtime: %v", err)
	}
	r.Start(context.Background())
	testkit.Eventually(t, "the ollama model list", func() error {
		if r.byName["ollama"].models.Load() == nil {
			return errors.New("no model list yet")
		}
		return nil
	})
	for model, want := range map[string]bool{"llama3.2": true, "llama3.2:latest": true, "qwen2.5:0.5b": true, "phi3": false} {
		_, err := r.resolve(model, nil)
		if (err == nil) != want {
			t.Errorf("resolve(%q) = %v, want found %v", model, err, want)
		}
	}
}

func TestStartCloseStopsProbes(t *testing.T) {
	cloud := newFake("openai")
	r := newTestRouter(t, []Upstream{{Name: "openai", Type: "openai", Provider: cloud}}, nil,
		func(c *Config) { c.ProbeInterval = time.Millisecond })
	r.Start(context.Background())
	r.Start(context.Background()) // no second set of probes
	testkit.Eventually(t, "three probes", func() error {
		if cloud.pings.Load() < 3 {
			return errors.New("waiting for probes")
		}
		return nil
	})
	r.Close()
	n := cloud.pings.Load()
	if r.byName["openai"].probed.Load() {
		t.Error("still marked probed after Close")
	}
	// Nothing may ping after Close returned. A witness router probing at
	// the same interval shows that probe ticks went by meanwhile.
	witness := newFake("openai")
	w := newTestRouter(t, []Upstream{{Name: "openai", Type: "openai", Provider: witness}}, nil,
		func(c *Config) { c.ProbeInterval = time.Millisecond })
	w.Start(context.Background())
	defer w.Close()
	testkit.Until(t, "the witness probed three times", func() bool { return witness.pings.Load() >= 3 })
	if cloud.pings.Load() != n {
		t.Error("probe ran after Close")
	}
	r.Close()
	r.Start(context.Background()) // after Close: nothing
	if r.byName["openai"].probed.Load() {
		t.Error("Start after Close started probes")
	}
}

// hangLister ignores ctx until released.
type hangLister struct {
	llm.Provider
	release chan struct{}
}

func (h hangLister) Models(ctx context.Context) ([]llm.Model, error) {
	<-h.release
	return []llm.Model{{ID: "late"}}, nil
}

type errLister struct{ llm.Provider }

func (errLister) Models(ctx context.Context) ([]llm.Model, error) {
	return nil, errors.New("boom")
}

func TestModels(t *testing.T) {
	local := newFake("ollama")
	local.models = []string{"llama3.2:1b"}
	cloud := newFake("openai")
	cloud.models = []string{"gpt-4o"}
	offline := newFake("gemini")
	offline.models = []string{"gemini-2.0-flash"}
	hang := hangLister{Provider: newFake("slow"), release: make(chan struct{})}
	defer close(hang.release)
	r := newTestRouter(t, []Upstream{
		{Name: "ollama", Type: "ollama", Provider: local, Local: true},
		{Name: "openai", Type: "openai", Provider: cloud},
		{Name: "gemini", Type: "gemini", Provider: offline},
		{Name: "slow", Type: "openai-compatible", Provider: hang},
		{Name: "broken", Type: "openai-compatible", Provider: errLister{newFake("broken")}},
		{Name: "plain", Type: "openai-compatible", Provider: chatOnly{newFake("plain")}},
	}, map[string][]string{"chat": {"openai/gpt-4o"}, "a": {"openai/gpt-4o"}}, func(c *Config) {
		c.ProbeTimeout = 50 * time.Millisecond
	})
	g := r.byName["gemini"]
	g.probed.Store(true)
	r.setOnline(g, false, nil)

	start := time.Now()
	ms := r.Models(context.Background())
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Models took %v with a hanging lister", d)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Provider+":"+m.ID+":"+m.OwnedBy)
	}
	want := []string{"edgeway:a:edgeway", "edgeway:chat:edgeway", "ollama:ollama/llama3.2:1b:ollama", "openai:openai/gpt-4o:openai"}
	if !slices.Equal(got, want) {
		t.Errorf("Models\n got %q\nwant %q", got, want)
	}
	if r.byName["ollama"].models.Load() == nil {
		t.Error("Models did not refresh the local list")
	}
}

func TestReachable(t *testing.T) {
	ping := newFake("p")
	ping.setPing(refusedErr("p"))
	r := newTestRouter(t, []Upstream{
		{Name: "ping", Type: "openai", Provider: ping},
		{Name: "list", Type: "openai", Provider: errLister{newFake("list")}},
		{Name: "plain", Type: "openai", Provider: chatOnly{newFake("plain")}},
		{Name: "local", Type: "ollama", Provider: newFake("local"), Local: true},
	}, nil, nil)
	for name, want := range map[string]bool{
		"ping":  false,
		"list":  false, // its lister fails with a plain error: nothing proves the path works
		"plain": true,  // nothing to check with: assumed reachable
		"local": true,
		"nope":  false,
	} {
		if got := r.Reachable(context.Background(), name); got != want {
			t.Errorf("Reachable(%q) = %v, want %v", name, got, want)
		}
	}
	// Not probed: the failed check is reported but does not mark it offline.
	if !r.byName["ping"].online.Load() {
		t.Error("an unprobed cloud upstream was marked offline")
	}
}

func TestHealth(t *testing.T) {
	r := newTestRouter(t, []Upstream{
		{Name: "ollama", Type: "ollama", Provider: newFake("ollama"), Local: true, MaxInFlight: 2},
		{Name: "openai", Type: "openai", Provider: newFake("openai")},
	}, nil, nil)
	r.byName["ollama"].inFlight.Store(1)
	got := r.Health()
	want := []UpstreamHealth{
		{Name: "ollama", Type: "ollama", Local: true, Online: true, Circuit: "closed", InFlight: 1},
		{Name: "openai", Type: "openai", Online: true, Circuit: "closed"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Health\n got %+v\nwant %+v", got, want)
	}
}
