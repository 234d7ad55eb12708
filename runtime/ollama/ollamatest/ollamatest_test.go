package ollamatest

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBinary(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "ollama")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, env, want string
		ok              bool
	}{
		{"executable", exe, exe, true},
		{"not executable", plain, plain, false},
		{"missing", filepath.Join(dir, "nope"), filepath.Join(dir, "nope"), false},
		{"folder", dir, dir, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvBinary, tc.env)
			if p, ok := Binary(); p != tc.want || ok != tc.ok {
				t.Errorf("Binary() = %q, %v; want %q, %v", p, ok, tc.want, tc.ok)
			}
		})
	}
	t.Run("cache path", func(t *testing.T) {
		t.Setenv(EnvBinary, "")
		t.Setenv("XDG_CACHE_HOME", dir)
		want := filepath.Join(dir, "edgeway", "ollama-v"+Version, "ollama")
		if p, ok := Binary(); p != want || ok {
			t.Errorf("Binary() = %q, %v; want %q, false", p, ok, want)
		}
		if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if p, ok := Binary(); p != want || !ok {
			t.Errorf("Binary() = %q, %v; want %q, true", p, ok, want)
		}
	})
}

// recorder is a testing.TB that records Skip and Fatal instead of ending
// the test.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Skip(...any)           { r.skipped = true }
func (r *recorder) Fatal(...any)          { r.failed = true }
func (r *recorder) Skipf(string, ...any)  { r.skipped = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestRequireMissing(t *testing.T) {
	t.Setenv(EnvBinary, filepath.Join(t.TempDir(), "nope"))
	for _, tc := range []struct {
		require       string
		skip, failure bool
	}{
		{"", true, false},
		{"0", true, false},
		{"1", false, true},
	} {
		t.Run("require="+tc.require, func(t *testing.T) {
			t.Setenv(EnvRequire, tc.require)
			r := &recorder{TB: t}
			Require(r)
			if r.failed != tc.failure || (!tc.failure && r.skipped != tc.skip) {
				t.Errorf("skipped %v failed %v, want skip %v failure %v", r.skipped, r.failed, tc.skip, tc.failure)
			}
		})
	}
}

func TestServerEnv(t *testing.T) {
	t.Setenv("OLLAMA_HOST", "0.0.0.0:1")
	t.Setenv("OLLAMA_MODELS", "/usr/share/ollama")
	t.Setenv("EDGEWAY_KEEP", "yes")
	env := serverEnv("/h", "/m", "127.0.0.1:5", []string{"OLLAMA_MAX_QUEUE=1"})
	for _, want := range []string{"HOME=/h", "OLLAMA_HOST=127.0.0.1:5", "OLLAMA_MODELS=/m", "OLLAMA_NO_CLOUD=1", "OLLAMA_MAX_QUEUE=1", "EDGEWAY_KEEP=yes"} {
		if !slices.Contains(env, want) {
			t.Errorf("env lacks %s", want)
		}
	}
	for _, kv := range env {
		if kv == "OLLAMA_HOST=0.0.0.0:1" || kv == "OLLAMA_MODELS=/usr/share/ollama" {
			t.Errorf("env kept the caller's %s", kv)
		}
	}
}

func TestWriteModels(t *testing.T) {
	dir := t.TempDir()
	if err := writeModels(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tiny.gguf", "tiny-embed.gguf", "Modelfile", "Modelfile.embed"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "Modelfile.embed"))
	if !strings.HasPrefix(string(b), "FROM ./tiny-embed.gguf\n") {
		t.Errorf("Modelfile.embed starts %q", strings.SplitN(string(b), "\n", 2)[0])
	}
}

// TestStart runs the real server: it comes up with both models, and Stop
// takes it down for good.
func TestStart(t *testing.T) {
	start := time.Now()
	inst := Start(t)
	t.Logf("ready with models in %v", time.Since(start))

	resp, err := http.Get(inst.URL + "/api/tags")
	if err != nil {
		t.Fatal(err)
	}
	var tags struct {
		Models []struct {
			Name string `json:"name"`
		} `json:"models"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tags)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range tags.Models {
		names = append(names, m.Name)
	}
	for _, want := range []string{inst.Model + ":latest", inst.EmbedOnlyModel + ":latest"} {
		if !slices.Contains(names, want) {
			t.Errorf("models %q lack %s", names, want)
		}
	}
	if _, err := os.Stat(filepath.Join(inst.Dir, "home", ".ollama")); err != nil {
		t.Errorf("server did not use the hermetic HOME: %v", err)
	}

	stopped := time.Now()
	inst.Stop()
	inst.Stop() // idempotent
	if !inst.Stopped() {
		t.Fatal("process still running after Stop")
	}
	t.Logf("stopped in %v", time.Since(stopped))
	client := &http.Client{Timeout: time.Second}
	if resp, err := client.Get(inst.URL + "/api/version"); err == nil {
		resp.Body.Close()
		t.Fatal("server still answers after Stop")
	}
}
