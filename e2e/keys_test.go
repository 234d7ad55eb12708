package e2e

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/edgeway/edgeway/edge/openai/openaitest"
)

const e2eAdminKey = "e2e-admin-key-0123456789abcdef"

// cli runs an edgeway admin command ("keys create ...", "usage ...")
// against g and returns its stdout.
func cli(t *testing.T, g *gateway, args ...string) string {
	t.Helper()
	words := 2 // keys and teams have a subcommand
	if args[0] == "usage" {
		words = 1
	}
	args = append(args[:words:words], append([]string{"--config", g.Config, "--listen", strings.TrimPrefix(g.URL, "http://")}, args[words:]...)...)
	cmd := exec.Command(edgewayBin(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("edgeway %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// lastLine is where keys create and rotate print the key.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestKeysFromTheCLI: a team gets keys from the CLI and calls models with
// them through the official SDKs; a local-only key never reaches the cloud
// fake, even with the local runtime down; a revoked key is refused.
func TestKeysFromTheCLI(t *testing.T) {
	cloud := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", Reply: "from the cloud"})
	g := startEdgeway(t, providers(
		"  - name: ollama\n    type: ollama\n    base_url: "+closedURL(t, "")+"\n",
		cloudProvider("cloud", "openai", cloud.URL()),
	)+"models:\n  chat: [ollama/tiny, cloud/gpt-4o-mini]\nauth:\n  admin_key: "+e2eAdminKey+"\n")
	if !strings.Contains(g.out.String(), "auth: keys required") {
		t.Errorf("start banner does not say keys are required:\n%s", g.out.String())
	}

	cli(t, g, "teams", "create", "--name", "edge", "--local-only")
	cli(t, g, "teams", "create", "--name", "web")
	localKey := lastLine(cli(t, g, "keys", "create", "--name", "sensor", "--team", "edge"))
	webOut := cli(t, g, "keys", "create", "--name", "site", "--team", "web", "--models", "chat", "--expires", "30d")
	webKey := lastLine(webOut)
	for _, k := range []string{localKey, webKey} {
		if !strings.HasPrefix(k, "ew-") || len(k) != 46 {
			t.Fatalf("key on the last line: %q", k)
		}
	}
	list := cli(t, g, "keys", "list")
	if !strings.Contains(list, "sensor") || !strings.Contains(list, "site") || strings.Contains(list, localKey) {
		t.Fatalf("keys list:\n%s", list)
	}
	ctx := context.Background()
	chat := openai.ChatCompletionNewParams{Model: "chat", Messages: userMsg("hi")}

	// No key, a wrong key: 401 in each SDK.
	for _, key := range []string{"", "ew-wrong"} {
		c := openai.NewClient(option.WithBaseURL(g.URL+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
		_, err := c.Chat.Completions.New(ctx, chat)
		var ae *openai.Error
		if !errors.As(err, &ae) || ae.StatusCode != 401 {
			t.Fatalf("key %q: %v, want a 401", key, err)
		}
	}
	a := anthropic.NewClient(aoption.WithBaseURL(g.URL), aoption.WithAPIKey("ew-wrong"), aoption.WithMaxRetries(0))
	_, err := a.Messages.New(ctx, anthropic.MessageNewParams{Model: "chat", MaxTokens: 10, Messages: userText("hi")})
	var aerr *anthropic.Error
	if !errors.As(err, &aerr) || aerr.StatusCode != 401 || !strings.Contains(aerr.RawJSON(), "authentication_error") {
		t.Fatalf("anthropic wrong key: %v", err)
	}

	// The web key fails over to the cloud; the local-only key may not.
	web := openai.NewClient(option.WithBaseURL(g.URL+"/v1/"), option.WithAPIKey(webKey), option.WithMaxRetries(0))
	resp, err := web.Chat.Completions.New(ctx, chat)
	if err != nil || resp.Choices[0].Message.Content != "from the cloud" {
		t.Fatalf("web key: %v", err)
	}
	before := cloud.Requests()
	local := openai.NewClient(option.WithBaseURL(g.URL+"/v1/"), option.WithAPIKey(localKey), option.WithMaxRetries(0))
	_, err = local.Chat.Completions.New(ctx, chat)
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 503 || !strings.Contains(oe.RawJSON(), "not allowed for this key: cloud/gpt-4o-mini") {
		t.Fatalf("local-only key with the local runtime down: %v", err)
	}
	_, err = local.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "cloud/gpt-4o-mini", Messages: userMsg("hi")})
	if !errors.As(err, &oe) || oe.StatusCode != 403 {
		t.Fatalf("local-only key naming a cloud model: %v", err)
	}
	if got := cloud.Requests(); got != before {
		t.Fatalf("a local-only key reached the cloud (%d requests)", got-before)
	}
	// The web key may use only "chat".
	_, err = web.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "cloud/gpt-4o-mini", Messages: userMsg("hi")})
	if !errors.As(err, &oe) || oe.StatusCode != 403 || !strings.Contains(oe.RawJSON(), "may not use model") {
		t.Fatalf("web key, other model: %v", err)
	}

	// Rotate, then revoke.
	id := strings.Fields(webOut)[2]
	rotated := lastLine(cli(t, g, "keys", "rotate", id))
	if _, err := web.Chat.Completions.New(ctx, chat); !errors.As(err, &oe) || oe.StatusCode != 401 {
		t.Fatalf("old key after rotate: %v", err)
	}
	web = openai.NewClient(option.WithBaseURL(g.URL+"/v1/"), option.WithAPIKey(rotated), option.WithMaxRetries(0))
	if _, err := web.Chat.Completions.New(ctx, chat); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	cli(t, g, "keys", "revoke", id)
	if _, err := web.Chat.Completions.New(ctx, chat); !errors.As(err, &oe) || oe.StatusCode != 401 {
		t.Fatalf("revoked key: %v", err)
	}
}
