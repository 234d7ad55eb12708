//go:build !unix

package netpeek

import "net"

// Now cannot peek on this platform.
func Now(net.Conn) (State, error) { return Quiet, ErrUnsupported }

// Wait cannot peek on this platform.
func Wait(net.Conn) (State, error) { return Quiet, ErrUnsupported }
