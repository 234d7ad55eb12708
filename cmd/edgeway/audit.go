package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"go.etcd.io/bbolt"
	"go.yaml.in/yaml/v3"

	"github.com/edgeway/edgeway/edge/audit"
	"github.com/edgeway/edgeway/edge/config"
	"github.com/edgeway/edgeway/edge/server"
)

// openAudit opens the audit log and records the config the gateway starts
// with: a hash of its effective form, whose secrets are references or
// redacted, so the log shows when it changed without holding a key.
func openAudit(db *bbolt.DB, cfg *config.Config, log *slog.Logger) (*audit.Log, error) {
	l, err := audit.Open(db, audit.Options{OnError: func(err error) { log.Error("audit", "err", err) }})
	if err != nil {
		return nil, err
	}
	ev, err := configEvent(cfg, "config.start", "")
	if err == nil {
		err = l.Append(ev)
	}
	if err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// configEvent is the audit record of cfg taking effect (action
// config.start, or config.reload from source).
func configEvent(cfg *config.Config, action, source string) (audit.Event, error) {
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return audit.Event{}, fmt.Errorf("audit: config: %w", err)
	}
	sum := sha256.Sum256(b)
	detail := fmt.Sprintf("listen %s, %d providers, %d aliases", cfg.Listen, len(cfg.Providers), len(cfg.Models))
	if source != "" {
		detail += ", from " + source
	}
	return audit.Event{Kind: audit.KindConfig, Actor: "edgeway " + version, Action: action,
		Target: "sha256:" + hex.EncodeToString(sum[:]), Detail: detail}, nil
}

const auditUsage = `usage: edgeway audit <verify|tail> [--config FILE] [--data-dir DIR]

  verify        check the whole hash chain; exit 0 when sound, 1 when broken
                (naming the first record at fault), 3 when it cannot be read
  tail [-n N]   the last N records (default 20) [--format table|json]

They read the data file; while a gateway holds it, they ask that gateway's
admin API instead (found from --config / --listen, with $EDGEWAY_ADMIN_KEY).
`

// Exit codes of audit verify.
const (
	exitBroken     = 1
	exitUsage      = 2
	exitUnreadable = 3
)

func auditCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("edgeway audit "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var df dataFileFlags
	df.register(fs)
	listen := fs.String("listen", "", "address of a running gateway to ask when the data file is in use (default from the config)")
	n, format := 0, ""
	switch sub {
	case "verify":
	case "tail":
		fs.IntVar(&n, "n", 20, "how many records")
		fs.StringVar(&format, "format", "table", "table or json")
	default:
		fmt.Fprintf(stderr, "edgeway audit: unknown command %q\n\n%s", sub, auditUsage)
		return exitUsage
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 || n < 0 || (format != "" && format != "table" && format != "json") {
		fmt.Fprint(stderr, auditUsage)
		return exitUsage
	}
	var (
		sum  audit.Summary
		recs []audit.Record
	)
	db, err := df.open()
	if err != nil {
		// A running gateway holds the file: ask it.
		sum, recs, err = auditViaAPI(&adminFlags{config: df.config, listen: *listen}, sub, n, err)
	} else {
		defer db.Close()
		if sub == "verify" {
			sum, err = audit.Verify(db)
		} else {
			recs, err = audit.Tail(db, n)
		}
	}
	var ce *audit.ChainError
	switch {
	case errors.As(err, &ce):
		fmt.Fprintf(stderr, "edgeway audit %s: %v\n", sub, err)
		return exitBroken
	case err != nil:
		fmt.Fprintf(stderr, "edgeway audit %s: %v\n", sub, err)
		return exitUnreadable
	case sub == "verify":
		fmt.Fprintf(stdout, "audit log sound: %d records, head sha256 %s\n", sum.Records, sum.Head)
		return 0
	}
	if format == "json" {
		enc := json.NewEncoder(stdout)
		for i := range recs {
			if err := enc.Encode(&recs[i]); err != nil {
				return exitUnreadable
			}
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tKIND\tACTION\tACTOR\tTARGET\tCOUNT\tDETAIL")
	for _, r := range recs {
		count := ""
		if r.Count > 0 {
			count = fmt.Sprintf("%d since %s", r.Count, r.Since.Local().Format(time.TimeOnly))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Time.Local().Format(time.DateTime), r.Kind, r.Action, r.Actor, r.Target, count, r.Detail)
	}
	tw.Flush()
	return 0
}

// auditViaAPI does verify or tail through a running gateway's admin API,
// after the data file could not be opened (fileErr).
func auditViaAPI(af *adminFlags, sub string, n int, fileErr error) (audit.Summary, []audit.Record, error) {
	c, err := af.client()
	if err != nil {
		return audit.Summary{}, nil, fmt.Errorf("%v; and the admin API: %w", fileErr, err)
	}
	if sub == "verify" {
		var v server.AuditVerdict
		if err := c.do("GET", "/admin/audit/verify", nil, &v); err != nil {
			return audit.Summary{}, nil, fmt.Errorf("%v; and the admin API: %w", fileErr, err)
		}
		if !v.OK {
			return audit.Summary{}, nil, &audit.ChainError{Seq: v.Seq, Reason: v.Reason}
		}
		return audit.Summary{Records: v.Records, Head: v.Head}, nil, nil
	}
	var out struct {
		Records []audit.Record `json:"records"`
	}
	if err := c.do("GET", fmt.Sprintf("/admin/audit?n=%d", n), nil, &out); err != nil {
		return audit.Summary{}, nil, fmt.Errorf("%v; and the admin API: %w", fileErr, err)
	}
	return audit.Summary{}, out.Records, nil
}
