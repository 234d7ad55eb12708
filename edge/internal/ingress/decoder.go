package ingress

import (
	"encoding/json"
	"strconv"

	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
)

// maxPathDepth bounds the path kept for errors; deeper fields are named
// by their first maxPathDepth segments.
const maxPathDepth = 8

// seg is one field of a path; idx is -1 when it is not an element.
type seg struct {
	name string
	idx  int
}

// Decoder reads one request body with a wire.Reader and keeps the path of
// the field being read, so every error names it. A dialect's decoder
// embeds it and adds its own fields. The zero Decoder is ready for Reset.
type Decoder struct {
	R     wire.Reader
	l     *Dialect
	path  [maxPathDepth]seg
	depth int
}

// Reset starts decoding body in dialect l.
func (d *Decoder) Reset(l *Dialect, body []byte) {
	d.R.Reset(body)
	d.l, d.depth = l, 0
}

// Enter pushes field name (element i of it, or the field itself when i is
// -1) onto the path; Leave pops it.
func (d *Decoder) Enter(name string, i int) {
	if d.depth < maxPathDepth {
		d.path[d.depth] = seg{name, i}
	}
	d.depth++
}

// Leave pops what Enter pushed.
func (d *Decoder) Leave() { d.depth-- }

// Param formats the current path followed by field (which may be empty)
// in the dialect's form.
func (d *Decoder) Param(field string) string {
	var b []byte
	for _, s := range d.path[:min(d.depth, maxPathDepth)] {
		if s.name != "" {
			if len(b) > 0 {
				b = append(b, '.')
			}
			b = append(b, s.name...)
		}
		if s.idx < 0 {
			continue
		}
		if d.l.DottedIndex {
			if len(b) > 0 {
				b = append(b, '.')
			}
			b = strconv.AppendInt(b, int64(s.idx), 10)
		} else {
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

// Fail reports that field (relative to the path) holds a value that is
// not allowed: msg says why.
func (d *Decoder) Fail(field, msg string) error {
	return d.l.Field(d.Param(field), FaultValue, msg)
}

// Unsupported is Fail for a valid value edgeway does not serve.
func (d *Decoder) Unsupported(field, msg string) error {
	return d.l.Field(d.Param(field), FaultUnsupported, msg)
}

// Missing reports that field is required.
func (d *Decoder) Missing(field string) error {
	return d.l.Field(d.Param(field), FaultMissing, d.l.Required)
}

// TooMany reports that the list at field holds more than max items of
// unit ("sequences").
func (d *Decoder) TooMany(field string, max int, unit string) error {
	return d.Fail(field, d.l.AtMost+strconv.Itoa(max)+" "+unit)
}

// FailAt is Fail for element i of the list at field.
func (d *Decoder) FailAt(field string, i int, msg string) error {
	d.Enter(field, i)
	defer d.Leave()
	return d.Fail("", msg)
}

// WrongTypeAt is WrongType for element i of the list at field.
func (d *Decoder) WrongTypeAt(field string, i int, want string) error {
	d.Enter(field, i)
	defer d.Leave()
	return d.WrongType("", want)
}

// TypeError reports that field is not want, a type in the dialect's words.
func (d *Decoder) TypeError(field, want string) error {
	return d.l.Field(d.Param(field), FaultType, d.l.MustBe+want)
}

// WrongType is TypeError for the value at the cursor, unless that value
// is not even valid JSON: then the syntax is what is wrong.
func (d *Decoder) WrongType(field, want string) error {
	if c := d.R.Peek(); !wire.StartsValue(c) {
		return d.R.Unexpected()
	}
	return d.TypeError(field, want)
}

func (d *Decoder) wrong(field string, k Kind, want string) error {
	if want == "" {
		want = d.l.Words[k]
	}
	return d.WrongType(field, want)
}

// OpenBody consumes the '{' that must start a request body.
func (d *Decoder) OpenBody() error {
	if c := d.R.Peek(); c != '{' {
		if wire.StartsValue(c) {
			return NewError("", d.l.Codes[FaultType], d.l.NotObject)
		}
		return d.R.Unexpected()
	}
	d.R.OpenObject()
	return nil
}

// EndBody ends the walk of a body's members: the walk's error, or an
// error unless only whitespace follows the body.
func (d *Decoder) EndBody(err error) error {
	if err != nil {
		return err
	}
	return d.R.End()
}

// OptString reads a string, or null as "".
func (d *Decoder) OptString(field string) (string, error) {
	switch d.R.Peek() {
	case '"':
		return d.R.Str()
	case 'n':
		return "", d.R.Literal("null")
	}
	return "", d.wrong(field, KindString, "")
}

// Bool reads a boolean; present is false for null.
func (d *Decoder) Bool(field string) (v, present bool, err error) {
	switch d.R.Peek() {
	case 't', 'f':
		v, err = d.R.Boolean()
		return v, err == nil, err
	case 'n':
		return false, false, d.R.Literal("null")
	}
	return false, false, d.wrong(field, KindBool, "")
}

// OptBool reads a boolean, or null as false.
func (d *Decoder) OptBool(field string) (bool, error) {
	v, _, err := d.Bool(field)
	return v, err
}

// OptBoolPtr reads a boolean, or null as nil.
func (d *Decoder) OptBoolPtr(field string) (*bool, error) {
	v, ok, err := d.Bool(field)
	if !ok || err != nil {
		return nil, err
	}
	return &v, nil
}

func isNumberStart(c byte) bool { return c == '-' || c >= '0' && c <= '9' }

// number reads a number's text; present is false for null.
func (d *Decoder) number(field string, k Kind) (text []byte, integer, present bool, err error) {
	if null, err := d.R.Null(); null || err != nil {
		return nil, false, false, err
	}
	if !isNumberStart(d.R.Peek()) {
		return nil, false, false, d.wrong(field, k, "")
	}
	text, integer, err = d.R.Number()
	return text, integer, err == nil, err
}

// Float reads a number; present is false for null. A number too large
// for a float64 reads as ±Inf, for the dialect to refuse in its words.
func (d *Decoder) Float(field string) (v float64, present bool, err error) {
	text, _, ok, err := d.number(field, KindNumber)
	if !ok {
		return 0, false, err
	}
	// The text is a valid JSON number, so the only error is ErrRange,
	// and v is then ±Inf (or 0 for an underflow).
	v, _ = strconv.ParseFloat(string(text), 64)
	return v, true, nil
}

// Int reads an integer; present is false for null. A number with a
// fraction or an exponent is treated as the dialect's Fractions say.
func (d *Decoder) Int(field string) (v int64, present bool, err error) {
	text, integer, ok, err := d.number(field, KindInt)
	if !ok {
		return 0, false, err
	}
	if integer {
		v, ok := wire.ParseInt(text)
		if !ok {
			return 0, false, d.Fail(field, d.l.OutOfRange)
		}
		return v, true, nil
	}
	f, err := strconv.ParseFloat(string(text), 64)
	switch d.l.Fractions {
	case IntegralFractions:
		if err != nil || f != float64(int64(f)) || f > 1<<53 || f < -(1<<53) {
			return 0, false, d.Fail(field, d.l.NotIntegral)
		}
	case TruncateFractions:
		// 2^63 is the first float64 past the int64 range.
		if err != nil || f >= 1<<63 || f < -(1<<63) {
			return 0, false, d.Fail(field, d.l.OutOfRange)
		}
	default:
		return 0, false, d.TypeError(field, d.l.Words[KindInt])
	}
	return int64(f), true, nil
}

// Object consumes the '{' of a value that must be an object or null; it
// reports false for null. want describes the object for a type error;
// empty means the dialect's word for an object.
func (d *Decoder) Object(field, want string) (bool, error) {
	return d.open('{', KindObject, field, want)
}

// Array is Object's twin for arrays.
func (d *Decoder) Array(field, want string) (bool, error) {
	return d.open('[', KindArray, field, want)
}

// open consumes c, the opening byte of a value of kind k, or null.
func (d *Decoder) open(c byte, k Kind, field, want string) (bool, error) {
	switch d.R.Peek() {
	case c:
		d.R.OpenObject() // one step past c, as OpenArray would take
		return true, nil
	case 'n':
		return false, d.R.Literal("null")
	}
	return false, d.wrong(field, k, want)
}

// EnterObject is Object for a nested object whose fields are named
// below field: when it reports true, field is on the path until the
// caller's Leave.
func (d *Decoder) EnterObject(field, want string) (bool, error) {
	ok, err := d.Object(field, want)
	if ok {
		d.Enter(field, -1)
	}
	return ok, err
}

// OpenObject consumes the '{' of a value that must be an object.
func (d *Decoder) OpenObject(field, want string) error {
	if d.R.Peek() != '{' {
		return d.wrong(field, KindObject, want)
	}
	d.R.OpenObject()
	return nil
}

// SkipMembers skips the rest of an object whose '{' was consumed.
func (d *Decoder) SkipMembers() error {
	var it wire.Iter
	for d.R.Member(&it) {
		it.Err = d.R.Skip()
	}
	return it.Err
}

// RawObject copies an object's JSON text (a schema, say), or reads null
// as nil.
func (d *Decoder) RawObject(field, want string) (json.RawMessage, error) {
	switch d.R.Peek() {
	case 'n':
		return nil, d.R.Literal("null")
	case '{':
		raw, err := d.R.Raw()
		if err != nil {
			return nil, err
		}
		return append(json.RawMessage(nil), raw...), nil
	}
	return nil, d.wrong(field, KindObject, want)
}

// ResetChat empties req for a decoder to fill, keeping the capacity of
// its Messages, Stop and Tools.
func ResetChat(req *llm.ChatRequest) {
	msgs, stop, tools := req.Messages[:0], req.Stop[:0], req.Tools[:0]
	*req = llm.ChatRequest{Messages: msgs, Stop: stop, Tools: tools}
}

// List reads an array, or null, at field into dst (reset first): elem
// reads each element into a new zero T, with the element on the path. It
// refuses more than max elements of unit, unless max is 0.
func List[T any](d *Decoder, dst []T, field, want string, max int, unit string, elem func(*T) error) ([]T, error) {
	r := &d.R
	dst = dst[:0]
	if ok, err := d.Array(field, want); !ok || err != nil {
		return dst, err
	}
	var it wire.Iter
	for r.Elem(&it) {
		if len(dst) == max && max > 0 {
			return dst, d.TooMany(field, max, unit)
		}
		var zero T
		dst = append(dst, zero)
		d.Enter(field, it.Index())
		it.Err = elem(&dst[len(dst)-1])
		d.Leave()
	}
	return dst, it.Err
}

// Strings reads an array of strings, or null, at field into dst (reset
// first; nil when empty), refusing more than max of unit.
func (d *Decoder) Strings(dst []string, field, want string, max int, unit string) ([]string, error) {
	dst, err := List(d, dst, field, want, max, unit, func(s *string) (err error) {
		if d.R.Peek() != '"' {
			return d.WrongType("", d.l.Words[KindString])
		}
		*s, err = d.R.Str()
		return err
	})
	if len(dst) == 0 {
		dst = nil
	}
	return dst, err
}

// Messages reads a messages array into msgs (reset first), reusing the
// message slots past its end (see AppendMessage): message reads message
// i, with it on the path.
func (d *Decoder) Messages(msgs []llm.Message, message func(m *llm.Message, i int) error) ([]llm.Message, error) {
	r := &d.R
	msgs = msgs[:0]
	if ok, err := d.Array("messages", "an array of message objects"); !ok || err != nil {
		return msgs, err
	}
	var it wire.Iter
	for r.Elem(&it) {
		i := len(msgs)
		msgs = AppendMessage(msgs)
		d.Enter("messages", i)
		it.Err = message(&msgs[i], i)
		d.Leave()
	}
	return msgs, it.Err
}

// AppendMessage appends an empty message to msgs, reusing the slot past
// its end (and that slot's Content and ToolCalls capacity) when there is
// one: decoding into a used request then allocates no message again.
func AppendMessage(msgs []llm.Message) []llm.Message {
	i := len(msgs)
	if i == cap(msgs) {
		return append(msgs, llm.Message{})
	}
	msgs = msgs[:i+1]
	old := &msgs[i]
	*old = llm.Message{Content: old.Content[:0], ToolCalls: old.ToolCalls[:0]}
	return msgs
}
