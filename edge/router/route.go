package router

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
)

// errNilRequest is returned for a nil request.
var errNilRequest = &llm.Error{Provider: "router", Kind: llm.KindBadRequest, Err: errors.New("nil request")}

// Route resolves req.Model, tries the candidates in order and streams the
// first success to emit. st is reset and filled in as the request goes;
// st.Provider, st.Model and st.Failovers are final before the first call
// to emit (the server writes response headers from them). st.Attempts
// keeps its capacity, so a caller may reuse a Status.
//
// A streaming request (req.Stream) is forwarded chunk by chunk, so it can
// fail over only before its first chunk. A non-streaming one is collected
// per attempt and handed to emit as a single chunk after a success, so it
// fails over even when an upstream breaks mid-answer.
//
// During each attempt req.Model holds the target's own model name; Route
// restores it before returning. A provider must not keep req afterwards.
//
// Route returns an *UnknownModelError when the name resolves to nothing,
// the upstream's error unchanged for a caller fault or any error after the
// first chunk (a stream cut for a stall wraps ErrStalled), an error
// wrapping llm.ErrTooLarge for a runaway answer, emit's error unchanged
// when emit fails, the caller's ctx
// error (wrapped) when ctx ends first, and *ExhaustedError when every
// target was skipped or failed.
func (r *Router) Route(ctx context.Context, req *llm.ChatRequest, st *Status, emit func(*llm.Chunk) error) (llm.Usage, error) {
	if req == nil || req.Stream {
		return r.route(ctx, req, st, emit, nil)
	}
	var agg llm.Aggregate
	u, err := r.route(ctx, req, st, nil, &agg)
	if err == nil {
		err = emit(wholeChunk(&agg))
	}
	return u, err
}

// Collect is Route for a client that wants the whole answer at once,
// whatever req.Stream says: each attempt is collected into agg, which is
// emptied when an attempt fails mid-answer, so the request fails over even
// when an upstream breaks mid-answer. When Collect returns nil, agg holds
// the answer; it is the only copy made of it.
func (r *Router) Collect(ctx context.Context, req *llm.ChatRequest, st *Status, agg *llm.Aggregate) (llm.Usage, error) {
	return r.route(ctx, req, st, nil, agg)
}

// route is Route and Collect: it streams to emit, or collects into agg
// when agg is not nil.
func (r *Router) route(ctx context.Context, req *llm.ChatRequest, st *Status, emit func(*llm.Chunk) error, agg *llm.Aggregate) (llm.Usage, error) {
	if st == nil {
		st = new(Status)
	}
	*st = Status{Attempts: st.Attempts[:0], Scope: st.Scope}
	if req == nil {
		return llm.Usage{}, errNilRequest
	}
	ru := getRun(r, st, req.Model)
	defer ru.put()
	ru.creq, ru.emit = req, emit
	if agg != nil {
		// Nothing reaches a whole-answer client before the end, so an
		// upstream that breaks mid-answer can still be failed over.
		ru.agg = agg
		ru.emit = ru.collect
	}
	cands, err := r.resolve(req.Model, ru.one[:0])
	if err == nil {
		cands, err = ru.scope(cands)
	}
	if err != nil {
		return llm.Usage{}, err
	}
	defer func() { req.Model = ru.model }()
	err = ru.loop(ctx, cands)
	return ru.usage, err
}

// collect adds one chunk of the current attempt to the caller's
// aggregate, failing with llm.ErrTooLarge once the answer passes
// MaxAnswerBytes (an upstream that streams without end must not grow the
// gateway's memory without end).
func (ru *run) collect(c *llm.Chunk) error {
	n := len(c.Text) + len(c.Reasoning)
	for i := range c.ToolCalls {
		d := &c.ToolCalls[i]
		n += len(d.ID) + len(d.Name) + len(d.Arguments)
	}
	ru.aggBytes += n
	if ru.aggBytes > ru.r.cfg.MaxAnswerBytes {
		return llm.ErrTooLarge
	}
	ru.agg.Add(c)
	return nil
}

// wholeChunk turns a collected answer into the one chunk Route hands a
// non-streaming caller.
func wholeChunk(a *llm.Aggregate) *llm.Chunk {
	c := llm.Chunk{Role: a.Role, Text: a.Text.String(), Reasoning: a.Reasoning.String(), FinishReason: a.FinishReason, Model: a.Model}
	if c.Role == "" {
		c.Role = llm.RoleAssistant
	}
	if len(a.ToolCalls) > 0 {
		c.ToolCalls = make([]llm.ToolCallDelta, len(a.ToolCalls))
		for i, tc := range a.ToolCalls {
			c.ToolCalls[i] = llm.ToolCallDelta{Index: i, ID: tc.ID, Name: tc.Name, Arguments: tc.Arguments}
		}
	}
	if a.HasUsage {
		u := a.Usage
		c.Usage = &u
	}
	return &c
}

// Embed resolves req.Model like Route, over the candidates whose upstream
// implements llm.Embedder, and returns the first success. During each
// attempt req.Model holds the target's model name; Embed restores it. The
// Deadline bounds each attempt as a whole (FirstTokenTimeout does not
// apply: an embedding has no first token). It returns ErrNoEmbeddings
// (wrapped) when no candidate can embed.
func (r *Router) Embed(ctx context.Context, req *llm.EmbedRequest, st *Status) (*llm.EmbedResponse, error) {
	return r.embed(ctx, req, st, true)
}

// EmbedNow is Embed for callers on another request's critical path (the
// semantic cache's lookup): when every candidate is busy it fails at once
// instead of waiting for a slot, since a miss is cheaper than a stall.
func (r *Router) EmbedNow(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	return r.embed(ctx, req, nil, false)
}

func (r *Router) embed(ctx context.Context, req *llm.EmbedRequest, st *Status, queue bool) (*llm.EmbedResponse, error) {
	if st == nil {
		st = new(Status)
	}
	*st = Status{Attempts: st.Attempts[:0], Scope: st.Scope}
	if req == nil {
		return nil, errNilRequest
	}
	ru := getRun(r, st, req.Model)
	defer ru.put()
	ru.ereq, ru.embed, ru.noQueue = req, true, !queue
	all, err := r.resolve(req.Model, ru.one[:0])
	if err == nil {
		all, err = ru.scope(all)
	}
	if err != nil {
		return nil, err
	}
	var cands []candidate
	for _, c := range all {
		if c.up.embedder != nil {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("router: embed %q: %w", clip(req.Model, maxShown), ErrNoEmbeddings)
	}
	defer func() { req.Model = ru.model }()
	if err := ru.loop(ctx, cands); err != nil {
		return nil, err
	}
	return ru.eresp, nil
}

// run is the state of one routed request. It is used by one goroutine
// and recycled through runPool once the request is over.
type run struct {
	r     *Router
	st    *Status
	model string // as the client asked for it
	one   [1]candidate
	// att is the first attempt's state, kept with the run so the common
	// request allocates none; see attempt for when it may be reused.
	att attempt

	deadline time.Time
	needCtx  int // after a context-length failure: the smallest context that may fit
	tried    int // attempts that reached an upstream
	moves    int // target changes among st.Attempts
	retry    []retryTarget
	// allowed holds the candidates st.Scope lets through; denied names
	// the others (shared with the error that reports them).
	allowed []candidate
	denied  []string

	creq  *llm.ChatRequest
	emit  func(*llm.Chunk) error
	usage llm.Usage
	// agg, when set, collects the current attempt for a whole-answer
	// caller (Collect); nothing reaches the caller before the end.
	agg *llm.Aggregate
	// aggBytes is what the current attempt put into agg, for the
	// MaxAnswerBytes bound.
	aggBytes int

	embed bool
	// noQueue: fail rather than wait when every candidate is busy.
	noQueue bool
	ereq    *llm.EmbedRequest
	eresp   *llm.EmbedResponse
}

var runPool = sync.Pool{New: func() any {
	ru := new(run)
	ru.att.init()
	return ru
}}

func getRun(r *Router, st *Status, model string) *run {
	ru := runPool.Get().(*run)
	ru.r, ru.st, ru.model = r, st, model
	return ru
}

// scope drops the candidates the request's Scope does not allow, noting
// them for the error, and fails with *NotAllowedError when none is left.
func (ru *run) scope(cands []candidate) ([]candidate, error) {
	sc := ru.st.Scope
	if sc == nil {
		return cands, nil
	}
	kept := ru.allowed[:0]
	for _, c := range cands {
		if sc.AllowsProvider(c.up.Name, c.up.Local) {
			kept = append(kept, c)
		} else {
			ru.denied = append(ru.denied, c.target)
		}
	}
	ru.allowed = kept
	if len(kept) == 0 {
		return nil, &NotAllowedError{Model: ru.model, Denied: ru.denied}
	}
	return kept, nil
}

// put recycles ru unless its attempt timer may still fire into it.
func (ru *run) put() {
	if !ru.att.reusable {
		return
	}
	retry, allowed := ru.retry[:0], ru.allowed[:0]
	clear(ru.retry[:cap(ru.retry)])
	clear(ru.allowed[:cap(ru.allowed)])
	a := &ru.att
	fire, forward, timer := a.fireFn, a.forwardFn, a.timer
	stallFn, stallTimer := a.stallFn, a.stallTimer
	*ru = run{retry: retry, allowed: allowed}
	a.fireFn, a.forwardFn, a.timer, a.reusable = fire, forward, timer, true
	a.stallFn, a.stallTimer = stallFn, stallTimer
	runPool.Put(ru)
}

// nextAttempt returns a ready attempt: the run's own when its timer can no
// longer fire, else a new one.
func (ru *run) nextAttempt() *attempt {
	a := &ru.att
	if !a.reusable {
		a = new(attempt)
		a.init()
	}
	a.state.Store(stateWaiting)
	a.emit, a.emitErr, a.cause, a.disarmed = ru.emit, nil, errDeadline, false
	a.stall, a.stallArmed, a.stallFired = 0, false, false
	return a
}

// retryTarget is a target that failed in a way a retry may fix.
type retryTarget struct {
	c     *candidate
	n     int           // retries so far
	after time.Duration // the upstream's Retry-After
}

// verdict is what the loop does after one try.
type verdict uint8

const (
	verdictDone  verdict = iota // served, or an error to return as it is
	verdictNext                 // move on
	verdictRetry                // move on; the target may be retried later
)

func (ru *run) loop(ctx context.Context, cands []candidate) error {
	r := ru.r
	ru.deadline = r.now().Add(r.cfg.Deadline)
	for i := range cands {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("router: %w", err)
		}
		if ru.tried >= r.cfg.MaxAttempts || !r.now().Before(ru.deadline) {
			break
		}
		v, after, err := ru.try(ctx, &cands[i], false)
		switch v {
		case verdictDone:
			return err
		case verdictRetry:
			ru.retry = append(ru.retry, retryTarget{c: &cands[i], after: after})
		}
	}
	// Every candidate was busy and none failed: rather than refuse, wait
	// for the first busy one to free a slot (a device has few runtimes, and
	// a short queue beats a 503), bounded by the deadline and ctx.
	if ru.tried == 0 && !ru.noQueue {
		if c := ru.firstBusy(cands); c != nil {
			if done, err := ru.queue(ctx, c); done {
				return err
			}
		}
	}
	// Retries only once every target had its turn. Each pass tries every
	// remaining target once; attempts, the deadline and ctx end it.
	for len(ru.retry) > 0 && ru.tried < r.cfg.MaxAttempts {
		kept := ru.retry[:0]
		for _, rt := range ru.retry {
			if ru.tried >= r.cfg.MaxAttempts {
				break
			}
			if rt.after > r.cfg.RetryMax {
				continue // not worth waiting for
			}
			wait := max(r.backoff(rt.n), rt.after)
			if !r.now().Add(wait).Before(ru.deadline) {
				continue
			}
			if err := sleep(ctx, wait); err != nil {
				return fmt.Errorf("router: %w", err)
			}
			v, after, err := ru.try(ctx, rt.c, true)
			switch v {
			case verdictDone:
				return err
			case verdictRetry:
				rt.n++
				rt.after = after
				kept = append(kept, rt)
			}
		}
		ru.retry = kept
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("router: %w", err)
	}
	return ru.exhausted(cands)
}

// backoff returns the wait before retry n of a target: full jitter over
// RetryBase*2^n, capped at RetryMax.
func (r *Router) backoff(n int) time.Duration {
	ceil := r.cfg.RetryBase
	for i := 0; i < n && ceil < r.cfg.RetryMax; i++ {
		ceil *= 2
	}
	ceil = min(ceil, r.cfg.RetryMax)
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil + 1)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// admit checks whether c may be tried now and takes its in-flight slot and
// breaker ticket. On a skip it returns the reason and holds nothing.
func (ru *run) admit(c *candidate) (ticket, string) {
	u := c.up
	if ru.needCtx > 0 && u.ContextLength > 0 && u.ContextLength < ru.needCtx {
		return ticket{}, SkipContextTooSmall
	}
	if !u.Local && !u.online.Load() {
		return ticket{}, SkipOffline
	}
	if u.Local && ru.r.cfg.TooHot != nil && ru.r.cfg.TooHot() {
		return ticket{}, SkipTooHot
	}
	now := ru.r.now()
	br := u.brs.get(c.model)
	if !br.peek(now) {
		return ticket{}, SkipCircuitOpen
	}
	if !u.acquire() {
		return ticket{}, SkipBusy
	}
	t, ok := br.allow(now)
	if !ok {
		u.release()
		return ticket{}, SkipCircuitOpen
	}
	t.b, t.model = br, c.model
	return t, ""
}

var skipKind = map[string]llm.Kind{
	SkipOffline:         llm.KindUnavailable,
	SkipCircuitOpen:     llm.KindUnavailable,
	SkipBusy:            llm.KindOverloaded,
	SkipTooHot:          llm.KindOverloaded,
	SkipContextTooSmall: llm.KindContextLength,
}

func (ru *run) add(a Attempt) {
	if n := len(ru.st.Attempts); n > 0 && ru.st.Attempts[n-1].Target != a.Target {
		ru.moves++
	}
	ru.st.Attempts = append(ru.st.Attempts, a)
}

// try makes one attempt on c, or skips it. quiet skips are not recorded
// (a retry that cannot happen is not news).
func (ru *run) try(ctx context.Context, c *candidate, quiet bool) (verdict, time.Duration, error) {
	r, u := ru.r, c.up
	t, skip := ru.admit(c)
	if skip != "" {
		if !quiet {
			ru.add(Attempt{Target: c.target, Kind: skipKind[skip], Skipped: skip})
		}
		return verdictNext, 0, nil
	}

	ru.st.Provider, ru.st.Model = u.Name, c.model
	ru.st.Failovers = ru.moves
	if n := len(ru.st.Attempts); n > 0 && ru.st.Attempts[n-1].Target != c.target {
		ru.st.Failovers++
	}
	start := r.now()
	a := ru.nextAttempt()
	limit := ru.deadline.Sub(start)
	if !ru.embed {
		if u.FirstTokenTimeout < limit {
			limit, a.cause = u.FirstTokenTimeout, errFirstToken
		}
		a.stall = u.StallTimeout
	}
	ru.aggBytes = 0
	actx, cancel := context.WithCancelCause(ctx)
	a.cancel = cancel
	a.arm(limit)
	var err error
	if ru.embed {
		ru.ereq.Model = c.model
		ru.eresp, err = u.embedder.Embed(actx, ru.ereq)
	} else {
		ru.creq.Model = c.model
		ru.usage, err = u.Provider.Chat(actx, ru.creq, a.forwardFn)
	}
	a.disarm()
	cancel(nil)
	u.release()
	ru.tried++
	end := r.now()
	at := Attempt{Target: c.target, Duration: end.Sub(start)}
	state := a.state.Load()

	switch {
	case a.emitErr == llm.ErrTooLarge:
		// A runaway answer: no other target is likely to do better at
		// the same request, and trying would cost as much again.
		ru.agg.Reset()
		at.Kind = llm.KindServer
		at.Err = &llm.Error{Provider: u.Name, Kind: llm.KindServer,
			Err: fmt.Errorf("router: %w: the answer passed server.max_answer_bytes (%d)", llm.ErrTooLarge, r.cfg.MaxAnswerBytes)}
		r.failed(u, t, end, at.Kind, at.Err)
		ru.add(at)
		return verdictDone, 0, at.Err
	case a.emitErr != nil:
		// The client went away while the upstream streamed: the
		// upstream did its part.
		r.served(u, t, end)
		at.Kind, at.Err = llm.KindCanceled, a.emitErr
		ru.add(at)
		return verdictDone, 0, a.emitErr
	case state == stateStalled && err != nil && ctx.Err() == nil:
		at.Kind = llm.KindTimeout
		at.Err = &llm.Error{Provider: u.Name, Kind: llm.KindTimeout,
			Err: fmt.Errorf("router: %w: no chunk for %v", ErrStalled, u.StallTimeout)}
		r.failed(u, t, end, at.Kind, at.Err)
		ru.add(at)
		if ru.agg != nil {
			// Nothing reached the client: drop the partial answer and
			// fail over.
			ru.agg.Reset()
			return verdictNext, 0, nil
		}
		// Bytes went out: too late to fail over.
		return verdictDone, 0, at.Err
	case state == stateStarted && err != nil && ru.agg != nil:
		// Failed mid-stream, but nothing reached the client: drop the
		// partial answer and treat it like any other failure below.
		ru.agg.Reset()
	case state == stateStarted && err != nil:
		// Failed mid-stream: too late to fail over.
		at.Kind, at.Err = llm.KindOf(err), err
		r.failed(u, t, end, at.Kind, err)
		ru.add(at)
		return verdictDone, 0, err
	case state == stateStarted || err == nil && state == stateWaiting && ctx.Err() == nil:
		r.served(u, t, end)
		ru.add(at)
		return verdictDone, 0, nil
	case ctx.Err() != nil:
		r.settle(u, t, end, outcomeAbandoned)
		at.Kind, at.Err = llm.KindCanceled, err
		ru.add(at)
		return verdictDone, 0, fmt.Errorf("router: %w", ctx.Err())
	case state == stateTimedOut:
		at.Kind = llm.KindTimeout
		if a.cause == errFirstToken {
			at.Err = &llm.Error{Provider: u.Name, Kind: llm.KindTimeout,
				Err: fmt.Errorf("router: no first token within %v", u.FirstTokenTimeout)}
			r.settle(u, t, end, outcomeFailure)
			u.setLastError(at.Err)
		} else {
			// Earlier attempts may have used most of the deadline; that
			// is no fault of this upstream.
			at.Err = &llm.Error{Provider: u.Name, Kind: llm.KindTimeout,
				Err: fmt.Errorf("router: no first token within the request deadline %v", r.cfg.Deadline)}
			r.settle(u, t, end, outcomeAbandoned)
		}
		ru.add(at)
		return verdictNext, 0, nil
	}

	k := llm.KindOf(err)
	at.Kind, at.Err = k, err
	r.failed(u, t, end, k, err)
	ru.add(at)
	r.log.Debug("router: attempt failed", "target", c.target, "kind", k.String(), "err", err)
	if !k.Failover() || errors.Is(err, llm.ErrTooLarge) {
		return verdictDone, 0, err
	}
	if k == llm.KindContextLength && u.ContextLength > 0 && u.ContextLength+1 > ru.needCtx {
		ru.needCtx = u.ContextLength + 1
	}
	if retryable(k, err) {
		var le *llm.Error
		var after time.Duration
		if errors.As(err, &le) {
			after = le.RetryAfter
		}
		return verdictRetry, after, nil
	}
	return verdictNext, 0, nil
}

// retryable reports whether retrying the same target may help. A refused
// or unreachable connection will not be fixed by waiting a few hundred
// milliseconds: the runtime is not running or the network is gone.
func retryable(k llm.Kind, err error) bool {
	return k.Retryable() && !(k == llm.KindUnavailable && transportLevel(err))
}

// linkDown reports whether err says the upstream could not be reached at
// all: a failed dial or name lookup, or an unreachable network. Only that
// is a passive "offline" signal; a connection that was accepted and then
// broke, or an answer that came too slowly, proves the link works (the
// breaker and the probe deal with those).
func linkDown(err error) bool {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	var de *net.DNSError
	return errors.As(err, &de) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

// transportLevel reports whether err came with no HTTP answer.
func transportLevel(err error) bool {
	var le *llm.Error
	return !errors.As(err, &le) || le.Status == 0
}

// served records a success.
func (r *Router) served(u *upstream, t ticket, now time.Time) {
	r.settle(u, t, now, outcomeSuccess)
	r.setOnline(u, true, nil)
}

// failed records a failure of kind k.
func (r *Router) failed(u *upstream, t ticket, now time.Time, k llm.Kind, err error) {
	o := outcomeOf(k)
	r.settle(u, t, now, o)
	if o == outcomeFailure {
		u.setLastError(err)
	}
	if (k == llm.KindUnavailable || k == llm.KindTimeout) && linkDown(err) {
		r.setOnline(u, false, err)
	}
}

func (r *Router) settle(u *upstream, t ticket, now time.Time, o outcome) {
	if t.b == nil {
		return
	}
	if s, changed := t.b.record(now, t, o); changed {
		r.log.Warn("router: circuit "+s.String(), "provider", u.Name, "model", t.model)
	}
}

func (ru *run) exhausted(cands []candidate) *ExhaustedError {
	var cloud, offline int
	for i := range cands {
		if u := cands[i].up; !u.Local {
			cloud++
			if !u.online.Load() {
				offline++
			}
		}
	}
	return &ExhaustedError{
		Model:    ru.model,
		Attempts: append([]Attempt(nil), ru.st.Attempts...),
		Offline:  cloud > 0 && offline == cloud,
		Denied:   ru.denied,
	}
}

// Attempt states.
const (
	stateWaiting  int32 = iota // no chunk yet
	stateStarted               // a chunk went to the caller: no failover any more
	stateTimedOut              // the router canceled the attempt before its first chunk
	stateStalled               // the router canceled the attempt after a silence mid-stream
)

var (
	errFirstToken = errors.New("router: first-token timeout")
	errDeadline   = errors.New("router: request deadline")
	errStall      = errors.New("router: stream stalled")
)

// attempt is one call into a provider. The timer and the provider's emit
// race to move state out of stateWaiting; whoever wins decides whether the
// attempt streams or is canceled, so a chunk is never forwarded after the
// router gave up on the attempt.
//
// An attempt (with its timer and bound method values) is reused only when
// a Stop of its timer succeeded, which guarantees fire never ran and never
// will; otherwise fire may still be running, and the attempt is dropped.
type attempt struct {
	state   atomic.Int32
	cancel  context.CancelCauseFunc
	cause   error
	timer   *time.Timer
	emit    func(*llm.Chunk) error
	emitErr error

	fireFn    func()
	forwardFn func(*llm.Chunk) error
	// disarmed is set once a Stop of the timer succeeded; reusable is what
	// the last attempt left: true when it was disarmed.
	disarmed bool
	reusable bool

	// stall is the longest silence between chunks once the stream has
	// begun (0: none); stallTimer enforces it from the first chunk on.
	// stallArmed says the timer is running; stallFired that it expired
	// at least once, so stallFire may still be running.
	stall      time.Duration
	stallTimer *time.Timer
	stallFn    func()
	stallArmed bool
	stallFired bool
}

func (a *attempt) init() {
	a.fireFn, a.forwardFn, a.stallFn, a.reusable = a.fire, a.forward, a.stallFire, true
}

func (a *attempt) arm(d time.Duration) {
	if a.timer == nil {
		a.timer = time.AfterFunc(d, a.fireFn)
		return
	}
	a.timer.Reset(d)
}

func (a *attempt) disarm() {
	if !a.disarmed && a.timer.Stop() {
		a.disarmed = true
	}
	a.pauseStall()
	a.reusable = a.disarmed && !a.stallFired
}

func (a *attempt) fire() {
	if a.state.CompareAndSwap(stateWaiting, stateTimedOut) {
		a.cancel(a.cause)
	}
}

func (a *attempt) forward(c *llm.Chunk) error {
	switch a.state.Load() {
	case stateStarted:
		// The time the caller takes to take a chunk is not the
		// upstream's silence.
		a.pauseStall()
		if a.state.Load() == stateStalled {
			return errStall // the timer fired just before it was paused
		}
	case stateWaiting:
		if !a.state.CompareAndSwap(stateWaiting, stateStarted) {
			return a.cause
		}
		if a.timer.Stop() {
			a.disarmed = true
		}
	case stateStalled:
		return errStall
	default:
		return a.cause
	}
	if err := a.emit(c); err != nil {
		a.emitErr = err
		return err
	}
	a.armStall()
	return nil
}

// armStall (re)starts the stall timer after a chunk. A Reset or Stop of
// an armed timer that finds it already expired means stallFire ran or is
// running, so the attempt must not be reused.
func (a *attempt) armStall() {
	if a.stall <= 0 {
		return
	}
	if a.stallTimer == nil {
		a.stallTimer = time.AfterFunc(a.stall, a.stallFn)
	} else if !a.stallTimer.Reset(a.stall) && a.stallArmed {
		a.stallFired = true
	}
	a.stallArmed = true
}

// pauseStall stops the stall timer while a chunk is handed on.
func (a *attempt) pauseStall() {
	if !a.stallArmed {
		return
	}
	if !a.stallTimer.Stop() {
		a.stallFired = true
	}
	a.stallArmed = false
}

// stallFire cuts a started stream that went silent.
func (a *attempt) stallFire() {
	if a.state.CompareAndSwap(stateStarted, stateStalled) {
		a.cancel(errStall)
	}
}

// firstBusy returns the first candidate the run skipped as busy.
func (ru *run) firstBusy(cands []candidate) *candidate {
	for _, a := range ru.st.Attempts {
		if a.Skipped != SkipBusy {
			continue
		}
		for i := range cands {
			if cands[i].target == a.Target {
				return &cands[i]
			}
		}
	}
	return nil
}

// queue waits for c to free a slot and tries it, until it is tried, the
// deadline passes or ctx ends. done reports that the run is over (served
// or failed for good) with err as its result.
func (ru *run) queue(ctx context.Context, c *candidate) (done bool, err error) {
	wctx, cancel := context.WithDeadline(ctx, ru.deadline)
	defer cancel()
	for ru.tried == 0 && c.up.waitFree(wctx) {
		v, _, err := ru.try(ctx, c, true)
		if v == verdictDone {
			return true, err
		}
	}
	if err := ctx.Err(); err != nil {
		return true, fmt.Errorf("router: %w", err)
	}
	return false, nil
}
