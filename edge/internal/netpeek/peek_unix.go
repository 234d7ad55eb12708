//go:build unix

package netpeek

import (
	"errors"
	"net"
	"syscall"
)

// Now reports conn's state without waiting.
func Now(conn net.Conn) (State, error) { return peek(conn, false) }

// Wait blocks until conn is not Quiet, or until its read deadline passes
// (then it returns Quiet and the deadline's timeout error). Set a read
// deadline in the past from another goroutine to end a Wait early.
func Wait(conn net.Conn) (State, error) { return peek(conn, true) }

func peek(conn net.Conn, wait bool) (State, error) {
	sc, ok := rawConn(conn).(syscall.Conn)
	if !ok {
		return Quiet, ErrUnsupported
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return Closed, err
	}
	st := Quiet
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n > 0:
			st = Data
		case rerr == nil && n == 0:
			st = Closed // EOF
		case errors.Is(rerr, syscall.EAGAIN), errors.Is(rerr, syscall.EWOULDBLOCK), errors.Is(rerr, syscall.EINTR):
			return !wait // nothing yet: let the poller wait for readiness
		default:
			st = Closed
		}
		return true
	})
	if err != nil && st == Quiet {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			st = Closed // the socket itself failed
		}
		return st, err
	}
	return st, nil
}
