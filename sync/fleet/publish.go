package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeway/edgeway/sync/usage"
)

// MsgLastSeqHeader carries a fold record's last folded sequence number
// (its Record.LastSeq); MsgSeqHeader then holds the first.
const MsgLastSeqHeader = "Edgeway-Last-Seq"

// Publisher defaults.
const (
	// DefaultDuplicateWindow is the duplicate window of the stream the
	// publisher creates when EDGEWAY_USAGE does not exist.
	DefaultDuplicateWindow = 2 * time.Minute
	// DefaultWindow is how many records a publisher reads, holds and
	// removes at a time.
	DefaultWindow = 256
	// DefaultPoll is how often an idle publisher looks for new records.
	DefaultPoll = 250 * time.Millisecond
	// DefaultBackoffMin and DefaultBackoffMax bound the wait between
	// attempts while NATS is unreachable; each wait is jittered.
	DefaultBackoffMin = 200 * time.Millisecond
	DefaultBackoffMax = 30 * time.Second
	// DefaultAckTimeout bounds the wait for one publish's ack.
	DefaultAckTimeout = 10 * time.Second
)

// Outbox is what the publisher needs of the usage ledger.
type Outbox interface {
	Records(from uint64, fn func(*usage.Record) bool) error
	Hold(through uint64) error
	Remove(through uint64) error
	Appended() uint64
}

// PublisherOptions tune a Publisher; zero values take the defaults.
type PublisherOptions struct {
	Device          string
	DuplicateWindow time.Duration
	Window          int
	Poll            time.Duration
	BackoffMin      time.Duration
	BackoffMax      time.Duration
	AckTimeout      time.Duration
	Logger          *slog.Logger
}

// Publisher drains a usage outbox to the EDGEWAY_USAGE stream, in
// sequence order, exactly once.
//
// Each record goes to UsageSubject(device) with Nats-Msg-Id
// "<device>-<seq>" (request ids alone are not unique across devices, and
// a fold record has none) and its sequence number in MsgSeqHeader. The
// duplicate window covers a resend within it; beyond it, exactness comes
// from resync: on every (re)connect, and after any failed publish, the
// publisher reads the last message of its own subject, drops from the
// outbox everything up to the sequence number it carries, and publishes
// the rest, each message with the expected last subject sequence set to
// the stream sequence of the one before it (just read, or from the
// previous ack), so the stream can neither skip a record nor take one
// twice: a stream that moved in between (a publish whose ack was lost, a
// copy of the device) refuses the publish and the publisher reads again.
// That chain allows one publish in flight (see window); its cost is
// measured in the README. A record leaves the
// outbox only after its ack. Records it is about to publish are held
// (usage.Ledger.Hold) first, so the outbox's fold never turns a record
// the stream may hold into part of a rollup.
//
// The ledger's append path never waits for it: it reads the outbox from
// its own goroutine. Start and Stop it once each.
type Publisher struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	out     Outbox
	opts    PublisherOptions
	log     *slog.Logger
	subject string

	cancel context.CancelFunc
	done   chan struct{}

	published atomic.Int64
	connected atomic.Bool
	mu        sync.Mutex
	lastErr   error
}

// NewPublisher returns a publisher of out's records over nc.
func NewPublisher(nc *nats.Conn, out Outbox, opts PublisherOptions) (*Publisher, error) {
	if opts.Device == "" {
		return nil, errors.New("fleet: publisher: no device id")
	}
	opts.DuplicateWindow = orDefault(opts.DuplicateWindow, DefaultDuplicateWindow)
	opts.Poll = orDefault(opts.Poll, DefaultPoll)
	opts.BackoffMin = orDefault(opts.BackoffMin, DefaultBackoffMin)
	opts.BackoffMax = orDefault(opts.BackoffMax, DefaultBackoffMax)
	opts.AckTimeout = orDefault(opts.AckTimeout, DefaultAckTimeout)
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("fleet: publisher: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{nc: nc, js: js, out: out, opts: opts, log: log, subject: UsageSubject(opts.Device)}, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Start runs the publisher in a goroutine until Stop.
func (p *Publisher) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		p.run(ctx)
	}()
}

// Stop stops the publisher and waits for it; records not yet acked stay
// in the outbox.
func (p *Publisher) Stop() {
	if p.cancel != nil {
		p.cancel()
		<-p.done
	}
}

// PublisherState is what status reports of the publisher.
type PublisherState struct {
	Connected bool   `json:"connected"`
	Published int64  `json:"published"`
	LastError string `json:"last_error,omitempty"`
}

// State is safe for concurrent use.
func (p *Publisher) State() PublisherState {
	s := PublisherState{Connected: p.connected.Load() && p.nc.IsConnected(), Published: p.published.Load()}
	p.mu.Lock()
	if p.lastErr != nil {
		s.LastError = p.lastErr.Error()
	}
	p.mu.Unlock()
	return s
}

var errOffline = errors.New("fleet: not connected to NATS")

func (p *Publisher) run(ctx context.Context) {
	backoff := p.opts.BackoffMin
	for ctx.Err() == nil {
		progressed, err := p.session(ctx)
		p.connected.Store(false)
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		p.lastErr = err
		p.mu.Unlock()
		if progressed {
			backoff = p.opts.BackoffMin
		}
		if errors.Is(err, errOffline) {
			// The client reconnects with its own jittered backoff
			// (Connect); looking whether it is back costs nothing.
			if !sleepCtx(ctx, p.opts.Poll) {
				return
			}
			continue
		}
		p.log.Warn("fleet: usage publish interrupted; resyncing", "err", err, "retry_in", backoff)
		// Jitter over [backoff/2, backoff]: devices refused together do
		// not retry in step.
		if !sleepCtx(ctx, backoff/2+rand.N(backoff/2+1)) {
			return
		}
		backoff = min(2*backoff, p.opts.BackoffMax)
	}
}

// session ensures the stream, resyncs and drains until something fails.
// It reports whether any record was acked.
func (p *Publisher) session(ctx context.Context) (bool, error) {
	if !p.nc.IsConnected() {
		return false, errOffline
	}
	stream, err := p.ensureStream(ctx)
	if err != nil {
		return false, err
	}
	last, mark, err := p.resync(ctx, stream)
	if err != nil {
		return false, err
	}
	p.connected.Store(true)
	p.mu.Lock()
	p.lastErr = nil // the last failure is behind: status should not show it
	p.mu.Unlock()
	progressed := false
	for {
		if !p.nc.IsConnected() {
			return progressed, errOffline
		}
		n, err := p.window(ctx, &last, &mark)
		if n > 0 {
			progressed = true
		}
		if err != nil {
			return progressed, err
		}
		if n > 0 {
			continue
		}
		// Idle: look again after Poll.
		if !sleepCtx(ctx, p.opts.Poll) {
			return progressed, ctx.Err()
		}
	}
}

// ensureStream looks the stream up and creates it when missing. An
// existing stream is left as it is: the fleet may have tuned it
// (replicas, limits), and a device should not undo that.
func (p *Publisher) ensureStream(ctx context.Context) (jetstream.Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.AckTimeout)
	defer cancel()
	s, err := p.js.Stream(ctx, UsageStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = p.js.CreateOrUpdateStream(ctx, UsageStreamConfig(p.opts.DuplicateWindow))
	}
	if err != nil {
		return nil, fmt.Errorf("fleet: stream %s: %w", UsageStream, err)
	}
	return s, nil
}

// UsageStreamConfig is the EDGEWAY_USAGE stream as a device creates it.
func UsageStreamConfig(dup time.Duration) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        UsageStream,
		Description: "edgeway usage records, one message per request, subject edgeway.usage.<device>",
		Subjects:    []string{"edgeway.usage.>"},
		Storage:     jetstream.FileStorage,
		Duplicates:  dup,
		AllowDirect: true,
	}
}

// resync reads the last message of the device's subject and drops from
// the outbox what the stream already holds. It returns that message's
// stream sequence (0: none) and the device sequence it carries.
func (p *Publisher) resync(ctx context.Context, s jetstream.Stream) (last, mark uint64, err error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.AckTimeout)
	defer cancel()
	m, err := s.GetLastMsgForSubject(ctx, p.subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("fleet: resync: last message of %s: %w", p.subject, err)
	}
	mark, err = MessageMark(m.Header)
	if err != nil {
		return 0, 0, fmt.Errorf("fleet: resync: stream sequence %d: %w", m.Sequence, err)
	}
	if a := p.out.Appended(); mark > a {
		// The stream has records this ledger never numbered: its data
		// file was replaced under the same device id. Dropping "up to
		// mark" would drop new records as delivered; keep them and say so.
		return 0, 0, fmt.Errorf("fleet: resync: %s holds sequence %d but this ledger has only reached %d (data file replaced under the same fleet.device?): not publishing, the outbox keeps every record", p.subject, mark, a)
	}
	if err := p.out.Remove(mark); err != nil {
		return 0, 0, err
	}
	return m.Sequence, mark, nil
}

// MessageMark is the highest device sequence number a usage message
// covers: MsgLastSeqHeader for a fold record, MsgSeqHeader otherwise.
func MessageMark(h nats.Header) (uint64, error) {
	v := h.Get(MsgLastSeqHeader)
	if v == "" {
		v = h.Get(MsgSeqHeader)
	}
	if v == "" {
		return 0, fmt.Errorf("no %s header", MsgSeqHeader)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("header %s: %w", MsgSeqHeader, err)
	}
	return n, nil
}

// window publishes up to Window records after mark, removing the acked
// ones. It returns how many were acked.
func (p *Publisher) window(ctx context.Context, last, mark *uint64) (int, error) {
	if p.out.Appended() <= *mark {
		return 0, nil
	}
	// First the extent, then the hold, then the records themselves: a
	// fold between the two reads only changes keys not yet held.
	var through uint64
	n := 0
	err := p.out.Records(*mark+1, func(r *usage.Record) bool {
		through = r.Seq
		n++
		return n < p.opts.Window
	})
	if err != nil || n == 0 {
		return 0, err
	}
	if err := p.out.Hold(through); err != nil {
		return 0, err
	}
	var recs []*usage.Record
	err = p.out.Records(*mark+1, func(r *usage.Record) bool {
		if r.Seq > through {
			return false
		}
		recs = append(recs, r)
		return true
	})
	if err != nil {
		return 0, err
	}
	// One publish in flight, each expecting the stream sequence the
	// previous ack returned: a pipeline cannot say what the previous
	// message's stream sequence will be (other devices share the
	// stream), and a message without the check can land after one that
	// was lost (a connection dropping with the earlier bytes in the
	// kernel and the later ones in the client's buffer), which resync
	// would then take as delivered.
	acked := 0
	var removeThrough uint64
	var perr error
	for _, r := range recs {
		msg, err := p.message(r)
		if err != nil {
			perr = err
			break
		}
		pctx, cancel := context.WithTimeout(ctx, p.opts.AckTimeout)
		ack, err := p.js.PublishMsg(pctx, msg, jetstream.WithMsgID(msg.Header.Get(nats.MsgIdHdr)),
			jetstream.WithExpectStream(UsageStream), jetstream.WithExpectLastSequencePerSubject(*last),
			jetstream.WithRetryAttempts(0))
		cancel()
		if err != nil {
			perr = fmt.Errorf("fleet: publish record %d: %w", r.Seq, err)
			break
		}
		*last, removeThrough = ack.Sequence, r.Seq
		*mark = max(r.Seq, r.LastSeq)
		acked++
	}
	if removeThrough > 0 {
		if err := p.out.Remove(removeThrough); err != nil && perr == nil {
			perr = err
		}
		p.published.Add(int64(acked))
	}
	return acked, perr
}

// message encodes r as its stream message.
func (p *Publisher) message(r *usage.Record) (*nats.Msg, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("fleet: encode record %d: %w", r.Seq, err)
	}
	m := nats.NewMsg(p.subject)
	m.Data = body
	seq := strconv.FormatUint(r.Seq, 10)
	m.Header.Set(nats.MsgIdHdr, p.opts.Device+"-"+seq)
	m.Header.Set(MsgSeqHeader, seq)
	if r.Rollup != nil && r.LastSeq > 0 {
		m.Header.Set(MsgLastSeqHeader, strconv.FormatUint(r.LastSeq, 10))
	}
	return m, nil
}

// sleepCtx waits d, or less when ctx ends; it reports whether ctx is
// still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
