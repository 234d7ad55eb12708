package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test re-run this binary as the real command.
func TestMain(m *testing.M) {
	if os.Getenv("FAKEUPSTREAM_RUN_MAIN") == "1" {
		os.Args = append([]string{"fakeupstream"}, strings.Fields(os.Getenv("FAKEUPSTREAM_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// start runs run in the background and returns the URL it printed and a
// channel with its result.
func start(t *testing.T, ctx context.Context, args ...string) (string, <-chan error, *strings.Builder) {
	t.Helper()
	pr, pw := io.Pipe()
	var stderr strings.Builder
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, pw, &stderr)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no URL line: %v (%v)", err, <-done)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	return strings.TrimSpace(line), done, &stderr
}

// exited waits for the run start began to return cleanly, then checks that
// its stderr says want.
func exited(t *testing.T, done <-chan error, stderr *strings.Builder, want string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return")
	}
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q, want it to say %q", stderr.String(), want)
	}
}

func post(t *testing.T, url, body string, hdr ...string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

const chat = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`

func TestRun(t *testing.T) {
	cases := []struct {
		name string
		args []string
		hdr  []string
		want int
	}{
		{"defaults", nil, nil, 200},
		{"mode 500", []string{"-mode", "500"}, nil, 500},
		{"mode 429", []string{"-mode", "ratelimit"}, nil, 429},
		{"api key missing", []string{"-api-key", "sk-x"}, nil, 401},
		{"api key given", []string{"-api-key", "sk-x"}, []string{"Authorization", "Bearer sk-x"}, 200},
		{"fasthttp", []string{"-fasthttp", "-reply", "Hi there.", "-chunks", "2"}, nil, 200},
		{"tool call", []string{"-tool-name", "get_weather", "-tool-args", `{"city":"Paris"}`}, nil, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			url, done, stderr := start(t, ctx, tc.args...)
			if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/v1") {
				t.Fatalf("URL line %q", url)
			}
			if got := post(t, url+"/chat/completions", chat, tc.hdr...); got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
			cancel()
			exited(t, done, stderr, "1 chat requests")
		})
	}
}

func TestMaxLifetime(t *testing.T) {
	_, done, stderr := start(t, context.Background(), "-max-lifetime", "100ms")
	exited(t, done, stderr, "max-lifetime")
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-mode", "sideways"},
		{"-addr", "0.0.0.0:0"},
		{"-max-lifetime", "0"},
		{"-chunks", "-2"},
		{"extra"},
		{"-nope"},
	} {
		var out, errb strings.Builder
		if err := run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%q accepted", args)
		}
		if out.Len() != 0 {
			t.Errorf("%q printed %q", args, out.String())
		}
	}
}

// TestSignal runs the command as a process and stops it with SIGTERM.
func TestSignal(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FAKEUPSTREAM_RUN_MAIN=1", "FAKEUPSTREAM_ARGS=-max-lifetime 1m")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	url := strings.TrimSpace(line)
	if got := post(t, url+"/chat/completions", chat); got != 200 {
		t.Fatalf("status %d", got)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not exit on SIGTERM")
	}
}
