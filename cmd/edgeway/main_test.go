package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/config"
	"github.com/edgeway/edgeway/edge/testkit"
)

// lockedBuffer lets the test read what serve prints while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "edgeway.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRun(t *testing.T) {
	bad := writeConfig(t, "listen: nope\nproviders:\n  - name: x\n    type: magic\n")
	unknown := writeConfig(t, "lisen: 127.0.0.1:1\n")
	t.Setenv("EDGEWAY_ADMIN_KEY", "")
	exposed := writeConfig(t, "listen: 0.0.0.0:0\ndata_dir: "+t.TempDir()+"\nproviders:\n  - name: ollama\n    type: ollama\n    base_url: http://127.0.0.1:1\n")
	shortAdmin := writeConfig(t, "data_dir: "+t.TempDir()+"\nauth:\n  admin_key: short\nproviders:\n  - name: ollama\n    type: ollama\n    base_url: http://127.0.0.1:1\n")
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"version", []string{"version"}, 0, []string{"edgeway dev"}, nil},
		{"help", []string{"help"}, 0, []string{"usage: edgeway"}, nil},
		{"unknown command", []string{"frobnicate"}, 2, nil, []string{`unknown command "frobnicate"`}},
		{"bad flag", []string{"serve", "--nope"}, 2, nil, []string{"flag provided but not defined"}},
		{"all config problems at once", []string{"check", "--config", bad}, 1, nil, []string{`listen: "nope"`, `providers[0].type: "magic"`}},
		{"unknown field", []string{"check", "--config", unknown}, 1, nil, []string{"lisen"}},
		{"missing file", []string{"serve", "--config", "/nonexistent.yaml"}, 1, nil, []string{"no such file"}},
		{"open gateway off loopback", []string{"serve", "--config", exposed}, 1, nil, []string{"refusing to listen on 0.0.0.0:0 with no keys"}},
		{"short admin key", []string{"serve", "--config", shortAdmin}, 1, nil, []string{"auth.admin_key: the admin key is 5 characters"}},
		{"keys without admin key", []string{"keys", "list", "--config", exposed}, 1, nil, []string{"no admin key: set EDGEWAY_ADMIN_KEY"}},
		{"keys usage", []string{"keys"}, 2, nil, []string{"usage: edgeway keys"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, &out, &errb)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out.String(), errb.String())
			}
			for _, w := range tc.stdout {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q: %s", w, out.String())
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q: %s", w, errb.String())
				}
			}
		})
	}
}

// TestServeStartsAndStops runs serve as a user would, with nothing to
// route to: it must start, say so, answer /healthz, give a helpful 503,
// and stop cleanly on SIGINT.
func TestServeStartsAndStops(t *testing.T) {
	cfg := writeConfig(t, "listen: 127.0.0.1:0\ndata_dir: "+t.TempDir()+"\nproviders:\n  - name: ollama\n    type: ollama\n    base_url: http://127.0.0.1:1\n")
	out := &lockedBuffer{}
	done := make(chan int, 1)
	go func() { done <- run([]string{"serve", "--config", cfg}, out, io.Discard) }()

	re := regexp.MustCompile(`listening on http://(127\.0\.0\.1:\d+)`)
	var addr string
	testkit.Until(t, "serve says where it listens", func() bool {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	testkit.Until(t, "serve gives its startup verdict", func() bool { return strings.Contains(out.String(), "no provider reachable") })
	if !strings.Contains(out.String(), "provider ollama") || !strings.Contains(out.String(), "unreachable") {
		t.Errorf("startup output:\n%s", out.String())
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.Post("http://"+addr+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"ollama/tiny","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), "start Ollama at http://127.0.0.1:1") {
		t.Errorf("status %d: %s", resp.StatusCode, body)
	}

	syscall.Kill(os.Getpid(), syscall.SIGINT)
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop on SIGINT")
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8420": true, "localhost:1": true, "[::1]:80": true, "127.1.2.3:9": true,
		"0.0.0.0:8420": false, ":8420": false, "192.168.1.5:80": false, "[::]:80": false, "example.com:80": false, "nope": false,
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v", addr, got)
		}
	}
}

func TestNewLogger(t *testing.T) {
	for _, tc := range []struct {
		name          string
		flag          string
		cfg           config.Log
		debug, isJSON bool
	}{
		{name: "defaults", cfg: config.Log{Format: "text", Level: "info"}},
		{name: "json debug from config", cfg: config.Log{Format: "json", Level: "debug"}, debug: true, isJSON: true},
		{name: "flag overrides config", flag: "debug", cfg: config.Log{Format: "text", Level: "warn"}, debug: true},
		{name: "flag lowers it", flag: "info", cfg: config.Log{Format: "json", Level: "debug"}, isJSON: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			l := newLogger(&b, &commonFlags{logLevel: tc.flag}, tc.cfg)
			if got := l.Enabled(context.Background(), slog.LevelDebug); got != tc.debug {
				t.Errorf("debug enabled %v, want %v", got, tc.debug)
			}
			l.Warn("hello")
			if got := strings.HasPrefix(b.String(), "{"); got != tc.isJSON {
				t.Errorf("output %q, want JSON %v", b.String(), tc.isJSON)
			}
		})
	}
}
