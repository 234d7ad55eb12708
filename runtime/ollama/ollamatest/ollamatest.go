// Package ollamatest runs the real Ollama server for tests: hermetically
// (its own HOME, model folder and loopback port), serving a tiny generated
// model, and stopped when the test ends.
//
// The binary comes from scripts/build-ollama.sh, which caches it outside
// the checkout; EDGEWAY_OLLAMA_BIN overrides the path. Tests call Start
// (or Require, to only check for the binary): without a binary they skip,
// unless EDGEWAY_REQUIRE_OLLAMA=1 (set by `make test`), which makes a
// missing binary a failure so CI cannot pass by skipping.
//
// Ollama 0.17.4 can wedge a model for good when a client leaves in the
// middle of a stream (github.com/ollama/ollama/issues/17131; with the tiny
// model about one abort in ten). A test that cancels a stream should
// either be the last to use its Instance or start its own.
//
// The model files come from package tinymodel (runtime/tinymodel),
// the same generator scripts/tinygguf and scripts/tiny-model.sh use.
package ollamatest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeway/edgeway/runtime/tinymodel"
)

// Version is the Ollama version scripts/build-ollama.sh builds.
const Version = "0.17.4"

// Environment variables read by this package.
const (
	// EnvBinary overrides the path of the ollama binary.
	EnvBinary = "EDGEWAY_OLLAMA_BIN"
	// EnvRequire, set to "1", turns a missing binary into a test failure.
	EnvRequire = "EDGEWAY_REQUIRE_OLLAMA"
)

// Model names Start creates.
const (
	// Model is a chat model (it also answers embeddings).
	Model = "tiny"
	// EmbedOnlyModel is the same model marked as embedding-only: Ollama
	// refuses to chat with it, which makes a real KindBadRequest.
	EmbedOnlyModel = "tiny-embed"
)

// Bounds on the real server's lifecycle. They are generous because the
// machines running the tests are small and shared.
const (
	readyTimeout  = 30 * time.Second
	createTimeout = 60 * time.Second
	stopGrace     = 10 * time.Second
	killWait      = 5 * time.Second
	pollInterval  = 20 * time.Millisecond
	startAttempts = 3 // a free port can be taken between probe and bind
	maxLogTail    = 32 << 10
)

// Binary returns the path of the real ollama binary: $EDGEWAY_OLLAMA_BIN
// when set, else the cache path scripts/build-ollama.sh writes
// (${XDG_CACHE_HOME:-$HOME/.cache}/edgeway/ollama-v<Version>/ollama). ok
// reports whether an executable file is there; path is returned either
// way, for messages.
func Binary() (path string, ok bool) {
	if p := os.Getenv(EnvBinary); p != "" {
		return p, isExecutable(p)
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", false
	}
	p := filepath.Join(dir, "edgeway", "ollama-v"+Version, "ollama")
	return p, isExecutable(p)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// Require returns the path of the ollama binary, or skips the test when
// there is none; with EDGEWAY_REQUIRE_OLLAMA=1 it fails the test instead.
func Require(t testing.TB) string {
	t.Helper()
	p, ok := Binary()
	if ok {
		return p
	}
	msg := fmt.Sprintf("ollamatest: no ollama binary at %q: run scripts/build-ollama.sh or set %s", p, EnvBinary)
	if os.Getenv(EnvRequire) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Config adjusts StartWith.
type Config struct {
	// Env is added to the server's environment, for example
	// "OLLAMA_MAX_QUEUE=1" or "OLLAMA_KEEP_ALIVE=0".
	Env []string
}

// Instance is a running Ollama server owned by one test. Its fields are
// read-only; Stop may be called from any goroutine.
type Instance struct {
	// URL is the server's base URL, http://127.0.0.1:<port>.
	URL string
	// Model is the chat model's name, "tiny".
	Model string
	// EmbedOnlyModel is the embedding-only model's name, "tiny-embed".
	EmbedOnlyModel string
	// Dir holds the server's HOME, its models and the log.
	Dir string
	// LogPath is the server's combined stdout and stderr.
	LogPath string

	bin  string
	env  []string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been waited for

	stopOnce sync.Once
}

// Start runs `ollama serve` for t with the tiny models created, and stops
// it when t ends. It skips or fails t as Require does when there is no
// binary, and fails t when the server does not come up.
func Start(t testing.TB) *Instance {
	t.Helper()
	return StartWith(t, Config{})
}

// StartWith is Start with cfg.
func StartWith(t testing.TB, cfg Config) *Instance {
	t.Helper()
	bin := Require(t)
	dir := t.TempDir()
	home, models, modelDir := filepath.Join(dir, "home"), filepath.Join(dir, "models"), filepath.Join(dir, "model")
	for _, d := range []string{home, models, modelDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeModels(modelDir); err != nil {
		t.Fatal(err)
	}

	var (
		i   *Instance
		err error
	)
	for attempt := range startAttempts {
		addr, aerr := freeAddr()
		if aerr != nil {
			t.Fatal(aerr)
		}
		i = &Instance{
			URL:            "http://" + addr,
			Model:          Model,
			EmbedOnlyModel: EmbedOnlyModel,
			Dir:            dir,
			LogPath:        filepath.Join(dir, fmt.Sprintf("ollama-%d.log", attempt)),
			bin:            bin,
			env:            serverEnv(home, models, addr, cfg.Env),
			done:           make(chan struct{}),
		}
		if err := i.start(); err != nil {
			t.Fatalf("ollamatest: %v", err)
		}
		t.Cleanup(i.Stop)
		if err = i.waitReady(); err == nil || !strings.Contains(i.logTail(), "address already in use") {
			break
		}
		i.Stop()
	}
	if err != nil {
		t.Fatalf("ollamatest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ollamatest: server log %s (tail):\n%s", i.LogPath, i.logTail())
		}
	})

	for _, m := range []struct{ name, modelfile string }{
		{Model, "Modelfile"},
		{EmbedOnlyModel, "Modelfile.embed"},
	} {
		if out, err := i.run(createTimeout, "create", m.name, "-f", filepath.Join(modelDir, m.modelfile)); err != nil {
			t.Fatalf("ollamatest: ollama create %s: %v\n%s", m.name, err, out)
		}
	}
	return i
}

// writeModels writes both GGUF variants and their Modelfiles into dir.
func writeModels(dir string) error {
	if err := tinymodel.WriteDir(dir, tinymodel.Options{Seed: tinymodel.DefaultSeed}); err != nil {
		return err
	}
	const embedFile = "tiny-embed.gguf"
	if err := tinymodel.WriteFile(filepath.Join(dir, embedFile), tinymodel.Options{Seed: tinymodel.DefaultSeed, EmbeddingOnly: true}); err != nil {
		return err
	}
	mf := strings.Replace(tinymodel.Modelfile, "FROM ./"+tinymodel.FileName, "FROM ./"+embedFile, 1)
	return os.WriteFile(filepath.Join(dir, "Modelfile.embed"), []byte(mf), 0o644)
}

// serverEnv is the caller's environment without any OLLAMA_ setting or
// HOME (a developer's own Ollama configuration must not leak in), plus the
// hermetic settings and extra.
func serverEnv(home, models, addr string, extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "OLLAMA_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"HOME="+home,
		"OLLAMA_HOST="+addr,
		"OLLAMA_MODELS="+models,
		"OLLAMA_NO_CLOUD=1",
	)
	return append(env, extra...)
}

// freeAddr returns a loopback address with a port that was free a moment
// ago. Ollama takes its address from OLLAMA_HOST and cannot be handed a
// listener, so the race with other processes is handled by retrying.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("ollamatest: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (i *Instance) start() error {
	log, err := os.Create(i.LogPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(i.bin, "serve")
	cmd.Env = i.env
	cmd.Dir = i.Dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s serve: %w", i.bin, err)
	}
	i.cmd = cmd
	go func() {
		cmd.Wait()
		log.Close()
		close(i.done)
	}()
	return nil
}

// waitReady polls /api/version until the server answers, it exits, or
// readyTimeout passes.
func (i *Instance) waitReady() error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	for {
		resp, err := client.Get(i.URL + "/api/version")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case <-i.done:
			return fmt.Errorf("ollama serve exited before it was ready: %v\n%s", i.cmd.ProcessState, i.logTail())
		case <-time.After(pollInterval):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ollama serve not ready at %s after %v: %v\n%s", i.URL, readyTimeout, err, i.logTail())
		}
	}
}

// run runs the ollama CLI against the instance and returns its output.
func (i *Instance) run(timeout time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, i.bin, args...)
	cmd.Env = i.env
	cmd.Dir = i.Dir
	return cmd.CombinedOutput()
}

// Stop stops the server now: SIGTERM, then SIGKILL when it has not exited
// within a bound. Tests use it to simulate the runtime dying; it is also
// registered as the test's cleanup. It is idempotent and safe for
// concurrent use.
func (i *Instance) Stop() {
	i.stopOnce.Do(func() {
		if i.cmd == nil || i.cmd.Process == nil {
			return
		}
		terminate(i.cmd.Process)
		select {
		case <-i.done:
		case <-time.After(stopGrace):
			kill(i.cmd.Process)
			select {
			case <-i.done:
			case <-time.After(killWait):
			}
		}
		// The model runners are children of the server in its process
		// group; make sure none outlives it.
		kill(i.cmd.Process)
	})
}

// Stopped reports whether the server process has exited.
func (i *Instance) Stopped() bool {
	select {
	case <-i.done:
		return true
	default:
		return false
	}
}

// logTail returns the end of the server log.
func (i *Instance) logTail() string {
	b, err := os.ReadFile(i.LogPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > maxLogTail {
		b = b[len(b)-maxLogTail:]
		if j := bytes.IndexByte(b, '\n'); j >= 0 {
			b = b[j+1:]
		}
	}
	return string(b)
}
