package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeway/edgeway/edge/testkit"
)

// Client connects to n as the fleet side of a test would; the connection
// closes when the test ends.
func (n *Server) Client(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(n.URL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatalf("natstest: connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: jetstream: %v", err)
	}
	return nc, js
}

// bucketWait bounds each look-up of Bucket.
const bucketWait = 5 * time.Second

// Bucket waits until the KV bucket name exists (whoever makes it: a
// device creates the config bucket when it first connects) and returns
// it.
func Bucket(t testing.TB, js jetstream.JetStream, name string) jetstream.KeyValue {
	t.Helper()
	var kv jetstream.KeyValue
	testkit.Eventually(t, "bucket "+name+" exists", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), bucketWait)
		defer cancel()
		var err error
		kv, err = js.KeyValue(ctx, name)
		return err
	})
	return kv
}
