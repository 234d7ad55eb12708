package ingress

import (
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
)

// The two wordings the dialects use: path first with brackets and codes
// (OpenAI; Ollama is the same without codes), and dotted with a colon
// (Anthropic).
var (
	bracketed = func() Dialect {
		l := Plain()
		l.Codes = [...]string{FaultSyntax: "json", FaultType: "type", FaultValue: "value", FaultMissing: "missing", FaultUnsupported: "unsupported"}
		return l
	}()
	dotted = Dialect{
		DottedIndex: true, Join: ": ",
		Words:    [...]string{KindString: "str?", KindBool: "bool?", KindNumber: "num?", KindInt: "int?", KindObject: "dict?", KindArray: "list?"},
		Required: "Field required", OutOfRange: "too big", Fractions: IntegralFractions, NotIntegral: "fraction",
		NotObject: "dict?", SyntaxPrefix: "parse: ",
	}
	truncating = func() Dialect { l := Plain(); l.Fractions = TruncateFractions; return l }()
)

// at returns a decoder over body with the path messages[2].content
// entered.
func at(l *Dialect, body string) *Decoder {
	d := new(Decoder)
	d.Reset(l, []byte(body))
	d.Enter("messages", 2)
	d.Enter("content", -1)
	return d
}

func wantError(t *testing.T, err error, param, code, msg string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *Error", err, err)
	}
	if e.Status != 400 || e.Param != param || e.Code != code || e.Message != msg || e.Error() != msg {
		t.Errorf("error = %+v, want param %q code %q message %q", *e, param, code, msg)
	}
}

func TestDecoderErrors(t *testing.T) {
	tests := []struct {
		name             string
		l                *Dialect
		body             string
		read             func(d *Decoder) error
		param, code, msg string
	}{
		{"string bracketed", &bracketed, `1`, func(d *Decoder) error { _, err := d.OptString("text"); return err },
			"messages[2].content.text", "type", "messages[2].content.text must be a string"},
		{"string dotted", &dotted, `1`, func(d *Decoder) error { _, err := d.OptString("text"); return err },
			"messages.2.content.text", "", "messages.2.content.text: str?"},
		{"bool", &bracketed, `"yes"`, func(d *Decoder) error { _, err := d.OptBool("b"); return err },
			"messages[2].content.b", "type", "messages[2].content.b must be a boolean"},
		{"bool pointer", &dotted, `0`, func(d *Decoder) error { _, err := d.OptBoolPtr("b"); return err },
			"messages.2.content.b", "", "messages.2.content.b: bool?"},
		{"number", &bracketed, `"1"`, func(d *Decoder) error { _, _, err := d.Float("x"); return err },
			"messages[2].content.x", "type", "messages[2].content.x must be a number"},
		{"int refuses fractions", &bracketed, `1.5`, func(d *Decoder) error { _, _, err := d.Int("n"); return err },
			"messages[2].content.n", "type", "messages[2].content.n must be an integer"},
		{"int integral only", &dotted, `1.5`, func(d *Decoder) error { _, _, err := d.Int("n"); return err },
			"messages.2.content.n", "", "messages.2.content.n: fraction"},
		{"int integral too large", &dotted, `1e300`, func(d *Decoder) error { _, _, err := d.Int("n"); return err },
			"messages.2.content.n", "", "messages.2.content.n: fraction"},
		{"int overflow", &bracketed, `99999999999999999999`, func(d *Decoder) error { _, _, err := d.Int("n"); return err },
			"messages[2].content.n", "value", "messages[2].content.n is out of range"},
		{"int truncating overflow", &truncating, `1e19`, func(d *Decoder) error { _, _, err := d.Int("n"); return err },
			"messages[2].content.n", "", "messages[2].content.n is out of range"},
		{"object with own words", &bracketed, `[]`, func(d *Decoder) error { _, err := d.Object("", "a part"); return err },
			"messages[2].content", "type", "messages[2].content must be a part"},
		{"array default words", &dotted, `{}`, func(d *Decoder) error { _, err := d.Array("", ""); return err },
			"messages.2.content", "", "messages.2.content: list?"},
		{"open object", &dotted, `"x"`, func(d *Decoder) error { return d.OpenObject("", "") },
			"messages.2.content", "", "messages.2.content: dict?"},
		{"raw object", &bracketed, `[]`, func(d *Decoder) error { _, err := d.RawObject("schema", "a schema"); return err },
			"messages[2].content.schema", "type", "messages[2].content.schema must be a schema"},
		{"missing", &dotted, ``, func(d *Decoder) error { return d.Missing("role") },
			"messages.2.content.role", "", "messages.2.content.role: Field required"},
		{"unsupported", &bracketed, ``, func(d *Decoder) error { return d.Unsupported("type", `"x" is not supported`) },
			"messages[2].content.type", "unsupported", `messages[2].content.type "x" is not supported`},
		{"element path", &bracketed, ``, func(d *Decoder) error { d.Enter("", 0); d.Enter("parts", 1); return d.Fail("", "bad") },
			"messages[2].content[0].parts[1]", "value", "messages[2].content[0].parts[1] bad"},
		{"element path dotted", &dotted, ``, func(d *Decoder) error { d.Enter("", 0); return d.Fail("type", "bad") },
			"messages.2.content.0.type", "", "messages.2.content.0.type: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, tt.read(at(tt.l, tt.body)), tt.param, tt.code, tt.msg)
		})
	}
}

func TestDecoderPathDepth(t *testing.T) {
	d := at(&dotted, ``)
	for i := range maxPathDepth {
		d.Enter("", i)
	}
	if got, want := d.Param("x"), "messages.2.content.0.1.2.3.4.5.x"; got != want {
		t.Errorf("Param beyond the kept depth = %q, want %q", got, want)
	}
	for range maxPathDepth {
		d.Leave()
	}
	if got := d.Param(""); got != "messages.2.content" {
		t.Errorf("Param after Leave = %q", got)
	}
}

// A value that is not even JSON is a syntax error, not a type error.
func TestDecoderSyntax(t *testing.T) {
	for _, l := range []*Dialect{&bracketed, &dotted} {
		_, err := at(l, `@`).OptString("s")
		var se *wire.SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("error = %v, want a syntax error", err)
		}
		wantError(t, l.Wrap(err), "", l.Codes[FaultSyntax], l.SyntaxPrefix+se.Error())
	}
	wantError(t, dotted.CheckUTF8([]byte("{\"a\":\"\xff\"}")), "", "", "request body is not valid UTF-8 (byte offset 6)")
	if err := bracketed.Wrap(nil); err != nil {
		t.Errorf("Wrap(nil) = %v", err)
	}
	var d Decoder
	d.Reset(&bracketed, []byte(`[]`))
	wantError(t, d.OpenBody(), "", "type", "request body must be a JSON object")
}

func TestDecoderValues(t *testing.T) {
	read := func(l *Dialect, body string, f func(d *Decoder) (any, bool, error)) (any, bool) {
		t.Helper()
		v, ok, err := f(at(l, body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return v, ok
	}
	intOf := func(d *Decoder) (any, bool, error) { return d.Int("n") }
	floatOf := func(d *Decoder) (any, bool, error) { return d.Float("x") }
	tests := []struct {
		l       *Dialect
		body    string
		f       func(d *Decoder) (any, bool, error)
		want    any
		present bool
	}{
		{&bracketed, `null`, intOf, int64(0), false},
		{&bracketed, `-42`, intOf, int64(-42), true},
		{&dotted, `1024.0`, intOf, int64(1024), true},
		{&truncating, `-2.9`, intOf, int64(-2), true},
		{&bracketed, `1e400`, floatOf, math.Inf(1), true},
		{&bracketed, `1e-400`, floatOf, 0.0, true},
		{&bracketed, ` 0.5`, floatOf, 0.5, true},
		{&bracketed, `true`, func(d *Decoder) (any, bool, error) { return d.Bool("b") }, true, true},
		{&bracketed, `null`, func(d *Decoder) (any, bool, error) { return d.Bool("b") }, false, false},
	}
	for _, tt := range tests {
		if v, ok := read(tt.l, tt.body, tt.f); v != tt.want || ok != tt.present {
			t.Errorf("%s = %v, %v; want %v, %v", tt.body, v, ok, tt.want, tt.present)
		}
	}
	d := at(&bracketed, `{"a":[1,{"b":2}],"c":null} x`)
	d.R.OpenObject()
	if err := d.SkipMembers(); err != nil || d.R.Peek() != 'x' {
		t.Errorf("SkipMembers = %v, at %q", err, d.R.Peek())
	}
	if raw, err := at(&bracketed, `{"type": "object"}`).RawObject("s", ""); err != nil || string(raw) != `{"type": "object"}` {
		t.Errorf("RawObject = %s, %v", raw, err)
	}
}

func TestResetChat(t *testing.T) {
	req := llm.ChatRequest{Model: "m", Messages: make([]llm.Message, 2, 4), Stop: []string{"x"}, Tools: make([]llm.Tool, 1, 3), User: "u"}
	ResetChat(&req)
	if req.Model != "" || req.User != "" || len(req.Messages) != 0 || cap(req.Messages) != 4 || len(req.Stop) != 0 || cap(req.Tools) != 3 {
		t.Errorf("ResetChat left %+v", req)
	}
}

func TestValidName(t *testing.T) {
	tests := []struct {
		s    string
		max  int
		want bool
	}{
		{"get_weather-2", 64, true},
		{"abcd", 4, true},
		{"abcde", 4, false},
		{"", 4, false},
		{"a b", 4, false},
		{"é", 4, false},
	}
	for _, tt := range tests {
		if got := ValidName(tt.s, tt.max); got != tt.want {
			t.Errorf("ValidName(%q, %d) = %v, want %v", tt.s, tt.max, got, tt.want)
		}
	}
}

func TestStrings(t *testing.T) {
	tests := []struct {
		l                *Dialect
		body             string
		want             []string
		param, code, msg string
	}{
		{&bracketed, `["a","b"]`, []string{"a", "b"}, "", "", ""},
		{&bracketed, `[]`, nil, "", "", ""},
		{&bracketed, `null`, nil, "", "", ""},
		{&bracketed, `["a","b","c"]`, nil, "messages[2].content.stop", "value", "messages[2].content.stop may hold at most 2 sequences"},
		{&bracketed, `["a",1]`, nil, "messages[2].content.stop[1]", "type", "messages[2].content.stop[1] must be a string"},
		{&dotted, `"a"`, nil, "messages.2.content.stop", "", "messages.2.content.stop: list?"},
		{&dotted, `[1]`, nil, "messages.2.content.stop.0", "", "messages.2.content.stop.0: str?"},
	}
	for _, tt := range tests {
		got, err := at(tt.l, tt.body).Strings([]string{"old"}, "stop", "", 2, "sequences")
		if tt.msg != "" {
			wantError(t, err, tt.param, tt.code, tt.msg)
		} else if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Strings(%s) = %q, %v; want %q", tt.body, got, err, tt.want)
		}
	}
}

func TestAppendMessage(t *testing.T) {
	msgs := []llm.Message{{Role: llm.RoleUser}, {Role: llm.RoleTool, Name: "x", Content: make([]llm.Part, 2, 5), ToolCalls: make([]llm.ToolCall, 1, 3)}}
	msgs = AppendMessage(msgs[:1])
	if m := msgs[1]; len(msgs) != 2 || m.Role != "" || m.Name != "" || len(m.Content) != 0 || cap(m.Content) != 5 || cap(m.ToolCalls) != 3 {
		t.Errorf("reused slot = %+v", m)
	}
	if msgs = AppendMessage(msgs); len(msgs) != 3 {
		t.Errorf("len = %d, want 3", len(msgs))
	}
}
