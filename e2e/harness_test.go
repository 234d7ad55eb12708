package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
	URL string // http://127.0.0.1:port
	out *bytes.Buffer
	cmd *exec.Cmd
}

// startEdgeway writes cfg (YAML without listen/data_dir) and starts the
// binary on a free port, waiting for /healthz. It is stopped at cleanup.
func startEdgeway(t *testing.T, cfg string) *gateway {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	path := filepath.Join(dir, "edgeway.yaml")
	full := "listen: " + addr + "\ndata_dir: " + filepath.Join(dir, "data") + "\n" + cfg
	if err := os.WriteFile(path, []byte(full), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &bytes.Buffer{}
	cmd := exec.Command(edgewayBin(t), "serve", "--config", path)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "E2E_CLOUD_KEY=sk-e2e")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &gateway{URL: "http://" + addr, out: out, cmd: cmd}
	done := make(chan struct{})
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
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(g.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return g
			}
		}
		select {
		case <-done:
			t.Fatalf("edgeway exited:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("edgeway not healthy after 20s:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// closedURL is an http URL on 127.0.0.1 where nothing listens.
func closedURL(t *testing.T, path string) string {
	return "http://" + freeAddr(t) + path
}

func contains(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

// checkForT polls cond for up to 10 s.
func checkForT(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
