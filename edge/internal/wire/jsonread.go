package wire

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth bounds how deeply skipped values may nest, so a body of
// ten thousand '[' cannot exhaust the stack.
const maxJSONDepth = 128

// SyntaxError is malformed JSON at a byte offset of the document.
type SyntaxError struct {
	Offset int
	Msg    string
}

// Error describes the problem and where it is.
func (e *SyntaxError) Error() string {
	return "invalid JSON at byte offset " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// Reader is a small pull parser over one complete JSON document held in
// memory. It exists because the request decoders must name the offending
// field and offset in their errors and the stream parsers must not allocate
// per field; encoding/json does neither. It never panics on bad input.
//
// The caller drives it: Peek at the next byte, then read the value that
// byte announces. Byte slices it returns alias either the document or its
// scratch buffer and are valid until the next call. The zero Reader is
// ready for Reset; a Reader is reused across documents to keep its scratch
// buffer, and is not safe for concurrent use.
type Reader struct {
	b       []byte
	i       int
	scratch []byte
}

// Reset starts reading the document b from its first byte. The Reader
// keeps b until the next Reset.
func (r *Reader) Reset(b []byte) {
	r.b, r.i = b, 0
}

// Fail returns a *SyntaxError with msg at the cursor.
func (r *Reader) Fail(msg string) error {
	return &SyntaxError{Offset: r.i, Msg: msg}
}

// Offset returns the cursor's byte offset in the document, for errors
// and for a later Rewind.
func (r *Reader) Offset() int { return r.i }

// Rewind moves the cursor back to off, an earlier result of Offset on the
// same document, so a value can be read twice (a first pass finds a tag,
// a second decodes by it).
func (r *Reader) Rewind(off int) { r.i = off }

// ws skips insignificant whitespace.
func (r *Reader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// Peek skips whitespace and returns the next byte, or 0 at the end.
func (r *Reader) Peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// End reports an error unless only whitespace remains.
func (r *Reader) End() error {
	r.ws()
	if r.i != len(r.b) {
		return r.Fail("unexpected data after the top-level value")
	}
	return nil
}

// Unexpected describes the byte at the cursor for a syntax error.
func (r *Reader) Unexpected() error {
	if r.i >= len(r.b) {
		return r.Fail("unexpected end of input")
	}
	c := r.b[r.i]
	if c >= 0x20 && c < utf8.RuneSelf {
		return r.Fail("unexpected character '" + string(rune(c)) + "'")
	}
	return r.Fail("unexpected byte 0x" + strconv.FormatUint(uint64(c), 16))
}

// OpenObject consumes '{'; the caller has peeked it.
func (r *Reader) OpenObject() { r.i++ }

// OpenArray consumes '['; the caller has peeked it.
func (r *Reader) OpenArray() { r.i++ }

// Iter walks the members of an object or the elements of an array whose
// opening byte was consumed, in the style of bufio.Scanner:
//
//	var it wire.Iter
//	for r.Member(&it) {
//		switch string(it.Key) {
//		case "model":
//			req.Model, it.Err = r.Str()
//		default:
//			it.Err = r.Skip()
//		}
//	}
//	return it.Err
//
// The first error, the walk's own or one the loop body stores in Err,
// ends the walk. It is a plain loop rather than a callback per member
// because a closure call per member cost 5-7% on small requests. The zero
// Iter starts a walk; an Iter walks one object or array.
type Iter struct {
	// Key is the unescaped key of the current member (Member only); it
	// aliases like StrBytes' result.
	Key []byte
	// Err is the first error of the walk or of its body.
	Err error
	n   int
}

// Index is the 0-based position of the current member or element.
func (it *Iter) Index() int { return it.n - 1 }

// Member advances it to the next member of an object and reports whether
// there is one; it consumes the closing '}' after the last.
func (r *Reader) Member(it *Iter) bool {
	if it.Err != nil {
		return false
	}
	c := r.Peek()
	if c == '}' {
		r.i++
		return false
	}
	if it.n > 0 {
		if c != ',' {
			return r.stop(it, r.expected(c, "',' or '}' after object member"))
		}
		r.i++
		c = r.Peek()
	}
	if c != '"' {
		return r.stop(it, r.expected(c, "a string object key"))
	}
	if it.Key, it.Err = r.StrBytes(); it.Err != nil {
		return false
	}
	if r.Peek() != ':' {
		return r.stop(it, r.Fail("expected ':' after object key"))
	}
	r.i++
	it.n++
	return true
}

// Elem advances it to the next element of an array and reports whether
// there is one; it consumes the closing ']' after the last.
func (r *Reader) Elem(it *Iter) bool {
	if it.Err != nil {
		return false
	}
	c := r.Peek()
	if c == ']' {
		r.i++
		return false
	}
	if it.n > 0 {
		if c != ',' {
			return r.stop(it, r.expected(c, "',' or ']' after array element"))
		}
		r.i++
		if c = r.Peek(); c == ']' || c == 0 {
			return r.stop(it, r.Unexpected())
		}
	}
	it.n++
	return true
}

// stop ends a walk with err.
func (r *Reader) stop(it *Iter, err error) bool {
	it.Err = err
	return false
}

// expected reports that what was wanted is not the byte c at the cursor,
// or that the input ended.
func (r *Reader) expected(c byte, what string) error {
	if c == 0 {
		return r.Unexpected()
	}
	return r.Fail("expected " + what)
}

// StrBytes reads a string at the cursor and returns its unescaped bytes.
// Without escapes the result aliases the document; otherwise it aliases
// the scratch buffer.
func (r *Reader) StrBytes() ([]byte, error) {
	if r.Peek() != '"' {
		return nil, r.Unexpected()
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
			return nil, r.Fail("control character in string")
		}
	}
	r.i = len(r.b)
	return nil, r.Fail("unterminated string")
}

// Str reads a string and returns a copy the caller owns.
func (r *Reader) Str() (string, error) {
	b, err := r.StrBytes()
	return string(b), err
}

// strSlow unescapes a string whose first escape is at esc.
func (r *Reader) strSlow(start, esc int) ([]byte, error) {
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
			return nil, r.Fail("control character in string")
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
			c1, ok := Hex4(r.b, i+2)
			if !ok {
				return nil, r.Fail("invalid \\u escape in string")
			}
			i += 6
			ru := rune(c1)
			if utf16.IsSurrogate(ru) {
				// A lone surrogate becomes U+FFFD, as encoding/json does.
				ru = utf8.RuneError
				if i+1 < len(r.b) && r.b[i] == '\\' && r.b[i+1] == 'u' {
					if c2, ok := Hex4(r.b, i+2); ok {
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
			return nil, r.Fail("invalid escape in string")
		}
		i += 2
	}
	r.i = len(r.b)
	r.scratch = out
	return nil, r.Fail("unterminated string")
}

// SkipStr validates and skips a string without unescaping it; the caller
// has peeked its opening '"'.
func (r *Reader) SkipStr() error {
	end, why := ScanString(r.b, r.i)
	r.i = end
	if why != "" {
		return r.Fail(why)
	}
	return nil
}

// Number reads a number at the cursor and returns its text. integer is
// true when it has no fraction or exponent.
func (r *Reader) Number() (text []byte, integer bool, err error) {
	r.ws()
	start := r.i
	end, integer, ok, why := ScanNumber(r.b, start)
	r.i = end
	switch {
	case ok:
		return r.b[start:end], integer, nil
	case why == "":
		return nil, false, r.Unexpected()
	}
	return nil, false, r.Fail(why)
}

// Literal consumes the literal word (true, false, null) at the cursor.
func (r *Reader) Literal(word string) error {
	r.ws()
	if len(r.b)-r.i < len(word) || string(r.b[r.i:r.i+len(word)]) != word {
		return r.Unexpected()
	}
	r.i += len(word)
	return nil
}

// Null consumes a null if one is next and reports whether it did.
func (r *Reader) Null() (bool, error) {
	if r.Peek() != 'n' {
		return false, nil
	}
	return true, r.Literal("null")
}

// Boolean reads true or false; the caller has checked the first byte.
func (r *Reader) Boolean() (bool, error) {
	if r.Peek() == 't' {
		return true, r.Literal("true")
	}
	return false, r.Literal("false")
}

// Skip validates and skips one value of any type.
func (r *Reader) Skip() error { return r.skipDepth(0) }

func (r *Reader) skipDepth(depth int) error {
	switch c := r.Peek(); c {
	case '{', '[':
		if depth >= maxJSONDepth {
			return r.Fail("nesting exceeds " + strconv.Itoa(maxJSONDepth) + " levels")
		}
		r.i++
		var it Iter
		if c == '[' {
			for r.Elem(&it) {
				it.Err = r.skipDepth(depth + 1)
			}
			return it.Err
		}
		// Not Member: keys are skipped, not unescaped, so a skip never
		// overwrites the scratch buffer, and this loop is Skip's hot path.
		for {
			cc := r.Peek()
			if cc == '}' {
				r.i++
				return nil
			}
			if it.n > 0 {
				if cc != ',' {
					return r.Fail("expected ',' or '}' after object member")
				}
				r.i++
				cc = r.Peek()
			}
			if cc != '"' {
				return r.Fail("expected a string object key")
			}
			if err := r.SkipStr(); err != nil {
				return err
			}
			if r.Peek() != ':' {
				return r.Fail("expected ':' after object key")
			}
			r.i++
			it.n++
			if err := r.skipDepth(depth + 1); err != nil {
				return err
			}
		}
	case '"':
		return r.SkipStr()
	case 't':
		return r.Literal("true")
	case 'f':
		return r.Literal("false")
	case 'n':
		return r.Literal("null")
	default:
		_, _, err := r.Number()
		return err
	}
}

// Raw skips one value and returns its text.
func (r *Reader) Raw() ([]byte, error) {
	r.ws()
	start := r.i
	if err := r.Skip(); err != nil {
		return nil, err
	}
	return r.b[start:r.i], nil
}

// ParseInt parses an integer's text without allocating. It reports false
// when the text is not an integer or does not fit in an int64.
func ParseInt(b []byte) (int64, bool) {
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

// OptStr reads a string, or null as "".
func (r *Reader) OptStr() (string, error) {
	switch r.Peek() {
	case 'n':
		return "", r.Literal("null")
	case '"':
		return r.Str()
	}
	return "", errors.New("expected a string at byte " + strconv.Itoa(r.Offset()))
}

// Count reads a non-negative count up to 2^31-1, or null as 0. Integral
// floats ("12.0") are accepted since some servers compute counts in floats.
func (r *Reader) Count() (int64, error) {
	if null, err := r.Null(); null || err != nil {
		return 0, err
	}
	text, integer, err := r.Number()
	if err != nil {
		return 0, err
	}
	if integer {
		if v, ok := ParseInt(text); ok && v >= 0 && v <= 1<<31-1 {
			return v, nil
		}
	} else if f, err := strconv.ParseFloat(string(text), 64); err == nil && f >= 0 && f <= 1<<31-1 && f == float64(int64(f)) {
		return int64(f), nil
	}
	return 0, errors.New("count out of range: " + string(text))
}

// StartsValue reports whether c can begin a JSON value: decoders use it
// to tell a wrong type (report the field) from broken JSON (report the
// syntax).
func StartsValue(c byte) bool {
	switch c {
	case '{', '[', '"', 't', 'f', 'n', '-':
		return true
	}
	return c >= '0' && c <= '9'
}

// IsObject reports whether b is exactly one JSON object.
func IsObject(b []byte) bool {
	var r Reader
	r.Reset(b)
	return r.Peek() == '{' && r.Skip() == nil && r.End() == nil
}
