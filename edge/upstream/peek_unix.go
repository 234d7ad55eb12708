//go:build unix

package upstream

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// alive reports whether an idle pooled connection is still open, with a
// non-blocking peek: an upstream that closed it while idle has left an
// EOF (or RST) to read. Checking before use instead of retrying after a
// failure means a request is never sent twice.
func alive(conn net.Conn) bool {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := true
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n > 0:
			// Bytes nobody asked for: the stream is out of step.
			open = false
		case rerr == nil && n == 0:
			open = false // EOF
		case errors.Is(rerr, syscall.EAGAIN), errors.Is(rerr, syscall.EWOULDBLOCK), errors.Is(rerr, syscall.EINTR):
		default:
			open = false
		}
		return true // never wait for readiness
	})
	return err == nil && open
}
