// Command bench is edgeway's load benchmark: it measures what the gateway
// adds on top of a bare upstream.
//
//	go run ./scripts/bench -edgeway bin/edgeway [-duration 5s] [-warmup 1s]
//	    [-conns 1,4,32,64] [-json out.json] [-skip-offline]
//
// It starts the openaitest fake OpenAI API in-process (fasthttp mode, the
// cheapest OK path) and the edgeway binary in front of it, then, for each
// connection count, drives the fake directly and through edgeway with the
// same small non-streaming chat request: C workers, each on its own
// keep-alive connection, back to back for -duration after -warmup. One
// streaming run at 32 connections follows. It reports req/s, p50/p90/p99
// and errors for both, the throughput ratio and the added p50, edgeway's
// idle and peak RSS, and an offline fail-fast check: an edgeway whose
// providers are all down must answer 503 quickly, naming every target.
//
// Load generator, fake and edgeway share the machine's cores, so only ratios
// within one run mean anything. Everything talks to 127.0.0.1 only, is
// bounded in time, and edgeway is stopped (SIGTERM, then SIGKILL) on every
// exit path, including Ctrl-C.
//
// The exit status is 0 when every run completed (targets missed are
// reported, not fatal), 1 when the benchmark could not run or edgeway
// died, 2 on bad flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgeway/edgeway/edge/openai/openaitest"
)

// Targets.
const (
	targetRatio       = 0.5                    // edgeway req/s ÷ direct req/s, at ≥ 32 conns
	targetRatioConns  = 32                     // ... from this many connections up
	targetAddedP50    = 100 * time.Microsecond // edgeway p50 − direct p50, at ≤ 4 conns
	targetAddedConns  = 4
	targetPeakRSSKB   = 40 << 10
	targetIdleRSSKB   = 15 << 10
	targetOfflineP99  = 5 * time.Millisecond
	targetProxyWhole  = 0.90 // edgeway req/s ÷ pass-through proxy req/s, whole answers at ≥ 32 conns
	targetProxyStream = 0.95 // ... and 64-chunk streams
	targetHitRatio    = 1.2  // a cache hit ÷ the bare upstream
	streamConns       = 32
	streamChunks      = 64
	idleSettle        = 500 * time.Millisecond
	benchKey          = "sk-bench-0123456789"
	maxConns          = 1024
	maxDuration       = 5 * time.Minute
	overheadAllowance = 90 * time.Second // start-ups, stops and the offline check
)

func main() {
	if up := os.Getenv(proxyEnv); up != "" {
		os.Exit(serveProxy(up, os.Stdin, os.Stdout))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the parsed flags.
type options struct {
	edgeway     string
	duration    time.Duration
	warmup      time.Duration
	conns       []int
	jsonPath    string
	skipOffline bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.StringVar(&o.edgeway, "edgeway", "bin/edgeway", "path to the edgeway binary")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured time per run")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured time before each run")
	conns := fs.String("conns", "1,4,32,64", "comma-separated connection counts")
	fs.StringVar(&o.jsonPath, "json", "", "also write the figures as JSON to this file")
	fs.BoolVar(&o.skipOffline, "skip-offline", false, "skip the offline fail-fast check")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var errs []error
	if o.duration <= 0 || o.duration > maxDuration {
		errs = append(errs, fmt.Errorf("-duration %v is outside (0, %v]", o.duration, maxDuration))
	}
	if o.warmup < 0 || o.warmup > maxDuration {
		errs = append(errs, fmt.Errorf("-warmup %v is outside [0, %v]", o.warmup, maxDuration))
	}
	for _, f := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > maxConns {
			errs = append(errs, fmt.Errorf("-conns: %q is not a count in 1..%d", f, maxConns))
			continue
		}
		o.conns = append(o.conns, n)
	}
	if len(o.conns) > 16 {
		errs = append(errs, fmt.Errorf("-conns: %d counts, at most 16", len(o.conns)))
	}
	if _, err := os.Stat(o.edgeway); err != nil {
		errs = append(errs, fmt.Errorf("-edgeway: %w (build it with make build)", err))
	} else if abs, err := filepath.Abs(o.edgeway); err == nil {
		o.edgeway = abs // edgeway runs in its temp dir
	}
	return o, errors.Join(errs...)
}

// chatBody is the request every run sends.
func chatBody(model string, stream bool) []byte {
	s := ""
	if stream {
		s = `,"stream":true`
	}
	return []byte(`{"model":"` + model + `","messages":[{"role":"user","content":"Say hello"}],"temperature":0` + s + `}`)
}

// edgewayConfig renders the config of the edgeway under load.
func edgewayConfig(upstreamURL string) configFunc {
	return func(listen, dataDir string) string {
		return fmt.Sprintf(`listen: %s
data_dir: %s
providers:
  - name: cloud
    type: openai-compatible
    base_url: %s
    api_key: env:BENCH_KEY
models:
  chat: [cloud/gpt-4o-mini]
`, listen, dataDir, upstreamURL)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	// The whole run is bounded even if something hangs.
	runs := time.Duration(3*len(o.conns)+6) * (o.warmup + o.duration)
	ctx, cancel := context.WithTimeout(ctx, runs+overheadAllowance)
	defer cancel()

	rep, err := bench(ctx, o, stderr)
	if rep != nil {
		rep.failed = err != nil
		rep.print(stdout)
		if o.jsonPath != "" {
			if jerr := rep.writeJSON(o.jsonPath); jerr != nil {
				fmt.Fprintln(stderr, "bench:", jerr)
				err = errors.Join(err, jerr)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}

// bench runs everything and returns what it measured so far, also on error.
func bench(ctx context.Context, o *options, progress io.Writer) (*report, error) {
	rep := newReport(o)
	// 64 pieces: a stream of 64 content chunks, as in the figures.
	fake, err := openaitest.New(openaitest.Options{FastHTTP: true, APIKey: benchKey, Chunks: streamChunks})
	if err != nil {
		return nil, fmt.Errorf("fake upstream: %w", err)
	}
	defer fake.Close()

	env := []string{"BENCH_KEY=" + benchKey}
	fmt.Fprintf(progress, "bench: fake upstream at %s; starting %s\n", fake.URL(), o.edgeway)
	ew, err := startEdgeway(ctx, "edgeway", o.edgeway, env, edgewayConfig(fake.URL()))
	if err != nil {
		return rep, err
	}
	defer ew.stop()
	px, err := startProxy(ctx, fake.Addr(), progress)
	if err != nil {
		return rep, err
	}
	defer px.stop()

	select {
	case <-time.After(idleSettle):
	case <-ctx.Done():
		return rep, ctx.Err()
	}
	if rss, _, err := ew.memory(); err == nil {
		rep.Memory.IdleKB = rss
	} else {
		return rep, fmt.Errorf("idle rss: %w", err)
	}

	cpu := func() cpuTimes { return sampleCPU(ew.cmd.Process.Pid) }
	direct := loadSpec{
		addr: fake.Addr(), path: "/v1/chat/completions", auth: "Bearer " + benchKey,
		warmup: o.warmup, duration: o.duration, cpu: cpu,
	}
	proxied := direct
	proxied.addr, proxied.cpu = px.addr, func() cpuTimes { return sampleCPU(px.pid) }
	via := loadSpec{
		addr: ew.addr, path: "/v1/chat/completions",
		warmup: o.warmup, duration: o.duration, cpu: cpu,
	}
	type plan struct {
		stream bool
		conns  int
		hit    bool // through edgeway's exact cache
	}
	var plans []plan
	for _, c := range o.conns {
		plans = append(plans, plan{false, c, false})
	}
	plans = append(plans, plan{true, streamConns, false}, plan{false, streamConns, true})

	var failed error
	for _, pl := range plans {
		d, p, v := direct, proxied, via
		d.conns, p.conns, v.conns = pl.conns, pl.conns, pl.conns
		d.stream, p.stream, v.stream = pl.stream, pl.stream, pl.stream
		d.body, v.body = chatBody("gpt-4o-mini", pl.stream), chatBody("chat", pl.stream)
		p.body = d.body
		v.cacheable = pl.hit
		kind := "chat"
		if pl.stream {
			kind = "stream"
		}
		if pl.hit {
			kind = "hit"
		}
		row := runRow{Kind: kind, Conns: pl.conns}
		fmt.Fprintf(progress, "bench: %s c=%d direct...", kind, pl.conns)
		if row.direct, err = runLoad(ctx, d); err != nil {
			failed = err
			break
		}
		fmt.Fprintf(progress, " %.0f req/s; via proxy...", row.direct.ReqPerSec())
		if row.proxy, err = runLoad(ctx, p); err != nil {
			failed = err
			break
		}
		fmt.Fprintf(progress, " %.0f req/s; via edgeway...", row.proxy.ReqPerSec())
		if row.edgeway, err = runLoad(ctx, v); err != nil {
			failed = err
			break
		}
		fmt.Fprintf(progress, " %.0f req/s\n", row.edgeway.ReqPerSec())
		if row.direct.Truncated || row.proxy.Truncated || row.edgeway.Truncated {
			failed = fmt.Errorf("%s c=%d run cut short: %w", kind, pl.conns, context.Cause(ctx))
			break
		}
		rep.add(row)
		if !ew.alive() {
			failed = fmt.Errorf("edgeway exited during the %s c=%d run: %v", kind, pl.conns, ew.err)
			break
		}
		if ctx.Err() != nil {
			failed = ctx.Err()
			break
		}
	}
	if rss, hwm, err := ew.memory(); err == nil {
		rep.Memory.AfterKB, rep.Memory.PeakKB = rss, hwm
	}
	ew.stop()
	rep.EdgewayLog = ew.log.String()
	if failed != nil {
		return rep, failed
	}

	if o.skipOffline {
		return rep, nil
	}
	fmt.Fprintf(progress, "bench: offline fail-fast check...\n")
	ports, err := closedPorts(2)
	if err != nil {
		return rep, err
	}
	off, err := startEdgeway(ctx, "edgeway-offline", o.edgeway, env, offlineConfig(ports[0], ports[1]))
	if err != nil {
		return rep, err
	}
	defer off.stop()
	res, err := runOffline(ctx, off.addr)
	rep.setOffline(res)
	if !off.alive() {
		err = errors.Join(err, fmt.Errorf("offline edgeway exited: %v", off.err))
	}
	off.stop()
	rep.OfflineLog = off.log.String()
	return rep, err
}

// closedPorts returns n distinct loopback ports nothing listens on (a
// moment ago): connecting to them is refused at once.
func closedPorts(n int) ([]int, error) {
	var ports []int
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("closed port: %w", err)
		}
		closers = append(closers, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// goVersion is recorded in the JSON so figures can be told apart.
var goVersion = runtime.Version()

// writeJSON writes the report atomically enough for a script: a temp file
// renamed into place.
func (r *report) writeJSON(path string) error {
	data, err := json.MarshalIndent(r.jsonView(), "", "  ")
	if err != nil {
		return fmt.Errorf("json: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("json: %w", err)
	}
	return nil
}
