package e2e

import (
	"bytes"
	"cmp"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/anthropic/anthropictest"
	"github.com/edgeway/edgeway/edge/openai/openaitest"
)

// The agent CLIs try the network on start (updates, telemetry), so they
// run in a network namespace of their own with only loopback: a fresh one
// per run, where a fixed port is free by construction. Unix sockets cross
// namespaces; this test binary, re-executed in the namespace as a
// forwarder, joins the agent's 127.0.0.1:agentPort to the gateway.
const (
	nsProxyEnv = "EDGEWAY_E2E_NSPROXY" // "unix socket path" in the re-executed binary
	agentPort  = "18420"
	agentsEnv  = "EDGEWAY_AGENTS" // node_modules holding the CLIs (scripts/agents.sh)
)

func TestMain(m *testing.M) {
	if sock := os.Getenv(nsProxyEnv); sock != "" {
		os.Exit(nsProxy(sock, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// nsProxy listens on 127.0.0.1:agentPort, forwards every connection to
// the Unix socket sock, runs args as a child with this process's stdio
// and exits with its status.
func nsProxy(sock string, args []string) int {
	ln, err := net.Listen("tcp", "127.0.0.1:"+agentPort)
	if err != nil {
		os.Stderr.WriteString("nsproxy: " + err.Error() + "\n")
		return 125
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go splice(c, func() (net.Conn, error) { return net.Dial("unix", sock) })
		}
	}()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		os.Stderr.WriteString("nsproxy: " + err.Error() + "\n")
		return 126
	}
	return 0
}

// splice copies between c and a connection dial opens, both ways.
func splice(c net.Conn, dial func() (net.Conn, error)) {
	defer c.Close()
	up, err := dial()
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	for _, p := range [][2]net.Conn{{up, c}, {c, up}} {
		go func() {
			io.Copy(p[0], p[1])
			if tc, ok := p[0].(interface{ CloseWrite() error }); ok {
				tc.CloseWrite()
			}
			done <- struct{}{}
		}()
	}
	<-done
	<-done
}

// agentModules is the node_modules folder scripts/agents.sh installed
// the agent CLIs and JavaScript SDKs into, or the test's end: skipped
// when none is set, failed under EDGEWAY_REQUIRE_AGENTS=1 (make test sets
// both).
func agentModules(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(agentsEnv)
	if dir == "" {
		if os.Getenv("EDGEWAY_REQUIRE_AGENTS") == "1" {
			t.Fatalf("%s is not set: run scripts/agents.sh", agentsEnv)
		}
		t.Skipf("%s is not set (make test installs the agent CLIs and SDKs with scripts/agents.sh)", agentsEnv)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is needed for the JavaScript clients: %v", err)
	}
	return dir
}

// agentBin is the installed CLI name, which runs without the network.
func agentBin(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(agentModules(t), ".bin", name)
	if _, err := os.Stat(bin); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("unshare (util-linux) is needed to run %s without the network: %v", name, err)
	}
	return bin
}

// runAgent runs args in a new network namespace, in dir, with env, where
// 127.0.0.1:agentPort reaches the gateway g. It returns the combined
// output and fails the test if the agent fails or runs past limit.
func runAgent(t *testing.T, g *gateway, dir string, env []string, limit time.Duration, args ...string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "gw.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	u, _ := url.Parse(g.URL)
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); splice(c, func() (net.Conn, error) { return net.Dial("tcp", u.Host) }) }()
		}
	}()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	full := append([]string{"-n", "sh", "-c", `ip link set lo up && exec "$0" "$@"`, self}, args...)
	cmd := exec.Command("unshare", full...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), nsProxyEnv+"="+sock), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s still running after %v:\n%s", filepath.Base(args[0]), limit, out.String())
	}
	if err != nil {
		t.Fatalf("%s: %v\n%s", filepath.Base(args[0]), err, out.String())
	}
	return out.String()
}

// TestCodexThroughEdgeway runs Codex CLI headless (codex exec) against
// edgeway, which serves its Responses API requests from an OpenAI-wire
// fake (Chat Completions: the path a local runtime takes) and from a
// Responses-wire fake (a provider with wire: responses, which gets
// Codex's own requests as they came): the model calls the shell tool,
// Codex runs the command, the result goes back, the model answers.
func TestCodexThroughEdgeway(t *testing.T) {
	for _, tc := range []struct{ name, provider string }{
		{"chat wire", "openai-compatible"},
		{"responses wire", "openai"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			codex := agentBin(t, "codex")
			cloud := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", Reply: "The command printed the marker.",
				ToolCall:          &openaitest.ToolCall{ID: "call_sh1", Name: "exec_command", Arguments: `{"cmd":"echo codex-was-here | tee out.txt"}`},
				AnswerToolResults: true})
			p := cloudProvider("up", tc.provider, cloud.URL())
			if tc.provider == "openai" {
				p += "    wire: responses\n"
			}
			g := startEdgeway(t, providers(p)+"models:\n  chat: [up/gpt-5-codex]\n")
			home, work := t.TempDir(), t.TempDir()
			cfg := "model = \"chat\"\nmodel_provider = \"edgeway\"\n[model_providers.edgeway]\nname = \"edgeway\"\n" +
				"base_url = \"http://127.0.0.1:" + agentPort + "/v1\"\nenv_key = \"EDGEWAY_KEY\"\nwire_api = \"responses\"\n"
			if err := os.WriteFile(filepath.Join(home, "config.toml"), []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			out := runAgent(t, g, work, []string{"CODEX_HOME=" + home, "HOME=" + home, "EDGEWAY_KEY=unused"}, 3*time.Minute,
				codex, "exec", "--skip-git-repo-check", "--sandbox", "workspace-write", "run the command")
			if b, err := os.ReadFile(filepath.Join(work, "out.txt")); err != nil || strings.TrimSpace(string(b)) != "codex-was-here" {
				t.Fatalf("the shell tool did not run (%v %q):\n%s", err, b, out)
			}
			if !strings.Contains(out, "The command printed the marker.") {
				t.Fatalf("codex did not print the final answer:\n%s", out)
			}
			if n := cloud.Requests(); n != 2 {
				t.Fatalf("%d upstream requests, want 2 (the call, then the answer)", n)
			}
			last := string(cloud.LastRequest())
			if !strings.Contains(last, "codex-was-here") || !strings.Contains(last, "call_sh1") {
				t.Fatalf("the tool's output did not reach the upstream:\n%.2000s", last)
			}
			if tc.provider == "openai" && !strings.Contains(last, `"web_search"`) {
				t.Fatalf("Codex's hosted web_search tool did not reach the Responses upstream:\n%.2000s", last)
			}
		})
	}
}

// claudeDefaultModel is the model Claude Code 2.1.332 asks for when it is
// given none (seen on the wire): the config maps it like any alias.
const claudeDefaultModel = "claude-opus-5-5"

// runClaude runs `claude -p prompt` in a fresh namespace against g, in a
// fresh directory, with extra arguments; it returns the directory and
// the output.
func runClaude(t *testing.T, g *gateway, prompt string, args ...string) (string, string) {
	t.Helper()
	claude := agentBin(t, "claude")
	home, work := t.TempDir(), t.TempDir()
	argv := append([]string{claude, "-p", prompt, "--allowedTools", "Bash"}, args...)
	out := runAgent(t, g, work, []string{"HOME=" + home, "ANTHROPIC_BASE_URL=http://127.0.0.1:" + agentPort,
		"ANTHROPIC_API_KEY=unused", "DISABLE_AUTOUPDATER=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"}, 3*time.Minute, argv...)
	return work, out
}

// TestClaudeCodeThroughEdgeway runs Claude Code headless (claude -p)
// through edgeway to the Anthropic fake, with its default model name and
// with an alias: the model calls the Bash tool, Claude Code runs it, the
// result goes back, the model answers. Claude Code sends a system turn
// in the middle of messages[], which edgeway passes on.
func TestClaudeCodeThroughEdgeway(t *testing.T) {
	for _, model := range []string{"", "agent"} {
		t.Run(cmp.Or(model, "default model"), func(t *testing.T) {
			fake := anthropictest.NewT(t, anthropictest.Options{APIKey: "sk-e2e", Reply: "The marker file is written.",
				ToolUse:           &anthropictest.ToolUse{ID: "toolu_cc1", Name: "Bash", Input: `{"command":"echo claude-was-here | tee out.txt","description":"write the marker"}`},
				AnswerToolResults: true})
			g := startEdgeway(t, providers(cloudProvider("claude", "anthropic", fake.URL()))+
				"models:\n  agent: [claude/claude-test-1]\n  "+claudeDefaultModel+": [claude/"+claudeDefaultModel+"]\n")
			var args []string
			if model != "" {
				args = []string{"--model", model}
			}
			work, out := runClaude(t, g, "write the marker file", args...)
			if b, err := os.ReadFile(filepath.Join(work, "out.txt")); err != nil || strings.TrimSpace(string(b)) != "claude-was-here" {
				t.Fatalf("the Bash tool did not run (%v %q):\n%s", err, b, out)
			}
			if !strings.Contains(out, "The marker file is written.") {
				t.Fatalf("claude did not print the final answer:\n%s", out)
			}
			last := string(fake.LastRequest())
			if !strings.Contains(last, "toolu_cc1") || !strings.Contains(last, "claude-was-here") {
				t.Fatalf("the tool result did not reach the upstream:\n%.2000s", last)
			}
		})
	}
}

// TestClaudeCodeOnTheLocalPath: Claude Code through edgeway to an
// OpenAI-wire upstream (what a local llama-server or any OpenAI-compatible
// runtime speaks): Anthropic in, OpenAI out, the Bash round trip intact.
func TestClaudeCodeOnTheLocalPath(t *testing.T) {
	local := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", Reply: "The marker file is written.",
		ToolCall:          &openaitest.ToolCall{ID: "call_cc1", Name: "Bash", Arguments: `{"command":"echo claude-was-here | tee out.txt"}`},
		AnswerToolResults: true})
	g := startEdgeway(t, providers(cloudProvider("local", "openai-compatible", local.URL()))+
		"models:\n  "+claudeDefaultModel+": [local/qwen3-coder]\n")
	work, out := runClaude(t, g, "write the marker file")
	if b, err := os.ReadFile(filepath.Join(work, "out.txt")); err != nil || strings.TrimSpace(string(b)) != "claude-was-here" {
		t.Fatalf("the Bash tool did not run (%v %q):\n%s", err, b, out)
	}
	if !strings.Contains(out, "The marker file is written.") {
		t.Fatalf("claude did not print the final answer:\n%s", out)
	}
	if last := string(local.LastRequest()); !strings.Contains(last, "call_cc1") || !strings.Contains(last, "claude-was-here") {
		t.Fatalf("the tool result did not reach the upstream:\n%.2000s", last)
	}
}
