// Package testkit is the one small kit edgeway's tests share: waiting for
// a condition without sleeping a fixed time, and listeners that hold their
// port from the moment it is picked (no free-port race).
package testkit

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Patience bounds every wait. It is not a timing assertion: a condition
// that holds is seen within microseconds of holding; the bound only turns
// a hang into a failure with a message on a very loaded machine.
const Patience = 60 * time.Second

// Eventually calls cond until it returns nil, backing off from 1 ms to
// 50 ms between calls, and fails the test with cond's last error if it
// has not returned nil within Patience.
func Eventually(tb testing.TB, what string, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(Patience)
	wait := time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not so after %v: %v", what, Patience, err)
		}
		time.Sleep(wait)
		if wait < 50*time.Millisecond {
			wait *= 2
		}
	}
}

// errNotYet is what Until reports when its condition never held.
var errNotYet = errors.New("condition still false")

// Until is Eventually for a condition with no error to tell.
func Until(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	Eventually(tb, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

// Listen returns a TCP listener on a port of 127.0.0.1 the kernel picked,
// closed when the test ends. Hand the listener itself to the server under
// test: closing it and reusing its port would race other processes.
func Listen(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	tb.Cleanup(func() { ln.Close() })
	return ln
}

// Closed waits until ch is closed (or receives), bounded by Patience.
func Closed[T any](tb testing.TB, what string, ch <-chan T) {
	tb.Helper()
	t := time.NewTimer(Patience)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
		tb.Fatalf("%s: not so after %v", what, Patience)
	}
}

// Fixture returns the file name under the test's testdata directory.
func Fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Seed adds each named testdata fixture, then each body, to f's corpus.
func Seed(f *testing.F, fixtures []string, bodies ...string) {
	f.Helper()
	for _, name := range fixtures {
		f.Add(Fixture(f, name))
	}
	for _, s := range bodies {
		f.Add([]byte(s))
	}
}

// Clock is a clock for code under test that takes a now function: it
// stands still until the test advances it.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock standing at start.
func NewClock(start time.Time) *Clock { return &Clock{t: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
