// Copied from edge/openai/jsonread.go (unexported there); keep the two in step.

package anthropic

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth bounds how deeply skipped values may nest, so a body of
// ten thousand '[' cannot exhaust the stack.
const maxJSONDepth = 128

// syntaxError is malformed JSON at a byte offset of the document.
type syntaxError struct {
	Offset int
	Msg    string
}

func (e *syntaxError) Error() string {
	return "invalid JSON at byte offset " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// jsonReader is a small pull parser over one complete JSON document held in
// memory. It exists because the request decoder must name the offending
// field and offset in its errors and the stream parser must not allocate per
// field; encoding/json does neither. It never panics on bad input.
//
// Byte slices it returns alias either the document or its scratch buffer
// and are valid until the next call.
type jsonReader struct {
	b       []byte
	i       int
	scratch []byte
}

func (r *jsonReader) reset(b []byte) {
	r.b, r.i = b, 0
}

func (r *jsonReader) fail(msg string) error {
	return &syntaxError{Offset: r.i, Msg: msg}
}

// ws skips insignificant whitespace.
func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, or 0 at the end.
func (r *jsonReader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// end reports an error unless only whitespace remains.
func (r *jsonReader) end() error {
	r.ws()
	if r.i != len(r.b) {
		return r.fail("unexpected data after the top-level value")
	}
	return nil
}

// unexpected describes the byte at the cursor for a syntax error.
func (r *jsonReader) unexpected() error {
	if r.i >= len(r.b) {
		return r.fail("unexpected end of input")
	}
	c := r.b[r.i]
	if c >= 0x20 && c < utf8.RuneSelf {
		return r.fail("unexpected character '" + string(rune(c)) + "'")
	}
	return r.fail("unexpected byte 0x" + strconv.FormatUint(uint64(c), 16))
}

// openObject consumes '{'; the caller has peeked it.
func (r *jsonReader) openObject() { r.i++ }

// objNext advances to the next member of an object whose '{' was consumed;
// n counts the members read so far and starts at 0. It returns the
// unescaped key, or more=false after consuming the closing '}'.
func (r *jsonReader) objNext(n *int) (key []byte, more bool, err error) {
	c := r.peek()
	if c == '}' {
		r.i++
		return nil, false, nil
	}
	if *n > 0 {
		if c != ',' {
			if c == 0 {
				return nil, false, r.unexpected()
			}
			return nil, false, r.fail("expected ',' or '}' after object member")
		}
		r.i++
		c = r.peek()
	}
	if c != '"' {
		if c == 0 {
			return nil, false, r.unexpected()
		}
		return nil, false, r.fail("expected a string object key")
	}
	key, err = r.strBytes()
	if err != nil {
		return nil, false, err
	}
	if r.peek() != ':' {
		return nil, false, r.fail("expected ':' after object key")
	}
	r.i++
	*n++
	return key, true, nil
}

// openArray consumes '['; the caller has peeked it.
func (r *jsonReader) openArray() { r.i++ }

// arrNext advances to the next element of an array whose '[' was consumed;
// n counts elements read so far. It returns false after consuming ']'.
func (r *jsonReader) arrNext(n *int) (bool, error) {
	c := r.peek()
	if c == ']' {
		r.i++
		return false, nil
	}
	if *n > 0 {
		if c != ',' {
			if c == 0 {
				return false, r.unexpected()
			}
			return false, r.fail("expected ',' or ']' after array element")
		}
		r.i++
		if c = r.peek(); c == ']' || c == 0 {
			return false, r.unexpected()
		}
	}
	*n++
	return true, nil
}

// strBytes reads a string at the cursor and returns its unescaped bytes.
// Without escapes the result aliases the document; otherwise it aliases
// the scratch buffer.
func (r *jsonReader) strBytes() ([]byte, error) {
	if r.peek() != '"' {
		return nil, r.unexpected()
	}
	start := r.i + 1
	for i := start; i < len(r.b); i++ {
		switch c := r.b[i]; {
		case c == '"':
			r.i = i + 1
			return r.b[start:i], nil
		case c == '\\':
			return r.strSlow(start, i)
		case c < 0x20:
			r.i = i
			return nil, r.fail("control character in string")
		}
	}
	r.i = len(r.b)
	return nil, r.fail("unterminated string")
}

// str reads a string and returns a copy the caller owns.
func (r *jsonReader) str() (string, error) {
	b, err := r.strBytes()
	return string(b), err
}

// strSlow unescapes a string whose first escape is at esc.
func (r *jsonReader) strSlow(start, esc int) ([]byte, error) {
	out := append(r.scratch[:0], r.b[start:esc]...)
	i := esc
	for i < len(r.b) {
		c := r.b[i]
		switch {
		case c == '"':
			r.i = i + 1
			r.scratch = out
			return out, nil
		case c < 0x20:
			r.i = i
			return nil, r.fail("control character in string")
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(r.b) {
			break
		}
		switch e := r.b[i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r.i = i
			c1, ok := hex4(r.b, i+2)
			if !ok {
				return nil, r.fail("invalid \\u escape in string")
			}
			i += 6
			ru := rune(c1)
			if utf16.IsSurrogate(ru) {
				// A lone surrogate becomes U+FFFD, as encoding/json does.
				ru = utf8.RuneError
				if i+1 < len(r.b) && r.b[i] == '\\' && r.b[i+1] == 'u' {
					if c2, ok := hex4(r.b, i+2); ok {
						if p := utf16.DecodeRune(rune(c1), rune(c2)); p != utf8.RuneError {
							ru = p
							i += 6
						}
					}
				}
			}
			out = utf8.AppendRune(out, ru)
			continue
		default:
			r.i = i
			return nil, r.fail("invalid escape in string")
		}
		i += 2
	}
	r.i = len(r.b)
	r.scratch = out
	return nil, r.fail("unterminated string")
}

func hex4(b []byte, i int) (uint16, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var v uint16
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint16(c)
	}
	return v, true
}

// skipStr validates and skips a string without unescaping it.
func (r *jsonReader) skipStr() error {
	i := r.i + 1
	for i < len(r.b) {
		c := r.b[i]
		switch {
		case c == '"':
			r.i = i + 1
			return nil
		case c < 0x20:
			r.i = i
			return r.fail("control character in string")
		case c == '\\':
			if i+1 >= len(r.b) {
				r.i = len(r.b)
				return r.fail("unterminated string")
			}
			switch r.b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(r.b, i+2); !ok {
					r.i = i
					return r.fail("invalid \\u escape in string")
				}
				i += 6
			default:
				r.i = i
				return r.fail("invalid escape in string")
			}
		default:
			i++
		}
	}
	r.i = len(r.b)
	return r.fail("unterminated string")
}

// number reads a number at the cursor and returns its text. integer is
// true when it has no fraction or exponent.
func (r *jsonReader) number() (text []byte, integer bool, err error) {
	r.ws()
	start, i := r.i, r.i
	b := r.b
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		r.i = i
		return nil, false, r.unexpected()
	}
	integer = true
	if i < len(b) && b[i] == '.' {
		integer = false
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			r.i = i
			return nil, false, r.fail("expected a digit after the decimal point")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integer = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			r.i = i
			return nil, false, r.fail("expected a digit in the exponent")
		}
	}
	r.i = i
	return b[start:i], integer, nil
}

// literal consumes the literal word (true, false, null) at the cursor.
func (r *jsonReader) literal(word string) error {
	r.ws()
	if len(r.b)-r.i < len(word) || string(r.b[r.i:r.i+len(word)]) != word {
		return r.unexpected()
	}
	r.i += len(word)
	return nil
}

// null consumes a null if one is next and reports whether it did.
func (r *jsonReader) null() (bool, error) {
	if r.peek() != 'n' {
		return false, nil
	}
	return true, r.literal("null")
}

// boolean reads true or false; the caller has checked the first byte.
func (r *jsonReader) boolean() (bool, error) {
	if r.peek() == 't' {
		return true, r.literal("true")
	}
	return false, r.literal("false")
}

// skip validates and skips one value of any type.
func (r *jsonReader) skip() error { return r.skipDepth(0) }

func (r *jsonReader) skipDepth(depth int) error {
	switch c := r.peek(); c {
	case '{', '[':
		if depth >= maxJSONDepth {
			return r.fail("nesting exceeds " + strconv.Itoa(maxJSONDepth) + " levels")
		}
		r.i++
		var n int
		for {
			if c == '{' {
				// Keys are skipped, not unescaped, so a skip never
				// overwrites the scratch buffer.
				cc := r.peek()
				if cc == '}' {
					r.i++
					return nil
				}
				if n > 0 {
					if cc != ',' {
						return r.fail("expected ',' or '}' after object member")
					}
					r.i++
					cc = r.peek()
				}
				if cc != '"' {
					return r.fail("expected a string object key")
				}
				if err := r.skipStr(); err != nil {
					return err
				}
				if r.peek() != ':' {
					return r.fail("expected ':' after object key")
				}
				r.i++
				n++
			} else {
				more, err := r.arrNext(&n)
				if err != nil || !more {
					return err
				}
			}
			if err := r.skipDepth(depth + 1); err != nil {
				return err
			}
		}
	case '"':
		return r.skipStr()
	case 't':
		return r.literal("true")
	case 'f':
		return r.literal("false")
	case 'n':
		return r.literal("null")
	default:
		_, _, err := r.number()
		return err
	}
}

// raw skips one value and returns its text.
func (r *jsonReader) raw() ([]byte, error) {
	r.ws()
	start := r.i
	if err := r.skip(); err != nil {
		return nil, err
	}
	return r.b[start:r.i], nil
}

// parseInt parses an integer's text without allocating. It reports false
// when the text is not an integer or does not fit in an int64.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}
