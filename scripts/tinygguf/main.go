// Command tinygguf writes a deterministic tiny random-weight llama model as
// a GGUF v3 file that Ollama and llama-server load, for tests and demos on
// machines that cannot download a real model. The model itself is defined
// in package tinymodel.
//
// Usage:
//
//	go run ./scripts/tinygguf [-o tiny.gguf] [-seed 42] [-embedding-only] [-modelfile Modelfile]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/edgeway/edgeway/runtime/tinymodel"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tinygguf:", err)
		os.Exit(2)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("tinygguf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", tinymodel.FileName, "output `path` of the GGUF file")
	seed := fs.Uint64("seed", tinymodel.DefaultSeed, "seed of the random weights")
	embed := fs.Bool("embedding-only", false, "add llama.pooling_type so Ollama serves the model for embeddings only")
	modelfile := fs.String("modelfile", "", "also write an Ollama Modelfile to `path` (it expects the model as ./"+tinymodel.FileName+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := tinymodel.WriteFile(*out, tinymodel.Options{Seed: *seed, EmbeddingOnly: *embed}); err != nil {
		return err
	}
	if *modelfile != "" {
		if err := tinymodel.WriteModelfile(*modelfile); err != nil {
			return err
		}
	}
	return nil
}
