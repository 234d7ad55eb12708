package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/edgeway/edgeway/edge/openai/openaitest"
)

// TestPIIPolicies: with the local runtime down, a redact-for-cloud key's
// personal data reaches the cloud fake only as placeholders and comes back
// restored, whole and streamed (the placeholders split across chunks); a
// local-only key's prompt with personal data never reaches the cloud, and
// fails saying why; a block key is refused without the values echoed.
func TestPIIPolicies(t *testing.T) {
	const (
		prompt = "I am bob@example.com, card 4111 1111 1111 1111. Remember both."
		// The cloud answers with the placeholders edgeway sent it, split
		// into 13 pieces, so some placeholders straddle two chunks.
		cloudReply = "Noted: «EMAIL_1» pays with «CARD_1»."
		restored   = "Noted: bob@example.com pays with 4111 1111 1111 1111."
	)
	cloud := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", Reply: cloudReply, Chunks: 13})
	g := startEdgeway(t, providers(
		"  - name: ollama\n    type: ollama\n    base_url: "+closedURL(t, "")+"\n",
		cloudProvider("cloud", "openai", cloud.URL()),
	)+"models:\n  chat: [ollama/tiny, cloud/gpt-4o-mini]\nauth:\n  admin_key: "+e2eAdminKey+"\n")

	redactKey := lastLine(cli(t, g, "keys", "create", "--name", "redacted", "--pii", "redact-for-cloud"))
	localKey := lastLine(cli(t, g, "keys", "create", "--name", "local", "--pii", "local-only"))
	cli(t, g, "teams", "create", "--name", "strict", "--pii", "block")
	blockKey := lastLine(cli(t, g, "keys", "create", "--name", "blocked", "--team", "strict", "--pii", "allow"))
	client := func(key string) *openai.Client {
		c := openai.NewClient(option.WithBaseURL(g.URL+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
		return &c
	}
	ctx := context.Background()
	chat := openai.ChatCompletionNewParams{Model: "chat", Messages: userMsg(prompt)}

	sentToCloud := func(t *testing.T) {
		t.Helper()
		body := string(cloud.LastRequest())
		if strings.Contains(body, "bob@example.com") || strings.Contains(body, "4111") {
			t.Errorf("the cloud got the personal data: %s", body)
		}
		if !strings.Contains(body, "«EMAIL_1»") && !strings.Contains(body, `\u00abEMAIL_1\u00bb`) {
			t.Errorf("the cloud got no placeholder: %s", body)
		}
	}
	t.Run("redact whole", func(t *testing.T) {
		resp, err := client(redactKey).Chat.Completions.New(ctx, chat)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content; got != restored {
			t.Errorf("answer %q, want %q", got, restored)
		}
		sentToCloud(t)
	})
	t.Run("redact stream", func(t *testing.T) {
		st := client(redactKey).Chat.Completions.NewStreaming(ctx, chat)
		var b strings.Builder
		for st.Next() {
			if ch := st.Current(); len(ch.Choices) > 0 {
				b.WriteString(ch.Choices[0].Delta.Content)
			}
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		if b.String() != restored {
			t.Errorf("streamed answer %q, want %q", b.String(), restored)
		}
		sentToCloud(t)
	})
	t.Run("local only never reaches the cloud", func(t *testing.T) {
		before := cloud.Requests()
		_, err := client(localKey).Chat.Completions.New(ctx, chat)
		var oe *openai.Error
		if !errors.As(err, &oe) || oe.StatusCode != 503 || !strings.Contains(oe.RawJSON(), "PII policy for this key and model is local-only") {
			t.Fatalf("local-only key with personal data and the local runtime down: %v", err)
		}
		if strings.Contains(oe.RawJSON(), "bob@") {
			t.Errorf("the error echoes the personal data: %s", oe.RawJSON())
		}
		if got := cloud.Requests(); got != before {
			t.Fatalf("a local-only prompt reached the cloud (%d requests)", got-before)
		}
		// Without personal data the same key may fail over to the cloud.
		_, err = client(localKey).Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "chat", Messages: userMsg("hi")})
		if err != nil || cloud.Requests() != before+1 {
			t.Fatalf("clean prompt: %v, %d cloud requests", err, cloud.Requests()-before)
		}
	})
	t.Run("team block wins over key allow", func(t *testing.T) {
		before := cloud.Requests()
		_, err := client(blockKey).Chat.Completions.New(ctx, chat)
		var oe *openai.Error
		if !errors.As(err, &oe) || oe.StatusCode != 400 || !strings.Contains(oe.RawJSON(), "email, card") || strings.Contains(oe.RawJSON(), "4111") {
			t.Fatalf("block: %v", err)
		}
		if cloud.Requests() != before {
			t.Fatal("a blocked prompt reached the cloud")
		}
	})
}
