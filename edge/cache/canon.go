package cache

import (
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/internal/wire"
)

// text is the input a canonicaliser reads: JSON arrives as json.RawMessage
// (tool parameters, schemas, Extra values) and as string (tool call
// arguments), and converting either to the other would allocate.
type text = wire.Text

// maxJSONDepth bounds nesting in canonicalised JSON. Deeper documents are
// hashed as raw bytes instead: still deterministic, only not normalised, and
// hostile input cannot grow the stack.
const maxJSONDepth = 64

// member is one object member found while canonicalising: byte offsets of
// the key (inside its quotes) and of the value.
type member struct {
	k0, k1, v0, v1 int32
}

// appendCanonicalJSON returns the canonical form of src (see emitValue) and
// whether src was valid JSON. It is the test and fuzz entry point; KeyOf
// streams the same form through writeJSON.
func appendCanonicalJSON(src []byte) ([]byte, bool) {
	start, ok := validJSON(src)
	if !ok {
		return nil, false
	}
	st := &keyState{direct: true}
	emitValue(st, src, start)
	return st.buf, true
}

// validJSON reports whether src is one valid JSON value within
// maxJSONDepth, and where the value starts.
func validJSON[T text](src T) (int, bool) {
	i := skipWS(src, 0)
	end, ok := skipValue(src, i, 0)
	return i, ok && skipWS(src, end) == len(src)
}

func skipWS[T text](s T, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue validates the value starting at s[i] and returns the offset just
// past it.
func skipValue[T text](s T, i, depth int) (int, bool) {
	if i >= len(s) {
		return i, false
	}
	switch c := s[i]; {
	case c == '{' || c == '[':
		if depth >= maxJSONDepth {
			return i, false
		}
		end := byte(']')
		if c == '{' {
			end = '}'
		}
		i = skipWS(s, i+1)
		if i < len(s) && s[i] == end {
			return i + 1, true
		}
		for {
			var ok bool
			if c == '{' {
				if i, ok = skipKey(s, i); !ok {
					return i, false
				}
			}
			if i, ok = skipValue(s, i, depth+1); !ok {
				return i, false
			}
			i = skipWS(s, i)
			if i < len(s) && s[i] == end {
				return i + 1, true
			}
			if i >= len(s) || s[i] != ',' {
				return i, false
			}
			i = skipWS(s, i+1)
		}
	case c == '"':
		return skipString(s, i)
	case c == '-' || (c >= '0' && c <= '9'):
		end, _, ok, _ := wire.ScanNumber(s, i)
		return end, ok
	case c == 't':
		return skipLit(s, i, "true")
	case c == 'f':
		return skipLit(s, i, "false")
	case c == 'n':
		return skipLit(s, i, "null")
	}
	return i, false
}

// skipKey validates an object key and the ':' after it, and returns the
// offset of the member's value.
func skipKey[T text](s T, i int) (int, bool) {
	if i >= len(s) || s[i] != '"' {
		return i, false
	}
	i, ok := skipString(s, i)
	if !ok {
		return i, false
	}
	i = skipWS(s, i)
	if i >= len(s) || s[i] != ':' {
		return i, false
	}
	return skipWS(s, i+1), true
}

func skipLit[T text](s T, i int, lit string) (int, bool) {
	if len(s)-i < len(lit) {
		return i, false
	}
	for j := 0; j < len(lit); j++ {
		if s[i+j] != lit[j] {
			return i, false
		}
	}
	return i + len(lit), true
}

// skipString validates the string whose opening quote is s[i]. Raw control
// characters are rejected as JSON requires; invalid UTF-8 is accepted (as
// encoding/json does) and kept byte for byte.
func skipString[T text](s T, i int) (int, bool) {
	end, why := wire.ScanString(s, i)
	return end, why == ""
}

// emitValue writes the canonical form of the already validated value at
// s[i] and returns the offset past it.
//
// The canonical form has whitespace removed,
// object members sorted by key (stably, so duplicate keys keep
// their relative order and last-wins parsers see the same value), strings
// re-encoded with the minimal escaping (\" \\ and control characters; lone
// surrogates become U+FFFD as encoding/json decodes them). Numbers are kept
// as written: 1 and 1.0 stay different, which can only cause a miss, never a
// wrong hit.
func emitValue[T text](st *keyState, s T, i int) int {
	switch c := s[i]; {
	case c == '{':
		return emitObject(st, s, i)
	case c == '[':
		st.byte('[')
		i = skipWS(s, i+1)
		if s[i] == ']' {
			st.byte(']')
			return i + 1
		}
		for {
			i = skipWS(s, emitValue(st, s, i))
			if s[i] == ']' {
				st.byte(']')
				return i + 1
			}
			st.byte(',')
			i = skipWS(s, i+1)
		}
	case c == '"':
		end, _ := skipString(s, i)
		emitString(st, s[i+1:end-1])
		return end
	default:
		// Numbers and literals are copied as written.
		var end int
		switch c {
		case 't':
			end = i + 4
		case 'f':
			end = i + 5
		case 'n':
			end = i + 4
		default:
			end, _, _, _ = wire.ScanNumber(s, i)
		}
		writeText(st, s[i:end])
		return end
	}
}

func emitObject[T text](st *keyState, s T, i int) int {
	base := len(st.members)
	i = skipWS(s, i+1)
	for s[i] != '}' {
		k1, _ := skipString(s, i)
		v0 := skipWS(s, skipWS(s, k1)+1)
		v1, _ := skipValue(s, v0, 0)
		st.members = append(st.members, member{k0: int32(i + 1), k1: int32(k1 - 1), v0: int32(v0), v1: int32(v1)})
		i = skipWS(s, v1)
		if s[i] == ',' {
			i = skipWS(s, i+1)
		}
	}
	end := i + 1
	sortMembers(st.members[base:], s)
	st.byte('{')
	for j := base; j < len(st.members); j++ {
		// Re-read st.members each time: nested objects append to it.
		m := st.members[j]
		if j > base {
			st.byte(',')
		}
		emitString(st, s[m.k0:m.k1])
		st.byte(':')
		emitValue(st, s, int(m.v0))
	}
	st.byte('}')
	st.members = st.members[:base]
	return end
}

// sortMembers is a stable insertion sort by decoded key. Objects in tool
// schemas have a handful of members; a generic sort with a closure would
// cost an allocation per object.
func sortMembers[T text](ms []member, s T) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && compareKeys(s[ms[j-1].k0:ms[j-1].k1], s[ms[j].k0:ms[j].k1]) > 0; j-- {
			ms[j-1], ms[j] = ms[j], ms[j-1]
		}
	}
}

// compareKeys orders two raw JSON string bodies by their decoded content
// (by code point, the order of their UTF-8 bytes), so "\u0061" and "a" are
// the same key and sort alike.
func compareKeys[T text](a, b T) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if a[i] != '\\' && b[j] != '\\' && a[i] < utf8.RuneSelf && b[j] < utf8.RuneSelf {
			if a[i] != b[j] {
				if a[i] < b[j] {
					return -1
				}
				return 1
			}
			i++
			j++
			continue
		}
		ra, na := nextRune(a, i)
		rb, nb := nextRune(b, j)
		if ra != rb {
			if ra < rb {
				return -1
			}
			return 1
		}
		i += na
		j += nb
	}
	switch {
	case i < len(a):
		return 1
	case j < len(b):
		return -1
	}
	return 0
}

// nextRune decodes one character of a raw JSON string body: an escape or a
// UTF-8 sequence. Invalid bytes decode as themselves offset past the
// Unicode range, so they stay distinct from U+FFFD and from each other.
func nextRune[T text](s T, i int) (rune, int) {
	c := s[i]
	if c != '\\' {
		if c < utf8.RuneSelf {
			return rune(c), 1
		}
		var buf [utf8.UTFMax]byte
		n := copy(buf[:], s[i:min(i+utf8.UTFMax, len(s))])
		r, size := utf8.DecodeRune(buf[:n])
		if r == utf8.RuneError && size <= 1 {
			return utf8.MaxRune + 1 + rune(c), 1
		}
		return r, size
	}
	switch s[i+1] {
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		r := hex4(s, i+2)
		if r >= 0xD800 && r < 0xDC00 && len(s)-i >= 12 && s[i+6] == '\\' && s[i+7] == 'u' {
			if lo := hex4(s, i+8); lo >= 0xDC00 && lo < 0xE000 {
				return (r-0xD800)<<10 + (lo - 0xDC00) + 0x10000, 12
			}
		}
		if r >= 0xD800 && r < 0xE000 {
			return utf8.RuneError, 6
		}
		return r, 6
	}
	return rune(s[i+1]), 2 // \" \\ \/
}

func hex4[T text](s T, i int) rune {
	v, _ := wire.Hex4(s, i) // valid: the string was validated
	return rune(v)
}

// emitString writes a raw JSON string body in canonical form: quoted,
// escapes decoded, only ", \ and control characters escaped.
func emitString[T text](st *keyState, s T) {
	st.byte('"')
	start := 0
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			i++
			continue
		}
		writeText(st, s[start:i])
		r, n := nextRune(s, i)
		i += n
		start = i
		switch {
		case r == '"':
			st.str(`\"`)
		case r == '\\':
			st.str(`\\`)
		case r < 0x20:
			st.str(`\u00`)
			st.byte(hexDigits[r>>4])
			st.byte(hexDigits[r&0xF])
		default:
			var buf [utf8.UTFMax]byte
			st.bytes(buf[:utf8.EncodeRune(buf[:], r)])
		}
	}
	writeText(st, s[start:])
	st.byte('"')
}

const hexDigits = "0123456789abcdef"

func writeText[T text](st *keyState, s T) {
	for len(s) > 0 {
		if len(st.buf) == cap(st.buf) {
			st.grow()
		}
		n := copy(st.buf[len(st.buf):cap(st.buf)], s)
		st.buf = st.buf[:len(st.buf)+n]
		s = s[n:]
	}
}
