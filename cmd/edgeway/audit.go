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
)

// openAudit opens the audit log and records the config the gateway starts
// with: a hash of its effective form, whose secrets are references or
// redacted, so the log shows when it changed without holding a key.
func openAudit(db *bbolt.DB, cfg *config.Config, log *slog.Logger) (*audit.Log, error) {
	l, err := audit.Open(db, audit.Options{OnError: func(err error) { log.Error("audit", "err", err) }})
	if err != nil {
		return nil, err
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("audit: config: %w", err)
	}
	sum := sha256.Sum256(b)
	detail := fmt.Sprintf("listen %s, %d providers, %d aliases", cfg.Listen, len(cfg.Providers), len(cfg.Models))
	if err := l.Append(audit.Event{Kind: audit.KindConfig, Actor: "edgeway " + version, Action: "config.start",
		Target: "sha256:" + hex.EncodeToString(sum[:]), Detail: detail}); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

const auditUsage = `usage: edgeway audit <verify|tail> [--config FILE] [--data-dir DIR]

  verify        check the whole hash chain; exit 0 when sound, 1 when broken
                (naming the first record at fault), 3 when it cannot be read
  tail [-n N]   the last N records (default 20) [--format table|json]

They open the data file: stop the gateway first.
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
	db, err := df.open()
	if err != nil {
		fmt.Fprintf(stderr, "edgeway audit %s: %v\n", sub, err)
		return exitUnreadable
	}
	defer db.Close()
	if sub == "verify" {
		sum, err := audit.Verify(db)
		var ce *audit.ChainError
		switch {
		case errors.As(err, &ce):
			fmt.Fprintf(stderr, "edgeway audit verify: %v\n", err)
			return exitBroken
		case err != nil:
			fmt.Fprintf(stderr, "edgeway audit verify: %v\n", err)
			return exitUnreadable
		}
		fmt.Fprintf(stdout, "audit log sound: %d records, head sha256 %s\n", sum.Records, sum.Head)
		return 0
	}
	recs, err := audit.Tail(db, n)
	if err != nil {
		fmt.Fprintf(stderr, "edgeway audit tail: %v\n", err)
		return exitUnreadable
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
