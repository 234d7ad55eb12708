// Command edgeway is the LLM gateway for edge devices. Subcommands:
//
//	edgeway serve [--config FILE]   run the gateway (the default)
//	edgeway check [--config FILE]   validate the config and probe each provider
//	edgeway cache stats|purge       inspect or empty the response cache
//	edgeway keys create|list|...    manage virtual keys through the admin API
//	edgeway teams create|list|set   manage teams through the admin API
//	edgeway usage [--by ...]        sum the usage ledger through the admin API
//	edgeway secrets set|list|...    provider keys encrypted in the data file
//	edgeway audit verify|tail       check or read the audit log
//	edgeway fleet serve|devices|...  the fleet side over NATS JetStream
//	edgeway version                 print the version
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgeway/edgeway/board"
	"github.com/edgeway/edgeway/edge/config"
	"github.com/edgeway/edgeway/edge/router"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usageText = `usage: edgeway <command> [flags]

commands:
  serve     run the gateway (default)
  check     validate the config and show whether each provider is reachable
  cache     stats | purge [--namespace N] [--model M]: the response cache (gateway stopped)
  keys      create | list | revoke | rotate: virtual keys (gateway running, $EDGEWAY_ADMIN_KEY)
  teams     create | list | set: teams and their policies (gateway running, $EDGEWAY_ADMIN_KEY)
  usage     [--by key|team|model|provider] [--since 7d] [--format table|json|csv]: spend from the ledger
  secrets   set NAME | list | rotate-master: provider keys stored encrypted (gateway stopped, $EDGEWAY_MASTER_KEY)
  audit     verify | tail [-n N]: the hash-chained audit log (the data file, or the running gateway)
  fleet     serve | devices | usage | config: the fleet side, over NATS JetStream
  version   print the version

run 'edgeway <command> -h' for a command's flags.
`

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, stdout, stderr)
	case "check":
		return check(args, stdout, stderr)
	case "cache":
		return cacheCmd(args, stdout, stderr)
	case "keys":
		return keysCmd(args, stdout, stderr)
	case "teams":
		return teamsCmd(args, stdout, stderr)
	case "usage":
		return usageCmd(args, stdout, stderr)
	case "secrets":
		return secretsCmd(args, os.Stdin, stdout, stderr)
	case "audit":
		return auditCmd(args, stdout, stderr)
	case "fleet":
		return fleetCmd(args, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "edgeway %s %s/%s %s\n", version, runtime.GOOS, runtime.GOARCH, runtime.Version())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usageText)
		return 0
	}
	fmt.Fprintf(stderr, "edgeway: unknown command %q\n\n%s", cmd, usageText)
	return 2
}

type commonFlags struct {
	config   string
	listen   string
	dataDir  string
	logLevel string
}

func parseFlags(name string, args []string, stderr io.Writer) (*commonFlags, error) {
	f := &commonFlags{}
	fs := flag.NewFlagSet("edgeway "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", os.Getenv("EDGEWAY_CONFIG"), "config file (YAML); also $EDGEWAY_CONFIG; none = built-in defaults")
	fs.StringVar(&f.listen, "listen", "", "listen address, overrides the config (default "+config.DefaultListen+")")
	fs.StringVar(&f.dataDir, "data-dir", "", "data directory, overrides the config (default "+config.DefaultDataDir+")")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error; overrides the config's log.level (default "+config.DefaultLogLevel+")")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return f, nil
}

// loadConfig reads the file named by the flags, or builds the defaults,
// with the device-dependent defaults taken from the board profile.
func loadConfig(f *commonFlags, prof board.Profile) (*config.Config, error) {
	d := configDefaults(prof)
	var cfg *config.Config
	if f.config != "" {
		c, err := config.Load(f.config, d)
		if err != nil {
			return nil, err
		}
		cfg = c
	} else {
		cfg = config.Default(os.Getenv, d)
	}
	if f.listen != "" {
		cfg.Listen = f.listen
	}
	if f.dataDir != "" {
		cfg.DataDir = f.dataDir
	}
	return cfg, cfg.Validate()
}

// configDefaults are the config defaults that depend on the board.
func configDefaults(prof board.Profile) config.Defaults {
	return config.Defaults{
		LocalMaxInFlight: prof.LocalMaxInFlight,
		MaxConcurrency:   prof.MaxConcurrency,
		OllamaNumThread:  prof.OllamaNumThread,
	}
}

func serve(args []string, stdout, stderr io.Writer) int {
	f, err := parseFlags("serve", args, stderr)
	if err != nil {
		return 2
	}
	prof := board.DetectHost()
	cfg, err := loadConfig(f, prof)
	if err != nil {
		fmt.Fprintf(stderr, "edgeway: %v\n", err)
		return 1
	}
	log := newLogger(stderr, f, cfg.Log)
	db, err := openDB(cfg.DataDir)
	if err != nil {
		fmt.Fprintf(stderr, "edgeway: %v\n", err)
		return 1
	}
	defer db.Close()
	cfg, lkg := withLastKnownGood(f, prof, cfg, db, log) // reload.go
	hot := thermalGuard(prof)
	gw, notes, err := build(cfg, log, hot, db)
	if err != nil {
		fmt.Fprintf(stderr, "edgeway: %v\n", err)
		return 1
	}
	if gw.cache != nil {
		// After the server stops: queued cache writes land before the
		// file closes.
		defer gw.cache.Close()
	}
	if gw.ledger != nil {
		defer gw.ledger.Close()
	}
	if gw.stored != nil {
		defer gw.stored.Close()
	}
	if gw.audit != nil {
		// After the server stops: the refusals counted last are written.
		defer gw.audit.Close()
	}
	if gw.auth.Open() && !loopback(cfg.Listen) {
		fmt.Fprintf(stderr, "edgeway: refusing to listen on %s with no keys: anyone who can reach it could spend the providers' credits. Set %s (or auth.admin_key) and create keys, or listen on 127.0.0.1\n", cfg.Listen, config.AdminKeyEnv)
		return 1
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "edgeway: %v (is another edgeway running? use --listen to pick another address)\n", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	gw.router.Start(ctx)
	defer gw.router.Close()
	fl, err := startFleet(cfg, gw, db, prof, log)
	if err != nil {
		fmt.Fprintf(stderr, "edgeway: %v\n", err)
		return 1
	}
	// Stopped before the ledger closes (defers run last in, first out).
	defer fl.Stop()
	rl, err := startReload(ctx, f, prof, cfg, lkg, gw, db, hot, log)
	if err != nil {
		fmt.Fprintf(stderr, "edgeway: %v\n", err)
		return 1
	}
	defer rl.Close()

	fmt.Fprintf(stdout, "edgeway %s listening on http://%s (OpenAI API at http://%s/v1)\n", version, ln.Addr(), ln.Addr())
	fmt.Fprintf(stdout, "  board %s\n", prof)
	fmt.Fprintf(stdout, "  auth: %s\n", authState(gw.auth))
	fmt.Fprintf(stdout, "  fleet: %s\n", fl)
	reachable := printProviders(ctx, stdout, cfg, gw.router)
	for _, n := range notes {
		fmt.Fprintf(stdout, "  note: %s\n", n)
	}
	if reachable == 0 {
		fmt.Fprintf(stdout, "no provider reachable: %s\n", gw.hint)
	}

	errc := make(chan error, 1)
	go func() { errc <- gw.server.Serve(ln) }()
	select {
	case err := <-errc:
		if err != nil {
			fmt.Fprintf(stderr, "edgeway: %v\n", err)
			return 1
		}
		return 0
	case <-ctx.Done():
	}
	fmt.Fprintln(stdout, "edgeway: shutting down (waiting up to 10s for requests in flight)")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := gw.server.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "edgeway: %v\n", err)
		return 1
	}
	return 0
}

// shutdownGrace bounds how long a stop waits for streams in flight.
const shutdownGrace = 10 * time.Second

func check(args []string, stdout, stderr io.Writer) int {
	f, err := parseFlags("check", args, stderr)
	if err != nil {
		return 2
	}
	prof := board.DetectHost()
	cfg, err := loadConfig(f, prof)
	if err != nil {
		fmt.Fprintf(stderr, "edgeway: %v\n", err)
		return 1
	}
	gw, notes, err := build(cfg, newLogger(stderr, f, cfg.Log), nil, nil)
	if err != nil {
		fmt.Fprintf(stderr, "edgeway: %v\n", err)
		return 1
	}
	src := "built-in defaults"
	if f.config != "" {
		src = f.config
	}
	fmt.Fprintf(stdout, "config ok (%s): listen %s, data dir %s\n", src, cfg.Listen, cfg.DataDir)
	fmt.Fprintf(stdout, "  board %s\n", prof)
	n := printProviders(context.Background(), stdout, cfg, gw.router)
	for _, note := range notes {
		fmt.Fprintf(stdout, "  note: %s\n", note)
	}
	for alias, targets := range cfg.Models {
		fmt.Fprintf(stdout, "  model %s -> %s\n", alias, strings.Join(targets, ", "))
	}
	if n == 0 {
		fmt.Fprintf(stdout, "no provider reachable: %s\n", gw.hint)
		return 1
	}
	return 0
}

// printProviders probes every provider at once (bounded) and prints one
// line each; it returns how many are reachable.
func printProviders(ctx context.Context, w io.Writer, cfg *config.Config, r *router.Router) int {
	ctx, cancel := context.WithTimeout(ctx, startupProbeTimeout)
	defer cancel()
	ok := make([]bool, len(cfg.Providers))
	var wg sync.WaitGroup
	for i := range cfg.Providers {
		wg.Go(func() { ok[i] = r.Reachable(ctx, cfg.Providers[i].Name) })
	}
	wg.Wait()
	n := 0
	for i, p := range cfg.Providers {
		state := "unreachable"
		if ok[i] {
			state = "reachable"
			n++
		}
		where := "cloud"
		if p.Local() {
			where = "local"
		}
		fmt.Fprintf(w, "  provider %-12s %-18s %-5s %-40s %s\n", p.Name, p.Type, where, config.RedactURL(p.BaseURL), state)
	}
	return n
}

const startupProbeTimeout = 2 * time.Second

// newLogger writes the log to w as the config's log: section says, at
// the --log-level flag's level when it is given.
func newLogger(w io.Writer, f *commonFlags, c config.Log) *slog.Logger {
	level := c.Level
	if f.logLevel != "" {
		level = f.logLevel
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	o := &slog.HandlerOptions{Level: l}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// thermalSample is how often the device temperature is read. Thermal
// trends move in seconds; reading sysfs per request would cost more.
const thermalSample = 5 * time.Second

// thermalGuard returns a cheap "too hot" check for the router, backed by
// a goroutine that samples the board's hottest thermal zone. It returns
// nil where there is no thermal zone to read.
func thermalGuard(prof board.Profile) func() bool {
	fsys := os.DirFS("/")
	if _, ok := board.Temperature(fsys); !ok || prof.ThermalLimitC <= 0 {
		return nil
	}
	var hot atomic.Bool
	go func() {
		t := time.NewTicker(thermalSample)
		defer t.Stop()
		for range t.C {
			c, ok := board.Temperature(fsys)
			hot.Store(ok && c >= prof.ThermalLimitC)
		}
	}()
	return hot.Load
}
