package tinymodel

import (
	"encoding/binary"
	"fmt"
	"math"
)

// GGUF v3 layout, as read by llama.cpp and Ollama:
//
//	magic "GGUF" | version u32 | tensor count u64 | metadata count u64
//	metadata: key string | value type u32 | value
//	tensor infos: name string | n_dims u32 | dims u64... | ggml type u32 | offset u64
//	zero padding to the alignment
//	tensor data, each tensor starting at an aligned offset from the data start
//
// Strings are a u64 byte length followed by the bytes; everything is little
// endian. Dims list the fastest-varying dimension first.

const (
	ggufMagic   = "GGUF"
	ggufVersion = 3
)

// GGUF metadata value types.
const (
	typeUint32  uint32 = 4
	typeInt32   uint32 = 5
	typeFloat32 uint32 = 6
	typeBool    uint32 = 7
	typeString  uint32 = 8
	typeArray   uint32 = 9
)

// ggmlTypeF32 is the ggml tensor type of plain float32 data.
const ggmlTypeF32 uint32 = 0

// kv is one metadata pair. value is one of uint32, int32, float32, bool,
// string, []string, []float32 or []int32.
type kv struct {
	key   string
	value any
}

// tensor is one F32 tensor; len(data) is the product of dims.
type tensor struct {
	name string
	dims []uint64
	data []float32
}

// encode returns the GGUF file holding kvs and tensors, in the order given,
// so the same inputs always give the same bytes.
func encode(kvs []kv, tensors []tensor, alignment int) ([]byte, error) {
	if alignment <= 0 || alignment&(alignment-1) != 0 {
		return nil, fmt.Errorf("gguf: alignment %d is not a power of two", alignment)
	}
	var b []byte
	b = append(b, ggufMagic...)
	b = binary.LittleEndian.AppendUint32(b, ggufVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(tensors)))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(kvs)))
	for _, p := range kvs {
		var err error
		b = appendString(b, p.key)
		if b, err = appendValue(b, p.value); err != nil {
			return nil, fmt.Errorf("gguf: %s: %w", p.key, err)
		}
	}

	var offset uint64
	for _, t := range tensors {
		n := uint64(1)
		for _, d := range t.dims {
			n *= d
		}
		if n != uint64(len(t.data)) {
			return nil, fmt.Errorf("gguf: tensor %s: dims %v hold %d values, data has %d", t.name, t.dims, n, len(t.data))
		}
		b = appendString(b, t.name)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(t.dims)))
		for _, d := range t.dims {
			b = binary.LittleEndian.AppendUint64(b, d)
		}
		b = binary.LittleEndian.AppendUint32(b, ggmlTypeF32)
		b = binary.LittleEndian.AppendUint64(b, offset)
		offset = alignUp(offset+4*n, uint64(alignment))
	}

	// Tensor offsets are relative to the data start, which is itself
	// aligned, so padding relative to the file start pads both.
	b = pad(b, alignment)
	for _, t := range tensors {
		b = pad(b, alignment)
		for _, f := range t.data {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
		}
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

func appendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case uint32:
		b = binary.LittleEndian.AppendUint32(b, typeUint32)
		return binary.LittleEndian.AppendUint32(b, v), nil
	case int32:
		b = binary.LittleEndian.AppendUint32(b, typeInt32)
		return binary.LittleEndian.AppendUint32(b, uint32(v)), nil
	case float32:
		b = binary.LittleEndian.AppendUint32(b, typeFloat32)
		return binary.LittleEndian.AppendUint32(b, math.Float32bits(v)), nil
	case bool:
		b = binary.LittleEndian.AppendUint32(b, typeBool)
		if v {
			return append(b, 1), nil
		}
		return append(b, 0), nil
	case string:
		b = binary.LittleEndian.AppendUint32(b, typeString)
		return appendString(b, v), nil
	case []string:
		b = appendArrayHeader(b, typeString, len(v))
		for _, s := range v {
			b = appendString(b, s)
		}
		return b, nil
	case []float32:
		b = appendArrayHeader(b, typeFloat32, len(v))
		for _, f := range v {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
		}
		return b, nil
	case []int32:
		b = appendArrayHeader(b, typeInt32, len(v))
		for _, i := range v {
			b = binary.LittleEndian.AppendUint32(b, uint32(i))
		}
		return b, nil
	}
	return nil, fmt.Errorf("unsupported value type %T", v)
}

func appendArrayHeader(b []byte, elem uint32, n int) []byte {
	b = binary.LittleEndian.AppendUint32(b, typeArray)
	b = binary.LittleEndian.AppendUint32(b, elem)
	return binary.LittleEndian.AppendUint64(b, uint64(n))
}

// pad appends zero bytes until len(b) is a multiple of alignment.
func pad(b []byte, alignment int) []byte {
	for len(b)%alignment != 0 {
		b = append(b, 0)
	}
	return b
}

func alignUp(n, alignment uint64) uint64 {
	return (n + alignment - 1) / alignment * alignment
}
