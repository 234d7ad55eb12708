package e2e

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/edgeway/edgeway/edge/openai/openaitest"
	"github.com/edgeway/edgeway/runtime/ollama/ollamatest"
)

// ollamaCLITimeout bounds one run of the ollama CLI against edgeway.
const ollamaCLITimeout = 30 * time.Second

// TestOllamaCLISurface: the real ollama CLI, with OLLAMA_HOST pointing at
// edgeway, lists the models (`ollama list`) and the loaded ones (`ollama
// ps`, after a chat through edgeway loaded the model into the real Ollama);
// the official Go client's ListRunning sees the same; a pull of a model
// that is not in the registry fails in Ollama's words.
func TestOllamaCLISurface(t *testing.T) {
	g, _, _ := startLocalAndCloud(t, openaitest.Options{Reply: "cloud"}, `
  tiny: [ollama/%[1]s]
`)
	bin, _ := ollamatest.Binary()
	u, _ := url.Parse(g.URL)
	home := t.TempDir()
	cli := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), ollamaCLITimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "OLLAMA_") && !strings.HasPrefix(kv, "HOME=") {
				env = append(env, kv)
			}
		}
		cmd.Env = append(env, "HOME="+home, "OLLAMA_HOST="+u.Host, "OLLAMA_NO_CLOUD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ollama %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	client := api.NewClient(u, http.DefaultClient)
	ctx := context.Background()

	if out := cli("list"); !contains(out, "NAME", "tiny", "ollama/tiny") {
		t.Errorf("ollama list:\n%s", out)
	}
	// Load the model in the real Ollama through edgeway.
	stream := false
	err := client.Generate(ctx, &api.GenerateRequest{Model: "tiny", Prompt: "hi", Stream: &stream, Options: map[string]any{"num_predict": 2}},
		func(api.GenerateResponse) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	out := cli("ps")
	if !contains(out, "NAME", "ollama/tiny", "CONTEXT") {
		t.Errorf("ollama ps:\n%s", out)
	}
	t.Logf("ollama ps through edgeway:\n%s", out)
	ps, err := client.ListRunning(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps.Models) != 1 || ps.Models[0].Name != "ollama/tiny:latest" || ps.Models[0].Size == 0 || ps.Models[0].ExpiresAt.IsZero() || ps.Models[0].Details.Format == "" {
		t.Errorf("ListRunning %+v", ps.Models)
	}
	// ollama-js, the client Open WebUI-style apps use.
	if got := runNodeScript(t, "ollama_ps.mjs", "HOST="+g.URL); !strings.Contains(got, `"ps":["ollama/tiny:latest"]`) || !strings.Contains(got, "tiny") {
		t.Errorf("ollama-js ps() and list(): %s", got)
	}
	// A name Ollama refuses before it goes to the network: its own error,
	// with its status, through edgeway.
	err = client.Pull(ctx, &api.PullRequest{Model: "ollama/bad name!"}, func(api.ProgressResponse) error { return nil })
	se, ok := err.(api.StatusError)
	if !ok || se.StatusCode != 400 || !strings.Contains(se.ErrorMessage, "invalid") {
		t.Errorf("pull of an invalid name: %#v", err)
	}
}
