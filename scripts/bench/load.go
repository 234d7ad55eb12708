package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Client bounds. A request that takes longer than clientTimeout counts as
// an error; a response larger than maxResponseBytes too.
const (
	clientTimeout    = 10 * time.Second
	maxResponseBytes = 1 << 20
	// errorBackoff slows a worker whose requests fail at the transport level
	// (refused, reset) so a dead target does not turn into a busy loop.
	errorBackoff = 5 * time.Millisecond
	// maxErrorSample bounds the text kept of the first failure.
	maxErrorSample = 300
)

// sseDone is how a complete OpenAI stream ends.
var sseDone = []byte("data: [DONE]")

// loadSpec is one load run: conns workers, each on its own keep-alive
// connection, sending body to addr+path back to back.
type loadSpec struct {
	addr   string // host:port
	path   string
	auth   string // Authorization header value, empty for none
	body   []byte
	stream bool // expect an SSE body ending in "data: [DONE]"
	// cacheable leaves edgeway's response cache on; otherwise requests
	// carry Cache-Control: no-cache, no-store so every one is proxied.
	cacheable bool
	conns     int
	warmup    time.Duration
	duration  time.Duration
	// cpu, when set, samples CPU times at the window's start and end.
	cpu func() cpuTimes
}

// loadResult is what one run measured. Only requests that started and
// finished inside the measurement window count.
type loadResult struct {
	Conns     int
	Window    time.Duration
	OK        uint64
	Errors    uint64
	Statuses  map[int]uint64 // non-200 statuses seen (0: transport error)
	FirstErr  string
	Hist      Histogram
	Truncated bool // the run was cut short (signal or deadline)
	CPU       cpuUsage
	CPUOK     bool // CPU was sampled over the whole window
}

// CPUPerReq returns the benchmark's and edgeway's CPU time per successful
// request over the window.
func (r *loadResult) CPUPerReq() (self, edgeway time.Duration, ok bool) {
	if !r.CPUOK || r.OK == 0 {
		return 0, 0, false
	}
	n := time.Duration(r.OK)
	return r.CPU.Self / n, r.CPU.Edgeway / n, true
}

// ReqPerSec returns successful requests per second over the window.
func (r *loadResult) ReqPerSec() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.OK) / r.Window.Seconds()
}

// worker is one load connection's state; it is owned by one goroutine.
type worker struct {
	hist     Histogram
	ok       uint64
	errs     uint64
	statuses map[int]uint64
	firstErr string
}

// fail counts one error; msg builds its description, called only for the
// worker's first error so a flood of failures costs no formatting.
func (w *worker) fail(status int, msg func() string) {
	w.errs++
	w.statuses[status]++
	if w.firstErr == "" {
		w.firstErr = msg()
		if len(w.firstErr) > maxErrorSample {
			w.firstErr = w.firstErr[:maxErrorSample] + "..."
		}
	}
}

// runLoad drives spec until its window ends or ctx is done, and merges the
// workers' figures.
func runLoad(ctx context.Context, spec loadSpec) (*loadResult, error) {
	if spec.conns < 1 {
		return nil, fmt.Errorf("load: %d connections", spec.conns)
	}
	// halt ends the run early: a signal, the overall deadline, or a worker
	// panic.
	ctx, halt := context.WithCancel(ctx)
	defer halt()
	// The window is fixed before any worker starts, so workers need no
	// coordination: each compares its own clock readings to it.
	start := time.Now().Add(spec.warmup)
	end := start.Add(spec.duration)
	var stop atomic.Bool // ctx.Done as a flag cheap enough to poll per request
	go func() {
		<-ctx.Done()
		stop.Store(true)
	}()

	workers := make([]*worker, spec.conns)
	var wg sync.WaitGroup
	var panicked atomic.Value
	for i := range workers {
		w := &worker{statuses: make(map[int]uint64)}
		workers[i] = w
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					panicked.Store(fmt.Sprint(p))
					halt()
				}
			}()
			w.run(spec, start, end, &stop)
		})
	}
	var cpuA cpuTimes
	if sleepUntil(ctx, start) && spec.cpu != nil {
		cpuA = spec.cpu()
	}
	complete := sleepUntil(ctx, end)
	var cpu cpuUsage
	var cpuOK bool
	if complete && spec.cpu != nil {
		cpu, cpuOK = cpuA.until(spec.cpu())
	}
	wg.Wait()
	if p := panicked.Load(); p != nil {
		return nil, fmt.Errorf("load: worker panicked: %v", p)
	}

	res := &loadResult{Conns: spec.conns, Window: spec.duration, Statuses: make(map[int]uint64), CPU: cpu, CPUOK: cpuOK}
	if !complete {
		res.Truncated = true
		res.Window = max(0, min(time.Since(start), spec.duration))
	}
	for _, w := range workers {
		res.Hist.Merge(&w.hist)
		res.OK += w.ok
		res.Errors += w.errs
		for s, n := range w.statuses {
			res.Statuses[s] += n
		}
		if res.FirstErr == "" {
			res.FirstErr = w.firstErr
		}
	}
	return res, nil
}

// postClient is one HostClient holding one keep-alive connection to addr,
// never shared and never retried (a retry would hide a failure from the
// count), with a JSON POST to path to send on it; release frees them.
func postClient(addr, path string, timeout time.Duration) (*fasthttp.HostClient, *fasthttp.Request, *fasthttp.Response, func()) {
	c := &fasthttp.HostClient{
		Addr:                      addr,
		MaxConns:                  1,
		MaxIdemponentCallAttempts: 1,
		ReadTimeout:               timeout,
		WriteTimeout:              timeout,
		MaxResponseBodySize:       maxResponseBytes,
		NoDefaultUserAgentHeader:  true,
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI("http://" + addr + path)
	req.Header.SetContentType("application/json")
	return c, req, resp, func() {
		c.CloseIdleConnections()
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
}

func (w *worker) run(spec loadSpec, start, end time.Time, stop *atomic.Bool) {
	c, req, resp, release := postClient(spec.addr, spec.path, clientTimeout)
	defer release()
	// The client's own work is kept out of what the load measures.
	c.DisableHeaderNamesNormalizing = true
	c.DisablePathNormalizing = true
	if spec.auth != "" {
		req.Header.Set("Authorization", spec.auth)
	}
	if spec.stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	if !spec.cacheable {
		req.Header.Set("Cache-Control", "no-cache, no-store")
	}
	req.SetBodyRaw(spec.body)

	for !stop.Load() {
		t0 := time.Now()
		if !t0.Before(end) {
			return
		}
		err := c.Do(req, resp)
		t1 := time.Now()
		counted := !t0.Before(start) && !t1.After(end)
		switch {
		case err != nil:
			if counted {
				w.fail(0, func() string { return "transport: " + err.Error() })
			}
			if !errors.Is(err, fasthttp.ErrTimeout) {
				time.Sleep(errorBackoff)
			}
		case resp.StatusCode() != fasthttp.StatusOK:
			if counted {
				w.fail(resp.StatusCode(), func() string {
					return fmt.Sprintf("status %d: %s", resp.StatusCode(), clip(resp.Body(), maxErrorSample))
				})
			}
		case spec.stream && !bytes.Contains(tail(resp.Body(), 64), sseDone):
			if counted {
				w.fail(-1, func() string {
					return fmt.Sprintf("stream without [DONE] (%d bytes): %q", len(resp.Body()), tail(resp.Body(), 120))
				})
			}
		default:
			if counted {
				w.ok++
				w.hist.Record(t1.Sub(t0))
			}
		}
	}
}

// sleepUntil waits for t; it reports false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	tm := time.NewTimer(time.Until(t))
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
