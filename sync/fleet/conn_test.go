package fleet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/edgeway/edgeway/edge/config"
	"github.com/edgeway/edgeway/sync/fleet/natstest"
)

// TestConnectAuth: each way a device may authenticate works against a
// server that requires it, a wrong secret is refused, and no error
// carries the secret.
func TestConnectAuth(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile := filepath.Join(t.TempDir(), "device.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"NATS_PW": "s3cret-pw", "NATS_TOKEN": "t0ken-abc", "WRONG": "nope-nope"}
	resolve := func(s config.Secret) (string, error) {
		return s.Resolve(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	}
	for _, tc := range []struct {
		name   string
		server func(*server.Options)
		ok     config.Fleet
		wrong  config.Fleet
	}{
		{"user and password", func(o *server.Options) { o.Username, o.Password = "dev", "s3cret-pw" },
			config.Fleet{User: "dev", Password: "env:NATS_PW"}, config.Fleet{User: "dev", Password: "env:WRONG"}},
		{"token", func(o *server.Options) { o.Authorization = "t0ken-abc" },
			config.Fleet{Token: "env:NATS_TOKEN"}, config.Fleet{Token: "env:WRONG"}},
		{"nkey", func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: pub}} },
			config.Fleet{NKeyFile: seedFile}, config.Fleet{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := natstest.Start(t, tc.server)
			f := tc.ok
			f.URL = n.URL()
			nc, err := Connect(f, "d1", resolve, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if err := nc.Flush(); err != nil || !nc.IsConnected() {
				t.Fatalf("not connected: %v", err)
			}
			// A wrong secret: the server refuses it (the client keeps
			// retrying, as a device does; it never connects).
			w := tc.wrong
			w.URL = n.URL()
			bad, err := Connect(w, "d1", resolve, slog.New(slog.DiscardHandler))
			if err == nil {
				defer bad.Close()
				if bad.Flush() == nil && bad.IsConnected() {
					t.Fatal("connected with a wrong secret")
				}
			} else if strings.Contains(err.Error(), "nope-nope") {
				t.Fatalf("the error shows the secret: %v", err)
			}
		})
	}
}

// TestConnectTLS: a device trusts the fleet's own CA from fleet.tls.ca.
func TestConnectTLS(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fleet"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	n := natstest.Start(t, func(o *server.Options) {
		o.TLS = true
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	})
	f := config.Fleet{URL: strings.Replace(n.URL(), "nats://", "tls://", 1)}
	f.TLS.CA = caFile
	nc, err := Connect(f, "d1", nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Flush(); err != nil || !nc.IsConnected() || nc.TLSRequired() == false {
		t.Fatalf("no TLS connection: %v", err)
	}
}
