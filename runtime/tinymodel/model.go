// Package tinymodel writes a tiny random-weight llama model as a GGUF v3
// file that real runtimes (Ollama, llama-server) load in well under a
// second, plus the Modelfile Ollama needs to serve it. Tests and demos use
// it because no real model can be downloaded on the build machines.
//
// The model is 2 blocks, embedding 64, 4 heads / 2 KV heads, feed-forward
// 128, context 2048, all tensors F32, with a SentencePiece ("llama")
// vocabulary of control tokens, the 256 byte tokens and a few hundred
// English words. The output is deterministic for a seed: same seed, same
// bytes, on every platform (the weights come from integer arithmetic and
// float64 additions only).
package tinymodel

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// DefaultSeed is the seed the scripts and test harnesses use.
const DefaultSeed = 42

// FileName is the name the Modelfile expects the GGUF file under.
const FileName = "tiny.gguf"

// Modelfile is an Ollama Modelfile for FileName in the same folder. The
// template renders the system prompt and the messages as "role: text"
// lines; it mentions .Tools so Ollama accepts requests that carry tools
// (the random weights never produce a call). num_thread 1 matters on busy
// 2-core machines: with more threads the runner spin-waits.
const Modelfile = `FROM ./` + FileName + `
TEMPLATE """{{- if .System }}system: {{ .System }}
{{ end }}{{- if .Tools }}tools: {{ .Tools }}
{{ end }}{{- range .Messages }}{{- if ne .Role "system" }}{{ .Role }}: {{ .Content }}
{{ end }}{{- end }}assistant: """
PARAMETER num_ctx 512
PARAMETER num_thread 1
PARAMETER temperature 0
PARAMETER seed 42
`

// Shape of the model.
const (
	blockCount     = 2
	embeddingLen   = 64
	headCount      = 4
	headCountKV    = 2
	headDim        = embeddingLen / headCount
	feedForwardLen = 128
	contextLen     = 2048
	alignment      = 32

	// weightStd is the standard deviation of the random weights; small, as
	// in a freshly initialised network, so activations stay tame.
	weightStd = 0.02
)

// SentencePiece token types, as llama.cpp numbers them.
const (
	tokenNormal  int32 = 1
	tokenUnknown int32 = 2
	tokenControl int32 = 3
	tokenByte    int32 = 6
)

// Special token ids.
const (
	tokenUNK = 0
	tokenBOS = 1
	tokenEOS = 2
)

// Options selects the variant to write.
type Options struct {
	// Seed seeds the weights. The same seed always gives the same file.
	Seed uint64
	// EmbeddingOnly adds llama.pooling_type, which makes Ollama treat the
	// model as an embedding model and refuse chat and generate: handy for
	// error-path tests.
	EmbeddingOnly bool
}

// Bytes returns the GGUF file for o.
func Bytes(o Options) ([]byte, error) {
	tokens, scores, types := vocabulary()
	kvs := []kv{
		{"general.architecture", "llama"},
		{"general.name", "tiny"},
		{"general.alignment", uint32(alignment)},
		{"general.file_type", uint32(0)}, // all F32
		{"llama.context_length", uint32(contextLen)},
		{"llama.embedding_length", uint32(embeddingLen)},
		{"llama.block_count", uint32(blockCount)},
		{"llama.feed_forward_length", uint32(feedForwardLen)},
		{"llama.attention.head_count", uint32(headCount)},
		{"llama.attention.head_count_kv", uint32(headCountKV)},
		{"llama.attention.key_length", uint32(headDim)},
		{"llama.attention.value_length", uint32(headDim)},
		{"llama.attention.layer_norm_rms_epsilon", float32(1e-5)},
		{"llama.rope.dimension_count", uint32(headDim)},
		{"llama.rope.freq_base", float32(10000)},
		{"llama.vocab_size", uint32(len(tokens))},
	}
	if o.EmbeddingOnly {
		kvs = append(kvs, kv{"llama.pooling_type", uint32(1)}) // mean
	}
	kvs = append(kvs,
		kv{"tokenizer.ggml.model", "llama"},
		kv{"tokenizer.ggml.tokens", tokens},
		kv{"tokenizer.ggml.scores", scores},
		kv{"tokenizer.ggml.token_type", types},
		kv{"tokenizer.ggml.bos_token_id", uint32(tokenBOS)},
		kv{"tokenizer.ggml.eos_token_id", uint32(tokenEOS)},
		kv{"tokenizer.ggml.unknown_token_id", uint32(tokenUNK)},
		kv{"tokenizer.ggml.add_bos_token", true},
		kv{"tokenizer.ggml.add_eos_token", false},
	)
	return encode(kvs, tensors(o.Seed, types), alignment)
}

// Write writes the GGUF file for o to w.
func Write(w io.Writer, o Options) error {
	b, err := Bytes(o)
	if err != nil {
		return fmt.Errorf("tinymodel: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("tinymodel: %w", err)
	}
	return nil
}

// WriteFile writes the GGUF file for o to path, atomically: a reader never
// sees a half-written model.
func WriteFile(path string, o Options) error {
	b, err := Bytes(o)
	if err != nil {
		return fmt.Errorf("tinymodel: %w", err)
	}
	return writeAtomic(path, b)
}

// WriteDir writes FileName and a Modelfile into dir, ready for
// `ollama create NAME -f dir/Modelfile`.
func WriteDir(dir string, o Options) error {
	if err := WriteFile(filepath.Join(dir, FileName), o); err != nil {
		return err
	}
	return WriteModelfile(filepath.Join(dir, "Modelfile"))
}

// WriteModelfile writes Modelfile to path, atomically.
func WriteModelfile(path string) error {
	return writeAtomic(path, []byte(Modelfile))
}

func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("tinymodel: %w", err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("tinymodel: %w", err)
	}
	return nil
}

// vocabulary returns the tokens with their scores and types: <unk>, <s>,
// </s>, the byte tokens <0x00>…<0xFF>, then "▁word" pieces.
func vocabulary() ([]string, []float32, []int32) {
	n := 3 + 256 + len(words)
	tokens := make([]string, 0, n)
	scores := make([]float32, 0, n)
	types := make([]int32, 0, n)
	add := func(tok string, score float32, typ int32) {
		tokens = append(tokens, tok)
		scores = append(scores, score)
		types = append(types, typ)
	}
	add("<unk>", 0, tokenUnknown)
	add("<s>", 0, tokenControl)
	add("</s>", 0, tokenControl)
	for i := range 256 {
		add(fmt.Sprintf("<0x%02X>", i), 0, tokenByte)
	}
	for i, w := range words {
		add("\u2581"+w, -float32(i+1), tokenNormal)
	}
	return tokens, scores, types
}

// tensors returns the weights in the order llama.cpp lists them. Rows of
// output.weight for byte and control tokens (except </s>) are zero, so the
// sampled text is made of words and </s> can still end a generation.
func tensors(seed uint64, types []int32) []tensor {
	r := rng{state: seed}
	vocab := uint64(len(types))
	kvDim := uint64(headCountKV * headDim)
	random := func(name string, dims ...uint64) tensor {
		t := tensor{name: name, dims: dims}
		t.data = make([]float32, product(dims))
		for i := range t.data {
			t.data[i] = float32(weightStd * r.normal())
		}
		return t
	}
	ones := func(name string, n uint64) tensor {
		t := tensor{name: name, dims: []uint64{n}, data: make([]float32, n)}
		for i := range t.data {
			t.data[i] = 1
		}
		return t
	}

	ts := []tensor{random("token_embd.weight", embeddingLen, vocab)}
	for b := range blockCount {
		p := fmt.Sprintf("blk.%d.", b)
		ts = append(ts,
			ones(p+"attn_norm.weight", embeddingLen),
			random(p+"attn_q.weight", embeddingLen, embeddingLen),
			random(p+"attn_k.weight", embeddingLen, kvDim),
			random(p+"attn_v.weight", embeddingLen, kvDim),
			random(p+"attn_output.weight", embeddingLen, embeddingLen),
			ones(p+"ffn_norm.weight", embeddingLen),
			random(p+"ffn_gate.weight", embeddingLen, feedForwardLen),
			random(p+"ffn_up.weight", embeddingLen, feedForwardLen),
			random(p+"ffn_down.weight", feedForwardLen, embeddingLen),
		)
	}
	out := random("output.weight", embeddingLen, vocab)
	for tok, typ := range types {
		if (typ == tokenByte || typ == tokenControl || typ == tokenUnknown) && tok != tokenEOS {
			clear(out.data[tok*embeddingLen : (tok+1)*embeddingLen])
		}
	}
	return append(ts, ones("output_norm.weight", embeddingLen), out)
}

func product(dims []uint64) uint64 {
	n := uint64(1)
	for _, d := range dims {
		n *= d
	}
	return n
}

// rng is splitmix64. It is written out here, rather than taken from
// math/rand, so the weights cannot change with the Go version.
type rng struct{ state uint64 }

func (r *rng) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// uniform returns a float64 in [0, 1).
func (r *rng) uniform() float64 { return float64(r.next()>>11) / (1 << 53) }

// normal returns an approximately standard normal value: the Irwin–Hall
// sum of 12 uniforms minus 6. Unlike Box–Muller it needs no math library
// calls, whose last bits may differ between architectures.
func (r *rng) normal() float64 {
	var s float64
	for range 12 {
		s += r.uniform()
	}
	return s - 6
}
