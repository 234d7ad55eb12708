package glove

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
)

// Format constants; see the package documentation for the layout.
const (
	// Magic starts every glove.bin file.
	Magic = "EWGLOVE\n"
	// Version is the format version Encode writes and Load reads.
	Version = 1
	// MaxDims bounds the vector width Load accepts.
	MaxDims = 4096
	// MaxWords bounds the number of records Load accepts.
	MaxWords = 2_000_000
	// MaxFileSize bounds the file Load reads (it is read whole).
	MaxFileSize = 1 << 30
	// MaxWordLen is the longest word a record can hold.
	MaxWordLen = 255

	headerSize  = 24
	trailerSize = 4
	// recordFixed is a record's size without the word and the vector:
	// length byte, rank, scale.
	recordFixed = 1 + 4 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors returned by Load.
var (
	// ErrFormat is returned (wrapped, with the detail) for a file that is
	// not a valid glove.bin: wrong magic or version, absurd sizes,
	// truncation, a checksum mismatch, or inconsistent records.
	ErrFormat = errors.New("not a valid glove.bin file")
)

// Entry is one word for Encode.
type Entry struct {
	// Word is the lookup key, as the tokenizer produces it (lowercase).
	Word string
	// Rank is the word's 0-based frequency rank in the source vocabulary.
	Rank uint32
	// Vector is the word's vector; Encode L2-normalises and quantises it.
	Vector []float32
}

// Encode writes entries as a glove.bin file to w. Entries must be in
// strictly increasing Rank order with unique, non-empty words of at most
// MaxWordLen bytes, vectors of dims finite values, and ranks below vocab.
// The output depends only on the arguments, byte for byte.
func Encode(w io.Writer, dims, vocab int, entries []Entry) error {
	if dims < 1 || dims > MaxDims {
		return fmt.Errorf("glove: encode: dims %d outside 1..%d", dims, MaxDims)
	}
	if len(entries) < 1 || len(entries) > MaxWords {
		return fmt.Errorf("glove: encode: %d entries outside 1..%d", len(entries), MaxWords)
	}
	if vocab < len(entries) || uint64(vocab) > math.MaxUint32 {
		return fmt.Errorf("glove: encode: vocab %d smaller than %d entries or too large", vocab, len(entries))
	}
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 64<<10)
	var hdr [headerSize]byte
	copy(hdr[:8], Magic)
	binary.LittleEndian.PutUint32(hdr[8:], Version)
	binary.LittleEndian.PutUint32(hdr[12:], uint32(dims))
	binary.LittleEndian.PutUint32(hdr[16:], uint32(len(entries)))
	binary.LittleEndian.PutUint32(hdr[20:], uint32(vocab))
	bw.Write(hdr[:])

	seen := make(map[string]struct{}, len(entries))
	rec := make([]byte, 0, recordFixed+MaxWordLen+dims)
	q := make([]int8, dims)
	for i, e := range entries {
		if len(e.Word) == 0 || len(e.Word) > MaxWordLen {
			return fmt.Errorf("glove: encode: entry %d: word length %d outside 1..%d", i, len(e.Word), MaxWordLen)
		}
		if _, dup := seen[e.Word]; dup {
			return fmt.Errorf("glove: encode: entry %d: duplicate word %q", i, e.Word)
		}
		seen[e.Word] = struct{}{}
		if i > 0 && e.Rank <= entries[i-1].Rank {
			return fmt.Errorf("glove: encode: entry %d (%q): rank %d not above %d", i, e.Word, e.Rank, entries[i-1].Rank)
		}
		if int64(e.Rank) >= int64(vocab) {
			return fmt.Errorf("glove: encode: entry %d (%q): rank %d not below vocab %d", i, e.Word, e.Rank, vocab)
		}
		if len(e.Vector) != dims {
			return fmt.Errorf("glove: encode: entry %d (%q): %d values, want %d", i, e.Word, len(e.Vector), dims)
		}
		scale, err := quantize(q, e.Vector)
		if err != nil {
			return fmt.Errorf("glove: encode: entry %d (%q): %w", i, e.Word, err)
		}
		rec = rec[:0]
		rec = append(rec, byte(len(e.Word)))
		rec = append(rec, e.Word...)
		rec = binary.LittleEndian.AppendUint32(rec, e.Rank)
		rec = binary.LittleEndian.AppendUint32(rec, math.Float32bits(scale))
		for _, v := range q {
			rec = append(rec, byte(v))
		}
		bw.Write(rec)
	}
	// The checksum covers what went through bw; flush before reading it.
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("glove: encode: %w", err)
	}
	var tr [trailerSize]byte
	binary.LittleEndian.PutUint32(tr[:], crc.Sum32())
	if _, err := w.Write(tr[:]); err != nil {
		return fmt.Errorf("glove: encode: %w", err)
	}
	return nil
}

// quantize L2-normalises v and writes its int8 quantisation to q,
// returning the scale. It works in float64 so the output does not depend
// on the order floating-point errors accumulate in.
func quantize(q []int8, v []float32) (float32, error) {
	var ss float64
	for _, x := range v {
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, errors.New("non-finite value")
		}
		ss += f * f
	}
	if ss == 0 {
		clear(q)
		return 0, nil
	}
	norm := math.Sqrt(ss)
	var maxAbs float64
	for _, x := range v {
		maxAbs = max(maxAbs, math.Abs(float64(x)/norm))
	}
	scale := maxAbs / 127
	for i, x := range v {
		r := math.Round(float64(x) / norm / scale)
		q[i] = int8(max(-127, min(127, r)))
	}
	return float32(scale), nil
}

// Load reads a glove.bin file. It rejects files larger than MaxFileSize and
// headers claiming more than MaxWords words or MaxDims dimensions before
// allocating for them. The embedder holds about count*dims bytes of int8
// vectors plus the words and a map from word to row.
func Load(path string) (*Embedder, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("glove: load: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("glove: load: %w", err)
	}
	if fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("glove: load %s: %w: %d bytes, more than %d", path, ErrFormat, fi.Size(), MaxFileSize)
	}
	// Read through a LimitReader: the file may grow after Stat.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("glove: load: %w", err)
	}
	e, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("glove: load %s: %w", path, err)
	}
	return e, nil
}

// parse decodes a whole glove.bin file. It never panics: every length is
// checked against what is left of data before it is used.
func parse(data []byte) (*Embedder, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrFormat, len(data), MaxFileSize)
	}
	if len(data) < headerSize+trailerSize {
		return nil, fmt.Errorf("%w: %d bytes, too short for a header", ErrFormat, len(data))
	}
	if string(data[:8]) != Magic {
		return nil, fmt.Errorf("%w: bad magic %q", ErrFormat, data[:8])
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != Version {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrFormat, v, Version)
	}
	dims := int(binary.LittleEndian.Uint32(data[12:]))
	count := int(binary.LittleEndian.Uint32(data[16:]))
	vocab := int(binary.LittleEndian.Uint32(data[20:]))
	if dims < 1 || dims > MaxDims {
		return nil, fmt.Errorf("%w: dims %d outside 1..%d", ErrFormat, dims, MaxDims)
	}
	if count < 1 || count > MaxWords {
		return nil, fmt.Errorf("%w: count %d outside 1..%d", ErrFormat, count, MaxWords)
	}
	if vocab < count {
		return nil, fmt.Errorf("%w: vocab %d smaller than count %d", ErrFormat, vocab, count)
	}
	body := data[:len(data)-trailerSize]
	// Every record has at least a one-byte word: check the claimed count
	// against the size before allocating for it.
	if minSize := int64(count) * int64(recordFixed+1+dims); minSize > int64(len(body)-headerSize) {
		return nil, fmt.Errorf("%w: %d records of %d dims need at least %d bytes, file has %d (truncated?)",
			ErrFormat, count, dims, minSize+headerSize+trailerSize, len(data))
	}
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(data[len(body):]); got != want {
		return nil, fmt.Errorf("%w: checksum %08x, file says %08x (corrupt or truncated)", ErrFormat, got, want)
	}

	e := &Embedder{
		dims:    dims,
		vocab:   vocab,
		vectors: make([]int8, count*dims),
		coef:    make([]float32, count),
		ranks:   make([]uint32, count),
		index:   make(map[string]int32, count),
	}
	// All words live in one string; the map keys and Word results are
	// substrings of it, so loading costs one allocation for the words.
	words := make([]byte, 0, len(body)-headerSize-count*(recordFixed+dims))
	ends := make([]int, count)
	off := headerSize
	for i := range count {
		if off >= len(body) {
			return nil, fmt.Errorf("%w: record %d: truncated", ErrFormat, i)
		}
		n := int(body[off])
		if n == 0 {
			return nil, fmt.Errorf("%w: record %d: empty word", ErrFormat, i)
		}
		if len(body)-off < recordFixed+n+dims {
			return nil, fmt.Errorf("%w: record %d: truncated", ErrFormat, i)
		}
		words = append(words, body[off+1:off+1+n]...)
		ends[i] = len(words)
		p := off + 1 + n
		rank := binary.LittleEndian.Uint32(body[p:])
		scale := math.Float32frombits(binary.LittleEndian.Uint32(body[p+4:]))
		if int64(rank) >= int64(vocab) {
			return nil, fmt.Errorf("%w: record %d: rank %d not below vocab %d", ErrFormat, i, rank, vocab)
		}
		if i > 0 && rank <= e.ranks[i-1] {
			return nil, fmt.Errorf("%w: record %d: rank %d not above the previous %d", ErrFormat, i, rank, e.ranks[i-1])
		}
		if !(scale >= 0) || math.IsInf(float64(scale), 0) {
			return nil, fmt.Errorf("%w: record %d: bad scale %v", ErrFormat, i, scale)
		}
		e.ranks[i] = rank
		e.coef[i] = scale * sifWeight(rank, vocab)
		for j, b := range body[p+8 : p+8+dims] {
			e.vectors[i*dims+j] = int8(b)
		}
		off = p + 8 + dims
	}
	if off != len(body) {
		return nil, fmt.Errorf("%w: %d bytes after the last record", ErrFormat, len(body)-off)
	}
	e.words = string(words)
	start := 0
	e.starts = make([]int32, count+1)
	for i, end := range ends {
		w := e.words[start:end]
		if _, dup := e.index[w]; dup {
			return nil, fmt.Errorf("%w: record %d: duplicate word %q", ErrFormat, i, w)
		}
		e.index[w] = int32(i)
		e.starts[i] = int32(start)
		start = end
	}
	e.starts[count] = int32(start)
	return e, nil
}
