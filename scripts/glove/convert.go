package main

import (
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/edgeway/edgeway/edge/glove"
)

// maxVocab bounds the source vocabulary the converter accepts (the words
// array and the rank bitset grow with it).
const maxVocab = 10_000_000

// normTolerance is the relative difference allowed between a vector's
// stated L2 norm and the norm of its values: the values are rounded in the
// file, the norm was computed before rounding.
const normTolerance = 1e-3

// source is what convert keeps of the JSON file.
type source struct {
	dims    int
	vocab   int
	entries []glove.Entry // in rank order
	dropped int           // vocabulary words the tokenizer can never produce
}

// header holds the layout fields that precede the vectors.
type header struct {
	precision, l2NormIndex, wordIndex, size, dims int
}

// convert stream-parses the wink JSON from r and keeps the n most frequent
// indexable words. It validates the layout as it goes: every vector has
// dims+2 values, its stated norm matches its values, ranks are unique and
// below size, and words[rank] names the vector.
func convert(r io.Reader, n int) (*source, error) {
	if n < 1 || n > glove.MaxWords {
		return nil, fmt.Errorf("words %d outside 1..%d", n, glove.MaxWords)
	}
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	h := header{precision: -1, l2NormIndex: -1, wordIndex: -1, size: -1, dims: -1}
	var (
		words      []string
		sawWords   bool
		sawVectors bool
		kept       rankHeap
		nvec       int
		dropped    int
	)
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return nil, err
		}
		switch key {
		case "precision", "l2NormIndex", "wordIndex", "size", "dimensions":
			var v int
			if err := dec.Decode(&v); err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			*h.field(key) = v
		case "words":
			if words, err = readWords(dec); err != nil {
				return nil, err
			}
			sawWords = true
		case "vectors":
			if err := h.check(); err != nil {
				return nil, err
			}
			if nvec, dropped, err = readVectors(dec, h, n, &kept); err != nil {
				return nil, err
			}
			sawVectors = true
		default:
			if err := skipValue(dec); err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the top-level object")
	}
	switch {
	case !sawWords:
		return nil, errors.New("no words array")
	case !sawVectors:
		return nil, errors.New("no vectors object")
	case len(words) != h.size:
		return nil, fmt.Errorf("words has %d entries, size says %d", len(words), h.size)
	case nvec != h.size:
		return nil, fmt.Errorf("vectors has %d entries, size says %d", nvec, h.size)
	case len(kept) == 0:
		return nil, errors.New("no usable words")
	}
	entries := []glove.Entry(kept)
	slices.SortFunc(entries, func(a, b glove.Entry) int { return int(a.Rank) - int(b.Rank) })
	for _, e := range entries {
		if words[e.Rank] != e.Word {
			return nil, fmt.Errorf("vector %q says rank %d, but words[%d] is %q", e.Word, e.Rank, e.Rank, words[e.Rank])
		}
	}
	return &source{dims: h.dims, vocab: h.size, entries: entries, dropped: dropped}, nil
}

func (h *header) field(key string) *int {
	switch key {
	case "precision":
		return &h.precision
	case "l2NormIndex":
		return &h.l2NormIndex
	case "wordIndex":
		return &h.wordIndex
	case "size":
		return &h.size
	default:
		return &h.dims
	}
}

// check validates the layout fields; they must all come before vectors,
// which cannot be read without them.
func (h *header) check() error {
	if h.dims < 1 || h.dims > glove.MaxDims {
		return fmt.Errorf("dimensions %d (missing or outside 1..%d) before vectors", h.dims, glove.MaxDims)
	}
	if h.size < 1 || h.size > maxVocab {
		return fmt.Errorf("size %d (missing or outside 1..%d) before vectors", h.size, maxVocab)
	}
	if !(h.l2NormIndex == h.dims && h.wordIndex == h.dims+1) && !(h.l2NormIndex == h.dims+1 && h.wordIndex == h.dims) {
		return fmt.Errorf("l2NormIndex %d and wordIndex %d: want %d and %d after the %d values",
			h.l2NormIndex, h.wordIndex, h.dims, h.dims+1, h.dims)
	}
	return nil
}

func readWords(dec *json.Decoder) ([]string, error) {
	if err := expectDelim(dec, '['); err != nil {
		return nil, fmt.Errorf("words: %w", err)
	}
	var words []string
	for dec.More() {
		w, err := stringToken(dec)
		if err != nil {
			return nil, fmt.Errorf("words[%d]: %w", len(words), err)
		}
		if len(words) >= maxVocab {
			return nil, fmt.Errorf("words: more than %d", maxVocab)
		}
		words = append(words, w)
	}
	if err := expectDelim(dec, ']'); err != nil {
		return nil, fmt.Errorf("words: %w", err)
	}
	return words, nil
}

// readVectors reads the vectors object, keeping in kept the n indexable
// words of lowest rank. It returns the number of vectors and how many
// were not indexable.
func readVectors(dec *json.Decoder, h header, n int, kept *rankHeap) (count, dropped int, err error) {
	if err := expectDelim(dec, '{'); err != nil {
		return 0, 0, fmt.Errorf("vectors: %w", err)
	}
	seen := make([]uint64, (h.size+63)/64)
	vals := make([]float64, 0, h.dims+2)
	for dec.More() {
		word, err := stringToken(dec)
		if err != nil {
			return 0, 0, fmt.Errorf("vectors: %w", err)
		}
		// Decoding into the same slice reuses its array: no allocation per
		// vector.
		vals = vals[:0]
		if err := dec.Decode(&vals); err != nil {
			return 0, 0, fmt.Errorf("vectors[%q]: %w", word, err)
		}
		if len(vals) != h.dims+2 {
			return 0, 0, fmt.Errorf("vectors[%q]: %d values, want %d", word, len(vals), h.dims+2)
		}
		r := vals[h.wordIndex]
		if r != math.Trunc(r) || r < 0 || r >= float64(h.size) {
			return 0, 0, fmt.Errorf("vectors[%q]: word index %v outside 0..%d", word, r, h.size-1)
		}
		rank := uint32(r)
		if seen[rank/64]&(1<<(rank%64)) != 0 {
			return 0, 0, fmt.Errorf("vectors[%q]: word index %d used twice", word, rank)
		}
		seen[rank/64] |= 1 << (rank % 64)
		count++
		var ss float64
		for _, x := range vals[:h.dims] {
			ss += x * x
		}
		if norm := vals[h.l2NormIndex]; math.Abs(math.Sqrt(ss)-norm) > normTolerance*norm {
			return 0, 0, fmt.Errorf("vectors[%q]: stated norm %v, values give %v: layout not understood", word, norm, math.Sqrt(ss))
		}
		if !glove.Indexable(word) {
			dropped++
			continue
		}
		if len(*kept) == n && rank >= (*kept)[0].Rank {
			continue
		}
		var vec []float32
		if len(*kept) == n {
			// Reuse the evicted entry's vector.
			vec = heap.Pop(kept).(glove.Entry).Vector
		} else {
			vec = make([]float32, h.dims)
		}
		for i, x := range vals[:h.dims] {
			vec[i] = float32(x)
		}
		heap.Push(kept, glove.Entry{Word: word, Rank: rank, Vector: vec})
	}
	if err := expectDelim(dec, '}'); err != nil {
		return 0, 0, fmt.Errorf("vectors: %w", err)
	}
	return count, dropped, nil
}

// rankHeap is a max-heap on Rank: its top is the kept word to evict first.
type rankHeap []glove.Entry

func (h rankHeap) Len() int           { return len(h) }
func (h rankHeap) Less(i, j int) bool { return h[i].Rank > h[j].Rank }
func (h rankHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *rankHeap) Push(x any)        { *h = append(*h, x.(glove.Entry)) }
func (h *rankHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("want %q: %w", want, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q, got %v", want, tok)
	}
	return nil
}

func stringToken(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("want a string, got %v", tok)
	}
	return s, nil
}

// skipValue consumes one value of any shape token by token, so an unknown
// field costs no memory however large it is.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			default:
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}
