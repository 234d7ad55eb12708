package ingress

import (
	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
)

// Functions are the rules of a dialect that speaks OpenAI's function
// tools: {"type":"function","function":{"name",...}} in tools, and calls
// of the same shape in an assistant's tool_calls. OpenAI and Ollama share
// the shape and differ in how strictly they read it.
type Functions struct {
	// MaxTools bounds the tools of one request.
	MaxTools int
	// Lenient is Ollama's reading: "type" may be null or "", a call needs
	// no id but a function object, its arguments must be a JSON object
	// (the object, or its text) and default to {}, and "strict" is
	// ignored. Otherwise OpenAI's: "type" must say "function", a call
	// needs an id, arguments are any text, and "strict" is read.
	Lenient bool
	// NameRule, when set, is the message for a function name that is not
	// 1 to MaxName of a-z, A-Z, 0-9, '_' and '-'.
	NameRule string
	MaxName  int
}

// ValidName reports whether s is 1 to max of a-z, A-Z, 0-9, '_' and '-',
// the rule tool and schema names follow in every dialect that has one.
func ValidName(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// FunctionType checks a "type" member that must say "function".
func (d *Decoder) FunctionType(f *Functions) error {
	r := &d.R
	switch c := r.Peek(); {
	case c == 'n' && f.Lenient:
		return r.Literal("null")
	case c != '"':
		return d.WrongType("type", d.l.Words[KindString])
	}
	b, err := r.StrBytes()
	if err != nil || string(b) == "function" || len(b) == 0 && f.Lenient {
		return err
	}
	return d.Unsupported("type", `"`+string(b)+`" is not supported; only "function" is`)
}

// Tools reads a tools array into dst (reset first), nil when it holds
// none.
func (d *Decoder) Tools(dst []llm.Tool, f *Functions) ([]llm.Tool, error) {
	dst, err := List(d, dst, "tools", "an array of tools", f.MaxTools, "tools", func(t *llm.Tool) error {
		return d.tool(t, f)
	})
	if len(dst) == 0 {
		dst = nil
	}
	return dst, err
}

func (d *Decoder) tool(t *llm.Tool, f *Functions) error {
	hasFunc, err := d.function(f, nil, func() error { return d.toolFunction(t, f) })
	switch {
	case err != nil:
		return err
	case !hasFunc:
		return d.Missing("function")
	case t.Name == "":
		return d.Missing("function.name")
	case f.NameRule != "" && !ValidName(t.Name, f.MaxName):
		return d.Fail("function.name", f.NameRule)
	}
	return nil
}

// function reads the {"type":"function","function":{...}} object that
// tools and calls share, and the call's id when id is not nil; body reads
// the members of the inner object. It reports whether there was one.
func (d *Decoder) function(f *Functions, id *string, body func() error) (bool, error) {
	r := &d.R
	if err := d.OpenObject("", ""); err != nil {
		return false, err
	}
	var (
		it      wire.Iter
		hasFunc bool
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "id":
			if id == nil {
				it.Err = r.Skip()
			} else {
				*id, it.Err = d.OptString("id")
			}
		case "type":
			it.Err = d.FunctionType(f)
		case "function":
			hasFunc = true
			d.Enter("function", -1)
			if it.Err = d.OpenObject("", ""); it.Err == nil {
				it.Err = body()
			}
			d.Leave()
		default:
			it.Err = r.Skip()
		}
	}
	return hasFunc, it.Err
}

// toolFunction reads the members of a tool's function object.
func (d *Decoder) toolFunction(t *llm.Tool, f *Functions) error {
	r := &d.R
	var it wire.Iter
	for r.Member(&it) {
		var ok bool
		if ok, it.Err = d.ToolMember(it.Key, t, f); !ok {
			it.Err = r.Skip()
		}
	}
	return it.Err
}

// ToolMember reads the member key of a function tool into t when it is
// one (name, description, parameters, strict), reporting whether it was.
// The Responses API's flat tools share the members with the function
// objects of Chat Completions and Ollama.
func (d *Decoder) ToolMember(key []byte, t *llm.Tool, f *Functions) (ok bool, err error) {
	switch string(key) {
	case "name":
		t.Name, err = d.OptString("name")
	case "description":
		t.Description, err = d.OptString("description")
	case "parameters":
		t.Parameters, err = d.RawObject("parameters", "a JSON Schema object")
	case "strict":
		if f.Lenient {
			err = d.R.Skip()
		} else {
			t.Strict, err = d.OptBoolPtr("strict")
		}
	default:
		return false, nil
	}
	return true, err
}

// ToolCalls reads an assistant's tool_calls into dst (reset first).
func (d *Decoder) ToolCalls(dst []llm.ToolCall, f *Functions) ([]llm.ToolCall, error) {
	return List(d, dst, "tool_calls", "an array of tool calls", 0, "", func(tc *llm.ToolCall) error {
		return d.toolCall(tc, f)
	})
}

func (d *Decoder) toolCall(tc *llm.ToolCall, f *Functions) error {
	hasFunc, err := d.function(f, &tc.ID, func() error { return d.callFunction(tc, f) })
	switch {
	case err != nil:
		return err
	case !f.Lenient && tc.ID == "":
		return d.Missing("id")
	case f.Lenient && !hasFunc:
		return d.Missing("function")
	case tc.Name == "":
		return d.Missing("function.name")
	}
	if f.Lenient && tc.Arguments == "" {
		tc.Arguments = "{}"
	}
	return nil
}

// callFunction reads the members of a call's function object.
func (d *Decoder) callFunction(tc *llm.ToolCall, f *Functions) error {
	r := &d.R
	var it wire.Iter
	for r.Member(&it) {
		switch string(it.Key) {
		case "name":
			tc.Name, it.Err = d.OptString("name")
		case "arguments":
			tc.Arguments, it.Err = d.arguments(f)
		case "index":
			if f.Lenient {
				_, _, it.Err = d.Int("index")
			} else {
				it.Err = r.Skip()
			}
		default:
			it.Err = r.Skip()
		}
	}
	return it.Err
}

// arguments reads a call's arguments as JSON text, the form llm.ToolCall
// carries. Clients send the text or, though neither API says so, the
// object itself; both read as the object's text.
func (d *Decoder) arguments(f *Functions) (string, error) {
	r := &d.R
	switch c := r.Peek(); {
	case c == '{':
		raw, err := r.Raw()
		return string(raw), err
	case !f.Lenient:
		return d.OptString("arguments")
	case c == 'n':
		return "", r.Literal("null")
	case c == '"':
		s, err := r.Str()
		if err == nil && !wire.IsObject([]byte(s)) {
			return "", d.Fail("arguments", "must be a JSON object")
		}
		return s, err
	}
	return "", d.WrongType("arguments", "a JSON object")
}
