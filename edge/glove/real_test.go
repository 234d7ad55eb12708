package glove_test

import (
	"math"
	"testing"

	"github.com/edgeway/edgeway/edge/glove"
	"github.com/edgeway/edgeway/edge/glove/glovetest"
)

// These tests use the real glove.bin from scripts/glove.sh; they skip
// without it unless EDGEWAY_REQUIRE_GLOVE=1.

func cos(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return d / math.Sqrt(na*nb)
}

func TestRealVocabulary(t *testing.T) {
	e := glovetest.Require(t)
	if e.Dims() != 100 || e.Len() != 50000 {
		t.Fatalf("Dims %d Len %d, want 100 and 50000 (scripts/glove.sh defaults)", e.Dims(), e.Len())
	}
	for _, tt := range []struct {
		word string
		rank int
	}{{"the", 0}, {"of", 3}, {"not", -1}, {"python", -1}} {
		r, ok := e.Rank(tt.word)
		if !ok {
			t.Errorf("%q not in the vocabulary", tt.word)
		} else if tt.rank >= 0 && r != tt.rank {
			t.Errorf("Rank(%q) = %d, want %d", tt.word, r, tt.rank)
		}
	}
	if _, ok := e.Rank(","); ok {
		t.Error("punctuation was kept")
	}
}

func TestRealSimilarity(t *testing.T) {
	e := glovetest.Require(t)
	sim := func(a, b string) float64 { return cos(e.Vector(a), e.Vector(b)) }
	pairs := []struct{ close, far [2]string }{
		{[2]string{"king", "queen"}, [2]string{"king", "carrot"}},
		{[2]string{"car", "truck"}, [2]string{"car", "poem"}},
		{[2]string{"How do I reverse a list in Python?", "How can I reverse a Python list?"},
			[2]string{"How do I reverse a list in Python?", "What is the boiling point of water?"}},
	}
	for _, p := range pairs {
		c, f := sim(p.close[0], p.close[1]), sim(p.far[0], p.far[1])
		t.Logf("%q~%q %.3f > %q~%q %.3f", p.close[0], p.close[1], c, p.far[0], p.far[1], f)
		if c <= f {
			t.Errorf("%q~%q %.3f not above %q~%q %.3f", p.close[0], p.close[1], c, p.far[0], p.far[1], f)
		}
	}
	if s := sim("How do I reverse a list in Python?", "How can I reverse a Python list?"); s < 0.95 {
		t.Errorf("paraphrase similarity %.3f, want >= 0.95", s)
	}
}

// prompt30 is a 30-word prompt, the size of a typical chat question.
const prompt30 = "I have a Python script that reads a CSV file with pandas and it runs out of memory on my Raspberry Pi, how can I process it in smaller chunks?"

func BenchmarkVector30Words(b *testing.B) {
	e := glovetest.Require(b)
	if n := len(glove.Tokens(prompt30)); n != 30 {
		b.Fatalf("prompt has %d tokens, want 30", n)
	}
	b.ReportAllocs()
	var sink []float32
	for b.Loop() {
		sink = e.Vector(prompt30)
	}
	_ = sink
}

func BenchmarkLoad(b *testing.B) {
	glovetest.Require(b)
	p, _ := glove.Path()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := glove.Load(p); err != nil {
			b.Fatal(err)
		}
	}
}
