package tinymodel

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seed42SHA256 pins the bytes of the default model, so a change to the
// model (or a platform where the weights come out differently) is noticed.
// Update it when changing the model on purpose.
const seed42SHA256 = "c6848e0863af06c61c13c768bd0d56ffc770270d671dc142c29987defaea2d8d"

func TestBytesPinned(t *testing.T) {
	b, err := Bytes(Options{Seed: DefaultSeed})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != seed42SHA256 {
		t.Errorf("sha256 of the seed-42 model = %s, want %s (update seed42SHA256 if the model changed on purpose)", got, seed42SHA256)
	}
}

func TestBytesDeterministic(t *testing.T) {
	a, err := Bytes(Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Bytes(Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Fatal("same seed gave different bytes")
	}
}

func TestBytesLayout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    Options
		pooling bool
	}{
		{"chat", Options{Seed: DefaultSeed}, false},
		{"embedding only", Options{Seed: 3, EmbeddingOnly: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Bytes(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			f := parse(t, b)
			if len(b) > 1<<20 {
				t.Errorf("file is %d bytes, want under 1 MiB", len(b))
			}
			if got := f.kv["general.architecture"]; got != "llama" {
				t.Errorf("architecture = %v", got)
			}
			if _, ok := f.kv["llama.pooling_type"]; ok != tc.pooling {
				t.Errorf("pooling_type present = %v, want %v", ok, tc.pooling)
			}
			tokens := f.kv["tokenizer.ggml.tokens"].([]string)
			types := f.kv["tokenizer.ggml.token_type"].([]int32)
			scores := f.kv["tokenizer.ggml.scores"].([]float32)
			if len(tokens) != len(types) || len(tokens) != len(scores) {
				t.Fatalf("vocabulary lengths differ: %d tokens, %d types, %d scores", len(tokens), len(types), len(scores))
			}
			if tokens[0] != "<unk>" || tokens[1] != "<s>" || tokens[2] != "</s>" || tokens[3] != "<0x00>" || tokens[258] != "<0xFF>" {
				t.Errorf("special tokens out of place: %q", tokens[:4])
			}
			seen := map[string]bool{}
			for i, tok := range tokens {
				if seen[tok] {
					t.Errorf("token %q repeated", tok)
				}
				seen[tok] = true
				if i >= 259 && (types[i] != tokenNormal || !strings.HasPrefix(tok, "\u2581")) {
					t.Errorf("token %d = %q type %d, want a normal ▁word", i, tok, types[i])
				}
			}
			if n := len(tokens) - 259; n < 200 {
				t.Errorf("%d word pieces, want a few hundred", n)
			}

			want := map[string][]uint64{
				"token_embd.weight":        {64, uint64(len(tokens))},
				"output.weight":            {64, uint64(len(tokens))},
				"output_norm.weight":       {64},
				"blk.1.attn_k.weight":      {64, 32},
				"blk.1.ffn_down.weight":    {128, 64},
				"blk.0.ffn_gate.weight":    {64, 128},
				"blk.0.attn_output.weight": {64, 64},
			}
			for name, dims := range want {
				ti, ok := f.tensors[name]
				if !ok {
					t.Errorf("tensor %s missing", name)
					continue
				}
				if fmt.Sprint(ti.dims) != fmt.Sprint(dims) {
					t.Errorf("tensor %s dims %v, want %v", name, ti.dims, dims)
				}
			}
			if len(f.tensors) != 3+9*blockCount {
				t.Errorf("%d tensors, want %d", len(f.tensors), 3+9*blockCount)
			}

			// Byte and control rows of output.weight are zero, except </s>.
			out := f.tensors["output.weight"]
			row := func(tok int) []float32 {
				return f.floats(out, tok*embeddingLen, embeddingLen)
			}
			for _, tok := range []int{0, 1, 3, 100, 258} {
				for _, v := range row(tok) {
					if v != 0 {
						t.Fatalf("output row of token %d is not zero", tok)
					}
				}
			}
			for _, tok := range []int{tokenEOS, 259, len(tokens) - 1} {
				var nonzero bool
				for _, v := range row(tok) {
					nonzero = nonzero || v != 0
				}
				if !nonzero {
					t.Errorf("output row of token %d is all zero", tok)
				}
			}
		})
	}
}

func TestWriteDir(t *testing.T) {
	dir := t.TempDir()
	if err := WriteDir(dir, Options{Seed: DefaultSeed}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Bytes(Options{Seed: DefaultSeed})
	if !bytes.Equal(b, want) {
		t.Error("WriteDir wrote different bytes than Bytes")
	}
	mf, err := os.ReadFile(filepath.Join(dir, "Modelfile"))
	if err != nil || string(mf) != Modelfile {
		t.Errorf("Modelfile = %q, %v", mf, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("dir holds %d entries, want 2 (temp files left behind?)", len(entries))
	}
}

func TestNormalMoments(t *testing.T) {
	r := rng{state: 9}
	const n = 100000
	var sum, sq float64
	for range n {
		v := r.normal()
		sum += v
		sq += v * v
	}
	mean, variance := sum/n, sq/n-(sum/n)*(sum/n)
	if math.Abs(mean) > 0.02 || math.Abs(variance-1) > 0.03 {
		t.Errorf("mean %.3f variance %.3f, want about 0 and 1", mean, variance)
	}
}

func BenchmarkBytes(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Bytes(Options{Seed: DefaultSeed}); err != nil {
			b.Fatal(err)
		}
	}
}

// gguf is what the test reader extracts from a file.
type gguf struct {
	b         []byte
	dataStart int
	kv        map[string]any
	tensors   map[string]tensorInfo
}

type tensorInfo struct {
	dims   []uint64
	offset uint64
}

func (f *gguf) floats(ti tensorInfo, from, n int) []float32 {
	out := make([]float32, n)
	base := f.dataStart + int(ti.offset) + 4*from
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(f.b[base+4*i:]))
	}
	return out
}

// parse is an independent GGUF reader: it checks the writer against the
// format description rather than against itself.
func parse(t *testing.T, b []byte) *gguf {
	t.Helper()
	p := 0
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("offset %d: "+format, append([]any{p}, args...)...)
	}
	need := func(n int) {
		t.Helper()
		if p+n > len(b) {
			fail("need %d bytes, file has %d", n, len(b)-p)
		}
	}
	u32 := func() uint32 { need(4); v := binary.LittleEndian.Uint32(b[p:]); p += 4; return v }
	u64 := func() uint64 { need(8); v := binary.LittleEndian.Uint64(b[p:]); p += 8; return v }
	str := func() string { n := int(u64()); need(n); s := string(b[p : p+n]); p += n; return s }
	var scalar func(typ uint32) any
	scalar = func(typ uint32) any {
		switch typ {
		case typeUint32:
			return u32()
		case typeInt32:
			return int32(u32())
		case typeFloat32:
			return math.Float32frombits(u32())
		case typeBool:
			need(1)
			p++
			return b[p-1] == 1
		case typeString:
			return str()
		}
		fail("value type %d", typ)
		return nil
	}

	need(4)
	if string(b[:4]) != "GGUF" {
		fail("magic %q", b[:4])
	}
	p = 4
	if v := u32(); v != 3 {
		fail("version %d", v)
	}
	nTensors, nKV := u64(), u64()
	f := &gguf{b: b, kv: map[string]any{}, tensors: map[string]tensorInfo{}}
	for range nKV {
		key := str()
		typ := u32()
		if typ != typeArray {
			f.kv[key] = scalar(typ)
			continue
		}
		elem, n := u32(), int(u64())
		switch elem {
		case typeString:
			v := make([]string, n)
			for i := range v {
				v[i] = str()
			}
			f.kv[key] = v
		case typeFloat32:
			v := make([]float32, n)
			for i := range v {
				v[i] = scalar(elem).(float32)
			}
			f.kv[key] = v
		case typeInt32:
			v := make([]int32, n)
			for i := range v {
				v[i] = scalar(elem).(int32)
			}
			f.kv[key] = v
		default:
			fail("array of type %d", elem)
		}
	}
	align := uint64(f.kv["general.alignment"].(uint32))
	var end uint64
	for range nTensors {
		name := str()
		ti := tensorInfo{dims: make([]uint64, u32())}
		for i := range ti.dims {
			ti.dims[i] = u64()
		}
		if typ := u32(); typ != ggmlTypeF32 {
			fail("tensor %s type %d", name, typ)
		}
		ti.offset = u64()
		if ti.offset%align != 0 {
			fail("tensor %s offset %d not aligned to %d", name, ti.offset, align)
		}
		f.tensors[name] = ti
		end = max(end, ti.offset+4*product(ti.dims))
	}
	f.dataStart = int(alignUp(uint64(p), align))
	if got := uint64(len(b) - f.dataStart); got != end {
		t.Fatalf("tensor data is %d bytes, tensors need %d", got, end)
	}
	return f
}
