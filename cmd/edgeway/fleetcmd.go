package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeway/edgeway/edge/config"
	"github.com/edgeway/edgeway/edge/keys"
	"github.com/edgeway/edgeway/sync/fleet"
	"github.com/edgeway/edgeway/sync/fleet/side"
	"github.com/edgeway/edgeway/sync/usage"
)

const fleetUsage = `usage: edgeway fleet <serve|devices|usage|config> [flags]

  serve     consume every device's usage into rollups in JetStream KV, keep their
            status; run as many replicas as wanted (no state outside NATS)
  devices   [--format table|json]: last status of each device
  usage     [--by device|team|key|model|provider|day] [--since 7d] [--format table|json|csv]
  config    put|get|history|delete --global|--group G|--device D [FILE]
            put validates FILE first (--schema-only: schema alone, see README)

NATS: --nats URL (also $EDGEWAY_NATS_URL) with --user/--password, --token, --nkey or
--creds and --tls-ca/--tls-cert/--tls-key; or --config FILE, whose fleet: section is used.
Secrets take env:VAR.
`

// fleetTimeout bounds a one-shot fleet command's work with NATS.
const fleetTimeout = 15 * time.Second

// natsFlags are how every fleet command reaches NATS.
type natsFlags struct {
	config          string
	f               config.Fleet
	password, token string
	timeout         time.Duration
}

func (n *natsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&n.config, "config", "", "config file whose fleet: section says how to reach NATS")
	fs.StringVar(&n.f.URL, "nats", os.Getenv("EDGEWAY_NATS_URL"), "NATS URL(s), comma-separated; also $EDGEWAY_NATS_URL")
	fs.StringVar(&n.f.User, "user", "", "NATS user")
	fs.StringVar(&n.password, "password", "", "NATS password, as env:VAR")
	fs.StringVar(&n.token, "token", "", "NATS token, as env:VAR")
	fs.StringVar(&n.f.NKeyFile, "nkey", "", "file holding an nkey seed")
	fs.StringVar(&n.f.CredsFile, "creds", "", ".creds file")
	fs.StringVar(&n.f.TLS.CA, "tls-ca", "", "CA file to verify the server")
	fs.StringVar(&n.f.TLS.Cert, "tls-cert", "", "client certificate file")
	fs.StringVar(&n.f.TLS.Key, "tls-key", "", "client key file")
	fs.DurationVar(&n.timeout, "timeout", fleetTimeout, "how long a command waits for NATS")
}

// connect opens the connection the flags (or the config's fleet:
// section) describe.
func (n *natsFlags) connect(log *slog.Logger) (*nats.Conn, error) {
	f := n.f
	f.Password, f.Token = config.Secret(n.password), config.Secret(n.token)
	if n.config != "" {
		cfg, err := config.Load(n.config, config.Defaults{})
		if err != nil {
			return nil, err
		}
		// The file's section whole: mixing its auth with the flags' would
		// make two methods at once.
		url := f.URL
		f = cfg.Fleet
		f.URL = cmp.Or(f.URL, url)
	}
	if f.URL == "" {
		return nil, errors.New("no NATS: give --nats URL, $EDGEWAY_NATS_URL or --config with a fleet: section")
	}
	// The flags are held to the fleet: section's rules (one auth method,
	// TLS cert with its key).
	c, err := config.Parse(strings.NewReader(""), config.Defaults{})
	if err != nil {
		return nil, err
	}
	if c.Fleet = f; c.Validate() != nil {
		return nil, c.Validate()
	}
	resolve := func(s config.Secret) (string, error) { return s.Resolve(os.LookupEnv) }
	return fleet.Connect(f, "fleet", resolve, log)
}

func fleetCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" {
		fmt.Fprint(stderr, fleetUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "serve":
		return fleetServe(args, stdout, stderr)
	case "devices":
		return fleetDevices(args, stdout, stderr)
	case "usage":
		return fleetUsageCmd(args, stdout, stderr)
	case "config":
		return fleetConfig(args, stdout, stderr)
	}
	fmt.Fprintf(stderr, "edgeway fleet: unknown command %q\n\n%s", sub, fleetUsage)
	return 2
}

// oneShot connects, and gives the JetStream context and a deadline to a
// fleet command that does one thing.
func oneShot(n *natsFlags, stderr io.Writer, fn func(ctx context.Context, js jetstream.JetStream) error) error {
	nc, err := n.connect(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), n.timeout)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if err := fn(ctx, js); err != nil {
		if errors.Is(err, context.DeadlineExceeded) && !nc.IsConnected() {
			return fmt.Errorf("NATS not reachable at %s within %s: %w", nc.ConnectedUrlRedacted(), n.timeout, err)
		}
		return err
	}
	return nil
}

func fleetServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edgeway fleet serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var n natsFlags
	n.register(fs)
	ackWait := fs.Duration("ack-wait", side.DefaultAckWait, "how long a replica may hold records before another gets them")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var l slog.Level
	_ = l.UnmarshalText([]byte(*level))
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: l}))
	fail := func(err error) int { fmt.Fprintf(stderr, "edgeway fleet serve: %v\n", err); return 1 }
	nc, err := n.connect(log)
	if err != nil {
		return fail(err)
	}
	defer nc.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// NATS may not be up yet: the connection keeps trying, and so does
	// setting up the stream and buckets.
	var s *side.Server
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		if s, err = side.New(ctx, nc, side.Options{AckWait: *ackWait, Logger: log}); err == nil {
			break
		}
		log.Warn("fleet: setting up JetStream", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(wait):
		}
	}
	fmt.Fprintf(stdout, "edgeway %s fleet serve: %s into bucket %s (consumer %s), status into %s\n",
		version, fleet.UsageStream, side.RollupBucket, side.Durable, side.DeviceBucket)
	if err := s.Run(ctx); err != nil {
		return fail(err)
	}
	return 0
}

func fleetDevices(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edgeway fleet devices", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var n natsFlags
	n.register(fs)
	format := fs.String("format", "table", "table or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "edgeway fleet devices: %v\n", err); return 1 }
	if *format != "table" && *format != "json" {
		return fail(fmt.Errorf("format %q: want table or json", *format))
	}
	var devs []side.Device
	if err := oneShot(&n, stderr, func(ctx context.Context, js jetstream.JetStream) (err error) {
		devs, err = side.Devices(ctx, js)
		return err
	}); err != nil {
		return fail(err)
	}
	if *format == "json" {
		return printJSON(stdout, struct {
			Devices []side.Device `json:"devices"`
		}{devs})
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tLAST SEEN\tAGE\tVERSION\tHEALTH\tCONFIG REV\tOUTBOX")
	now := time.Now()
	for _, d := range devs {
		seen, age := "-", "-"
		if !d.Time.IsZero() {
			seen, age = d.Time.Local().Format(time.DateTime), now.Sub(d.Time).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d (%.1f KiB)\n", d.Device, seen, age, dash(d.Version), dash(d.Health),
			dash(d.ConfigRevision), d.OutboxRecords, float64(d.OutboxBytes)/1024)
	}
	tw.Flush()
	return 0
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fleetUsageCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edgeway fleet usage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var n natsFlags
	n.register(fs)
	by := fs.String("by", "device", "group by "+strings.Join(side.ByFields, ", "))
	since := fs.String("since", "7d", "how far back, e.g. 24h, 7d, 4w (whole UTC days)")
	format := fs.String("format", "table", "table, json or csv")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "edgeway fleet usage: %v\n", err); return 1 }
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if *format != "table" && *format != "json" && *format != "csv" {
		return fail(fmt.Errorf("format %q: want table, json or csv", *format))
	}
	back, err := keys.ParseDuration(*since)
	if err != nil {
		return fail(fmt.Errorf("--since: %w", err))
	}
	now := time.Now().UTC()
	from := now.Add(-back).Truncate(24 * time.Hour)
	var out struct {
		Since time.Time   `json:"since"`
		By    string      `json:"by"`
		Rows  []usage.Row `json:"rows"`
	}
	out.Since, out.By = from, *by
	if err := oneShot(&n, stderr, func(ctx context.Context, js jetstream.JetStream) error {
		rows, err := side.Usage(ctx, js, from, now, *by)
		out.Rows = rows
		return err
	}); err != nil {
		return fail(err)
	}
	if *format == "json" {
		return printJSON(stdout, out)
	}
	if *format == "table" {
		fmt.Fprintf(stdout, "fleet usage since %s UTC, by %s\n", from.Format(time.DateOnly), *by)
	}
	printRows(stdout, *format, *by, out.Rows)
	return 0
}

const fleetConfigUsage = `usage: edgeway fleet config <put|get|history|delete> --global|--group G|--device D [flags] [FILE]

  put FILE      validate FILE and write it (FILE "-" is stdin); --schema-only checks
                the schema alone, for an overlay that leans on each device's file
  get           print the current value (--revision N: an older one)
  history       the kept revisions [--format table|json]
  delete        remove the key (devices fall back to the other layers)
`

func fleetConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, fleetConfigUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("edgeway fleet config "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var n natsFlags
	n.register(fs)
	global := fs.Bool("global", false, "the layer every device takes")
	group := fs.String("group", "", "the layer of the devices of fleet group G")
	device := fs.String("device", "", "the layer of device D alone")
	var schemaOnly bool
	var revision uint64
	format := "table"
	switch sub {
	case "put":
		fs.BoolVar(&schemaOnly, "schema-only", false, "check fields and types only, not that the overlay validates on its own")
	case "get":
		fs.Uint64Var(&revision, "revision", 0, "an older revision (see history)")
	case "history":
		fs.StringVar(&format, "format", "table", "table or json")
	case "delete":
	default:
		fmt.Fprintf(stderr, "edgeway fleet config: unknown command %q\n\n%s", sub, fleetConfigUsage)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "edgeway fleet config %s: %v\n", sub, err); return 1 }
	var key string
	layers := 0
	if *global {
		key, layers = "global", layers+1
	}
	if *group != "" {
		key, layers = "group."+*group, layers+1
	}
	if *device != "" {
		key, layers = "device."+*device, layers+1
	}
	if layers != 1 {
		return fail(errors.New("give one of --global, --group G or --device D"))
	}
	for _, name := range []string{*group, *device} {
		// The name is a KV key token: no '.', no wildcard.
		if name != "" && strings.ContainsAny(name, ".*> \t") {
			return fail(fmt.Errorf("%q is not a device or group name (letters, digits, '-' and '_')", name))
		}
	}
	var data []byte
	if sub == "put" {
		if fs.NArg() != 1 {
			return fail(errors.New("want one FILE (\"-\" for stdin)"))
		}
		var err error
		if fs.Arg(0) == "-" {
			data, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20+1))
		} else {
			data, err = os.ReadFile(fs.Arg(0))
		}
		if err != nil {
			return fail(err)
		}
		if err := side.CheckOverlay(data, schemaOnly); err != nil {
			return fail(fmt.Errorf("%s refused, nothing written: %w", fs.Arg(0), err))
		}
	} else if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	err := oneShot(&n, stderr, func(ctx context.Context, js jetstream.JetStream) error {
		kv, err := side.ConfigKV(ctx, js, sub == "put")
		if err != nil {
			return err
		}
		switch sub {
		case "put":
			rev, err := kv.Put(ctx, key, data)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s: revision %d written to %s (%d bytes)\n", key, rev, fleet.ConfigBucket, len(data))
		case "get":
			var e jetstream.KeyValueEntry
			if revision > 0 {
				e, err = kv.GetRevision(ctx, key, revision)
			} else {
				e, err = kv.Get(ctx, key)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			stdout.Write(e.Value())
		case "history":
			revs, err := side.ConfigHistoryOf(ctx, kv, key)
			if err != nil {
				return err
			}
			if format == "json" {
				printJSON(stdout, struct {
					Revisions []side.Revision `json:"revisions"`
				}{revs})
				return nil
			}
			tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tREVISION\tTIME\tOP\tBYTES")
			for _, r := range revs {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\n", r.Key, r.Revision, r.Time.Format(time.RFC3339), r.Op, r.Bytes)
			}
			tw.Flush()
		case "delete":
			if err := kv.Delete(ctx, key); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s: deleted from %s\n", key, fleet.ConfigBucket)
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return 0
}
