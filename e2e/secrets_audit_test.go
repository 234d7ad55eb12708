package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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
