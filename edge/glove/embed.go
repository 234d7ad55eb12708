package glove

import (
	"context"
	"math"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/llm"
)

// Name is the embedder's provider name in errors and metrics.
const Name = "glove"

// SIFParam is the a in the SIF weight a/(a+p(w)). Arora et al. found
// 1e-4..1e-3 best; 1e-3 still gives mid-frequency words (rank ~100) about
// half weight, which helps short prompts where they carry meaning.
const SIFParam = 1e-3

// MaxInputs bounds the inputs of one Embed call (OpenAI's own limit).
const MaxInputs = 2048

// maxPooledBuf is the largest lowercase buffer returned to the pool, so
// one huge prompt does not pin its buffer for the life of the process.
const maxPooledBuf = 64 << 10

// Embedder turns text into vectors from a loaded glove.bin. It is
// read-only after Load and safe for concurrent use.
type Embedder struct {
	dims  int
	vocab int
	// vectors holds row i at [i*dims, (i+1)*dims).
	vectors []int8
	// coef[i] is row i's quantisation scale times its SIF weight, so a
	// row contributes coef[i]*vectors[row] to the sum.
	coef  []float32
	ranks []uint32
	// words holds every word back to back; word i is
	// words[starts[i]:starts[i+1]].
	words  string
	starts []int32
	index  map[string]int32
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Name returns "glove".
func (e *Embedder) Name() string { return Name }

// Dims returns the vector width.
func (e *Embedder) Dims() int { return e.dims }

// Len returns the number of words in the vocabulary.
func (e *Embedder) Len() int { return len(e.ranks) }

// Rank returns the source frequency rank of word (0 is the most frequent)
// and whether word is in the vocabulary. word must be lowercase.
func (e *Embedder) Rank(word string) (int, bool) {
	i, ok := e.index[word]
	if !ok {
		return 0, false
	}
	return int(e.ranks[i]), true
}

// Word returns the vocabulary word of row i, 0 <= i < Len() (rows are in
// rank order).
func (e *Embedder) Word(i int) string {
	return e.words[e.starts[i]:e.starts[i+1]]
}

// Embed implements llm.Embedder: one L2-normalised vector per input, in
// input order, computed locally. Model is echoed. Usage counts tokens the
// way Vector splits text, known or not. A request for Dimensions other
// than Dims is refused: averaged word vectors cannot be shortened.
func (e *Embedder) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	if len(req.Input) == 0 {
		return nil, llm.Errorf(Name, llm.KindBadRequest, "embed: no input")
	}
	if len(req.Input) > MaxInputs {
		return nil, llm.Errorf(Name, llm.KindBadRequest, "embed: %d inputs, at most %d", len(req.Input), MaxInputs)
	}
	if req.Dimensions != nil && *req.Dimensions != e.dims {
		return nil, llm.Errorf(Name, llm.KindBadRequest, "embed: dimensions %d: this embedder has only %d", *req.Dimensions, e.dims)
	}
	out := &llm.EmbedResponse{Model: req.Model, Vectors: make([][]float32, len(req.Input))}
	// One backing array for all vectors: one allocation per request.
	flat := make([]float32, len(req.Input)*e.dims)
	tokens := 0
	for i, text := range req.Input {
		if err := ctx.Err(); err != nil {
			return nil, &llm.Error{Provider: Name, Kind: llm.KindOf(err), Err: err}
		}
		v := flat[i*e.dims : (i+1)*e.dims : (i+1)*e.dims]
		tokens += e.vector(v, text)
		out.Vectors[i] = v
	}
	out.Usage = llm.Usage{PromptTokens: tokens, TotalTokens: tokens}
	return out, nil
}

// Vector returns the embedding of text: the SIF-weighted average of its
// known words' vectors, L2-normalised; the zero vector when no word is
// known. The same text always gives the same vector.
func (e *Embedder) Vector(text string) []float32 {
	v := make([]float32, e.dims)
	e.vector(v, text)
	return v
}

// vector writes text's embedding to v (len dims, any content) and returns
// the number of tokens.
func (e *Embedder) vector(v []float32, text string) int {
	clear(v)
	bp := bufPool.Get().(*[]byte)
	lower := lowerWords((*bp)[:0], text)
	buf := lower
	n := 0
	for len(buf) > 0 {
		var tok []byte
		tok, buf = nextToken(buf)
		if len(tok) == 0 {
			continue
		}
		n++
		if i, ok := e.index[string(tok)]; ok {
			e.add(v, i)
			continue
		}
		e.addSplit(v, tok)
	}
	if cap(lower) <= maxPooledBuf {
		*bp = lower[:0]
		bufPool.Put(bp)
	}
	normalize(v)
	return n
}

// addSplit adds the parts of an unknown token with an inner apostrophe,
// split the way GloVe's corpus was tokenised: "don't" -> "do" "n't",
// "it's" -> "it" "'s". The wink source dropped the clitic entries ("n't",
// "'s", "'re", ...), so a clitic that is not in the vocabulary is replaced
// by the word it stands for ("not", "are", ...), and the odd stems of
// "can't", "won't", "shan't" by "can", "will", "shall". "'s" (is or a
// possessive) has no replacement. Unknown parts are skipped.
func (e *Embedder) addSplit(v []float32, tok []byte) {
	if l := len(tok); l > 3 && string(tok[l-3:]) == "n't" {
		stem := tok[:l-3]
		switch string(stem) {
		case "ca":
			e.addWord(v, "can")
		case "wo":
			e.addWord(v, "will")
		case "sha":
			e.addWord(v, "shall")
		default:
			if i, ok := e.index[string(stem)]; ok {
				e.add(v, i)
			}
		}
		if !e.addWord(v, "n't") {
			e.addWord(v, "not")
		}
		return
	}
	k := -1
	for j, c := range tok {
		if c == '\'' {
			k = j
			break
		}
	}
	if k <= 0 {
		return
	}
	if i, ok := e.index[string(tok[:k])]; ok {
		e.add(v, i)
	}
	if i, ok := e.index[string(tok[k:])]; ok {
		e.add(v, i)
		return
	}
	switch string(tok[k:]) {
	case "'re":
		e.addWord(v, "are")
	case "'ll":
		e.addWord(v, "will")
	case "'ve":
		e.addWord(v, "have")
	case "'m":
		e.addWord(v, "am")
	case "'d":
		e.addWord(v, "would")
	}
}

// addWord adds word's vector and reports whether word is known.
func (e *Embedder) addWord(v []float32, word string) bool {
	i, ok := e.index[word]
	if ok {
		e.add(v, i)
	}
	return ok
}

func (e *Embedder) add(v []float32, i int32) {
	c := e.coef[i]
	row := e.vectors[int(i)*e.dims : int(i+1)*e.dims]
	v = v[:len(row)]
	for j, q := range row {
		v[j] += c * float32(q)
	}
}

func normalize(v []float32) {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(ss))
	for j := range v {
		v[j] *= inv
	}
}

// sifWeight is a/(a+p) with p estimated from the rank by Zipf's law,
// p(r) = 1/((r+1)*H(vocab)).
func sifWeight(rank uint32, vocab int) float32 {
	// H(n) ~= ln n + Euler-Mascheroni + 1/(2n).
	h := math.Log(float64(vocab)) + 0.5772156649 + 1/(2*float64(vocab))
	p := 1 / ((float64(rank) + 1) * h)
	return float32(SIFParam / (SIFParam + p))
}

// lowerWords appends text to dst lowercased, with every rune that is not a
// letter, digit or apostrophe replaced by a space and every apostrophe
// variant (’ ʼ ‘) by the ASCII one. The result splits into tokens with
// nextToken.
func lowerWords(dst []byte, text string) []byte {
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '\'':
				dst = append(dst, c)
			case 'A' <= c && c <= 'Z':
				dst = append(dst, c+('a'-'A'))
			default:
				dst = append(dst, ' ')
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		switch {
		case r == '\u2019' || r == '\u02bc' || r == '\u2018':
			dst = append(dst, '\'')
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			dst = utf8.AppendRune(dst, unicode.ToLower(r))
		default:
			dst = append(dst, ' ')
		}
	}
	return dst
}

// nextToken returns the first token of buf (a lowerWords result) with its
// leading and trailing apostrophes trimmed, and the rest of buf. The
// token is empty when buf starts with separators only.
func nextToken(buf []byte) (tok, rest []byte) {
	i := 0
	for i < len(buf) && buf[i] == ' ' {
		i++
	}
	j := i
	for j < len(buf) && buf[j] != ' ' {
		j++
	}
	tok = buf[i:j]
	for len(tok) > 0 && tok[0] == '\'' {
		tok = tok[1:]
	}
	for len(tok) > 0 && tok[len(tok)-1] == '\'' {
		tok = tok[:len(tok)-1]
	}
	return tok, buf[j:]
}

// Tokens returns the tokens Vector looks up in text, for tests and tools.
func Tokens(text string) []string {
	buf := lowerWords(nil, text)
	var out []string
	for len(buf) > 0 {
		var tok []byte
		tok, buf = nextToken(buf)
		if len(tok) > 0 {
			out = append(out, string(tok))
		}
	}
	return out
}

// Indexable reports whether word can be found by Vector: lowercase
// letters, digits and apostrophes only, with a letter or digit in it.
// Entries starting with an apostrophe ("'s", "n't") are reached through
// the contraction split. The converter keeps only indexable words.
func Indexable(word string) bool {
	if word == "" || len(word) > MaxWordLen || !utf8.ValidString(word) {
		return false
	}
	alnum := false
	for _, r := range word {
		switch {
		case r == '\'':
		case unicode.IsDigit(r):
			alnum = true
		case unicode.IsLetter(r):
			if unicode.ToLower(r) != r {
				return false
			}
			alnum = true
		default:
			return false
		}
	}
	if !alnum || strings.Contains(word, "''") || strings.HasSuffix(word, "'") {
		return false
	}
	// A word that starts with an apostrophe is only reachable as the tail
	// of a split token, which always holds exactly one apostrophe.
	if word[0] == '\'' && strings.Count(word, "'") != 1 {
		return false
	}
	return true
}
