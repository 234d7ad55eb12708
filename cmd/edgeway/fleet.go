package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/board"
	"github.com/edgeway/edgeway/edge/config"
	"github.com/edgeway/edgeway/sync/fleet"
	"github.com/edgeway/edgeway/sync/usage"
)

// fleetLink is the device's fleet sync while serving: the usage
// publisher (when there is a ledger) and the heartbeat. The zero value
// (fleet.url empty) is off; Stop is safe on it.
type fleetLink struct {
	device string
	nc     *nats.Conn
	pub    *fleet.Publisher // nil without a ledger
	hb     *fleet.Heartbeat
}

// startFleet connects to the fleet when fleet.url is set and starts the
// usage publisher and the heartbeat. NATS being down is not an error:
// the connection keeps trying and the outbox waits.
func startFleet(cfg *config.Config, gw *gateway, db *bbolt.DB, prof board.Profile, log *slog.Logger) (*fleetLink, error) {
	f := cfg.Fleet
	if f.URL == "" {
		return &fleetLink{}, nil
	}
	device, err := fleet.DeviceID(f, db)
	if err != nil {
		return nil, err
	}
	resolve, _, err := secretResolver(cfg, db)
	if err != nil {
		return nil, err
	}
	nc, err := fleet.Connect(f, device, resolve, log)
	if err != nil {
		return nil, err
	}
	l := &fleetLink{device: device, nc: nc}
	src := fleet.StatusSource{Version: version, Board: prof.Name, Providers: providerStatus(gw), Config: configStatus}
	if gw.ledger != nil {
		if l.pub, err = fleet.NewPublisher(nc, gw.ledger, fleet.PublisherOptions{Device: device, Logger: log}); err != nil {
			nc.Close()
			return nil, err
		}
		l.pub.Start()
		src.Usage = l.pub.State
		src.Outbox = outboxStatus(gw.ledger)
	}
	if c := gw.cache; c != nil {
		src.Cache = func() any { return c.Stats() }
	}
	l.hb = fleet.NewHeartbeat(nc, device, f.Heartbeat.D(), src, log)
	l.hb.Start()
	return l, nil
}

// providerStatus reads the router's health for the heartbeat.
func providerStatus(gw *gateway) func() []fleet.ProviderStatus {
	return func() []fleet.ProviderStatus {
		live := gw
		if g := liveGateway.Load(); g != nil {
			live = g // a reload built a new router
		}
		h := live.router.Health()
		out := make([]fleet.ProviderStatus, len(h))
		for i, u := range h {
			out[i] = fleet.ProviderStatus{Name: u.Name, Type: u.Type, Local: u.Local, Online: u.Online,
				Circuit: u.Circuit, InFlight: u.InFlight, LastError: u.LastError}
		}
		return out
	}
}

// outboxStatus reads the outbox's depth and the age of its oldest record.
func outboxStatus(ledger *usage.Ledger) func() fleet.OutboxStatus {
	return func() fleet.OutboxStatus {
		st := ledger.Stats()
		o := fleet.OutboxStatus{Records: st.Records, Bytes: st.Bytes, Folded: st.Folded}
		ledger.Records(0, func(r *usage.Record) bool {
			o.OldestAgeS = max(0, time.Since(r.Time).Seconds())
			return false
		})
		return o
	}
}

// Stop stops the publisher and the heartbeat and closes the connection;
// records not yet acked stay in the outbox.
func (l *fleetLink) Stop() {
	if l.nc == nil {
		return
	}
	l.hb.Stop()
	if l.pub != nil {
		l.pub.Stop()
	}
	l.nc.Close()
}

// String says at start whether fleet sync is on; never the URL's
// credentials.
func (l *fleetLink) String() string {
	if l.nc == nil {
		return "off (no fleet.url)"
	}
	usageOut := "usage out"
	if l.pub == nil {
		usageOut = "no usage out (no data file)"
	}
	return fmt.Sprintf("on, device %s, %s, heartbeat (NATS %s)", l.device, usageOut, natsState(l.nc))
}

func natsState(nc *nats.Conn) string {
	if nc.IsConnected() {
		return "connected to " + nc.ConnectedUrlRedacted()
	}
	return "not reachable yet; retrying"
}

// configStatus is the applied config for the heartbeat: the highest fleet
// revision in it, and the whole description.
func configStatus() (uint64, any) {
	a := appliedConfigNow()
	if a == nil {
		return 0, nil
	}
	var rev uint64
	for _, r := range a.Revisions {
		rev = max(rev, r)
	}
	return rev, a
}
