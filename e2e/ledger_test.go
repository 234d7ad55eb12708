package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/edgeway/edgeway/edge/openai/openaitest"
	"github.com/edgeway/edgeway/sync/usage"
)

// ledgerConfig routes "chat" to a fake cloud whose model the config
// prices at $1 / $2 per million tokens.
func ledgerConfig(cloudURL string) string {
	return providers(cloudProvider("up", "openai-compatible", cloudURL)) +
		"models:\n  chat: [up/fake-model]\nauth:\n  admin_key: " + e2eAdminKey + "\n" +
		"pricing:\n  up/fake-model: {input: 1.00, output: 2.00}\n"
}

// TestUsageReportIsExact: what `edgeway usage` shows is exactly what the
// fake upstream's usage and the price table give, for streamed and whole
// answers alike, per key and per team.
func TestUsageReportIsExact(t *testing.T) {
	cloud := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", Reply: "one two three four five"})
	g := startEdgeway(t, ledgerConfig(cloud.URL()))
	cli(t, g, "teams", "create", "--name", "web")
	key := lastLine(cli(t, g, "keys", "create", "--name", "site", "--team", "web"))
	c := openai.NewClient(option.WithBaseURL(g.URL+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
	ctx := context.Background()
	var in, out int64
	for i := range 3 {
		resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "chat", Messages: userMsg(fmt.Sprint("question ", i))})
		if err != nil {
			t.Fatal(err)
		}
		in, out = in+resp.Usage.PromptTokens, out+resp.Usage.CompletionTokens
	}
	acc, _ := mustStreamChat(t, c, openai.ChatCompletionNewParams{Model: "chat", Messages: userMsg("streamed"),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
	in, out = in+acc.Usage.PromptTokens, out+acc.Usage.CompletionTokens
	if in == 0 || out == 0 {
		t.Fatalf("the fake reported no usage: %d/%d", in, out)
	}
	want := fmt.Sprintf("%.6f", (float64(in)*1+float64(out)*2)/1e6)

	csv := cli(t, g, "usage", "--by", "team", "--format", "csv")
	wantRow := fmt.Sprintf("web,4,0,0,%d,%d,0,%s,0,0", in, out, want)
	if !strings.Contains(csv, wantRow) {
		t.Fatalf("usage csv:\n%s\nwant the row %s", csv, wantRow)
	}
	table := cli(t, g, "usage", "--by", "model")
	if !strings.Contains(table, "up/fake-model") || !strings.Contains(table, want) {
		t.Fatalf("usage table:\n%s", table)
	}
}

// TestOutboxBoundFoldsNeverDrops: a gateway whose link never comes back
// keeps its outbox within ledger.max_bytes by folding the oldest records
// into hourly rollups, says so in `edgeway usage`, and the usage report
// still counts every request, before and after a restart.
func TestOutboxBoundFoldsNeverDrops(t *testing.T) {
	cloud := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", Reply: "a short answer"})
	dir := t.TempDir()
	cfg := ledgerConfig(cloud.URL()) + "ledger: {max_bytes: 65536}\n"
	g := startEdgewayIn(t, dir, cfg)
	const n = 400 // about 170 KB of records
	for i := range n {
		if _, ok := oneAnswer(g.URL, i%2 == 0); !ok {
			t.Fatalf("request %d failed", i)
		}
	}
	check := func(when string) {
		var out struct {
			Rows   []usage.Row `json:"rows"`
			Outbox usage.Stats `json:"outbox"`
		}
		if err := json.Unmarshal([]byte(cli(t, g, "usage", "--format", "json")), &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Rows) != 1 || out.Rows[0].Requests != n {
			t.Fatalf("%s: usage rows %+v, want %d requests", when, out.Rows, n)
		}
		if o := out.Outbox; o.Bytes > 65536 || o.Folded == 0 || o.LastSeq != n {
			t.Fatalf("%s: outbox %+v, want within 65536 bytes, some folded, last seq %d", when, o, n)
		}
		if table := cli(t, g, "usage"); !strings.Contains(table, "folded into hourly rollups") {
			t.Fatalf("%s: the usage table does not say records were folded:\n%s", when, table)
		}
	}
	check("running")
	stop(t, g)
	g = startEdgewayIn(t, dir, cfg)
	check("after a restart")
}

// TestKillNineLosesNoRecord is the drill: clients count the complete
// answers they received (a whole body, or a stream through [DONE]); the
// gateway is killed with SIGKILL after a random number of them, twenty
// times; after each kill every counted answer has its ledger record.
func TestKillNineLosesNoRecord(t *testing.T) {
	// fsync is the default; write (no fdatasync, survives a kill but not
	// a power cut) must survive kill -9 just as well.
	for _, tc := range []struct {
		sync   string
		rounds int
	}{{"fsync", 20}, {"write", 10}} {
		t.Run(tc.sync, func(t *testing.T) { killNine(t, tc.sync, tc.rounds) })
	}
}

func killNine(t *testing.T, syncMode string, rounds int) {
	cloud := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", Reply: "a short answer"})
	dir := t.TempDir()
	const clients = 4
	rng := rand.New(rand.NewPCG(1, 2))
	received := map[string]bool{}
	for round := range rounds {
		g := startEdgewayIn(t, dir, ledgerConfig(cloud.URL())+"ledger: {sync: "+syncMode+"}\n")
		trafficUntilKill(g, clients, 1+rng.IntN(40), func(id string) { received[id] = true })
		// The gateway is dead; read its data file directly.
		recorded := ledgerIDs(t, filepath.Join(dir, "data", "edgeway.db"))
		for id := range received {
			if !recorded[id] {
				t.Fatalf("round %d: answer %s was received but is not in the ledger", round, id)
			}
		}
	}
	if len(received) < rounds {
		t.Fatalf("only %d answers in %d rounds", len(received), rounds)
	}
	t.Logf("%d rounds, %d answers received, 0 lost", rounds, len(received))
}

// trafficUntilKill has clients make requests to g, alternating plain
// and streamed, and SIGKILLs g once killAt complete answers have arrived;
// onAnswer sees each complete answer's request id (one at a time). It
// returns once the process is gone.
func trafficUntilKill(g *gateway, clients, killAt int, onAnswer func(id string)) {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		stop  = make(chan struct{})
		once  sync.Once
		count int
	)
	for w := range clients {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id, ok := oneAnswer(g.URL, (w+i)%2 == 0)
				if !ok {
					continue // cut by the kill: not a received answer
				}
				mu.Lock()
				onAnswer(id)
				count++
				if count == killAt {
					once.Do(func() {
						g.cmd.Process.Kill() // SIGKILL, mid-traffic
						close(stop)
					})
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	<-g.done
}

// oneAnswer makes one request and reports its request id when the answer
// arrived complete.
func oneAnswer(base string, stream bool) (string, bool) {
	body := `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`
	if stream {
		body = `{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	}
	req, _ := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e2eAdminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return "", false
	}
	id := resp.Header.Get("x-request-id")
	if !stream {
		b, err := io.ReadAll(resp.Body)
		return id, err == nil && strings.Contains(string(b), `"finish_reason"`)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == "data: [DONE]" {
			return id, true
		}
	}
	return "", false
}

func ledgerIDs(t *testing.T, path string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	withLedger(t, path, func(l *usage.Ledger) {
		if err := l.Records(0, func(r *usage.Record) bool { ids[r.ID] = true; return true }); err != nil {
			t.Fatal(err)
		}
	})
	return ids
}

// withLedger opens the ledger of a stopped gateway's data file for fn.
func withLedger(t *testing.T, path string, fn func(*usage.Ledger)) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, err := usage.Open(db, usage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fn(l)
}

// TestBudgetAndRateLimits: a team's key hits its budget and gets a 429
// that names the budget, what was spent and when it resets, in the
// client's own SDK; a restart frees nothing; a key's rpm is enforced with
// Retry-After.
func TestBudgetAndRateLimits(t *testing.T) {
	cloud := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", Reply: "one two three four five"})
	dir := t.TempDir()
	g := startEdgewayIn(t, dir, ledgerConfig(cloud.URL()))
	cli(t, g, "teams", "create", "--name", "lab", "--budget-usd", "0.0001", "--period", "1d")
	key := lastLine(cli(t, g, "keys", "create", "--name", "bot", "--team", "lab"))
	fast := lastLine(cli(t, g, "keys", "create", "--name", "burst", "--rpm", "2"))
	ctx := context.Background()
	chat := openai.ChatCompletionNewParams{Model: "chat", Messages: userMsg("hi"), MaxTokens: openai.Int(10)}

	c := openai.NewClient(option.WithBaseURL(g.URL+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
	spent := 0
	var err error
	for ; spent < 100; spent++ {
		if _, err = c.Chat.Completions.New(ctx, chat); err != nil {
			break
		}
	}
	var oe *openai.Error
	if spent == 0 || !errors.As(err, &oe) || oe.StatusCode != 429 {
		t.Fatalf("after %d answers: %v, want a 429", spent, err)
	}
	for _, w := range []string{`team \"lab\" has spent $0.0001`, "of its $0.00 budget for 1d", "it resets at", "budget_exceeded"} {
		if !strings.Contains(oe.RawJSON(), w) {
			t.Errorf("429 body %s lacks %q", oe.RawJSON(), w)
		}
	}
	if oe.Response.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}

	// Restart: the spend is read back from the ledger.
	g.cmd.Process.Signal(syscall.SIGTERM)
	<-g.done
	g = startEdgewayIn(t, dir, ledgerConfig(cloud.URL()))
	c = openai.NewClient(option.WithBaseURL(g.URL+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
	if _, err := c.Chat.Completions.New(ctx, chat); !errors.As(err, &oe) || oe.StatusCode != 429 {
		t.Fatalf("after a restart: %v, want the budget still spent", err)
	}

	f := openai.NewClient(option.WithBaseURL(g.URL+"/v1/"), option.WithAPIKey(fast), option.WithMaxRetries(0))
	for i := range 2 {
		if _, err := f.Chat.Completions.New(ctx, chat); err != nil {
			t.Fatalf("request %d within rpm: %v", i, err)
		}
	}
	if _, err := f.Chat.Completions.New(ctx, chat); !errors.As(err, &oe) || oe.StatusCode != 429 ||
		!strings.Contains(oe.RawJSON(), "allows 2 requests per minute") || oe.Response.Header.Get("Retry-After") == "" {
		t.Fatalf("third request: %v", err)
	}
	// The refusals are in the ledger too: the burst key made three
	// requests, one refused.
	csv := cli(t, g, "usage", "--by", "key", "--format", "csv")
	if !strings.Contains(csv, ",3,1,0,") {
		t.Fatalf("usage by key lacks the burst key's 3 requests, 1 refused:\n%s", csv)
	}
}
