package ingress

import "github.com/edgeway/edgeway/edge/internal/wire"

// Inputs are a dialect's rules for the input of an embeddings request: a
// string or an array of strings, in OpenAI's shape, which Ollama shares.
type Inputs struct {
	// Max bounds the strings of one request.
	Max int
	// Empty is the message for an empty string: no upstream but Ollama
	// embeds one.
	Empty string
	// EmptyLoads accepts a lone "" as no input at all (Ollama's load
	// request) instead of refusing it with Empty.
	EmptyLoads bool
	// Tokens, when set, refuses token input (an integer or an array of
	// them) as unsupported with this message; otherwise it is a type
	// error.
	Tokens string
}

// Inputs reads an embeddings request's input into dst (reset first).
func (d *Decoder) Inputs(dst []string, in *Inputs) ([]string, error) {
	r := &d.R
	dst = dst[:0]
	switch c := r.Peek(); {
	case c == '"':
		s, err := r.Str()
		switch {
		case err != nil:
			return dst, err
		case s != "":
			return append(dst, s), nil
		case in.EmptyLoads:
			return dst, nil
		}
		return dst, d.Fail("input", in.Empty)
	case in.Tokens != "" && isNumberStart(c):
		return dst, d.tokens(in)
	}
	if ok, err := d.Array("input", "a string or an array of strings"); !ok || err != nil {
		return dst, err
	}
	var it wire.Iter
	for r.Elem(&it) {
		switch c := r.Peek(); {
		case c == '"':
		case in.Tokens != "" && (c == '[' || isNumberStart(c)):
			return dst, d.tokens(in)
		default:
			return dst, d.WrongTypeAt("input", it.Index(), d.l.Words[KindString])
		}
		if len(dst) == in.Max {
			return dst, d.TooMany("input", in.Max, "items")
		}
		var s string
		if s, it.Err = r.Str(); it.Err != nil {
			break
		}
		if s == "" {
			return dst, d.FailAt("input", it.Index(), in.Empty)
		}
		dst = append(dst, s)
	}
	return dst, it.Err
}

// tokens refuses token input; the message stands alone, without the path.
func (d *Decoder) tokens(in *Inputs) error {
	return NewError("input", d.l.Codes[FaultUnsupported], in.Tokens)
}
