package glove

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/llm"
)

func TestTokens(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"punctuation only", " ?!.,;-- ", nil},
		{"lowercase and split", "How do I reverse a list in Python?", []string{"how", "do", "i", "reverse", "a", "list", "in", "python"}},
		{"inner apostrophe kept", "Don't stop: it's France's", []string{"don't", "stop", "it's", "france's"}},
		{"curly apostrophe", "don\u2019t", []string{"don't"}},
		{"outer apostrophes trimmed", "'quoted' users' files", []string{"quoted", "users", "files"}},
		{"digits", "Convert 3.5 km to miles in 2024", []string{"convert", "3", "5", "km", "to", "miles", "in", "2024"}},
		{"identifiers split", "os.path.join(a_b) getElementById", []string{"os", "path", "join", "a", "b", "getelementbyid"}},
		{"unicode", "Café ÉCOLE naïve Straße", []string{"café", "école", "naïve", "straße"}},
		{"hyphen splits", "state-of-the-art", []string{"state", "of", "the", "art"}},
		{"invalid utf8", "ab\xffcd", []string{"ab", "cd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Tokens(tt.in); !slices.Equal(got, tt.want) {
				t.Fatalf("Tokens(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestIndexable(t *testing.T) {
	tests := []struct {
		word string
		want bool
	}{
		{"the", true}, {"n't", true}, {"'s", true}, {"1990", true}, {"café", true}, {"rock'n'roll", true},
		{"", false}, {",", false}, {"u.s.", false}, {"The", false}, {"'", false}, {"o''neil", false},
		{"dogs'", false}, {"''s", false}, {"'a'b", false}, {"a-b", false}, {strings.Repeat("a", 256), false},
	}
	for _, tt := range tests {
		if got := Indexable(tt.word); got != tt.want {
			t.Errorf("Indexable(%q) = %v, want %v", tt.word, got, tt.want)
		}
	}
}

func TestVector(t *testing.T) {
	e := testEmbedder(t)
	t.Run("deterministic", func(t *testing.T) {
		a, b := e.Vector("The king and the queen"), e.Vector("The king and the queen")
		if !slices.Equal(a, b) {
			t.Fatal("same text, different vectors")
		}
	})
	t.Run("unit length", func(t *testing.T) {
		if n := norm(e.Vector("king carrot")); n < 0.999 || n > 1.001 {
			t.Fatalf("norm %v, want 1", n)
		}
	})
	t.Run("case and punctuation do not matter", func(t *testing.T) {
		if !slices.Equal(e.Vector("KING, Queen!"), e.Vector("king queen")) {
			t.Fatal("vectors differ")
		}
	})
	t.Run("empty and unknown give zero", func(t *testing.T) {
		for _, s := range []string{"", "   ", "unknown words only", "zero"} {
			v := e.Vector(s)
			if len(v) != testDims || !allZero(v) {
				t.Errorf("Vector(%q) = %v, want %d zeros", s, v, testDims)
			}
		}
	})
	t.Run("unknown words skipped", func(t *testing.T) {
		if !slices.Equal(e.Vector("king xyzzy"), e.Vector("king")) {
			t.Fatal("an unknown word changed the vector")
		}
	})
	t.Run("similarity", func(t *testing.T) {
		kq, kc := cosine(e.Vector("king"), e.Vector("queen")), cosine(e.Vector("king"), e.Vector("carrot"))
		if kq <= kc || kq < 0.9 {
			t.Fatalf("king~queen %v, king~carrot %v", kq, kc)
		}
	})
	t.Run("frequent words weigh less", func(t *testing.T) {
		// "the" (rank 0) barely moves "king" (rank 700).
		if c := cosine(e.Vector("the king"), e.Vector("king")); c < 0.99 {
			t.Fatalf("cosine(the king, king) = %v, want >= 0.99", c)
		}
	})
	t.Run("contractions split", func(t *testing.T) {
		// The test vocabulary has "n't" and "'s", like GloVe itself.
		want := e.Vector("do n't")
		for _, s := range []string{"don't", "don\u2019t", "DON'T"} {
			if got := e.Vector(s); allZero(want) || !slices.Equal(got, want) {
				t.Errorf("%q is not do + n't", s)
			}
		}
		// A token never starts with an apostrophe, so build king + 's by hand.
		want = make([]float32, testDims)
		e.add(want, e.index["king"])
		e.add(want, e.index["'s"])
		normalize(want)
		if !slices.Equal(e.Vector("king's"), want) {
			t.Fatal("king's is not king + 's")
		}
	})
	t.Run("missing clitics spelled out", func(t *testing.T) {
		// A vocabulary without "n't" and "'re", like the wink source.
		e := mustParse(t, []Entry{
			{Word: "are", Rank: 1, Vector: []float32{1, 0, 0, 0}},
			{Word: "can", Rank: 2, Vector: []float32{0, 1, 0, 0}},
			{Word: "not", Rank: 3, Vector: []float32{0, 0, 1, 0}},
			{Word: "we", Rank: 4, Vector: []float32{0, 0, 0, 1}},
		})
		for _, tt := range [][2]string{{"can't", "can not"}, {"we're", "we are"}, {"we'd", "we"}, {"aren't", "are not"}} {
			if got, want := e.Vector(tt[0]), e.Vector(tt[1]); !slices.Equal(got, want) {
				t.Errorf("Vector(%q) != Vector(%q)", tt[0], tt[1])
			}
		}
	})
}

func mustParse(t testing.TB, entries []Entry) *Embedder {
	t.Helper()
	e, err := parse(encodeEntries(t, len(entries[0].Vector), 100, entries))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestVectorAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	e := testEmbedder(t)
	text := strings.Repeat("The king don't like the queen's carrot, café. ", 3)
	e.Vector(text) // warm the pool
	if n := testing.AllocsPerRun(100, func() { e.Vector(text) }); n > 1 {
		t.Fatalf("Vector allocates %v times, want 1 (the result)", n)
	}
}

func TestEmbed(t *testing.T) {
	e := testEmbedder(t)
	var _ llm.Embedder = e
	ctx := context.Background()
	dims := testDims
	wrong := 4
	t.Run("vectors in order", func(t *testing.T) {
		resp, err := e.Embed(ctx, &llm.EmbedRequest{Model: "glove-100d", Input: []string{"king", "carrot", ""}, Dimensions: &dims})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Model != "glove-100d" || len(resp.Vectors) != 3 {
			t.Fatalf("model %q, %d vectors", resp.Model, len(resp.Vectors))
		}
		if !slices.Equal(resp.Vectors[0], e.Vector("king")) || !slices.Equal(resp.Vectors[1], e.Vector("carrot")) || !allZero(resp.Vectors[2]) {
			t.Fatal("vectors differ from Vector")
		}
		// Appending to one vector must not overwrite the next.
		_ = append(resp.Vectors[0], 42)
		if !slices.Equal(resp.Vectors[1], e.Vector("carrot")) {
			t.Fatal("vectors share capacity")
		}
		if resp.Usage.PromptTokens != 2 || resp.Usage.TotalTokens != 2 {
			t.Fatalf("usage %+v, want 2 tokens", resp.Usage)
		}
	})
	errTests := []struct {
		name string
		ctx  context.Context
		req  llm.EmbedRequest
		kind llm.Kind
	}{
		{"no input", ctx, llm.EmbedRequest{}, llm.KindBadRequest},
		{"too many inputs", ctx, llm.EmbedRequest{Input: make([]string, MaxInputs+1)}, llm.KindBadRequest},
		{"dimensions", ctx, llm.EmbedRequest{Input: []string{"king"}, Dimensions: &wrong}, llm.KindBadRequest},
		{"canceled", canceled(), llm.EmbedRequest{Input: []string{"king"}}, llm.KindCanceled},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Embed(tt.ctx, &tt.req)
			var le *llm.Error
			if !errors.As(err, &le) || le.Kind != tt.kind || le.Provider != "glove" {
				t.Fatalf("error %v, want a glove %v", err, tt.kind)
			}
		})
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func BenchmarkVectorSynthetic(b *testing.B) {
	e := testEmbedder(b)
	text := strings.Repeat("The king don't like the queen's carrot ", 5)
	b.ReportAllocs()
	for b.Loop() {
		e.Vector(text)
	}
}
