package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeway/edgeway/board"
	"github.com/edgeway/edgeway/edge/config"
	"github.com/edgeway/edgeway/edge/openai/openaitest"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/sync/fleet"
	"github.com/edgeway/edgeway/sync/fleet/natstest"
)

// twoUpstreams starts two fake OpenAI upstreams, "a" and "b", and returns
// the providers: section naming them.
func twoUpstreams(t *testing.T) string {
	t.Helper()
	t.Setenv("RELOAD_TEST_KEY", "sk-reload")
	var b strings.Builder
	b.WriteString("providers:\n")
	for _, name := range []string{"a", "b"} {
		up := openaitest.NewT(t, openaitest.Options{APIKey: "sk-reload", Reply: "from " + name})
		fmt.Fprintf(&b, "  - name: %s\n    type: openai\n    base_url: %s\n    api_key: env:RELOAD_TEST_KEY\n", name, up.URL())
	}
	return b.String()
}

// aliasTo is a models: section pointing alias chat at provider p.
func aliasTo(p string) string {
	return "models:\n  chat: [" + p + "/" + openaitest.DefaultModels[0] + "]\n"
}

// served is a running in-process serve.
type served struct {
	addr   string
	hdr    []string // sent with every request
	stderr *lockedBuffer
	done   chan int
}

var listenRe = regexp.MustCompile(`listening on http://(127\.0\.0\.1:\d+)`)

// startServe runs serve --config path in this process until stop.
func startServe(t *testing.T, path string) *served {
	t.Helper()
	out, errb := &lockedBuffer{}, &lockedBuffer{}
	s := &served{stderr: errb, done: make(chan int, 1)}
	go func() { s.done <- run([]string{"serve", "--config", path}, out, errb) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serve stderr:\n%s", errb.String())
		}
	})
	testkit.Until(t, "serve says where it listens", func() bool {
		select {
		case code := <-s.done:
			t.Fatalf("serve exited %d:\n%s\n%s", code, out.String(), errb.String())
		default:
		}
		if m := listenRe.FindStringSubmatch(out.String()); m != nil {
			s.addr = m[1]
		}
		return s.addr != ""
	})
	return s
}

// stop sends SIGINT (what serve listens for) and waits for the exit.
func (s *served) stop(t *testing.T) {
	t.Helper()
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	select {
	case code := <-s.done:
		if code != 0 {
			t.Errorf("serve exit %d:\n%s", code, s.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop on SIGINT")
	}
}

// provider sends one chat request for alias chat and returns who served
// it, failing the test on any failed request.
func (s *served) provider(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := testkit.Do(t, ctx, testkit.Client(t, 0), "POST", "http://"+s.addr+"/v1/chat/completions",
		`{"model":"chat","messages":[{"role":"user","content":"hi"}]}`, s.hdr...)
	if res.Err != nil || res.Status != 200 {
		t.Fatalf("request failed: status %d err %v: %s", res.Status, res.Err, res.Body)
	}
	return res.Header.Get("x-edgeway-provider")
}

func (s *served) waitProvider(t *testing.T, want string) {
	t.Helper()
	testkit.Until(t, "alias chat served by "+want, func() bool { return s.provider(t) == want })
}

func (s *served) waitLog(t *testing.T, want string) {
	t.Helper()
	testkit.Until(t, "the log says "+want, func() bool { return strings.Contains(s.stderr.String(), want) })
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReloadFromFile: a file edit re-points an alias live; an invalid
// file and one changing listen are refused and the running config stays;
// SIGHUP reloads.
func TestReloadFromFile(t *testing.T) {
	head := "listen: 127.0.0.1:0\ndata_dir: " + t.TempDir() + "\n" + twoUpstreams(t)
	path := writeConfig(t, head+aliasTo("a"))
	s := startServe(t, path)
	defer s.stop(t)
	if got := s.provider(t); got != "a" {
		t.Fatalf("served by %q, want a", got)
	}

	writeFile(t, path, head+aliasTo("b"))
	s.waitProvider(t, "b")
	s.waitLog(t, "source=file")

	tests := []struct {
		name, body, problem string
	}{
		{"invalid", head + aliasTo("nope"), `names provider \"nope\", which is not configured`},
		{"unknown field", head + aliasTo("a") + "modelz: {}\n", "modelz"},
		{"listen changes", strings.Replace(head, "127.0.0.1:0", "127.0.0.1:1", 1) + aliasTo("a"), "listen cannot change while running"},
		{"max_body_bytes changes", head + aliasTo("a") + "server:\n  max_body_bytes: 2000000\n", "server.max_body_bytes cannot change while running"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, path, tc.body)
			s.waitLog(t, tc.problem)
			if got := s.provider(t); got != "b" {
				t.Errorf("after a refused config served by %q, want b (the running config)", got)
			}
		})
	}

	writeFile(t, path, head+aliasTo("a"))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	s.waitLog(t, "source=sighup")
	s.waitProvider(t, "a")
}

// TestReloadFromFleet: a KV put of a valid overlay applies; an invalid
// one is refused and published on the status subject with its messages
// and revision; a device restarted with NATS down runs on the
// last-known-good.
func TestReloadFromFleet(t *testing.T) {
	const admin = "reload-test-admin-key-0123"
	t.Setenv(config.AdminKeyEnv, admin)
	ns := natstest.Start(t)
	head := "listen: 127.0.0.1:0\ndata_dir: " + t.TempDir() + "\n" + twoUpstreams(t) +
		"fleet:\n  url: " + ns.URL() + "\n  device: d1\n  group: g1\n"
	path := writeConfig(t, head+aliasTo("a"))
	s := startServe(t, path)
	s.hdr = []string{"Authorization", "Bearer " + admin}
	if got := s.provider(t); got != "a" {
		t.Fatalf("served by %q, want a", got)
	}

	nc, js := ns.Client(t)
	status, err := nc.SubscribeSync(fleet.StatusSubject("d1"))
	if err != nil {
		t.Fatal(err)
	}
	kv := natstest.Bucket(t, js, fleet.ConfigBucket)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kv.Put(ctx, "global", []byte(aliasTo("b")+"pricing:\n  b/"+openaitest.DefaultModels[0]+": {input: 1000000, output: 1000000}\n")); err != nil {
		t.Fatal(err)
	}
	s.waitProvider(t, "b")
	// The pushed price applies: a dollar a token (the fake's answer is 1
	// token in, 2 out).
	testkit.Eventually(t, "provider b priced by the push", func() error {
		res := testkit.Do(t, ctx, testkit.Client(t, 0), "GET", "http://"+s.addr+"/admin/usage?by=provider", "", s.hdr...)
		var rep struct {
			Rows []struct {
				Group   string  `json:"group"`
				CostUSD float64 `json:"cost_usd"`
			} `json:"rows"`
		}
		if err := json.Unmarshal(res.Body, &rep); err != nil {
			return fmt.Errorf("%v: %s", err, res.Body)
		}
		for _, r := range rep.Rows {
			if r.Group == "b" && r.CostUSD >= 3 {
				return nil
			}
		}
		return fmt.Errorf("usage: %s", res.Body)
	})
	if ac := appliedConfigNow(); ac == nil || ac.Source != sourceFleet || ac.Revisions["global"] == 0 {
		t.Errorf("applied config = %+v", ac)
	}

	for _, tc := range []struct {
		name, key, doc, problem string
	}{
		{"invalid", "device.d1", aliasTo("nope"), `names provider "nope"`},
		{"fleet-owned field", "group.g1", "listen: 0.0.0.0:1\n", "listen is the device's own"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rev, err := kv.Put(ctx, tc.key, []byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			msg, err := status.NextMsg(10 * time.Second)
			if err != nil {
				t.Fatalf("no refusal published: %v", err)
			}
			var r refusal
			if err := json.Unmarshal(msg.Data, &r); err != nil {
				t.Fatal(err)
			}
			if r.Type != "config_refused" || r.Device != "d1" || r.Revisions[tc.key] != rev || !strings.Contains(strings.Join(r.Problems, "\n"), tc.problem) {
				t.Errorf("refusal %s, want revision %d and %q", msg.Data, rev, tc.problem)
			}
			if got := s.provider(t); got != "b" {
				t.Errorf("after a refused push served by %q, want b", got)
			}
			// Take it back, so the next case starts from the good config.
			if err := kv.Delete(ctx, tc.key); err != nil {
				t.Fatal(err)
			}
		})
	}

	// A bad key holds back later changes until it is fixed: the device
	// runs the file merged with every key it received, or the last good
	// config.
	nextRefusal := func() refusal {
		t.Helper()
		msg, err := status.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("no refusal published: %v", err)
		}
		var r refusal
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	put := func(key, doc string) uint64 {
		t.Helper()
		rev, err := kv.Put(ctx, key, []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	bad := put("device.d1", aliasTo("nope"))
	nextRefusal()
	put("global", aliasTo("a"))
	if r := nextRefusal(); r.Revisions["device.d1"] != bad {
		t.Errorf("a good global push while device.d1 is bad: refusal %+v, want one naming device.d1 revision %d", r, bad)
	}
	if got := s.provider(t); got != "b" {
		t.Errorf("served by %q, want b (the last good config)", got)
	}
	put("device.d1", "{}\n")
	s.waitProvider(t, "a")
	put("global", aliasTo("b")+"pricing:\n  b/"+openaitest.DefaultModels[0]+": {input: 1000000, output: 1000000}\n")
	s.waitProvider(t, "b")
	s.stop(t)

	// Offline restart: the file still says a; the last-known-good says b.
	ns.Stop()
	s = startServe(t, path)
	defer s.stop(t)
	s.hdr = []string{"Authorization", "Bearer " + admin}
	if got := s.provider(t); got != "b" {
		t.Errorf("offline restart served by %q, want b (last-known-good)", got)
	}
	s.waitLog(t, "starting on the last-known-good")
}

// TestReloadAcrossLinkLoss: the watch survives NATS going away and coming
// back (a device's link comes and goes), and a device started with NATS
// down takes pushes once it is up.
func TestReloadAcrossLinkLoss(t *testing.T) {
	ns := natstest.Start(t)
	head := "listen: 127.0.0.1:0\ndata_dir: " + t.TempDir() + "\n" + twoUpstreams(t) +
		"fleet:\n  url: " + ns.URL() + "\n  device: d2\n"
	path := writeConfig(t, head+aliasTo("a"))
	_, js := ns.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The fleet side made the bucket first; the device finds it.
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: fleet.ConfigBucket, History: 4})
	if err != nil {
		t.Fatal(err)
	}
	ns.Stop()
	s := startServe(t, path) // NATS down
	defer s.stop(t)
	if got := s.provider(t); got != "a" {
		t.Fatalf("served by %q, want a", got)
	}
	ns.Restart()
	testkit.Eventually(t, "the push stored", func() error {
		_, err := kv.Put(ctx, "device.d2", []byte(aliasTo("b")))
		return err
	})
	s.waitProvider(t, "b")

	ns.Restart()
	testkit.Eventually(t, "the second push stored", func() error {
		_, err := kv.Put(ctx, "global", []byte("models:\n  other: [a/"+openaitest.DefaultModels[0]+"]\n"))
		return err
	})
	testkit.Until(t, "the push after a NATS restart applied", func() bool {
		ac := appliedConfigNow()
		return ac != nil && ac.Revisions["global"] != 0
	})
}

func TestRestartOnly(t *testing.T) {
	base := func() *config.Config {
		c, err := config.Parse(strings.NewReader("providers:\n  - name: a\n    type: openai\n    base_url: http://127.0.0.1:1/v1\nmodels:\n  chat: [a/x]\n"), config.Defaults{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name string
		edit func(*config.Config)
		want string // "" = may change live
	}{
		{"models", func(c *config.Config) { c.Models["code"] = []string{"a/y"} }, ""},
		{"pricing", func(c *config.Config) { c.Pricing = map[string]config.Price{"a/x": {Input: 1}} }, ""},
		{"max_concurrency", func(c *config.Config) { c.Server.MaxConcurrency = 3 }, ""},
		{"cache ttl", func(c *config.Config) { c.Cache.TTL = config.Duration(time.Minute) }, ""},
		{"listen", func(c *config.Config) { c.Listen = "127.0.0.1:9" }, "listen cannot change"},
		{"data_dir", func(c *config.Config) { c.DataDir = "/elsewhere" }, "data_dir cannot change"},
		{"fleet group", func(c *config.Config) { c.Fleet.Group = "g2" }, "fleet cannot change"},
		{"log level", func(c *config.Config) { c.Log.Level = "debug" }, "log cannot change"},
		{"header timeout", func(c *config.Config) { c.Server.HeaderTimeout = config.Duration(time.Second) }, "server.header_timeout cannot change"},
		{"cache off", func(c *config.Config) { c.Cache.Mode = "never" }, "cache.mode never cannot change"},
		{"cache bytes", func(c *config.Config) { c.Cache.MaxBytes = 1 << 20 }, "cache.max_bytes cannot change"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := base()
			tc.edit(next)
			got := strings.Join(restartOnly(base(), next), "\n")
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("restartOnly = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDefaultsReload: with no config file, a reload starts from the
// built-in defaults written out, which parse back to the same config.
func TestDefaultsReload(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-x")
	f := &commonFlags{dataDir: t.TempDir()}
	want, err := loadConfig(f, board.Profile{})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := baseDoc(f, board.Profile{})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := mergedConfig(f, board.Profile{}, doc, nil, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	// Compared as YAML: a nil and an empty map are the same config.
	if g, w := docHash(got), docHash(want); g != w {
		t.Errorf("defaults after a round trip differ:\n%s", doc)
	}
}
