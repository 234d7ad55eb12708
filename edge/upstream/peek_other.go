//go:build !unix

package upstream

import "net"

// alive cannot peek on this platform; a dead connection shows up as an
// error on use.
func alive(net.Conn) bool { return true }
