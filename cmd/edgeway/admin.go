package main

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgeway/edgeway/board"
	"github.com/edgeway/edgeway/edge/config"
	"github.com/edgeway/edgeway/edge/keys"
	"github.com/edgeway/edgeway/sync/usage"
)

// The keys and teams commands are clients of the running gateway's admin
// API: the gateway owns the data file, so the CLI never opens it. They
// find the gateway from the same config as serve, and authenticate with
// $EDGEWAY_ADMIN_KEY.

// adminClient talks to the admin API.
type adminClient struct {
	base string
	key  string
	hc   *http.Client
}

// adminFlags are the flags every admin command takes.
type adminFlags struct {
	config, listen string
}

func (f *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", os.Getenv("EDGEWAY_CONFIG"), "config file of the gateway to talk to; also $EDGEWAY_CONFIG")
	fs.StringVar(&f.listen, "listen", "", "address of the gateway, overrides the config")
}

// client builds the admin client from the flags.
func (f *adminFlags) client() (*adminClient, error) {
	cfg, err := loadConfig(&commonFlags{config: f.config, listen: f.listen}, board.DetectHost())
	if err != nil {
		return nil, err
	}
	key, err := cfg.Auth.ResolveAdminKey(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, fmt.Errorf("no admin key: set %s to the gateway's admin key", config.AdminKeyEnv)
	}
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", cfg.Listen, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return &adminClient{
		base: "http://" + net.JoinHostPort(host, port),
		key:  key,
		hc:   &http.Client{Timeout: 30 * time.Second},
	}, nil
}

// do sends one admin request and decodes the answer into out.
func (a *adminClient) do(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("is the gateway running? %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("%s (HTTP %d)", e.Error.Message, resp.StatusCode)
		}
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, out)
}

// policyFlags are the flags that set a key's or team's policy.
type policyFlags struct {
	models, providers, tags string
	localOnly               bool
	rpm, tpm                int64
	concurrent              int
	budget                  float64
	period                  string
	pii                     string
}

func (p *policyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.models, "models", "", "comma-separated aliases or provider/model names it may use (default all)")
	fs.StringVar(&p.providers, "providers", "", "comma-separated providers its requests may reach (default all)")
	fs.BoolVar(&p.localOnly, "local-only", false, "never reach a cloud provider")
	fs.Int64Var(&p.rpm, "rpm", 0, "requests per minute (0 = unlimited)")
	fs.Int64Var(&p.tpm, "tpm", 0, "tokens per minute (0 = unlimited)")
	fs.IntVar(&p.concurrent, "max-concurrent", 0, "requests in flight (0 = unlimited)")
	fs.Float64Var(&p.budget, "budget-usd", 0, "spend limit in USD per --period (0 = unlimited)")
	fs.StringVar(&p.period, "period", "", "budget period: 1h, 1d, 1w or 1mo (default 1mo)")
	fs.StringVar(&p.tags, "tags", "", "comma-separated key=value metadata")
	fs.StringVar(&p.pii, "pii", "", "what a prompt with personal data gets: allow, redact-for-cloud, local-only or block (default no scan)")
}

func (p *policyFlags) policy() keys.Policy {
	return keys.Policy{Models: list(p.models), Providers: list(p.providers), LocalOnly: p.localOnly,
		RPM: p.rpm, TPM: p.tpm, MaxConcurrent: p.concurrent, BudgetUSD: p.budget, BudgetPeriod: keys.Period(p.period), PII: p.pii}
}

func (p *policyFlags) tagMap() (map[string]string, error) {
	if p.tags == "" {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range list(p.tags) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("tag %q: want key=value", kv)
		}
		m[k] = v
	}
	return m, nil
}

func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

const keysUsage = `usage: edgeway keys <create|list|revoke|rotate> [flags]

  create --name N [--team T] [--role member|team-admin|admin] [--models a,b]
         [--providers p,q] [--local-only] [--rpm N] [--tpm N] [--max-concurrent N]
         [--budget-usd X --period 1h|1d|1w|1mo] [--expires 30d] [--tags k=v,...]
         [--pii allow|redact-for-cloud|local-only|block]
         prints the new key alone on the last line; it is shown only once
  list   [--team T] [--format table|json]
  revoke ID
  rotate ID     prints the new key alone on the last line

They talk to the running gateway (found from --config / --listen) with $EDGEWAY_ADMIN_KEY.
`

func keysCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("edgeway keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		af               adminFlags
		pf               policyFlags
		name, team, role string
		expires, format  string
	)
	af.register(fs)
	switch sub {
	case "create":
		fs.StringVar(&name, "name", "", "what the key is for (required)")
		fs.StringVar(&team, "team", "", "team the key belongs to")
		fs.StringVar(&role, "role", "member", "member, team-admin or admin")
		fs.StringVar(&expires, "expires", "", "lifetime, e.g. 30d, 2w, 12h (default never)")
		pf.register(fs)
	case "list":
		fs.StringVar(&team, "team", "", "only this team's keys")
		fs.StringVar(&format, "format", "table", "table or json")
	case "revoke", "rotate":
	default:
		fmt.Fprintf(stderr, "edgeway keys: unknown command %q\n\n%s", sub, keysUsage)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "edgeway keys %s: %v\n", sub, err); return 1 }
	c, err := af.client()
	if err != nil {
		return fail(err)
	}
	switch sub {
	case "create":
		if fs.NArg() > 0 {
			return fail(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
		}
		tags, err := pf.tagMap()
		if err != nil {
			return fail(err)
		}
		in := map[string]any{"name": name, "team": team, "role": role, "policy": pf.policy(), "tags": tags, "expires": expires}
		var out struct {
			Secret string `json:"key"`
			keys.Key
		}
		if err := c.do("POST", "/admin/keys", in, &out); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "created key %s (%s, %s) for %q; it is shown only this once:\n%s\n", out.ID, out.Prefix+"…", out.Role, out.Name, out.Secret)
	case "list":
		q := ""
		if team != "" {
			q = "?team=" + team
		}
		var out struct {
			Keys []keys.Key `json:"keys"`
		}
		if err := c.do("GET", "/admin/keys"+q, nil, &out); err != nil {
			return fail(err)
		}
		if format == "json" {
			return printJSON(stdout, out)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPREFIX\tNAME\tTEAM\tROLE\tSTATE\tCREATED")
		now := time.Now()
		for _, k := range out.Keys {
			state := "active"
			switch {
			case !k.Revoked.IsZero():
				state = "revoked"
			case !k.Expires.IsZero() && !now.Before(k.Expires):
				state = "expired"
			}
			fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, k.Name, k.Team, k.Role, state, k.Created.Format(time.DateTime))
		}
		tw.Flush()
	case "revoke", "rotate":
		if fs.NArg() != 1 {
			return fail(errors.New("want one key id (see edgeway keys list)"))
		}
		var out struct {
			Secret string `json:"key"`
			keys.Key
		}
		if err := c.do("POST", "/admin/keys/"+fs.Arg(0)+"/"+sub, nil, &out); err != nil {
			return fail(err)
		}
		if sub == "revoke" {
			fmt.Fprintf(stdout, "revoked key %s (%s…, %q)\n", out.ID, out.Prefix, out.Name)
			return 0
		}
		fmt.Fprintf(stdout, "rotated key %s; the old key no longer works. The new one, shown only this once:\n%s\n", out.ID, out.Secret)
	}
	return 0
}

const teamsUsage = `usage: edgeway teams <create|list|set> [flags]

  create --name N [--models a,b] [--providers p,q] [--local-only] [--rpm N] [--tpm N]
         [--max-concurrent N] [--budget-usd X --period 1h|1d|1w|1mo] [--tags k=v,...]
         [--pii allow|redact-for-cloud|local-only|block]
  list   [--format table|json]
  set    NAME [the same policy flags: the team's whole policy is replaced]
`

func teamsCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, teamsUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("edgeway teams "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		af           adminFlags
		pf           policyFlags
		name, format string
	)
	af.register(fs)
	switch sub {
	case "create":
		fs.StringVar(&name, "name", "", "team name (required)")
		pf.register(fs)
	case "set":
		pf.register(fs)
	case "list":
		fs.StringVar(&format, "format", "table", "table or json")
	default:
		fmt.Fprintf(stderr, "edgeway teams: unknown command %q\n\n%s", sub, teamsUsage)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "edgeway teams %s: %v\n", sub, err); return 1 }
	c, err := af.client()
	if err != nil {
		return fail(err)
	}
	switch sub {
	case "create", "set":
		method, path := "POST", "/admin/teams"
		if sub == "set" {
			if fs.NArg() != 1 {
				return fail(errors.New("want one team name"))
			}
			name, method, path = fs.Arg(0), "PUT", "/admin/teams/"+fs.Arg(0)
		} else if fs.NArg() > 0 {
			return fail(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
		}
		tags, err := pf.tagMap()
		if err != nil {
			return fail(err)
		}
		var out keys.Team
		if err := c.do(method, path, keys.Team{Name: name, Policy: pf.policy(), Tags: tags}, &out); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "team %s %sd\n", out.Name, sub)
	case "list":
		var out struct {
			Teams []keys.Team `json:"teams"`
		}
		if err := c.do("GET", "/admin/teams", nil, &out); err != nil {
			return fail(err)
		}
		if format == "json" {
			return printJSON(stdout, out)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tMODELS\tLOCAL-ONLY\tRPM\tTPM\tBUDGET\tCREATED")
		for _, t := range out.Teams {
			p := t.Policy
			budget := "-"
			if p.BudgetUSD > 0 {
				budget = fmt.Sprintf("$%.2f/%s", p.BudgetUSD, p.BudgetPeriod)
			}
			models := strings.Join(p.Models, ",")
			if models == "" {
				models = "all"
			}
			fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%d\t%s\t%s\n", t.Name, models, p.LocalOnly, p.RPM, p.TPM, budget, t.Created.Format(time.DateTime))
		}
		tw.Flush()
	}
	return 0
}

func printJSON(w io.Writer, v any) int {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return 1
	}
	return 0
}

const usageCmdText = `usage: edgeway usage [--by key|team|model|provider] [--since 7d] [--format table|json|csv]

Sums the usage ledger of the running gateway (hourly totals: --since counts
from the start of the hour). Cost "unknown" counts requests to models with
no price: the sum leaves them out rather than call them free.
`

func usageCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edgeway usage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usageCmdText); fs.PrintDefaults() }
	var (
		af                adminFlags
		by, since, format string
	)
	af.register(fs)
	fs.StringVar(&by, "by", "key", "group by key, team, model or provider")
	fs.StringVar(&since, "since", "7d", "how far back, e.g. 24h, 7d, 4w")
	fs.StringVar(&format, "format", "table", "table, json or csv")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "edgeway usage: %v\n", err); return 1 }
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if format != "table" && format != "json" && format != "csv" {
		return fail(fmt.Errorf("format %q: want table, json or csv", format))
	}
	c, err := af.client()
	if err != nil {
		return fail(err)
	}
	var out struct {
		Since  time.Time    `json:"since"`
		Rows   []usage.Row  `json:"rows"`
		Outbox *usage.Stats `json:"outbox,omitempty"`
	}
	if err := c.do("GET", "/admin/usage?by="+url.QueryEscape(by)+"&since="+url.QueryEscape(since), nil, &out); err != nil {
		return fail(err)
	}
	if format == "json" {
		return printJSON(stdout, out)
	}
	if format == "table" {
		fmt.Fprintf(stdout, "usage since %s, by %s\n", out.Since.Local().Format(time.DateTime), by)
	}
	printRows(stdout, format, by, out.Rows)
	if format == "csv" {
		return 0
	}
	if o := out.Outbox; o != nil {
		fmt.Fprintf(stdout, "outbox: %d records (%.1f KiB) not yet delivered to the fleet", o.Records, float64(o.Bytes)/1024)
		if o.Folded > 0 {
			fmt.Fprintf(stdout, "; %d records folded into hourly rollups when it reached ledger.max_bytes", o.Folded)
		}
		fmt.Fprintln(stdout)
	}
	return 0
}

// printRows writes a usage report's rows as a table with a total and
// notes on unknown costs and estimates, or as CSV.
func printRows(stdout io.Writer, format, by string, rows []usage.Row) {
	if format == "csv" {
		w := csv.NewWriter(stdout)
		w.Write([]string{by, "requests", "errors", "cache_hits", "tokens_in", "tokens_out", "tokens_cached", "cost_usd", "unknown_cost_requests", "estimated_requests"})
		for _, r := range rows {
			w.Write([]string{r.Group, itoa(r.Requests), itoa(r.Errors), itoa(r.CacheHits), itoa(r.TokensIn), itoa(r.TokensOut),
				itoa(r.TokensCached), strconv.FormatFloat(r.CostUSD, 'f', 6, 64), itoa(r.UnknownCost), itoa(r.Estimated)})
		}
		w.Flush()
		return
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.ToUpper(by)+"\tREQUESTS\tERRORS\tHITS\tTOKENS IN\tTOKENS OUT\tCOST USD\t")
	var total usage.Totals
	for _, r := range rows {
		total.Add(r.Totals)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t\n", cmp.Or(r.Group, "-"), r.Requests, r.Errors, r.CacheHits, r.TokensIn, r.TokensOut, cost(r.Totals))
	}
	fmt.Fprintf(tw, "TOTAL\t%d\t%d\t%d\t%d\t%d\t%s\t\n", total.Requests, total.Errors, total.CacheHits, total.TokensIn, total.TokensOut, cost(total))
	tw.Flush()
	if total.UnknownCost > 0 {
		fmt.Fprintf(stdout, "cost unknown for %d requests: their models have no price (add one under pricing: in the config)\n", total.UnknownCost)
	}
	if total.Estimated > 0 {
		fmt.Fprintf(stdout, "%d requests' tokens are estimates: their provider reported no usage\n", total.Estimated)
	}
}

// cost shows a sum of known costs, marked when some are unknown.
func cost(t usage.Totals) string {
	s := fmt.Sprintf("%.6f", t.CostUSD)
	if t.UnknownCost > 0 {
		s += fmt.Sprintf(" + unknown (%d)", t.UnknownCost)
	}
	return s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
