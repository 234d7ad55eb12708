// Package netpeek looks at what a TCP connection has to read without
// reading it: whether the peer hung up, sent bytes, or is quiet. The
// server uses it to notice a client that goes away mid-request without
// swallowing a pipelined request; the upstream transport to skip pooled
// connections the upstream closed while they were idle.
package netpeek

import (
	"crypto/tls"
	"errors"
	"net"
)

// State is what a connection has to read.
type State uint8

const (
	// Quiet: nothing to read yet (or the wait was interrupted).
	Quiet State = iota
	// Data: bytes are waiting; they were not consumed.
	Data
	// Closed: the peer closed or reset the connection.
	Closed
)

// ErrUnsupported is returned where the platform or the connection type
// cannot be peeked.
var ErrUnsupported = errors.New("netpeek: cannot peek this connection")

// rawConn returns the socket under conn, looking through TLS (peeking
// there sees records, but an EOF or reset is still an EOF or reset).
func rawConn(conn net.Conn) net.Conn {
	if tc, ok := conn.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return conn
}
