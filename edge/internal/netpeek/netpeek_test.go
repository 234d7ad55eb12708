package netpeek

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/testkit"
)

// pair returns the two ends of a real TCP connection on loopback.
func pair(t *testing.T) (client, server net.Conn) {
	ln := testkit.Listen(t)
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-acc
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestStates(t *testing.T) {
	tests := []struct {
		name string
		peer func(net.Conn)
		want State
	}{
		{"data is seen and left in place", func(c net.Conn) { c.Write([]byte("GET")) }, Data},
		{"close is seen", func(c net.Conn) { c.Close() }, Closed},
		{"reset is seen", func(c net.Conn) { c.(*net.TCPConn).SetLinger(0); c.Close() }, Closed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, server := pair(t)
			if st, err := Now(server); st != Quiet || err != nil {
				t.Fatalf("Now on a quiet connection = %v, %v", st, err)
			}
			tc.peer(client)
			st, err := Wait(server)
			if st != tc.want {
				t.Fatalf("Wait = %v, %v; want %v", st, err, tc.want)
			}
			if tc.want == Data {
				b := make([]byte, 3)
				if _, err := server.Read(b); err != nil || string(b) != "GET" {
					t.Fatalf("the peeked bytes were consumed: %q %v", b, err)
				}
			}
		})
	}
}

// A read deadline in the past, set from another goroutine, ends a Wait.
func TestWaitWoken(t *testing.T) {
	_, server := pair(t)
	res := make(chan error, 1)
	var st State
	go func() {
		var err error
		st, err = Wait(server)
		res <- err
	}()
	server.SetReadDeadline(time.Unix(1, 0))
	err := <-res
	var ne net.Error
	if st != Quiet || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Wait = %v, %v; want Quiet and a timeout", st, err)
	}
}
