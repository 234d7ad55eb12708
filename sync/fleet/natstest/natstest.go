// Package natstest runs a real nats-server with JetStream inside a test
// process, on a loopback port of its own, with its store in a directory
// that survives Restart. Only tests import it, so the device binary never
// carries the server.
package natstest

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is one nats-server with JetStream.
type Server struct {
	t     testing.TB
	opts  server.Options
	s     *server.Server
	store string
}

// Start starts a server with JetStream on 127.0.0.1 and a free port, and
// stops it when the test ends. configure, when given, adjusts its options
// first (users, TLS, ...).
func Start(t testing.TB, configure ...func(*server.Options)) *Server {
	t.Helper()
	n := &Server{t: t, store: t.TempDir()}
	n.opts = server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: n.store, NoLog: true, NoSigs: true}
	for _, c := range configure {
		c(&n.opts)
	}
	n.start()
	t.Cleanup(n.Stop)
	return n
}

func (n *Server) start() {
	n.t.Helper()
	s, err := server.NewServer(&n.opts)
	if err != nil {
		n.t.Fatalf("natstest: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("natstest: nats-server not ready")
	}
	n.s = s
	// A restart comes back on the same port, so clients reconnect.
	n.opts.Port = s.Addr().(*net.TCPAddr).Port
}

// URL is the client URL (nats://127.0.0.1:port).
func (n *Server) URL() string { return n.s.ClientURL() }

// Stop shuts the server down; the store stays for Restart.
func (n *Server) Stop() {
	if n.s != nil {
		n.s.Shutdown()
		n.s.WaitForShutdown()
		n.s = nil
	}
}

// Restart stops the server if it runs and starts it again on the same
// port with the same store: streams and buckets come back.
func (n *Server) Restart() {
	n.t.Helper()
	n.Stop()
	n.start()
}
