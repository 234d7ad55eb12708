package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/edge/openai/openaitest"
	"github.com/edgeway/edgeway/edge/testkit"
)

// run runs the edgeway binary with stdin and returns its stdout, stderr
// and exit code.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(edgewayBin(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("edgeway %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// stop ends the gateway with SIGTERM and waits for it, so its data file
// is free for the CLI.
func stop(t *testing.T, g *gateway) {
	t.Helper()
	g.cmd.Process.Signal(syscall.SIGTERM)
	testkit.Closed(t, "edgeway to stop", g.done)
}

// masterKey sets a fresh master key in the environment the gateway and
// the CLI inherit.
func masterKey(t *testing.T) {
	k := make([]byte, 32)
	rand.Read(k)
	t.Setenv("EDGEWAY_MASTER_KEY", base64.StdEncoding.EncodeToString(k))
	t.Setenv("EDGEWAY_MASTER_KEY_FILE", "")
}

// TestSecretsNeverInPlaintext stores a provider key with the CLI, runs
// the gateway on it (the fake cloud accepts only that key, so a good
// answer proves it was decrypted), drives every surface a key could leak
// through (answers to good, bad, unauthorised and failing requests, the
// admin API, /readyz, /metrics, the CLI, the process's output) and finally
// greps all of them and the raw bytes of the data file for the plaintext.
func TestSecretsNeverInPlaintext(t *testing.T) {
	masterKey(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	rnd := make([]byte, 12)
	rand.Read(rnd)
	plain := "sk-e2e-plaintext-" + hex.EncodeToString(rnd)
	// What grep looks for: the key, and a long piece of it on its own.
	needles := []string{plain, plain[len(plain)-16:]}

	var seen strings.Builder // every byte the test got back
	out, errs, code := run(t, plain+"\n", "secrets", "set", "cloudkey", "--data-dir", data)
	if code != 0 {
		t.Fatalf("secrets set: exit %d\n%s%s", code, out, errs)
	}
	seen.WriteString(out + errs)

	cloud := openaitest.NewT(t, openaitest.Options{APIKey: plain, Reply: "decrypted fine"})
	picky := openaitest.NewT(t, openaitest.Options{APIKey: "sk-something-else"})
	cfg := providers(
		"  - name: cloud\n    type: openai\n    base_url: "+cloud.URL()+"\n    api_key: secret:cloudkey\n",
		"  - name: picky\n    type: openai\n    base_url: "+picky.URL()+"\n    api_key: secret:cloudkey\n",
		"  - name: down\n    type: openai\n    base_url: "+closedURL(t, "")+"\n    api_key: secret:cloudkey\n",
	) + "auth:\n  admin_key: " + e2eAdminKey + "\n"
	g := startEdgewayIn(t, dir, cfg)
	key := lastLine(cli(t, g, "keys", "create", "--name", "app"))

	ctx := context.Background()
	hc := testkit.Client(t, 30*time.Second)
	chat := func(model string) string {
		return `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
	}
	do := func(method, path, body string, hdr ...string) testkit.Result {
		r := testkit.Do(t, ctx, hc, method, g.URL+path, body, hdr...)
		if r.Err != nil {
			t.Fatalf("%s %s: %v", method, path, r.Err)
		}
		fmt.Fprintf(&seen, "%d\n", r.Status)
		for k, v := range r.Header {
			fmt.Fprintf(&seen, "%s: %s\n", k, strings.Join(v, ", "))
		}
		seen.Write(r.Body)
		return r
	}
	bearer := []string{"Authorization", "Bearer " + key}
	admin := []string{"Authorization", "Bearer " + e2eAdminKey}
	if r := do("POST", "/v1/chat/completions", chat("cloud/gpt-4o-mini"), bearer...); r.Status != 200 || !strings.Contains(string(r.Body), "decrypted fine") {
		t.Fatalf("through the stored key: %d %s", r.Status, r.Body)
	}
	if r := do("POST", "/v1/chat/completions", `{"model":"cloud/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`, bearer...); r.Status != 200 {
		t.Fatalf("stream: %d %s", r.Status, r.Body)
	}
	// The upstream refuses the key: an error that is about the key.
	if r := do("POST", "/v1/chat/completions", chat("picky/gpt-4o-mini"), bearer...); r.Status < 400 {
		t.Fatalf("picky upstream: %d %s", r.Status, r.Body)
	}
	if r := do("POST", "/v1/messages", `{"model":"picky/gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, "x-api-key", key); r.Status < 400 {
		t.Fatalf("picky upstream, anthropic: %d %s", r.Status, r.Body)
	}
	if r := do("POST", "/v1/chat/completions", chat("down/gpt-4o-mini"), bearer...); r.Status < 400 {
		t.Fatalf("down upstream: %d %s", r.Status, r.Body)
	}
	if r := do("POST", "/v1/chat/completions", chat("nope/x"), bearer...); r.Status < 400 {
		t.Fatalf("unknown model: %d", r.Status)
	}
	if r := do("POST", "/v1/chat/completions", chat("cloud/gpt-4o-mini"), "Authorization", "Bearer "+plain); r.Status != 401 {
		t.Fatalf("the provider key as a gateway key: %d", r.Status)
	}
	for _, p := range []string{"/readyz", "/healthz", "/metrics", "/v1/models"} {
		do("GET", p, "", bearer...)
	}
	for _, p := range []string{"/admin/keys", "/admin/teams", "/admin/usage?by=provider"} {
		if r := do("GET", p, "", admin...); r.Status != 200 {
			t.Fatalf("%s: %d %s", p, r.Status, r.Body)
		}
	}
	seen.WriteString(cli(t, g, "usage", "--by", "provider"))
	stop(t, g)
	for _, args := range [][]string{{"secrets", "list"}, {"audit", "tail", "-n", "100"}, {"audit", "verify"}} {
		out, errs, code := run(t, "", append(args, "--data-dir", data)...)
		if code != 0 {
			t.Fatalf("%v: exit %d %s", args, code, errs)
		}
		seen.WriteString(out + errs)
	}
	if out, _, _ := run(t, "", "secrets", "list", "--data-dir", data); !strings.Contains(out, "cloudkey") {
		t.Errorf("secrets list does not name the secret:\n%s", out)
	}
	if tail, _, _ := run(t, "", "audit", "tail", "--data-dir", data); !strings.Contains(tail, "secret.set") {
		t.Errorf("audit tail does not record secrets set:\n%s", tail)
	}

	raw, err := os.ReadFile(filepath.Join(data, "edgeway.db"))
	if err != nil {
		t.Fatal(err)
	}
	surfaces := map[string]string{
		"the answers and the CLI":       seen.String(),
		"the gateway's logs and output": g.out.String(),
		"the raw data file":             string(raw),
	}
	for where, text := range surfaces {
		for _, n := range needles {
			if strings.Contains(text, n) {
				t.Errorf("%s hold the provider key", where)
			}
		}
	}
	for _, enc := range []string{base64.StdEncoding.EncodeToString([]byte(plain)), hex.EncodeToString([]byte(plain))} {
		if bytes.Contains(raw, []byte(enc)) {
			t.Error("the data file holds the provider key encoded")
		}
	}
	t.Logf("grepped %d bytes of answers, %d of output, %d of data file", seen.Len(), len(g.out.String()), len(raw))
	if len(seen.String()) < 2000 || !strings.Contains(g.out.String(), "listening") {
		t.Fatalf("the grep covered too little: %d bytes of answers", seen.Len())
	}

	// A wrong master key stops the start with a clear error.
	masterKey(t)
	_, errs, code = run(t, "", "serve", "--config", g.Config)
	if code == 0 || !strings.Contains(errs, "master key is not the one") || strings.Contains(errs, plain) {
		t.Errorf("serve with another master key: exit %d\n%s", code, errs)
	}
}

// auditRecord is what audit tail --format json prints per line.
type auditRecord struct {
	Seq                         uint64
	Kind, Actor, Action, Target string
	Detail                      string
	Count                       int
}

func auditTail(t *testing.T, data string) []auditRecord {
	t.Helper()
	out, errs, code := run(t, "", "audit", "tail", "-n", "1000", "--format", "json", "--data-dir", data)
	if code != 0 {
		t.Fatalf("audit tail: exit %d %s", code, errs)
	}
	var recs []auditRecord
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var r auditRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestAuditLog: admin changes, the config at start, 401s (with the key's
// prefix only) and 429s land in the chain; verify passes on it and fails,
// naming the record, once a record's bytes are edited in the file, one is
// deleted or two are swapped; the CLI's exit codes say which.
func TestAuditLog(t *testing.T) {
	cloud := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e"})
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	g := startEdgewayIn(t, dir, providers(cloudProvider("cloud", "openai", cloud.URL()))+"auth:\n  admin_key: "+e2eAdminKey+"\n")
	cli(t, g, "teams", "create", "--name", "tamper-me")
	created := cli(t, g, "keys", "create", "--name", "slow", "--team", "tamper-me", "--rpm", "1")
	key, id := lastLine(created), strings.Fields(created)[2]
	ctx := context.Background()
	hc := testkit.Client(t, 30*time.Second)
	body := `{"model":"cloud/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	bad := "ew-badbadbad" + strings.Repeat("x", 34)
	statuses := map[int]int{}
	for _, k := range []string{bad, bad, bad, "", key, key} {
		r := testkit.Do(t, ctx, hc, "POST", g.URL+"/v1/chat/completions", body, "Authorization", "Bearer "+k)
		statuses[r.Status]++
	}
	if statuses[401] != 4 || statuses[200] != 1 || statuses[429] != 1 {
		t.Fatalf("statuses %v, want 4×401, 1×200, 1×429", statuses)
	}
	cli(t, g, "teams", "set", "--rpm", "5", "tamper-me")
	cli(t, g, "keys", "rotate", id)
	cli(t, g, "keys", "revoke", id)
	// While the gateway holds the file, the CLI asks its admin API.
	if out := cli(t, g, "audit", "verify"); !strings.Contains(out, "audit log sound") {
		t.Errorf("verify through the admin API:\n%s", out)
	}
	if out := cli(t, g, "audit", "tail", "-n", "50"); !contains(out, "auth.invalid_key", "key.revoke", "limit.rate_limit_exceeded") {
		t.Errorf("tail through the admin API:\n%s", out)
	}
	// Without a reachable gateway either, it exits 3 and says why.
	if _, errs, code := run(t, "", "audit", "verify", "--data-dir", data, "--listen", testkit.RefusedAddr(t)); code != 3 || !strings.Contains(errs, "in use") {
		t.Errorf("verify while the gateway runs: exit %d %s", code, errs)
	}
	stop(t, g)

	out, errs, code := run(t, "", "audit", "verify", "--data-dir", data)
	if code != 0 || !strings.Contains(out, "audit log sound") {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errs)
	}
	recs := auditTail(t, data)
	find := func(action string) *auditRecord {
		for i := range recs {
			if recs[i].Action == action {
				return &recs[i]
			}
		}
		t.Fatalf("no %s record in %+v", action, recs)
		return nil
	}
	if r := find("config.start"); !strings.HasPrefix(r.Target, "sha256:") || strings.Contains(r.Detail, "sk-e2e") {
		t.Errorf("config record: %+v", r)
	}
	team := find("team.create")
	if team.Target != "tamper-me" || team.Actor != "admin key" {
		t.Errorf("team record: %+v", team)
	}
	for _, action := range []string{"key.create", "team.set", "key.rotate", "key.revoke"} {
		if r := find(action); r.Actor != "admin key" {
			t.Errorf("%s: %+v", action, r)
		}
	}
	if r := find("key.revoke"); r.Target != id {
		t.Errorf("revoke record names %q, want %s", r.Target, id)
	}
	if r := find("auth.invalid_key"); r.Count != 3 || r.Actor != "ew-badbad…" || !strings.Contains(r.Detail, "127.0.0.1") {
		t.Errorf("auth failures: %+v", r)
	}
	if r := find("auth.missing_key"); r.Count != 1 {
		t.Errorf("missing key: %+v", r)
	}
	if r := find("limit.rate_limit_exceeded"); r.Count != 1 || !strings.Contains(r.Actor, "slow") {
		t.Errorf("limit hit: %+v", r)
	}
	if tail, _, _ := run(t, "", "audit", "tail", "--data-dir", data); strings.Contains(tail, bad) || strings.Contains(tail, key) {
		t.Error("audit tail shows a presented key in full")
	}

	dbPath := filepath.Join(data, "edgeway.db")
	orig, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	restore := func() {
		if err := os.WriteFile(dbPath, orig, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	inBolt := func(f func(b *bbolt.Bucket) error) {
		db, err := bbolt.Open(dbPath, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(func(tx *bbolt.Tx) error { return f(tx.Bucket([]byte("audit/v1"))) }); err != nil {
			t.Fatal(err)
		}
	}
	seq := func(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
	for _, tc := range []struct {
		name   string
		tamper func()
		want   string
	}{
		{"edit the bytes of a record in the file", func() {
			// Every copy bbolt holds of the team's name, the audit
			// record's among them; the same length keeps pages intact.
			if n := bytes.Count(orig, []byte("tamper-me")); n == 0 {
				t.Fatal("the team's name is not in the file")
			}
			if err := os.WriteFile(dbPath, bytes.ReplaceAll(orig, []byte("tamper-me"), []byte("tamper-ME")), 0o600); err != nil {
				t.Fatal(err)
			}
		}, fmt.Sprintf("record %d: altered", team.Seq)},
		{"delete a record", func() {
			inBolt(func(b *bbolt.Bucket) error { return b.Delete(seq(team.Seq)) })
		}, fmt.Sprintf("record %d: missing", team.Seq)},
		{"swap two records", func() {
			inBolt(func(b *bbolt.Bucket) error {
				x, y := bytes.Clone(b.Get(seq(team.Seq))), bytes.Clone(b.Get(seq(team.Seq+1)))
				b.Put(seq(team.Seq), y)
				return b.Put(seq(team.Seq+1), x)
			})
		}, fmt.Sprintf("record %d: out of place", team.Seq)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			restore()
			tc.tamper()
			out, errs, code := run(t, "", "audit", "verify", "--data-dir", data)
			if code != 1 || !strings.Contains(errs, tc.want) {
				t.Errorf("verify: exit %d, want 1 naming %q\n%s%s", code, tc.want, out, errs)
			}
		})
	}
	restore()
	if _, _, code := run(t, "", "audit", "verify", "--data-dir", data); code != 0 {
		t.Errorf("verify after restoring the file: exit %d", code)
	}
	if _, _, code := run(t, "", "audit", "frobnicate"); code != 2 {
		t.Errorf("unknown audit command: exit %d, want 2", code)
	}
}

// TestSecretsRotateMaster: rotate-master moves every secret to a new key
// (here generated into a file), after which the gateway starts with the
// new key file and reaches the upstream with the secret, while the old
// key opens nothing; a value on the command line is refused.
func TestSecretsRotateMaster(t *testing.T) {
	masterKey(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if _, errs, code := run(t, "", "secrets", "set", "k", "sk-on-argv", "--data-dir", data); code == 0 || !strings.Contains(errs, "stdin") || strings.Contains(errs, "sk-on-argv") {
		t.Errorf("a value on the command line: exit %d %s", code, errs)
	}
	if out, errs, code := run(t, "sk-rotated-e2e", "secrets", "set", "k", "--data-dir", data); code != 0 {
		t.Fatalf("set: %d %s%s", code, out, errs)
	}
	keyFile := filepath.Join(dir, "master.key")
	if _, errs, code := run(t, "", "secrets", "rotate-master", "--data-dir", data, "--generate", keyFile); code != 0 {
		t.Fatalf("rotate-master: %d %s", code, errs)
	}
	if _, errs, code := run(t, "x", "secrets", "set", "j", "--data-dir", data); code != 1 || !strings.Contains(errs, "not the one") {
		t.Errorf("the old key after rotation: exit %d %s", code, errs)
	}
	t.Setenv("EDGEWAY_MASTER_KEY", "")
	t.Setenv("EDGEWAY_MASTER_KEY_FILE", keyFile)
	cloud := openaitest.NewT(t, openaitest.Options{APIKey: "sk-rotated-e2e", Reply: "still works"})
	g := startEdgewayIn(t, dir, providers("  - name: cloud\n    type: openai\n    base_url: "+cloud.URL()+"\n    api_key: secret:k\n"))
	r := testkit.Do(t, context.Background(), testkit.Client(t, 30*time.Second), "POST", g.URL+"/v1/chat/completions",
		`{"model":"cloud/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	if r.Status != 200 || !strings.Contains(string(r.Body), "still works") {
		t.Fatalf("after rotation: %d %s", r.Status, r.Body)
	}
	stop(t, g)
	tail, _, _ := run(t, "", "audit", "tail", "--data-dir", data)
	if !contains(tail, "secret.set", "secret.rotate-master", "config.start") {
		t.Errorf("audit tail:\n%s", tail)
	}
}
