package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// report collects every figure the benchmark prints.
type report struct {
	Started                time.Time
	Opts                   *options
	Rows                   []runRow
	Memory                 memoryFigures
	Offline                *offlineResult
	Targets                []target
	EdgewayLog, OfflineLog string
	failed                 bool // the benchmark stopped on an error
}

// runRow is one connection count measured directly, through the
// pass-through proxy and through edgeway.
type runRow struct {
	Kind    string // "chat", "stream" or "hit" (through the exact cache)
	Conns   int
	direct  *loadResult
	proxy   *loadResult
	edgeway *loadResult
	targets []target
}

type memoryFigures struct {
	IdleKB, AfterKB, PeakKB int64
}

// target is one pass/fail check against the goals.
type target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	OK   bool   `json:"ok"`
}

func newReport(o *options) *report {
	return &report{Started: time.Now(), Opts: o}
}

// Ratio returns edgeway req/s over direct req/s.
func (r *runRow) Ratio() float64 { return ratio(r.edgeway, r.direct) }

// ProxyRatio returns edgeway req/s over the pass-through proxy's.
func (r *runRow) ProxyRatio() float64 { return ratio(r.edgeway, r.proxy) }

func ratio(a, b *loadResult) float64 {
	if b == nil || b.ReqPerSec() == 0 {
		return 0
	}
	return a.ReqPerSec() / b.ReqPerSec()
}

// AddedP50 returns edgeway's p50 minus the direct p50.
func (r *runRow) AddedP50() time.Duration {
	return r.edgeway.Hist.Percentile(50) - r.direct.Hist.Percentile(50)
}

func (rep *report) add(row runRow) {
	if row.Kind == "chat" && row.Conns >= targetRatioConns {
		row.targets = append(row.targets, target{
			Name: fmt.Sprintf("chat c=%d req/s ratio", row.Conns),
			Want: fmt.Sprintf("≥ %.2f", targetRatio),
			Got:  fmt.Sprintf("%.2f", row.Ratio()),
			OK:   row.Ratio() >= targetRatio,
		})
	}
	if row.Kind == "chat" && row.Conns <= targetAddedConns {
		row.targets = append(row.targets, target{
			Name: fmt.Sprintf("chat c=%d added p50", row.Conns),
			Want: "≤ " + fmtDur(targetAddedP50),
			Got:  fmtDur(row.AddedP50()),
			OK:   row.AddedP50() <= targetAddedP50,
		})
	}
	if want := map[string]float64{"chat": targetProxyWhole, "stream": targetProxyStream}[row.Kind]; want > 0 && row.Conns >= targetRatioConns {
		row.targets = append(row.targets, target{
			Name: fmt.Sprintf("%s c=%d vs proxy", row.Kind, row.Conns),
			Want: fmt.Sprintf("≥ %.2f", want),
			Got:  fmt.Sprintf("%.2f", row.ProxyRatio()),
			OK:   row.ProxyRatio() >= want,
		})
	}
	if row.Kind == "hit" {
		// A cache hit must beat asking the upstream.
		row.targets = append(row.targets, target{
			Name: fmt.Sprintf("cache hit c=%d req/s ratio", row.Conns),
			Want: fmt.Sprintf("≥ %.2f", targetHitRatio),
			Got:  fmt.Sprintf("%.2f", row.Ratio()),
			OK:   row.Ratio() >= targetHitRatio,
		})
	}
	for _, res := range []*loadResult{row.direct, row.proxy, row.edgeway} {
		if res.Errors > 0 {
			row.targets = append(row.targets, target{
				Name: fmt.Sprintf("%s c=%d errors", row.Kind, row.Conns), Want: "0",
				Got: strconv.FormatUint(res.Errors, 10),
			})
			break
		}
	}
	rep.Rows = append(rep.Rows, row)
	rep.Targets = append(rep.Targets, row.targets...)
}

func (rep *report) memoryTargets() []target {
	if rep.Memory.IdleKB == 0 {
		return nil
	}
	ts := []target{{
		Name: "idle RSS", Want: "≤ " + fmtKB(targetIdleRSSKB), Got: fmtKB(rep.Memory.IdleKB),
		OK: rep.Memory.IdleKB <= targetIdleRSSKB,
	}}
	if rep.Memory.PeakKB > 0 {
		ts = append(ts, target{
			Name: "peak RSS (VmHWM)", Want: "≤ " + fmtKB(targetPeakRSSKB), Got: fmtKB(rep.Memory.PeakKB),
			OK: rep.Memory.PeakKB <= targetPeakRSSKB,
		})
	}
	return ts
}

func (rep *report) setOffline(res *offlineResult) {
	if res == nil {
		return
	}
	rep.Offline = res
	p99 := res.Hist.Percentile(99)
	rep.Targets = append(rep.Targets,
		target{
			Name: "offline 503 p99", Want: "≤ " + fmtDur(targetOfflineP99), Got: fmtDur(p99),
			OK: res.Got503 > 0 && p99 <= targetOfflineP99,
		},
		target{
			Name: "offline answers", Want: fmt.Sprintf("%d × 503", offlineRequests),
			Got: fmt.Sprintf("%d × 503, %d other", res.Got503, offlineRequests-res.Got503),
			OK:  res.Got503 == offlineRequests,
		},
		target{
			Name: "offline body names", Want: strings.Join(offlineTargets, " and "),
			Got: mentionList(res.Mentions), OK: res.mentionsAll(),
		})
}

func mentionList(m map[string]bool) string {
	var parts []string
	for _, t := range offlineTargets {
		parts = append(parts, fmt.Sprintf("%s:%s", t, yesNo(m[t])))
	}
	return strings.Join(parts, " ")
}

func (rep *report) allTargets() []target {
	return append(slices.Clone(rep.Targets), rep.memoryTargets()...)
}

// print writes the human-readable tables.
func (rep *report) print(w io.Writer) {
	o := rep.Opts
	fmt.Fprintf(w, "\nedgeway load benchmark: %d CPUs, %s, %v per run after %v warm-up, fake upstream openaitest (fasthttp)\n",
		runtime.NumCPU(), goVersion, o.duration, o.warmup)
	fmt.Fprintln(w, "load generator, fake upstream and edgeway share the CPUs: compare ratios within this run only")
	if len(rep.Rows) > 0 {
		rep.printRows(w)
	}

	m := rep.Memory
	if m.IdleKB > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "edgeway memory: idle RSS %s, peak RSS (VmHWM) %s, RSS after load %s\n",
			fmtKB(m.IdleKB), orDash(m.PeakKB, fmtKB), orDash(m.AfterKB, fmtKB))
	}

	if off := rep.Offline; off != nil {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "offline fail-fast: providers at closed ports, chat: [ollama/tiny, cloud/gpt-4o-mini]")
		fmt.Fprintf(w, "  warm-up statuses: %v\n", off.WarmupStatuses)
		other := "none"
		if len(off.Other) > 0 {
			other = statusListInt(off.Other) + "; first: " + off.FirstOther
		}
		fmt.Fprintf(w, "  %d sequential requests: %d × 503, other: %s\n", offlineRequests, off.Got503, other)
		if off.Got503 > 0 {
			fmt.Fprintf(w, "  503 latency: p50 %s  p99 %s  max %s\n",
				fmtDur(off.Hist.Percentile(50)), fmtDur(off.Hist.Percentile(99)), fmtDur(off.Hist.Max()))
			fmt.Fprintf(w, "  503 body: %s\n", off.Body)
		}
	}

	ts := rep.allTargets()
	if len(ts) > 0 {
		met := 0
		fmt.Fprintln(w)
		fmt.Fprintln(w, "targets:")
		for _, t := range ts {
			mark := "MISS"
			if t.OK {
				mark = "ok"
				met++
			}
			fmt.Fprintf(w, "  %-4s %-26s want %-28s got %s\n", mark, t.Name, t.Want, t.Got)
		}
		fmt.Fprintf(w, "%d of %d targets met\n", met, len(ts))
	}

	if rep.needsLog() {
		if rep.EdgewayLog != "" {
			fmt.Fprintf(w, "\n--- edgeway log (bounded) ---\n%s--- end of edgeway log ---\n", rep.EdgewayLog)
		}
		if rep.OfflineLog != "" {
			fmt.Fprintf(w, "\n--- offline edgeway log (bounded) ---\n%s--- end of offline edgeway log ---\n", rep.OfflineLog)
		}
	}
}

// printRows writes the load table.
func (rep *report) printRows(w io.Writer) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-6s %5s | %-41s | %-41s | %-41s | %5s %5s %9s\n", "", "",
		center("direct to fake", 41), center("pass-through proxy", 41), center("through edgeway", 41), "", "vs", "")
	fmt.Fprintf(w, "%-6s %5s | %8s %8s %8s %8s %5s | %8s %8s %8s %8s %5s | %8s %8s %8s %8s %5s | %5s %5s %9s\n",
		"run", "conns", "req/s", "p50", "p90", "p99", "errs", "req/s", "p50", "p90", "p99", "errs", "req/s", "p50", "p90", "p99", "errs", "ratio", "proxy", "+p50")
	fmt.Fprintln(w, strings.Repeat("-", 175))
	for _, r := range rep.Rows {
		fmt.Fprintf(w, "%-6s %5d | %s | %s | %s | %5.2f %5.2f %9s %s\n", r.Kind, r.Conns,
			loadCols(r.direct), loadCols(r.proxy), loadCols(r.edgeway), r.Ratio(), r.ProxyRatio(), fmtDurSigned(r.AddedP50()), rowMarks(r.targets))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CPU time (user+sys) per request over the window; bench = load generator + fake upstream, one process:")
	fmt.Fprintf(w, "%-6s %5s | %14s | %14s | %14s %16s %14s\n", "run", "conns", "direct: bench", "proxy: proxy", "via: bench", "via: edgeway", "edgeway cores")
	for _, r := range rep.Rows {
		dSelf, _, dOK := r.direct.CPUPerReq()
		_, pPx, pOK := r.proxy.CPUPerReq()
		vSelf, vEw, vOK := r.edgeway.CPUPerReq()
		cores := "-"
		if r.edgeway.CPUOK && r.edgeway.Window > 0 {
			cores = fmt.Sprintf("%.2f", r.edgeway.CPU.Edgeway.Seconds()/r.edgeway.Window.Seconds())
		}
		fmt.Fprintf(w, "%-6s %5d | %14s | %14s | %14s %16s %14s\n", r.Kind, r.Conns,
			durIf(dSelf, dOK), durIf(pPx, pOK), durIf(vSelf, vOK), durIf(vEw, vOK), cores)
	}
	for _, r := range rep.Rows {
		for _, x := range []struct {
			name string
			res  *loadResult
		}{{"direct", r.direct}, {"proxy", r.proxy}, {"edgeway", r.edgeway}} {
			if x.res.Errors == 0 {
				continue
			}
			fmt.Fprintf(w, "  errors %s c=%d %s: %d (%s); first: %s\n", r.Kind, r.Conns, x.name,
				x.res.Errors, statusList(x.res.Statuses), x.res.FirstErr)
		}
	}
}

// needsLog reports whether something went wrong enough to show the logs.
func (rep *report) needsLog() bool {
	if rep.failed {
		return true
	}
	for _, t := range rep.Targets {
		if !t.OK && !strings.Contains(t.Name, "ratio") && !strings.Contains(t.Name, "p50") && !strings.Contains(t.Name, "p99") {
			return true // errors or wrong answers, not just slowness
		}
	}
	return false
}

func loadCols(r *loadResult) string {
	return fmt.Sprintf("%8.0f %8s %8s %8s %5d", r.ReqPerSec(),
		fmtDur(r.Hist.Percentile(50)), fmtDur(r.Hist.Percentile(90)), fmtDur(r.Hist.Percentile(99)), r.Errors)
}

func rowMarks(ts []target) string {
	var parts []string
	for _, t := range ts {
		mark := "ok"
		if !t.OK {
			mark = "MISS"
		}
		name := t.Name[strings.LastIndexByte(t.Name, ' ')+1:]
		if strings.HasSuffix(t.Name, "added p50") {
			name = "+p50"
		}
		parts = append(parts, name+" "+mark)
	}
	return strings.Join(parts, ", ")
}

func statusList(m map[int]uint64) string {
	conv := make(map[int]int, len(m))
	for k, v := range m {
		conv[k] = int(v)
	}
	return statusListInt(conv)
}

func statusListInt(m map[int]int) string {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", statusName(k), m[k]))
	}
	return strings.Join(parts, " ")
}

func statusName(s int) string {
	switch s {
	case 0:
		return "transport"
	case -1:
		return "no-[DONE]"
	}
	return strconv.Itoa(s)
}

// fmtDur prints a latency with 3 significant figures in µs or ms.
func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + fmtDur(-d)
	case d < 10*time.Microsecond:
		return fmt.Sprintf("%.2fµs", float64(d)/1e3)
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func durIf(d time.Duration, ok bool) string {
	if !ok {
		return "-"
	}
	return fmtDur(d)
}

func fmtDurSigned(d time.Duration) string {
	if d >= 0 {
		return "+" + fmtDur(d)
	}
	return fmtDur(d)
}

func fmtKB(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }

func orDash(v int64, f func(int64) string) string {
	if v == 0 {
		return "-"
	}
	return f(v)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func center(s string, n int) string {
	pad := n - len([]rune(s))
	if pad <= 0 {
		return s
	}
	return strings.Repeat(" ", pad/2) + s + strings.Repeat(" ", pad-pad/2)
}

// JSON view: durations in microseconds, memory in KiB.

type jsonLoad struct {
	ReqPerSec float64           `json:"req_per_sec"`
	OK        uint64            `json:"ok"`
	Errors    uint64            `json:"errors"`
	Statuses  map[string]uint64 `json:"error_statuses,omitempty"`
	FirstErr  string            `json:"first_error,omitempty"`
	P50us     float64           `json:"p50_us"`
	P90us     float64           `json:"p90_us"`
	P99us     float64           `json:"p99_us"`
	MaxUs     float64           `json:"max_us"`
	MeanUs    float64           `json:"mean_us"`
	WindowS   float64           `json:"window_s"`
	Truncated bool              `json:"truncated,omitempty"`
	// CPU time per successful request over the window, when sampled.
	BenchCPUPerReqUs   *float64 `json:"bench_cpu_per_req_us,omitempty"`
	EdgewayCPUPerReqUs *float64 `json:"edgeway_cpu_per_req_us,omitempty"`
	EdgewayCores       *float64 `json:"edgeway_cores,omitempty"`
}

type jsonRow struct {
	Kind       string   `json:"kind"`
	Stream     bool     `json:"stream"`
	Conns      int      `json:"conns"`
	Direct     jsonLoad `json:"direct"`
	Proxy      jsonLoad `json:"proxy"`
	Edgeway    jsonLoad `json:"edgeway"`
	Ratio      float64  `json:"ratio"`
	ProxyRatio float64  `json:"proxy_ratio"`
	AddedP50us float64  `json:"added_p50_us"`
	Targets    []target `json:"targets,omitempty"`
}

type jsonOffline struct {
	WarmupStatuses []int           `json:"warmup_statuses"`
	Requests       int             `json:"requests"`
	Got503         int             `json:"got_503"`
	Other          map[string]int  `json:"other_statuses,omitempty"`
	P50us          float64         `json:"p50_us"`
	P99us          float64         `json:"p99_us"`
	MaxUs          float64         `json:"max_us"`
	Body           string          `json:"body"`
	Mentions       map[string]bool `json:"mentions"`
}

type jsonReport struct {
	Started     time.Time    `json:"started"`
	Go          string       `json:"go"`
	CPUs        int          `json:"cpus"`
	Edgeway     string       `json:"edgeway"`
	DurationS   float64      `json:"duration_s"`
	WarmupS     float64      `json:"warmup_s"`
	Upstream    string       `json:"upstream"`
	Runs        []jsonRow    `json:"runs"`
	IdleRSSKB   int64        `json:"idle_rss_kb"`
	PeakRSSKB   int64        `json:"peak_rss_kb"`
	AfterRSSKB  int64        `json:"after_load_rss_kb"`
	Offline     *jsonOffline `json:"offline,omitempty"`
	Targets     []target     `json:"targets"`
	TargetsMet  int          `json:"targets_met"`
	TargetCount int          `json:"target_count"`
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

func toJSONLoad(r *loadResult) jsonLoad {
	j := jsonLoad{
		ReqPerSec: r.ReqPerSec(), OK: r.OK, Errors: r.Errors, FirstErr: r.FirstErr,
		P50us: us(r.Hist.Percentile(50)), P90us: us(r.Hist.Percentile(90)), P99us: us(r.Hist.Percentile(99)),
		MaxUs: us(r.Hist.Max()), MeanUs: us(r.Hist.Mean()), WindowS: r.Window.Seconds(), Truncated: r.Truncated,
	}
	if self, ew, ok := r.CPUPerReq(); ok {
		a, b := us(self), us(ew)
		j.BenchCPUPerReqUs, j.EdgewayCPUPerReqUs = &a, &b
		if r.Window > 0 {
			c := r.CPU.Edgeway.Seconds() / r.Window.Seconds()
			j.EdgewayCores = &c
		}
	}
	if len(r.Statuses) > 0 {
		j.Statuses = make(map[string]uint64, len(r.Statuses))
		for k, v := range r.Statuses {
			j.Statuses[statusName(k)] = v
		}
	}
	return j
}

func (rep *report) jsonView() *jsonReport {
	o := rep.Opts
	j := &jsonReport{
		Started: rep.Started.UTC(), Go: goVersion, CPUs: runtime.NumCPU(), Edgeway: o.edgeway,
		DurationS: o.duration.Seconds(), WarmupS: o.warmup.Seconds(), Upstream: "openaitest fasthttp",
		IdleRSSKB: rep.Memory.IdleKB, PeakRSSKB: rep.Memory.PeakKB, AfterRSSKB: rep.Memory.AfterKB,
		Targets: rep.allTargets(), Runs: []jsonRow{},
	}
	for _, r := range rep.Rows {
		j.Runs = append(j.Runs, jsonRow{
			Kind: r.Kind, Stream: r.Kind == "stream", Conns: r.Conns,
			Direct: toJSONLoad(r.direct), Proxy: toJSONLoad(r.proxy), Edgeway: toJSONLoad(r.edgeway),
			Ratio: r.Ratio(), ProxyRatio: r.ProxyRatio(), AddedP50us: us(r.AddedP50()), Targets: r.targets,
		})
	}
	if off := rep.Offline; off != nil {
		jo := &jsonOffline{
			WarmupStatuses: off.WarmupStatuses, Requests: offlineRequests, Got503: off.Got503,
			P50us: us(off.Hist.Percentile(50)), P99us: us(off.Hist.Percentile(99)), MaxUs: us(off.Hist.Max()),
			Body: off.Body, Mentions: off.Mentions,
		}
		if len(off.Other) > 0 {
			jo.Other = make(map[string]int, len(off.Other))
			for k, v := range off.Other {
				jo.Other[statusName(k)] = v
			}
		}
		j.Offline = jo
	}
	for _, t := range j.Targets {
		if t.OK {
			j.TargetsMet++
		}
	}
	j.TargetCount = len(j.Targets)
	return j
}
