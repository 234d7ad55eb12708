package fleet

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/edge/config"
)

// The names both sides of the fleet use; README lists them for nats CLI
// users.
const (
	// UsageStream holds every device's usage records, subject
	// UsageSubject(device), one message per record.
	UsageStream = "EDGEWAY_USAGE"
	// ConfigBucket is the KV bucket of pushed config: keys "global",
	// "group.<name>", "device.<id>", merged in that order over the
	// device's own file.
	ConfigBucket = "edgeway_config"
	// MsgSeqHeader carries a usage record's per-device sequence number.
	MsgSeqHeader = "Edgeway-Seq"
)

// UsageSubject is where device's usage records go.
func UsageSubject(device string) string { return "edgeway.usage." + device }

// StatusSubject is where device's heartbeats and config refusals go.
func StatusSubject(device string) string { return "edgeway.status." + device }

// ConfigKeys are the bucket keys that apply to a device in group, in the
// order they merge.
func ConfigKeys(device, group string) []string {
	keys := []string{"global"}
	if group != "" {
		keys = append(keys, "group."+group)
	}
	return append(keys, "device."+device)
}

// Connect opens the connection described by f, resolving its secrets
// with resolve ("env:VAR" or a stored secret). It reconnects forever with
// backoff: a device's link comes and goes. name tells the server who
// connects (the device id).
func Connect(f config.Fleet, name string, resolve func(config.Secret) (string, error), log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("edgeway " + name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(500*time.Millisecond, 2*time.Second),
		// A device may start with the link down: keep trying.
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("fleet: disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("fleet: reconnected to NATS", "url", c.ConnectedUrlRedacted()) }),
	}
	switch {
	case f.User != "" || f.Password != "":
		pw, err := resolve(f.Password)
		if err != nil {
			return nil, fmt.Errorf("fleet: password: %w", err)
		}
		opts = append(opts, nats.UserInfo(f.User, pw))
	case f.Token != "":
		tok, err := resolve(f.Token)
		if err != nil {
			return nil, fmt.Errorf("fleet: token: %w", err)
		}
		opts = append(opts, nats.Token(tok))
	case f.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(f.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("fleet: nkey_file: %w", err)
		}
		opts = append(opts, o)
	case f.CredsFile != "":
		opts = append(opts, nats.UserCredentials(f.CredsFile))
	}
	if f.TLS.CA != "" {
		opts = append(opts, nats.RootCAs(f.TLS.CA))
	}
	if f.TLS.Cert != "" {
		opts = append(opts, nats.ClientCert(f.TLS.Cert, f.TLS.Key))
	}
	nc, err := nats.Connect(f.URL, opts...)
	if err != nil {
		// Never the URL as given: it may hold a password.
		return nil, fmt.Errorf("fleet: connect: %w", err)
	}
	return nc, nil
}

var (
	deviceBucket = []byte("fleet/device/v1")
	deviceKey    = []byte("id")
)

// DeviceID returns the configured id, or the one generated the first
// time and kept in db.
func DeviceID(f config.Fleet, db *bbolt.DB) (string, error) {
	if f.Device != "" {
		return f.Device, nil
	}
	if db == nil {
		return "", errors.New("fleet: no fleet.device and no data file to keep a generated one")
	}
	var id string
	err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(deviceBucket)
		if err != nil {
			return err
		}
		if v := b.Get(deviceKey); v != nil {
			id = string(v)
			return nil
		}
		var r [6]byte
		if _, err := rand.Read(r[:]); err != nil {
			return err
		}
		id = "dev-" + strings.ToLower(hex.EncodeToString(r[:]))
		return b.Put(deviceKey, []byte(id))
	})
	if err != nil {
		return "", fmt.Errorf("fleet: device id: %w", err)
	}
	return id, nil
}
