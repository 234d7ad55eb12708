package testkit

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// UnansweredAddr returns a 127.0.0.1 address whose connects neither
// succeed nor fail: a socket listens with a backlog of zero and one
// connection it never accepts fills its queue, so Linux drops every
// further SYN and a dial waits until its own timeout. It stays so until
// the test ends. This is how an upstream behind a dead route looks.
func UnansweredAddr(tb testing.TB) string {
	tb.Helper()
	fd, addr := boundSocket(tb)
	if err := syscall.Listen(fd, 0); err != nil {
		tb.Fatalf("listen: %v", err)
	}
	// Fill the accept queue. A backlog of zero holds one connection.
	filler, err := net.DialTimeout("tcp", addr, Patience)
	if err != nil {
		tb.Fatalf("fill the accept queue of %s: %v", addr, err)
	}
	tb.Cleanup(func() { filler.Close() })
	// Check that a further connect is left unanswered.
	if c, err := net.DialTimeout("tcp", addr, 50*time.Millisecond); err == nil {
		c.Close()
		tb.Skipf("testkit: this kernel answered a connect beyond a full accept queue of %s", addr)
	}
	return addr
}
