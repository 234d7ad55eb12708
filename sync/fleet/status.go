package fleet

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgeway/edgeway/edge/config"
)

// Status is one heartbeat, published as JSON on StatusSubject(device).
type Status struct {
	Kind    string    `json:"kind"` // "heartbeat"
	Device  string    `json:"device"`
	Time    time.Time `json:"time"`
	Version string    `json:"version"`
	Board   string    `json:"board,omitempty"`
	// ConfigRevision is the fleet config revision applied (0: the local
	// file only).
	ConfigRevision uint64           `json:"config_revision"`
	Providers      []ProviderStatus `json:"providers,omitempty"`
	Connectivity   Connectivity     `json:"connectivity"`
	Outbox         OutboxStatus     `json:"outbox"`
	// Cache is the response cache's counters, when there is a cache.
	Cache any `json:"cache,omitempty"`
	// Config describes the config applied (its hash, where it came from,
	// the revision of each fleet key in it).
	Config any `json:"config,omitempty"`
}

// ProviderStatus is one provider's health as the router sees it.
type ProviderStatus struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Local     bool   `json:"local"`
	Online    bool   `json:"online"`
	Circuit   string `json:"circuit"`
	InFlight  int    `json:"in_flight"`
	LastError string `json:"last_error,omitempty"`
}

// Connectivity is the device's link to the fleet and its providers.
type Connectivity struct {
	NATS            bool `json:"nats"`
	ProvidersOnline int  `json:"providers_online"`
	// Usage is the usage publisher's state.
	Usage PublisherState `json:"usage"`
}

// OutboxStatus is the usage outbox's depth.
type OutboxStatus struct {
	Records int   `json:"records"`
	Bytes   int64 `json:"bytes"`
	Folded  int64 `json:"folded"`
	// OldestAgeS is the age of the oldest record in seconds (0: empty).
	OldestAgeS float64 `json:"oldest_age_s"`
}

// StatusSource gives a heartbeat its inputs; cmd wires them. Nil funcs
// leave their part out.
type StatusSource struct {
	Version   string
	Board     string
	Providers func() []ProviderStatus
	Outbox    func() OutboxStatus
	Cache     func() any
	Usage     func() PublisherState
	// Config reports the config the device runs: the highest fleet
	// revision in it and a description (hash, source, revisions).
	Config func() (revision uint64, detail any)
}

// Heartbeat publishes the device's status every interval. It is safe for
// concurrent use; Start and Stop it once each.
type Heartbeat struct {
	nc     *nats.Conn
	device string
	every  time.Duration
	src    StatusSource
	log    *slog.Logger
	now    func() time.Time

	stop chan struct{}
	done chan struct{}
}

// NewHeartbeat returns a heartbeat for device over nc.
func NewHeartbeat(nc *nats.Conn, device string, every time.Duration, src StatusSource, log *slog.Logger) *Heartbeat {
	if every <= 0 {
		every = config.DefaultFleetHeartbeat
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Heartbeat{nc: nc, device: device, every: every, src: src, log: log, now: time.Now}
}

// Start publishes one heartbeat at once, then one every interval.
func (h *Heartbeat) Start() {
	h.stop, h.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(h.done)
		t := time.NewTicker(h.every)
		defer t.Stop()
		for {
			if err := h.Beat(); err != nil {
				h.log.Debug("fleet: heartbeat not sent", "err", err)
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
}

// Stop stops the heartbeat and waits for it.
func (h *Heartbeat) Stop() {
	if h.stop != nil {
		close(h.stop)
		<-h.done
	}
}

// Status gathers the current status.
func (h *Heartbeat) Status() Status {
	s := Status{Kind: "heartbeat", Device: h.device, Time: h.now().UTC(), Version: h.src.Version, Board: h.src.Board}
	s.Connectivity.NATS = h.nc.IsConnected()
	if h.src.Config != nil {
		s.ConfigRevision, s.Config = h.src.Config()
	}
	if h.src.Providers != nil {
		s.Providers = h.src.Providers()
		for _, p := range s.Providers {
			if p.Online {
				s.Connectivity.ProvidersOnline++
			}
		}
	}
	if h.src.Usage != nil {
		s.Connectivity.Usage = h.src.Usage()
	}
	if h.src.Outbox != nil {
		s.Outbox = h.src.Outbox()
	}
	if h.src.Cache != nil {
		s.Cache = h.src.Cache()
	}
	return s
}

// Beat publishes one heartbeat. Offline it sends nothing rather than
// queue stale heartbeats for the reconnect.
func (h *Heartbeat) Beat() error {
	if !h.nc.IsConnected() {
		return errOffline
	}
	body, err := json.Marshal(h.Status())
	if err != nil {
		return fmt.Errorf("fleet: heartbeat: %w", err)
	}
	if err := h.nc.Publish(StatusSubject(h.device), body); err != nil {
		return fmt.Errorf("fleet: heartbeat: %w", err)
	}
	return nil
}
