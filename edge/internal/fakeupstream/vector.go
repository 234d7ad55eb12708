package fakeupstream

// FNV64a is the 64-bit FNV-1a hash of b, the seed of the fakes' embedding
// vectors.
func FNV64a[T ~string | ~[]byte](b T) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(b); i++ {
		h ^= uint64(b[i])
		h *= 1099511628211
	}
	return h
}

// Splitmix fills v with values in [-1, 1) from splitmix64 seeded with seed
// (stable across Go releases, unlike math/rand) and returns the sum of
// their squares, for the caller to normalise v with.
func Splitmix(v []float32, seed uint64) (squares float64) {
	for i := range v {
		seed += 0x9e3779b97f4a7c15
		z := seed
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		f := float64(z>>11)/(1<<53)*2 - 1
		v[i] = float32(f)
		squares += f * f
	}
	return squares
}
