package fakeupstream

import (
	"errors"
	"fmt"
	"net"
	"time"
	"unicode/utf8"
)

// Check checks the options every fake has: Chunks, Latency and
// ChunkDelay must not be negative, and *addr, defaulted to "127.0.0.1:0",
// must be a loopback host:port. name prefixes the errors.
func Check(name string, chunks int, latency, chunkDelay time.Duration, addr *string) error {
	var errs []error
	if chunks < 0 {
		errs = append(errs, fmt.Errorf("%s: Chunks %d is negative", name, chunks))
	}
	if latency < 0 || chunkDelay < 0 {
		errs = append(errs, fmt.Errorf("%s: Latency %v and ChunkDelay %v must not be negative", name, latency, chunkDelay))
	}
	if *addr == "" {
		*addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: Addr: %w", name, err))
	} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		errs = append(errs, fmt.Errorf("%s: Addr %q is not a loopback address", name, *addr))
	}
	return errors.Join(errs...)
}

// CheckDims defaults *dims, an embedding length, to def and checks that it
// lies in 1..max.
func CheckDims(name string, dims *int, def, max int) error {
	if *dims == 0 {
		*dims = def
	}
	if *dims < 1 || *dims > max {
		return fmt.Errorf("%s: EmbeddingDims %d is outside 1..%d", name, *dims, max)
	}
	return nil
}

// IsSpace matches the ASCII separators strings.Fields splits on.
func IsSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// Pieces splits a reply the way every fake streams it: into chunks pieces
// of nearly equal length when chunks is positive, else into words.
func Pieces(reply string, chunks int) []string {
	if chunks > 0 {
		return SplitEven(reply, chunks)
	}
	return SplitWords(reply)
}

// SplitWords splits s where whitespace follows a word, so each piece after
// the first starts with its whitespace, like a model's tokens, and the
// pieces concatenate back to s: "Hello from it" -> "Hello", " from", " it".
// Trailing whitespace stays with the last piece.
func SplitWords(s string) []string {
	var out []string
	last := len(s) // end of the last word
	for last > 0 && IsSpace(s[last-1]) {
		last--
	}
	start := 0
	for i := 1; i < last; i++ {
		if IsSpace(s[i]) && !IsSpace(s[i-1]) && hasWord(s[start:i]) {
			out = append(out, s[start:i])
			start = i
		}
	}
	return append(out, s[start:])
}

func hasWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if !IsSpace(s[i]) {
			return true
		}
	}
	return false
}

// SplitEven splits s into n pieces of nearly equal rune counts, cutting
// only at rune boundaries. n is capped at the rune count and raised to 1.
func SplitEven(s string, n int) []string {
	runes := utf8.RuneCountInString(s)
	n = min(n, runes)
	if n < 1 {
		return []string{s}
	}
	out := make([]string, 0, n)
	start, seen := 0, 0
	for i := range s {
		// Cut before rune number seen when it reaches the next boundary.
		if len(out) < n-1 && seen > 0 && seen == (len(out)+1)*runes/n {
			out = append(out, s[start:i])
			start = i
		}
		seen++
	}
	return append(out, s[start:])
}
