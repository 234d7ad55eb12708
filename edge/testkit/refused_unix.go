//go:build unix

package testkit

import (
	"net"
	"strconv"
	"syscall"
	"testing"
)

// RefusedAddr returns a 127.0.0.1 address that refuses connections and
// stays so until the test ends: its port is held by a socket that is
// bound but never listens, so no other process can take it meanwhile (as
// it could after listening and closing).
func RefusedAddr(tb testing.TB) string {
	tb.Helper()
	_, addr := boundSocket(tb)
	return addr
}

// boundSocket returns a TCP socket bound to a free port of 127.0.0.1,
// closed when the test ends, and its address.
func boundSocket(tb testing.TB) (fd int, addr string) {
	tb.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		tb.Fatalf("socket: %v", err)
	}
	tb.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatalf("bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		tb.Fatalf("getsockname: %v", err)
	}
	return fd, net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}
