package wire

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

// walk reads one value with the pull API the decoders use and returns it in
// the shape encoding/json gives with UseNumber.
func walk(r *Reader) (any, error) {
	switch c := r.Peek(); c {
	case '{':
		r.OpenObject()
		m := map[string]any{}
		var it Iter
		for r.Member(&it) {
			k := string(it.Key)
			m[k], it.Err = walk(r)
		}
		return m, it.Err
	case '[':
		r.OpenArray()
		a := []any{}
		var it Iter
		for r.Elem(&it) {
			var v any
			v, it.Err = walk(r)
			a = append(a, v)
		}
		return a, it.Err
	case '"':
		return r.Str()
	case 't', 'f':
		return r.Boolean()
	case 'n':
		_, err := r.Null()
		return nil, err
	default:
		text, _, err := r.Number()
		return json.Number(text), err
	}
}

// walkDoc reads b as one whole document.
func walkDoc(r *Reader, b []byte) (any, error) {
	r.Reset(b)
	v, err := walk(r)
	if err == nil {
		err = r.End()
	}
	return v, err
}

func TestReaderStr(t *testing.T) {
	tests := []struct {
		name, in, want, wantErr string
	}{
		{name: "plain", in: `"hello"`, want: "hello"},
		{name: "empty", in: `""`, want: ""},
		{name: "leading whitespace", in: " \t\r\n\"x\"", want: "x"},
		{name: "short escapes", in: `"a\"b\\c\/d\b\f\n\r\t"`, want: "a\"b\\c/d\b\f\n\r\t"},
		{name: "unicode escape", in: `"\u00e9\u20AC"`, want: "é€"},
		{name: "surrogate pair", in: `"\ud83d\ude00"`, want: "😀"},
		{name: "lone high surrogate", in: `"\ud83dx"`, want: "\ufffdx"},
		{name: "lone low surrogate", in: `"\ude00"`, want: "\ufffd"},
		{name: "high then non-surrogate escape", in: `"\ud83d\u0041"`, want: "\ufffdA"},
		{name: "raw multibyte passes", in: "\"é😀\"", want: "é😀"},
		{name: "unterminated", in: `"abc`, wantErr: "invalid JSON at byte offset 4: unterminated string"},
		{name: "unterminated after escape", in: `"a\n`, wantErr: "invalid JSON at byte offset 4: unterminated string"},
		{name: "dangling backslash", in: `"a\`, wantErr: "invalid JSON at byte offset 3: unterminated string"},
		{name: "control character", in: "\"a\nb\"", wantErr: "invalid JSON at byte offset 2: control character in string"},
		{name: "control character after escape", in: "\"\\n\x01\"", wantErr: "invalid JSON at byte offset 3: control character in string"},
		{name: "invalid escape", in: `"a\x"`, wantErr: "invalid JSON at byte offset 2: invalid escape in string"},
		{name: "short unicode escape", in: `"\u12"`, wantErr: "invalid JSON at byte offset 1: invalid \\u escape in string"},
		{name: "bad hex", in: `"\u12g4"`, wantErr: "invalid JSON at byte offset 1: invalid \\u escape in string"},
		{name: "not a string", in: `12`, wantErr: "invalid JSON at byte offset 0: unexpected character '1'"},
		{name: "empty input", in: ``, wantErr: "invalid JSON at byte offset 0: unexpected end of input"},
		{name: "binary byte", in: "\x01", wantErr: "invalid JSON at byte offset 0: unexpected byte 0x1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Reader
			r.Reset([]byte(tt.in))
			got, err := r.Str()
			if tt.wantErr != "" {
				var se *SyntaxError
				if !errors.As(err, &se) || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Str = %q, want %q", got, tt.want)
			}
			r.Reset([]byte(tt.in))
			r.Peek()
			if err := r.SkipStr(); err != nil || r.End() != nil {
				t.Errorf("SkipStr = %v, End = %v", err, r.End())
			}
		})
	}
}

func TestReaderNumber(t *testing.T) {
	tests := []struct {
		name, in, want string
		integer        bool
		wantErr        string
	}{
		{name: "zero", in: "0", want: "0", integer: true},
		{name: "negative", in: "-12", want: "-12", integer: true},
		{name: "fraction", in: "3.25", want: "3.25"},
		{name: "exponent", in: "1e9", want: "1e9"},
		{name: "signed exponent", in: "-2.5E-3", want: "-2.5E-3"},
		{name: "stops at delimiter", in: "7,", want: "7", integer: true},
		{name: "leading zero stops", in: "01", want: "0", integer: true},
		{name: "bare minus", in: "-", wantErr: "invalid JSON at byte offset 1: unexpected end of input"},
		{name: "plus sign", in: "+1", wantErr: "invalid JSON at byte offset 0: unexpected character '+'"},
		{name: "leading dot", in: ".5", wantErr: "invalid JSON at byte offset 0: unexpected character '.'"},
		{name: "no fraction digits", in: "1.", wantErr: "invalid JSON at byte offset 2: expected a digit after the decimal point"},
		{name: "no exponent digits", in: "1e+", wantErr: "invalid JSON at byte offset 3: expected a digit in the exponent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Reader
			r.Reset([]byte(tt.in))
			text, integer, err := r.Number()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(text) != tt.want || integer != tt.integer {
				t.Errorf("Number = %q, %v; want %q, %v", text, integer, tt.want, tt.integer)
			}
		})
	}
}

func TestReaderWalk(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{name: "object", in: `{"a":[1,2.5,{"b":null}],"c":true,"d":"x\n","e":false,"f":{}}`},
		{name: "whitespace everywhere", in: " { \"a\" : [ 1 , 2 ] , \"b\" : { } } \n"},
		{name: "empty array", in: `[]`},
		{name: "trailing comma in array", in: `[1,]`, wantErr: "invalid JSON at byte offset 3: unexpected character ']'"},
		{name: "trailing comma in object", in: `{"a":1,}`, wantErr: "invalid JSON at byte offset 7: expected a string object key"},
		{name: "missing comma in array", in: `[1 2]`, wantErr: "invalid JSON at byte offset 3: expected ',' or ']' after array element"},
		{name: "missing comma in object", in: `{"a":1 "b":2}`, wantErr: "invalid JSON at byte offset 7: expected ',' or '}' after object member"},
		{name: "missing colon", in: `{"a" 1}`, wantErr: "invalid JSON at byte offset 5: expected ':' after object key"},
		{name: "number key", in: `{1:2}`, wantErr: "invalid JSON at byte offset 1: expected a string object key"},
		{name: "unclosed object", in: `{"a":1`, wantErr: "invalid JSON at byte offset 6: unexpected end of input"},
		{name: "unclosed array", in: `[1`, wantErr: "invalid JSON at byte offset 2: unexpected end of input"},
		{name: "bad literal", in: `[tru]`, wantErr: "invalid JSON at byte offset 1: unexpected character 't'"},
		{name: "trailing data", in: `{} {}`, wantErr: "invalid JSON at byte offset 3: unexpected data after the top-level value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Reader
			got, err := walkDoc(&r, []byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %s", err, tt.wantErr)
				}
				if json.Valid([]byte(tt.in)) {
					t.Errorf("encoding/json accepts %s", tt.in)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := decodeStd(t, []byte(tt.in))
			if !equalJSON(got, want) {
				t.Errorf("walk = %#v, want %#v", got, want)
			}
		})
	}
}

func TestReaderSkipDepth(t *testing.T) {
	tests := []struct {
		name    string
		depth   int
		open    string
		close   string
		wantErr string
	}{
		{name: "arrays at the bound", depth: maxJSONDepth, open: "[", close: "]"},
		{name: "objects at the bound", depth: maxJSONDepth, open: `{"k":`, close: "}"},
		{name: "arrays past the bound", depth: maxJSONDepth + 1, open: "[", close: "]",
			wantErr: "nesting exceeds " + strconv.Itoa(maxJSONDepth) + " levels"},
		{name: "unclosed flood", depth: 10000, open: "[",
			wantErr: "nesting exceeds " + strconv.Itoa(maxJSONDepth) + " levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.Repeat(tt.open, tt.depth) + "0" + strings.Repeat(tt.close, tt.depth)
			if tt.close == "" {
				doc = strings.Repeat(tt.open, tt.depth)
			}
			var r Reader
			r.Reset([]byte(doc))
			err := r.Skip()
			if err == nil {
				err = r.End()
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se *SyntaxError
			if !errors.As(err, &se) || se.Msg != tt.wantErr {
				t.Fatalf("error = %v, want %s", err, tt.wantErr)
			}
		})
	}
}

func TestReaderRawAndRewind(t *testing.T) {
	var r Reader
	r.Reset([]byte(`{"tools": [ {"a":"\u0041"} , 1 ], "type":"x"}`))
	r.OpenObject()
	var it Iter
	if !r.Member(&it) || string(it.Key) != "tools" {
		t.Fatalf("key = %q, %v", it.Key, it.Err)
	}
	start := r.Offset()
	raw, err := r.Raw()
	if err != nil || string(raw) != `[ {"a":"\u0041"} , 1 ]` {
		t.Fatalf("Raw = %q, %v", raw, err)
	}
	r.Rewind(start)
	if r.Peek() != '[' {
		t.Fatalf("after Rewind the cursor is at %q", r.Peek())
	}
	if err := r.Skip(); err != nil {
		t.Fatal(err)
	}
	if !r.Member(&it) || string(it.Key) != "type" || it.Index() != 1 {
		t.Fatalf("second key = %q at %d, %v", it.Key, it.Index(), it.Err)
	}
	if err := r.Skip(); err != nil {
		t.Fatal(err)
	}
	if r.Member(&it) || it.Err != nil {
		t.Fatalf("end of object: key %q, err = %v", it.Key, it.Err)
	}
	if err := r.End(); err != nil {
		t.Fatal(err)
	}
	if err := r.Fail("x"); err.(*SyntaxError).Offset != r.Offset() {
		t.Errorf("Fail offset = %d, want %d", err.(*SyntaxError).Offset, r.Offset())
	}
}

func TestReaderNullAndBoolean(t *testing.T) {
	var r Reader
	r.Reset([]byte(`[null, true, false, 1]`))
	r.OpenArray()
	var it Iter
	var got []string
	for r.Elem(&it) {
		if isNull, err := r.Null(); err != nil {
			t.Fatal(err)
		} else if isNull {
			got = append(got, "null")
			continue
		}
		if c := r.Peek(); c == 't' || c == 'f' {
			b, err := r.Boolean()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, strconv.FormatBool(b))
			continue
		}
		if err := r.Skip(); err != nil {
			t.Fatal(err)
		}
		got = append(got, "other")
	}
	if it.Err != nil {
		t.Fatal(it.Err)
	}
	if want := "null true false other"; strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
	r.Reset([]byte(`nul`))
	if _, err := r.Null(); err == nil {
		t.Error("Null accepted nul")
	}
}

func TestParseInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"-0", 0, true},
		{"42", 42, true},
		{"-42", -42, true},
		{"9223372036854775807", math.MaxInt64, true},
		{"-9223372036854775808", math.MinInt64, true},
		{"9223372036854775808", 0, false},
		{"-9223372036854775809", 0, false},
		{"99999999999999999999", 0, false},
		{"", 0, false},
		{"-", 0, false},
		{"+1", 0, false},
		{"1.0", 0, false},
		{"1e3", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := ParseInt([]byte(tt.in))
			if got != tt.want || ok != tt.ok {
				t.Errorf("ParseInt(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestReaderAllocs checks that walking a document with a reused Reader
// allocates nothing once its scratch buffer has grown, escapes included.
func TestReaderAllocs(t *testing.T) {
	doc := []byte(`{"model":"m","messages":[{"role":"user","content":"hi \"there\"\n\u00e9"}],` +
		`"temperature":0.7,"max_tokens":100,"stream":true,"stop":null,"extra":{"a":[1,2,{"b":"c"}]}}`)
	var r Reader
	read := func() {
		r.Reset(doc)
		r.OpenObject()
		var it Iter
		for r.Member(&it) {
			switch string(it.Key) {
			case "messages":
				r.OpenArray()
				var msg Iter
				for r.Elem(&msg) {
					r.OpenObject()
					var field Iter
					for r.Member(&field) {
						_, field.Err = r.StrBytes()
					}
					msg.Err = field.Err
				}
				it.Err = msg.Err
			case "temperature", "max_tokens":
				var text []byte
				text, _, it.Err = r.Number()
				ParseInt(text)
			case "extra":
				_, it.Err = r.Raw()
			default:
				it.Err = r.Skip()
			}
		}
		if it.Err != nil {
			t.Fatal(it.Err)
		}
		if err := r.End(); err != nil {
			t.Fatal(err)
		}
	}
	read()
	if allocs := testing.AllocsPerRun(100, read); allocs != 0 {
		t.Errorf("walking a document: %v allocs, want 0", allocs)
	}
}

func BenchmarkReaderSkip(b *testing.B) {
	doc := []byte(`{"model":"m","messages":[{"role":"user","content":"hi \"there\"\n\u00e9"}],` +
		`"temperature":0.7,"max_tokens":100,"stream":true,"stop":null,"extra":{"a":[1,2,{"b":"c"}]}}`)
	var r Reader
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(doc)
		if err := r.Skip(); err != nil {
			b.Fatal(err)
		}
	}
}

// decodeStd decodes b with encoding/json, numbers kept as text.
func decodeStd(t testing.TB, b []byte) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	return v
}

// equalJSON compares two decoded values.
func equalJSON(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if w, ok := b[k]; !ok || !equalJSON(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equalJSON(a[i], b[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

// readCase is an input to one Reader method and what it must return.
type readCase[T comparable] struct {
	in   string
	want T
	err  bool
}

func checkReads[T comparable](t *testing.T, name string, read func(*Reader) (T, error), cases []readCase[T]) {
	t.Helper()
	for _, tc := range cases {
		var r Reader
		r.Reset([]byte(tc.in))
		got, err := read(&r)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("%s(%s) = %#v, %v", name, tc.in, got, err)
		}
	}
}

func TestCountAndOptStr(t *testing.T) {
	checkReads(t, "Count", (*Reader).Count, []readCase[int64]{
		{"12", 12, false}, {"null", 0, false}, {"12.0", 12, false}, {"0", 0, false},
		{"-1", 0, true}, {"1.5", 0, true}, {"2147483648", 0, true}, {`"3"`, 0, true},
	})
	checkReads(t, "OptStr", (*Reader).OptStr, []readCase[string]{
		{`"a\nb"`, "a\nb", false}, {"null", "", false}, {"1", "", true}, {"nul", "", true},
	})
}
