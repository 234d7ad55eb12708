package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/testkit"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// edgewayBin returns $EDGEWAY_BIN (what `make e2e` builds) or builds the
// binary once into a temp dir.
func edgewayBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("EDGEWAY_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "edgeway-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "edgeway")
		// Built from the main module, whose go.sum covers the binary.
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/edgeway")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build edgeway: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// gateway is a running edgeway process.
type gateway struct {
	URL    string // http://127.0.0.1:port
	Config string // the config file it runs with
	out    *output
	done   chan struct{} // closed when the process has exited
	cmd    *exec.Cmd
}

// output collects a child's stdout and stderr, which its two copying
// goroutines write while the test reads; it reports the address the child
// says it listens on.
type output struct {
	mu   sync.Mutex
	b    bytes.Buffer
	addr chan string // receives the listening address once
	sent bool
}

// listening matches edgeway's "edgeway <version> listening on http://ADDR".
var listening = regexp.MustCompile(`(?m)^edgeway \S+ listening on http://(\S+)`)

func newOutput() *output { return &output{addr: make(chan string, 1)} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.b.Write(p)
	if !o.sent {
		if m := listening.FindSubmatch(o.b.Bytes()); m != nil {
			o.sent = true
			o.addr <- string(m[1])
		}
	}
	return n, err
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// startEdgeway writes cfg (YAML without listen/data_dir) and starts the
// binary on a port it binds itself (listen 127.0.0.1:0; it prints the
// address), waiting for /healthz. It is stopped at cleanup.
func startEdgeway(t *testing.T, cfg string) *gateway {
	t.Helper()
	return startEdgewayIn(t, t.TempDir(), cfg)
}

// startEdgewayIn is startEdgeway with its config and data in dir, so a
// restart finds what the last run left.
func startEdgewayIn(t *testing.T, dir, cfg string) *gateway {
	t.Helper()
	path := filepath.Join(dir, "edgeway.yaml")
	full := "listen: 127.0.0.1:0\ndata_dir: " + filepath.Join(dir, "data") + "\n" + cfg
	if err := os.WriteFile(path, []byte(full), 0o600); err != nil {
		t.Fatal(err)
	}
	out := newOutput()
	cmd := exec.Command(edgewayBin(t), "serve", "--config", path)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "E2E_CLOUD_KEY=sk-e2e")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	g := &gateway{Config: path, out: out, cmd: cmd, done: done}
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Error("edgeway did not stop within 15s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("edgeway output:\n%s", out.String())
		}
	})
	select {
	case addr := <-out.addr:
		g.URL = "http://" + addr
	case <-done:
		t.Fatalf("edgeway exited:\n%s", out.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("edgeway did not say where it listens after 20s:\n%s", out.String())
	}
	testkit.Until(t, "edgeway answers /healthz", func() bool {
		select {
		case <-done:
			t.Fatalf("edgeway exited:\n%s", out.String())
		default:
		}
		resp, err := http.Get(g.URL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return g
}

// closedURL is an http URL on 127.0.0.1 that refuses connections until the
// test ends.
func closedURL(t *testing.T, path string) string {
	return "http://" + testkit.RefusedAddr(t) + path
}

func contains(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
