package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeway/edgeway/edge/config"
	"github.com/edgeway/edgeway/edge/llm"
)

// Defaults New applies to zero Config and Upstream fields.
const (
	// DefaultMaxAttempts bounds the attempts (tries that reach an upstream,
	// retries included) one request may make.
	DefaultMaxAttempts = 4
	// DefaultRetryBase and DefaultRetryMax bound the backoff between retries
	// of the same target.
	DefaultRetryBase = 100 * time.Millisecond
	DefaultRetryMax  = 2 * time.Second
	// DefaultDeadline bounds the time from the start of a request to its
	// first chunk, across all attempts.
	DefaultDeadline = 60 * time.Second
	// DefaultBreakerThreshold is the number of consecutive failures that open
	// an upstream's circuit.
	DefaultBreakerThreshold = 5
	// DefaultBreakerCooldown is how long a circuit stays open before one
	// trial request is let through.
	DefaultBreakerCooldown = 30 * time.Second
	// DefaultProbeInterval and DefaultProbeTimeout drive the connectivity
	// probe of cloud upstreams and the model-list refresh of local ones.
	DefaultProbeInterval = 15 * time.Second
	DefaultProbeTimeout  = 2 * time.Second
)

// AliasProvider is the Provider that Models reports for aliases.
const AliasProvider = "edgeway"

// maxKnown bounds the names an *UnknownModelError lists.
const maxKnown = 20

// maxModelsPerUpstream bounds how many models Models takes from one
// upstream's list, so a hostile upstream cannot grow the answer without
// limit.
const maxModelsPerUpstream = 2000

// Upstream is one configured provider.
type Upstream struct {
	// Name is the provider name, the prefix in "name/model". It may not
	// contain "/".
	Name string
	// Type is "ollama", "llamacpp", "openai", "anthropic", "gemini" or
	// "openai-compatible"; it decides which bare model names the upstream
	// claims (see the package doc).
	Type     string
	Provider llm.Provider
	// Local marks a local runtime: it is ordered first, FirstTokenTimeout
	// applies, and it is never probed nor skipped as offline.
	Local bool
	// MaxInFlight is the number of concurrent requests the upstream takes
	// before it counts as busy and is skipped. Zero means
	// config.DefaultLocalMaxInFlight or config.DefaultCloudMaxInFlight.
	MaxInFlight int
	// ContextLength is the model context in tokens; 0 means unknown.
	ContextLength int
	// FirstTokenTimeout: an attempt with no chunk after this long is
	// canceled and fails over (bounded by the request's Deadline). Zero
	// means config.DefaultFirstTokenTimeout for a Local upstream and
	// config.DefaultCloudFirstTokenTimeout for a cloud one.
	FirstTokenTimeout time.Duration
	// StallTimeout: an attempt whose stream goes this long without a chunk
	// after its first is canceled (see Route for what the caller then
	// gets). Zero means Config.StallTimeout.
	StallTimeout time.Duration
}

// Config configures a Router. Zero fields take the Default constants.
type Config struct {
	Upstreams []Upstream
	// Aliases maps an alias to its ordered targets "provider/model".
	Aliases map[string][]string
	// MaxAttempts bounds attempts per request across all targets, retries
	// included.
	MaxAttempts int
	// RetryBase and RetryMax bound the exponential backoff (full jitter)
	// between retries of the same target.
	RetryBase, RetryMax time.Duration
	// Deadline bounds a request across attempts, up to its first chunk.
	Deadline time.Duration
	// BreakerThreshold consecutive failures open a target's circuit.
	BreakerThreshold int
	// BreakerCooldown is how long a circuit stays open before one trial.
	BreakerCooldown time.Duration
	// ProbeInterval and ProbeTimeout drive the connectivity probe.
	ProbeInterval, ProbeTimeout time.Duration
	// StallTimeout is the default of Upstream.StallTimeout; zero means
	// config.DefaultStallTimeout.
	StallTimeout time.Duration
	// MaxAnswerBytes bounds an answer the router collects for a
	// whole-answer client (text, reasoning and tool arguments); past it the
	// attempt is canceled and the request fails with llm.ErrTooLarge.
	// Zero means config.DefaultMaxAnswerBytes.
	MaxAnswerBytes int
	// TooHot, when set, reports that the device is over its thermal limit;
	// local upstreams are then skipped ("too hot") and cloud ones serve.
	// It is called per request, so it must be cheap (a cached reading).
	TooHot func() bool
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
	// Logger receives state changes; nil discards.
	Logger *slog.Logger
}

// Router routes requests over the configured upstreams. It is safe for
// concurrent use; Start and Close manage its background probes.
type Router struct {
	cfg     Config
	ups     []*upstream
	byName  map[string]*upstream
	aliases map[string][]candidate
	// aliasNames and known are sorted and never modified after New.
	aliasNames []string
	known      []string
	now        func() time.Time
	log        *slog.Logger

	mu      sync.Mutex
	started bool
	closed  bool
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// upstream is an Upstream with its live state.
type upstream struct {
	Upstream
	embedder llm.Embedder
	lister   llm.ModelLister
	pinger   llm.Pinger

	inFlight atomic.Int32
	// freed carries a wake-up from release to one waitFree caller.
	freed  chan struct{}
	online atomic.Bool
	// probed is set while a probe goroutine watches this upstream; only
	// then may a failure mark it offline, since only a probe brings it back.
	probed atomic.Bool
	// brs holds a circuit breaker per model, so one broken model does not
	// take the upstream's others down.
	brs breakers
	// models is the last model list of a Local upstream; nil when unknown.
	models atomic.Pointer[modelSet]

	mu      sync.Mutex
	lastErr string
}

type modelSet map[string]struct{}

// candidate is one target of a resolved request.
type candidate struct {
	up     *upstream
	model  string // the upstream's own model name
	target string // "provider/model"
}

// New validates cfg, applies defaults and returns a Router. All problems
// are reported at once.
func New(cfg Config) (*Router, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("router: "+format, args...))
	}
	applyInt := func(field string, v *int, def int) {
		if *v < 0 {
			bad("%s is %d, want >= 0", field, *v)
		}
		if *v <= 0 {
			*v = def
		}
	}
	applyDur := func(field string, v *time.Duration, def time.Duration) {
		if *v < 0 {
			bad("%s is %v, want >= 0", field, *v)
		}
		if *v <= 0 {
			*v = def
		}
	}
	applyInt("MaxAttempts", &cfg.MaxAttempts, DefaultMaxAttempts)
	applyDur("RetryBase", &cfg.RetryBase, DefaultRetryBase)
	applyDur("RetryMax", &cfg.RetryMax, DefaultRetryMax)
	applyDur("Deadline", &cfg.Deadline, DefaultDeadline)
	applyInt("BreakerThreshold", &cfg.BreakerThreshold, DefaultBreakerThreshold)
	applyDur("BreakerCooldown", &cfg.BreakerCooldown, DefaultBreakerCooldown)
	applyDur("ProbeInterval", &cfg.ProbeInterval, DefaultProbeInterval)
	applyDur("ProbeTimeout", &cfg.ProbeTimeout, DefaultProbeTimeout)
	applyDur("StallTimeout", &cfg.StallTimeout, config.DefaultStallTimeout)
	applyInt("MaxAnswerBytes", &cfg.MaxAnswerBytes, config.DefaultMaxAnswerBytes)
	if cfg.RetryMax < cfg.RetryBase {
		bad("RetryMax %v is below RetryBase %v", cfg.RetryMax, cfg.RetryBase)
	}
	if len(cfg.Upstreams) == 0 {
		bad("no upstreams configured")
	}

	r := &Router{
		byName:  make(map[string]*upstream, len(cfg.Upstreams)),
		aliases: make(map[string][]candidate, len(cfg.Aliases)),
		now:     cfg.Now,
		log:     cfg.Logger,
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	for i, uc := range cfg.Upstreams {
		field := fmt.Sprintf("upstreams[%d]", i)
		switch {
		case uc.Name == "":
			bad("%s: name is empty", field)
		case strings.Contains(uc.Name, "/"):
			bad("%s: name %q contains \"/\"", field, uc.Name)
		case r.byName[uc.Name] != nil:
			bad("%s: name %q is used twice", field, uc.Name)
		}
		if uc.Provider == nil {
			bad("%s (%s): provider is nil", field, uc.Name)
		}
		if uc.ContextLength < 0 {
			bad("%s (%s): ContextLength is %d, want >= 0", field, uc.Name, uc.ContextLength)
		}
		def := config.DefaultCloudMaxInFlight
		if uc.Local {
			def = config.DefaultLocalMaxInFlight
		}
		applyInt(field+".MaxInFlight", &uc.MaxInFlight, def)
		firstToken := config.DefaultCloudFirstTokenTimeout
		if uc.Local {
			firstToken = config.DefaultFirstTokenTimeout
		}
		applyDur(field+".FirstTokenTimeout", &uc.FirstTokenTimeout, firstToken)
		applyDur(field+".StallTimeout", &uc.StallTimeout, cfg.StallTimeout)
		u := &upstream{Upstream: uc, freed: make(chan struct{}, 1)}
		u.embedder, _ = uc.Provider.(llm.Embedder)
		u.lister, _ = uc.Provider.(llm.ModelLister)
		u.pinger, _ = uc.Provider.(llm.Pinger)
		u.online.Store(true)
		u.brs.init(cfg.BreakerThreshold, cfg.BreakerCooldown, DefaultMaxBreakers)
		r.ups = append(r.ups, u)
		if uc.Name != "" && r.byName[uc.Name] == nil {
			r.byName[uc.Name] = u
		}
	}

	names := make([]string, 0, len(cfg.Aliases))
	for a := range cfg.Aliases {
		names = append(names, a)
	}
	sort.Strings(names)
	for _, a := range names {
		targets := cfg.Aliases[a]
		if a == "" {
			bad("alias with an empty name")
			continue
		}
		if len(targets) == 0 {
			bad("alias %q has no targets", a)
			continue
		}
		cands := make([]candidate, 0, len(targets))
		for _, t := range targets {
			i := strings.IndexByte(t, '/')
			if i <= 0 || i == len(t)-1 {
				bad("alias %q: target %q is not \"provider/model\"", a, t)
				continue
			}
			u := r.byName[t[:i]]
			if u == nil {
				bad("alias %q: target %q names unknown provider %q (configured: %s)",
					a, t, t[:i], strings.Join(r.upstreamNames(), ", "))
				continue
			}
			cands = append(cands, candidate{up: u, model: t[i+1:], target: t})
		}
		// Local runtimes first, keeping the configured order within each
		// group.
		slices.SortStableFunc(cands, func(x, y candidate) int {
			switch {
			case x.up.Local == y.up.Local:
				return 0
			case x.up.Local:
				return -1
			}
			return 1
		})
		r.aliases[a] = cands
	}
	r.aliasNames = names

	known := append(slices.Clone(names), r.upstreamNames()...)
	sort.Strings(known)
	known = slices.Compact(known)
	if len(known) > maxKnown {
		known = known[:maxKnown]
	}
	r.known = known
	r.cfg = cfg

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

func (r *Router) upstreamNames() []string {
	out := make([]string, 0, len(r.ups))
	for _, u := range r.ups {
		if u.Name != "" {
			out = append(out, u.Name)
		}
	}
	return out
}

// Name returns "router".
func (r *Router) Name() string { return "router" }

// Start starts the connectivity probe of every cloud upstream that
// implements llm.Pinger and the model-list refresh of every Local upstream
// that implements llm.ModelLister. The goroutines stop when ctx is done or
// Close is called. Calls after the first, or after Close, do nothing.
func (r *Router) Start(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.closed {
		return
	}
	r.started = true
	ctx, r.stop = context.WithCancel(ctx)
	for _, u := range r.ups {
		switch {
		case !u.Local && u.pinger != nil:
			u.probed.Store(true)
			r.wg.Add(1)
			go r.probeLoop(ctx, u)
		case u.Local && u.lister != nil:
			r.wg.Add(1)
			go r.listLoop(ctx, u)
		}
	}
}

// Close stops the background goroutines and waits for them. The Router
// still routes afterwards, without probes. Close is idempotent.
func (r *Router) Close() {
	r.mu.Lock()
	r.closed = true
	stop := r.stop
	r.mu.Unlock()
	if stop != nil {
		stop()
	}
	r.wg.Wait()
}

// Chat routes req like Route, for callers that do not need the Status.
func (r *Router) Chat(ctx context.Context, req *llm.ChatRequest, emit func(*llm.Chunk) error) (llm.Usage, error) {
	var st Status
	return r.Route(ctx, req, &st, emit)
}

// UpstreamHealth is a snapshot of one upstream's state.
type UpstreamHealth struct {
	Name, Type string
	Local      bool
	// Online is the connectivity state; for a Local upstream it is
	// informational (the last model-list refresh or request) and never
	// causes skipping.
	Online bool
	// Circuit is "closed" when no model's circuit is open, "open" when
	// every model's is (the upstream as a whole is failing), "half-open"
	// when every model's is open or half-open, else "partly open".
	Circuit string
	// Circuits lists the models whose circuit is not closed, by name.
	Circuits  []ModelCircuit
	LastError string
	InFlight  int
}

// Health returns a snapshot of every upstream, in configuration order.
func (r *Router) Health() []UpstreamHealth {
	now := r.now()
	out := make([]UpstreamHealth, len(r.ups))
	for i, u := range r.ups {
		u.mu.Lock()
		last := u.lastErr
		u.mu.Unlock()
		circuit, models := u.brs.summary(now)
		out[i] = UpstreamHealth{
			Name:      u.Name,
			Type:      u.Type,
			Local:     u.Local,
			Online:    u.online.Load(),
			Circuit:   circuit,
			Circuits:  models,
			LastError: last,
			InFlight:  int(u.inFlight.Load()),
		}
	}
	return out
}

// acquire takes an in-flight slot, reporting false when the upstream is
// busy.
func (u *upstream) acquire() bool {
	for {
		n := u.inFlight.Load()
		if int(n) >= u.MaxInFlight {
			return false
		}
		if u.inFlight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (u *upstream) release() {
	u.inFlight.Add(-1)
	// Wake one request queued in waitFree, if any.
	select {
	case u.freed <- struct{}{}:
	default:
	}
}

// waitFree blocks until u may have a free slot, or ctx ends. A wake-up is
// a hint, not a reservation: the caller still has to win acquire.
func (u *upstream) waitFree(ctx context.Context) bool {
	if int(u.inFlight.Load()) < u.MaxInFlight {
		return true
	}
	select {
	case <-u.freed:
		return true
	case <-ctx.Done():
		return false
	}
}

// maxLastError bounds the stored last error, which may quote an upstream.
const maxLastError = 512

func (u *upstream) setLastError(err error) {
	s := err.Error()
	if len(s) > maxLastError {
		s = s[:maxLastError]
	}
	u.mu.Lock()
	u.lastErr = s
	u.mu.Unlock()
}
