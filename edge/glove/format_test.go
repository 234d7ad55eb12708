package glove

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testEntries is a tiny vocabulary in rank order, with vectors chosen so
// that "king" and "queen" are close and "carrot" is far from both.
func testEntries() []Entry {
	return []Entry{
		{Word: "the", Rank: 0, Vector: []float32{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}},
		{Word: "a", Rank: 2, Vector: []float32{0.1, -0.1, 0.1, -0.1, 0.1, -0.1, 0.1, -0.1}},
		{Word: "do", Rank: 5, Vector: []float32{0, 0, 1, 0, 0, 0, 0, 0}},
		{Word: "n't", Rank: 9, Vector: []float32{0, 0, 0, 0, 0, 0, 0, -3}},
		{Word: "'s", Rank: 11, Vector: []float32{0, 0, 0, 0, 0, 0, 0.5, 0}},
		{Word: "king", Rank: 700, Vector: []float32{3, 1, 0, 0, 0.2, 0, 0, 0}},
		{Word: "queen", Rank: 1500, Vector: []float32{2.8, 1.3, 0, 0, -0.2, 0.1, 0, 0}},
		{Word: "carrot", Rank: 9000, Vector: []float32{0, 0, 0, 2, 0, -1, 1, 0}},
		{Word: "café", Rank: 9001, Vector: []float32{0, 1, 0, 2, 0, -1, 1, 0}},
		{Word: "zero", Rank: 9002, Vector: []float32{0, 0, 0, 0, 0, 0, 0, 0}},
	}
}

const testDims, testVocab = 8, 10000

func encodeEntries(t testing.TB, dims, vocab int, entries []Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, dims, vocab, entries); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return buf.Bytes()
}

func testEmbedder(t testing.TB) *Embedder {
	t.Helper()
	e, err := parse(encodeEntries(t, testDims, testVocab, testEntries()))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return e
}

func TestRoundTrip(t *testing.T) {
	entries := testEntries()
	data := encodeEntries(t, testDims, testVocab, entries)
	if want := headerSize + trailerSize + len(entries)*(recordFixed+testDims) + wordBytes(entries); len(data) != want {
		t.Errorf("file is %d bytes, want %d", len(data), want)
	}
	path := filepath.Join(t.TempDir(), "glove.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if e.Dims() != testDims || e.Len() != len(entries) || e.Name() != "glove" {
		t.Fatalf("Dims %d Len %d Name %q", e.Dims(), e.Len(), e.Name())
	}
	for i, en := range entries {
		if got := e.Word(i); got != en.Word {
			t.Errorf("Word(%d) = %q, want %q", i, got, en.Word)
		}
		if r, ok := e.Rank(en.Word); !ok || r != int(en.Rank) {
			t.Errorf("Rank(%q) = %d, %v; want %d", en.Word, r, ok, en.Rank)
		}
		// Dequantise and compare with the normalised original.
		row := e.vectors[i*testDims : (i+1)*testDims]
		w := sifWeight(en.Rank, testVocab)
		deq := make([]float32, testDims)
		for j, q := range row {
			deq[j] = e.coef[i] / w * float32(q)
		}
		if en.Word == "zero" {
			if !allZero(deq) {
				t.Errorf("zero vector came back as %v", deq)
			}
			continue
		}
		if c := cosine(deq, en.Vector); c < 0.999 {
			t.Errorf("%q: cosine of dequantised to original %v, want >= 0.999", en.Word, c)
		}
		if n := norm(deq); math.Abs(n-1) > 0.01 {
			t.Errorf("%q: dequantised norm %v, want ~1", en.Word, n)
		}
	}
	if _, ok := e.Rank("missing"); ok {
		t.Error("Rank(missing) ok")
	}
}

func TestEncodeDeterministic(t *testing.T) {
	a := encodeEntries(t, testDims, testVocab, testEntries())
	b := encodeEntries(t, testDims, testVocab, testEntries())
	if !bytes.Equal(a, b) {
		t.Fatal("two encodings of the same entries differ")
	}
}

func TestEncodeErrors(t *testing.T) {
	good := testEntries()
	mod := func(f func([]Entry) []Entry) []Entry {
		return f(append([]Entry(nil), good...))
	}
	tests := []struct {
		name    string
		dims    int
		vocab   int
		entries []Entry
		want    string
	}{
		{"zero dims", 0, testVocab, good, "dims 0"},
		{"huge dims", MaxDims + 1, testVocab, good, "dims"},
		{"no entries", testDims, testVocab, nil, "0 entries"},
		{"vocab too small", testDims, 3, good, "vocab 3"},
		{"empty word", testDims, testVocab, mod(func(e []Entry) []Entry { e[1].Word = ""; return e }), "word length 0"},
		{"long word", testDims, testVocab, mod(func(e []Entry) []Entry { e[1].Word = strings.Repeat("x", 256); return e }), "word length 256"},
		{"duplicate", testDims, testVocab, mod(func(e []Entry) []Entry { e[2].Word = "the"; return e }), "duplicate word"},
		{"rank order", testDims, testVocab, mod(func(e []Entry) []Entry { e[2].Rank = 1; return e }), "not above"},
		{"rank past vocab", testDims, 9002, good, "not below vocab"},
		{"short vector", testDims, testVocab, mod(func(e []Entry) []Entry { e[1].Vector = []float32{1}; return e }), "1 values"},
		{"nan", testDims, testVocab, mod(func(e []Entry) []Entry {
			e[1].Vector = append([]float32{float32(math.NaN())}, e[1].Vector[1:]...)
			return e
		}), "non-finite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Encode(&bytes.Buffer{}, tt.dims, tt.vocab, tt.entries)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Encode error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	good := encodeEntries(t, testDims, testVocab, testEntries())
	// withHeader rewrites a header field and fixes the checksum, so the
	// field check itself is what fails.
	withHeader := func(off int, v uint32) []byte {
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint32(b[off:], v)
		return fixCRC(b)
	}
	flipped := bytes.Clone(good)
	flipped[headerSize+3] ^= 0x40
	badRank := bytes.Clone(good)
	// Record 1 ("a") starts after record 0 ("the"); make its rank 0.
	binary.LittleEndian.PutUint32(badRank[headerSize+recordFixed+3+testDims+1+1:], 0)
	badScale := bytes.Clone(good)
	binary.LittleEndian.PutUint32(badScale[headerSize+1+3+4:], math.Float32bits(float32(math.Inf(1))))
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"text", []byte("the 0.1 0.2 0.3\nof 0.4 0.5 0.6\n"), "bad magic"},
		{"version", withHeader(8, 2), "version 2"},
		{"zero dims", withHeader(12, 0), "dims 0"},
		{"absurd dims", withHeader(12, 1<<30), "dims 1073741824"},
		{"zero count", withHeader(16, 0), "count 0"},
		{"absurd count", withHeader(16, math.MaxUint32), "count 4294967295"},
		{"count beyond size", withHeader(16, 1000), "truncated"},
		{"vocab below count", withHeader(20, 3), "vocab 3"},
		{"rank past vocab", withHeader(20, 9002), "not below vocab"},
		{"checksum", flipped, "checksum"},
		{"rank order", fixCRC(badRank), "not above"},
		{"scale", fixCRC(badScale), "bad scale"},
		{"trailing bytes", fixCRC(append(bytes.Clone(good[:len(good)-4]), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)), "after the last record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.data)
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("parse error %v, want ErrFormat containing %q", err, tt.want)
			}
		})
	}
}

func TestParseDuplicateWord(t *testing.T) {
	entries := testEntries()[:3]
	entries[2].Word = "tho" // same length as "the", patched below
	data := encodeEntries(t, testDims, testVocab, entries)
	i := bytes.LastIndex(data, []byte("tho"))
	copy(data[i:], "the")
	_, err := parse(fixCRC(data))
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "duplicate word") {
		t.Fatalf("parse error %v, want a duplicate word", err)
	}
}

// TestParseTruncated cuts a valid file at every length: each prefix must be
// refused with ErrFormat, none may panic.
func TestParseTruncated(t *testing.T) {
	good := encodeEntries(t, testDims, testVocab, testEntries())
	for n := range len(good) {
		if _, err := parse(good[:n]); !errors.Is(err, ErrFormat) {
			t.Fatalf("parse of the first %d of %d bytes: %v, want ErrFormat", n, len(good), err)
		}
		// With a matching checksum the record checks must catch it.
		if n >= headerSize && n < len(good)-trailerSize {
			if _, err := parse(fixCRC(append(bytes.Clone(good[:n]), 0, 0, 0, 0))); !errors.Is(err, ErrFormat) {
				t.Fatalf("parse of %d bytes with a fixed checksum: %v, want ErrFormat", n, err)
			}
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want ErrNotExist", err)
	}
	bad := filepath.Join(dir, "bad.bin")
	if err := os.WriteFile(bad, []byte("EWGLOVE\nnope"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(bad)
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), bad) {
		t.Errorf("Load(bad) = %v, want ErrFormat naming the file", err)
	}
}

func FuzzLoad(f *testing.F) {
	good := encodeEntries(f, testDims, testVocab, testEntries())
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(Magic))
	small := encodeEntries(f, 2, 2, []Entry{{Word: "x", Rank: 1, Vector: []float32{1, 2}}})
	f.Add(small)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := parse(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v is not ErrFormat", err)
			}
			// Checksums make random bytes fail early; fix it to reach
			// the record checks too.
			if len(data) >= headerSize+trailerSize {
				e, err = parse(fixCRC(bytes.Clone(data)))
			}
			if err != nil {
				return
			}
		}
		v := e.Vector("the king don't x café")
		if len(v) != e.Dims() {
			t.Fatalf("vector of %d, want %d", len(v), e.Dims())
		}
		for i := range e.Len() {
			if _, ok := e.Rank(e.Word(i)); !ok {
				t.Fatalf("word %d %q not found", i, e.Word(i))
			}
		}
	})
}

func fixCRC(b []byte) []byte {
	body := b[:len(b)-trailerSize]
	binary.LittleEndian.PutUint32(b[len(body):], crc32.Checksum(body, castagnoli))
	return b
}

func wordBytes(entries []Entry) int {
	n := 0
	for _, e := range entries {
		n += len(e.Word)
	}
	return n
}

func allZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func cosine(a, b []float32) float64 {
	var d float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
	}
	na, nb := norm(a), norm(b)
	if na == 0 || nb == 0 {
		return 0
	}
	return d / na / nb
}
