// Package glovetest gives tests the real glove embedder: the file
// scripts/glove.sh writes (or $EDGEWAY_GLOVE), loaded once per test
// binary. Without the file tests skip, unless EDGEWAY_REQUIRE_GLOVE=1 (set
// by `make test`), which makes a missing file a failure so CI cannot pass
// by skipping.
package glovetest

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/edgeway/edgeway/edge/glove"
)

// EnvRequire, set to "1", turns a missing glove file into a test failure.
const EnvRequire = "EDGEWAY_REQUIRE_GLOVE"

var (
	once   sync.Once
	loaded *glove.Embedder
	errMsg string
)

// Require returns the real embedder, or skips the test when the file is
// missing; with EDGEWAY_REQUIRE_GLOVE=1 it fails the test instead. A file
// that is there but does not load always fails the test. The embedder is
// shared by all tests of the binary (it is read-only).
func Require(t testing.TB) *glove.Embedder {
	t.Helper()
	once.Do(func() {
		p, ok := glove.Path()
		if !ok {
			errMsg = fmt.Sprintf("glovetest: no glove file at %q: run scripts/glove.sh or set %s", p, glove.EnvPath)
			return
		}
		e, err := glove.Load(p)
		if err != nil {
			errMsg = "glovetest: " + err.Error()
			loaded = nil
			return
		}
		loaded = e
	})
	if loaded != nil {
		return loaded
	}
	if _, ok := glove.Path(); ok || os.Getenv(EnvRequire) == "1" {
		t.Fatal(errMsg)
	}
	t.Skip(errMsg)
	return nil
}
