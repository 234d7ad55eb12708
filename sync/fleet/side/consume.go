package side

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeway/edgeway/sync/fleet"
)

// Defaults of Options.
const (
	// DefaultAckWait is how long a replica may hold a message before
	// JetStream gives it to another: a crashed replica's records are
	// counted by the others this long after it died.
	DefaultAckWait = 30 * time.Second
	// DefaultBatch is how many messages one pull asks for.
	DefaultBatch = 256
	// DefaultMaxAckPending bounds the messages out with all replicas.
	DefaultMaxAckPending = 4096
	// DefaultRollupRetention is how long a day's rollup is kept after its
	// last update: a year and a month, for year-on-year reports.
	DefaultRollupRetention = 400 * 24 * time.Hour
	// DefaultDeviceRetention forgets a device silent this long.
	DefaultDeviceRetention = 30 * 24 * time.Hour
	// DefaultUsageMaxAge is the EDGEWAY_USAGE stream's retention when the
	// fleet side creates it.
	DefaultUsageMaxAge = 30 * 24 * time.Hour
)

// Internal bounds.
const (
	fetchWait   = 5 * time.Second // one pull stays open this long
	casAttempts = 64              // compare-and-set retries of one entry
	retryMin    = 100 * time.Millisecond
	retryMax    = 5 * time.Second
	// maxStatusBytes bounds a status message kept; larger ones are
	// dropped, logged.
	maxStatusBytes = 64 << 10
)

// Options tune a Server; the zero value takes the defaults.
type Options struct {
	AckWait       time.Duration
	Batch         int
	MaxAckPending int
	Logger        *slog.Logger
}

// Server is one fleet-side replica. It holds no state of its own: all of
// it is in JetStream. Run it as many times as wanted, in one process or
// many. Its methods are safe for concurrent use.
type Server struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	opts Options
	log  *slog.Logger

	rollups jetstream.KeyValue
	devices jetstream.KeyValue

	// afterWrite, when set by tests, runs after an entry is written and
	// before its messages are acked; returning false drops them unacked,
	// as a replica killed at that moment would.
	afterWrite func() bool
}

// New creates what is missing (the stream, the consumer, the buckets)
// and returns a replica on nc; Run starts it.
func New(ctx context.Context, nc *nats.Conn, opts Options) (*Server, error) {
	if opts.AckWait <= 0 {
		opts.AckWait = DefaultAckWait
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.MaxAckPending <= 0 {
		opts.MaxAckPending = DefaultMaxAckPending
	}
	s := &Server{nc: nc, opts: opts, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("side: %w", err)
	}
	s.js = js
	if err := ensureUsageStream(ctx, js); err != nil {
		return nil, err
	}
	if s.rollups, err = ensureBucket(ctx, js, jetstream.KeyValueConfig{Bucket: RollupBucket,
		Description: "edgeway usage rollups: one entry per day and device", History: 1, TTL: DefaultRollupRetention}); err != nil {
		return nil, err
	}
	if s.devices, err = ensureBucket(ctx, js, jetstream.KeyValueConfig{Bucket: DeviceBucket,
		Description: "edgeway devices: last status of each", History: 1, TTL: DefaultDeviceRetention}); err != nil {
		return nil, err
	}
	return s, nil
}

// ensureUsageStream creates EDGEWAY_USAGE when no one has; an existing
// one is left as its owner configured it.
func ensureUsageStream(ctx context.Context, js jetstream.JetStream) error {
	_, err := js.Stream(ctx, fleet.UsageStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		// The stream as a device makes it, kept for DefaultUsageMaxAge.
		cfg := fleet.UsageStreamConfig(fleet.DefaultDuplicateWindow)
		cfg.MaxAge = DefaultUsageMaxAge
		_, err = js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil // another replica or a device made it first
		}
	}
	if err != nil {
		return fmt.Errorf("side: stream %s: %w", fleet.UsageStream, err)
	}
	return nil
}

// ensureBucket opens a bucket, creating it as cfg says if it is missing.
func ensureBucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			kv, err = js.KeyValue(ctx, cfg.Bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("side: bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// Run consumes usage and status until ctx ends. Errors from NATS (down,
// restarting) are logged and retried with backoff; only ctx ends it.
func (s *Server) Run(ctx context.Context) error {
	sub, err := s.nc.QueueSubscribe(fleet.StatusSubject("*"), StatusQueue, func(m *nats.Msg) { s.status(ctx, m) })
	if err != nil {
		return fmt.Errorf("side: subscribe to status: %w", err)
	}
	defer sub.Unsubscribe()
	wait := retryMin
	for ctx.Err() == nil {
		if err := s.consume(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("fleet: usage consumer", "err", err, "retry_in", wait)
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			wait = min(wait*2, retryMax)
			continue
		}
		wait = retryMin
	}
	return nil
}

// consume binds the durable consumer and pulls from it until an error.
func (s *Server) consume(ctx context.Context) error {
	cons, err := s.js.CreateOrUpdateConsumer(ctx, fleet.UsageStream, jetstream.ConsumerConfig{
		Durable:       Durable,
		Description:   "edgeway fleet serve: usage into " + RollupBucket,
		FilterSubject: fleet.UsageSubject(">"),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.opts.AckWait,
		MaxDeliver:    -1, // a record is never given up on
		MaxAckPending: s.opts.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("consumer %s: %w", Durable, err)
	}
	for ctx.Err() == nil {
		if err := s.pull(ctx, cons); err != nil {
			return err
		}
	}
	return nil
}

// pull runs one pull request, counting messages as they arrive.
func (s *Server) pull(ctx context.Context, cons jetstream.Consumer) error {
	fctx, cancel := context.WithTimeout(ctx, fetchWait)
	defer cancel()
	batch, err := cons.Fetch(s.opts.Batch, jetstream.FetchContext(fctx))
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	{
		var pending []jetstream.Msg
		ch := batch.Messages()
		for open := true; open; {
			var m jetstream.Msg
			if len(pending) == 0 {
				m, open = <-ch
			} else {
				// Count what has arrived as one batch, then wait for more.
				select {
				case m, open = <-ch:
				default:
					if err := s.handle(ctx, pending); err != nil {
						return err
					}
					pending = pending[:0]
					continue
				}
			}
			if open {
				pending = append(pending, m)
			}
		}
		if len(pending) > 0 {
			if err := s.handle(ctx, pending); err != nil {
				return err
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("fetch: %w", err)
		}
	}
	return nil
}

// handle counts msgs, grouped by rollup entry so that a batch costs one
// read and one write per entry, and acks them once written. Messages it
// cannot read are terminated (logged): redelivering them would not help.
func (s *Server) handle(ctx context.Context, msgs []jetstream.Msg) error {
	type group struct {
		recs []record
		msgs []jetstream.Msg
	}
	groups := map[string]*group{}
	var order []string
	for _, m := range msgs {
		device, rec, err := decodeUsage(m.Subject(), m.Headers().Get(fleet.MsgSeqHeader), m.Data())
		if err == nil && rec.r.Time.IsZero() {
			if md, err := m.Metadata(); err == nil {
				rec.r.Time = md.Timestamp
			}
		}
		if err != nil {
			s.log.Error("fleet: unreadable usage message, dropped", "subject", m.Subject(), "err", err)
			m.TermWithReason(err.Error())
			continue
		}
		key := RollupKey(rec.r.Time, device)
		g := groups[key]
		if g == nil {
			g = &group{}
			groups[key] = g
			order = append(order, key)
		}
		g.recs = append(g.recs, rec)
		g.msgs = append(g.msgs, m)
	}
	for _, key := range order {
		g := groups[key]
		if err := s.applyEntry(ctx, key, g.recs); err != nil {
			// Unacked, they come back after AckWait; NAK would spin.
			return fmt.Errorf("rollup %s: %w", key, err)
		}
		if s.afterWrite != nil && !s.afterWrite() {
			continue
		}
		for _, m := range g.msgs {
			m.Ack()
		}
	}
	return nil
}

// decodeUsage reads a usage message: the device from its subject, the
// sequence number from its header h (the body's when absent).
func decodeUsage(subject, h string, data []byte) (string, record, error) {
	var rec record
	device, ok := strings.CutPrefix(subject, fleet.UsageSubject(""))
	if !ok || device == "" || strings.Contains(device, ".") {
		return "", rec, fmt.Errorf("subject %q is not %s", subject, fleet.UsageSubject("<device>"))
	}
	if err := json.Unmarshal(data, &rec.r); err != nil {
		return "", rec, fmt.Errorf("record: %w", err)
	}
	rec.seq = rec.r.Seq
	if h != "" {
		n, err := strconv.ParseUint(h, 10, 64)
		if err != nil {
			return "", rec, fmt.Errorf("header %s %q: %w", fleet.MsgSeqHeader, h, err)
		}
		rec.seq = n
	}
	if rec.seq == 0 {
		return "", rec, errors.New("record has no sequence number")
	}
	if rec.r.Rollup != nil && (rec.r.Rollup.Requests < 0 || rec.r.Rollup.TokensIn < 0 || rec.r.Rollup.TokensOut < 0) {
		return "", rec, errors.New("rollup record with negative totals")
	}
	return device, rec, nil
}

// applyEntry counts recs into the entry key with compare-and-set,
// re-reading on a conflict.
func (s *Server) applyEntry(ctx context.Context, key string, recs []record) error {
	for range casAttempts {
		e, rev, err := s.loadEntry(ctx, key)
		if err != nil {
			return err
		}
		changed, err := e.apply(recs)
		if err != nil {
			return err
		}
		if !changed {
			return nil // all counted before: a redelivery or a duplicate
		}
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = s.rollups.Create(ctx, key, b)
		} else {
			_, err = s.rollups.Update(ctx, key, b, rev)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return err
		}
		// Another replica wrote it first: read its version and retry.
	}
	return fmt.Errorf("still conflicting after %d attempts", casAttempts)
}

// loadEntry reads an entry and its revision (0 when there is none).
func (s *Server) loadEntry(ctx context.Context, key string) (*Entry, uint64, error) {
	kve, err := s.rollups.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		day, device, _ := strings.Cut(key, ".")
		return &Entry{Device: device, Day: day}, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	e, err := decodeEntry(kve.Value())
	if err != nil {
		return nil, 0, err
	}
	return e, kve.Revision(), nil
}

// status keeps a status message as the device's entry, its top-level
// fields laid over the previous ones: a config refusal leaves the last
// heartbeat's health in place, and the next heartbeat updates it.
func (s *Server) status(ctx context.Context, m *nats.Msg) {
	device, _ := strings.CutPrefix(m.Subject, fleet.StatusSubject(""))
	var in map[string]json.RawMessage
	if len(m.Data) > maxStatusBytes || json.Unmarshal(m.Data, &in) != nil || device == "" {
		s.log.Warn("fleet: unreadable status message, ignored", "subject", m.Subject, "bytes", len(m.Data))
		return
	}
	for range casAttempts {
		cur := map[string]json.RawMessage{}
		var rev uint64
		kve, err := s.devices.Get(ctx, device)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			s.log.Warn("fleet: status of a device not kept", "device", device, "err", err)
			return
		default:
			rev = kve.Revision()
			_ = json.Unmarshal(kve.Value(), &cur) // a bad old one is replaced
		}
		for k, v := range in {
			cur[k] = v
		}
		cur["device"], _ = json.Marshal(device)
		b, _ := json.Marshal(cur)
		if rev == 0 {
			_, err = s.devices.Create(ctx, device, b)
		} else {
			_, err = s.devices.Update(ctx, device, b, rev)
		}
		if err == nil || !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			if err != nil {
				s.log.Warn("fleet: status of a device not kept", "device", device, "err", err)
			}
			return
		}
	}
}
