package main

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/runtime/tinymodel"
)

func TestRunDeterministic(t *testing.T) {
	dir := t.TempDir()
	hash := func(name string, args ...string) [32]byte {
		t.Helper()
		path := filepath.Join(dir, name)
		var stderr bytes.Buffer
		if err := run(append([]string{"-o", path}, args...), &stderr); err != nil {
			t.Fatalf("run: %v (%s)", err, stderr.String())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}

	a, b := hash("a.gguf", "-seed", "7"), hash("b.gguf", "-seed", "7")
	if a != b {
		t.Fatalf("same seed gave different files: %x != %x", a, b)
	}
	if c := hash("c.gguf", "-seed", "8"); c == a {
		t.Fatalf("seeds 7 and 8 gave the same file")
	}
	if e := hash("e.gguf", "-seed", "7", "-embedding-only"); e == a {
		t.Fatalf("-embedding-only did not change the file")
	}
}

func TestRunModelfile(t *testing.T) {
	dir := t.TempDir()
	mf := filepath.Join(dir, "Modelfile")
	if err := run([]string{"-o", filepath.Join(dir, tinymodel.FileName), "-modelfile", mf}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(mf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "FROM ./"+tinymodel.FileName+"\n") {
		t.Fatalf("Modelfile starts %q", b[:min(len(b), 40)])
	}
}

func TestRunBadArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"unknown flag", []string{"-nope"}},
		{"bad seed", []string{"-seed", "x"}},
		{"extra argument", []string{"-o", filepath.Join(t.TempDir(), "x.gguf"), "more"}},
		{"missing folder", []string{"-o", filepath.Join(t.TempDir(), "no", "such", "x.gguf")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := run(tc.args, &bytes.Buffer{}); err == nil {
				t.Fatalf("run(%q) succeeded", tc.args)
			}
		})
	}
}
