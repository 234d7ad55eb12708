package ollamaapi

import (
	"math"
	"strconv"

	"github.com/edgeway/edgeway/edge/internal/wire"
)

// decoder reads one request body with a wire.Reader and keeps the path of
// the field being read, so every error names it ("messages[2].content").
type decoder struct {
	r wire.Reader
	// path is the stack of fields being decoded, formatted only when an
	// error names one, so the happy path builds no strings.
	path  [maxPathDepth]pathSeg
	depth int
	// calls are the assistant tool calls read so far, in order, so that a
	// tool result can be linked to the call it answers.
	calls []callRef
}

const maxPathDepth = 6

// pathSeg is one field of a parameter path; idx is -1 when not an element.
type pathSeg struct {
	name string
	idx  int
}

func (d *decoder) reset(body []byte) { d.r.Reset(body) }

func (d *decoder) enter(name string, i int) {
	if d.depth < maxPathDepth {
		d.path[d.depth] = pathSeg{name, i}
	}
	d.depth++
}

func (d *decoder) leave() { d.depth-- }

// param formats the current path followed by field (which may be empty).
func (d *decoder) param(field string) string {
	var b []byte
	for _, s := range d.path[:min(d.depth, maxPathDepth)] {
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, s.name...)
		if s.idx >= 0 {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(s.idx), 10)
			b = append(b, ']')
		}
	}
	if field != "" {
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, field...)
	}
	return string(b)
}

// fail reports "<path>.<field> <msg>".
func (d *decoder) fail(field, msg string) error {
	return badRequest(d.param(field) + " " + msg)
}

func (d *decoder) missing(field string) error { return d.fail(field, "is required") }

// wrongType reports that field (relative to the current path) is not of
// the wanted type, unless the value is not even valid JSON.
func (d *decoder) wrongType(field, want string) error {
	if c := d.r.Peek(); !wire.StartsValue(c) {
		return d.r.Unexpected()
	}
	return d.fail(field, "must be "+want)
}

func isNumberStart(c byte) bool { return c == '-' || c >= '0' && c <= '9' }

// openBody consumes the '{' that must start a request body.
func (d *decoder) openBody() error {
	if c := d.r.Peek(); c != '{' {
		if wire.StartsValue(c) {
			return badRequest("request body must be a JSON object")
		}
		return d.r.Unexpected()
	}
	d.r.OpenObject()
	return nil
}

// optString reads a string, or null as "".
func (d *decoder) optString(field string) (string, error) {
	switch d.r.Peek() {
	case '"':
		return d.r.Str()
	case 'n':
		return "", d.r.Literal("null")
	}
	return "", d.wrongType(field, "a string")
}

// optBool reads a boolean; present is false for null.
func (d *decoder) optBool(field string) (v, present bool, err error) {
	switch d.r.Peek() {
	case 't', 'f':
		v, err = d.r.Boolean()
		return v, err == nil, err
	case 'n':
		return false, false, d.r.Literal("null")
	}
	return false, false, d.wrongType(field, "a boolean")
}

// object consumes '{' of a value that must be an object or null; it
// reports false for null.
func (d *decoder) object(field, want string) (bool, error) {
	switch d.r.Peek() {
	case '{':
		d.r.OpenObject()
		return true, nil
	case 'n':
		return false, d.r.Literal("null")
	}
	return false, d.wrongType(field, want)
}

// skipObject validates and skips a value that must be an object or null.
func (d *decoder) skipObject(field string) error {
	switch d.r.Peek() {
	case '{':
		return d.r.Skip()
	case 'n':
		return d.r.Literal("null")
	}
	return d.wrongType(field, "an object")
}

// array is object's twin for arrays.
func (d *decoder) array(field, want string) (bool, error) {
	switch d.r.Peek() {
	case '[':
		d.r.OpenArray()
		return true, nil
	case 'n':
		return false, d.r.Literal("null")
	}
	return false, d.wrongType(field, want)
}

// optFloat reads a finite number; present is false for null.
func (d *decoder) optFloat(field string) (v float64, present bool, err error) {
	if null, err := d.r.Null(); null || err != nil {
		return 0, false, err
	}
	if !isNumberStart(d.r.Peek()) {
		return 0, false, d.wrongType(field, "a number")
	}
	text, _, err := d.r.Number()
	if err != nil {
		return 0, false, err
	}
	v, err = strconv.ParseFloat(string(text), 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, false, d.fail(field, "is out of range")
	}
	return v, true, nil
}

// optInt reads an integer; present is false for null. Like Ollama, which
// reads options through float64, it accepts a number with a fraction and
// drops the fraction.
func (d *decoder) optInt(field string) (v int64, present bool, err error) {
	if null, err := d.r.Null(); null || err != nil {
		return 0, false, err
	}
	if !isNumberStart(d.r.Peek()) {
		return 0, false, d.wrongType(field, "an integer")
	}
	text, integer, err := d.r.Number()
	if err != nil {
		return 0, false, err
	}
	if integer {
		v, ok := wire.ParseInt(text)
		if !ok {
			return 0, false, d.fail(field, "is out of range")
		}
		return v, true, nil
	}
	f, err := strconv.ParseFloat(string(text), 64)
	// 2^63 is the first float64 past the int64 range.
	if err != nil || f >= 1<<63 || f < -(1<<63) {
		return 0, false, d.fail(field, "is out of range")
	}
	return int64(f), true, nil
}
