// Command fakeupstream serves the openaitest fake OpenAI API on a loopback
// port, for scripts: the benchmark, the ARM smoke test and demos.
//
// It prints its base URL (http://127.0.0.1:PORT/v1) as the first line on
// stdout, serves until SIGINT or SIGTERM, and exits by itself after
// -max-lifetime so a forgotten one never runs forever. On exit it prints
// the request counts to stderr.
//
//	fakeupstream -addr 127.0.0.1:0 -mode ok -reply "Hi there." -api-key sk-test
//	fakeupstream -tool-name get_weather -tool-args '{"city":"Paris"}'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/edgeway/edgeway/edge/openai/openaitest"
)

// defaultMaxLifetime bounds how long one instance runs.
const defaultMaxLifetime = 30 * time.Minute

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "fakeupstream:", err)
		os.Exit(2)
	}
}

// run parses args, serves until ctx ends or the lifetime passes, and closes
// the fake.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakeupstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		addr        = fs.String("addr", "127.0.0.1:0", "listen address (loopback only)")
		reply       = fs.String("reply", openaitest.DefaultReply, "assistant reply text")
		modeName    = fs.String("mode", "ok", "fault mode: ok, refuse, 500, 503, 429, stall, cut, malformed, context, 401")
		apiKey      = fs.String("api-key", "", "require Authorization: Bearer <key> when set")
		chunks      = fs.Int("chunks", 0, "split the reply into this many stream chunks (0: one per word)")
		dims        = fs.Int("embedding-dims", openaitest.DefaultEmbeddingDims, "embedding vector length")
		models      = fs.String("models", strings.Join(openaitest.DefaultModels, ","), "comma-separated /v1/models list")
		latency     = fs.Duration("latency", 0, "delay before the first byte of each answer")
		chunkDelay  = fs.Duration("chunk-delay", 0, "pause between streamed events")
		toolName    = fs.String("tool-name", "", "answer requests that offer tools with a call to this function")
		toolArgs    = fs.String("tool-args", "{}", "arguments (JSON text) of the -tool-name call")
		answerTools = fs.Bool("answer-tool-results", false, "reply with text to a request whose last message is a tool result")
		fast        = fs.Bool("fasthttp", false, "serve with fasthttp (cheaper per request, for benchmarks)")
		maxLifetime = fs.Duration("max-lifetime", defaultMaxLifetime, "exit after this long")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	mode, err := openaitest.ParseMode(*modeName)
	if err != nil {
		return err
	}
	if *maxLifetime <= 0 {
		return fmt.Errorf("-max-lifetime %v must be positive", *maxLifetime)
	}
	var modelList []string
	for _, m := range strings.Split(*models, ",") {
		if m = strings.TrimSpace(m); m != "" {
			modelList = append(modelList, m)
		}
	}
	var tool *openaitest.ToolCall
	if *toolName != "" {
		tool = &openaitest.ToolCall{Name: *toolName, Arguments: *toolArgs}
	}
	s, err := openaitest.New(openaitest.Options{
		ToolCall:          tool,
		AnswerToolResults: *answerTools,
		APIKey:            *apiKey,
		Reply:             *reply,
		Chunks:            *chunks,
		EmbeddingDims:     *dims,
		Models:            modelList,
		Latency:           *latency,
		ChunkDelay:        *chunkDelay,
		Addr:              *addr,
		FastHTTP:          *fast,
	})
	if err != nil {
		return err
	}
	defer s.Close()
	if mode != openaitest.OK {
		s.SetMode(mode)
	}
	if _, err := fmt.Fprintln(stdout, s.URL()); err != nil {
		return fmt.Errorf("print url: %w", err)
	}
	t := time.NewTimer(*maxLifetime)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
		fmt.Fprintf(stderr, "fakeupstream: -max-lifetime %v reached, exiting\n", *maxLifetime)
	}
	err = s.Close()
	fmt.Fprintf(stderr, "fakeupstream: %d chat requests, %d aborted\n", s.Requests(), s.Aborted())
	return err
}
