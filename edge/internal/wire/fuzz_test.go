package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/testkit"
)

func FuzzSSEReader(f *testing.F) {
	for _, name := range []string{"openai_tool_calls.sse", "openai_error_event.sse", "anthropic_tool_use.sse", "gemini_text.sse"} {
		f.Add(testkit.Fixture(f, name), uint16(4096))
	}
	f.Add([]byte("data: a\r\n\r\ndata: b\r\rdata:c\n:comment\nevent: e\ndata\n\n"), uint16(8))
	f.Add([]byte("\xef\xbb\xbfdata: x"), uint16(1))
	f.Fuzz(func(t *testing.T, in []byte, bound uint16) {
		max := int(bound%2048) + 1
		whole, errWhole := readEvents(bytes.NewReader(in), max)
		bytewise, errBytes := readEvents(iotest.OneByteReader(bytes.NewReader(in)), max)
		if (errWhole == nil) != (errBytes == nil) {
			t.Fatalf("errors differ with read size: %v vs %v", errWhole, errBytes)
		}
		if !reflect.DeepEqual(whole, bytewise) {
			t.Fatalf("events differ with read size:\n%q\n%q", whole, bytewise)
		}
		for _, ev := range whole {
			if len(ev.Data) > max {
				t.Fatalf("event of %d bytes exceeds the bound %d", len(ev.Data), max)
			}
		}
	})
}

// validForm is s with every byte that is not part of valid UTF-8 replaced
// by U+FFFD, the way AppendString treats it.
func validForm(s string) string {
	return string([]rune(s)) // each invalid byte converts to U+FFFD
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", hostile, "\xed\xa0\x80", "\u2028\u2029", "\x00\x1f\x7f", "a\xe2\x82"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		if !json.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("output is not valid JSON in UTF-8: %q", out)
		}
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		if want := validForm(s); back != want {
			t.Fatalf("decodes to %q, want %q", back, want)
		}
		if bytes.ContainsAny(out, "\n\r\u2028\u2029") {
			t.Fatalf("output holds a raw line break: %q", out)
		}
		// What the Reader reads back is what was written.
		var r Reader
		r.Reset(out)
		got, err := r.Str()
		if err == nil {
			err = r.End()
		}
		if err != nil || got != back {
			t.Fatalf("Reader reads %q, %v; want %q", got, err, back)
		}
	})
}

// FuzzReader checks the Reader against encoding/json: both accept the same
// documents (bar Skip's nesting bound), read the same values, and Raw
// returns exactly the skipped text.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,2.5,{"b":null}],"c":true,"d":"x\n\u00e9\ud83d\ude00","e":false}`,
		`[1,]`, `{"a":1,}`, `"\ud800"`, `-0.0e+1`, `01`, ` [ ] `, `{"a" 1}`, `"\u12"`, "\"a\x01\"",
		strings.Repeat("[", 130) + strings.Repeat("]", 130),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		valid := json.Valid(in)
		var r Reader
		got, werr := walkDoc(&r, in)
		if (werr == nil) != valid {
			t.Fatalf("walk error = %v, encoding/json valid = %v", werr, valid)
		}
		var se *SyntaxError
		if werr != nil && !errors.As(werr, &se) {
			t.Fatalf("walk error %v is not a *SyntaxError", werr)
		}
		if valid && utf8.Valid(in) {
			if want := decodeStd(t, in); !equalJSON(got, want) {
				t.Fatalf("walk = %#v, encoding/json = %#v", got, want)
			}
		}

		r.Reset(in)
		raw, serr := r.Raw()
		if serr == nil {
			serr = r.End()
		}
		switch {
		case serr == nil && !valid:
			t.Fatalf("Skip accepts what encoding/json rejects")
		case serr != nil && valid:
			if !errors.As(serr, &se) || !strings.HasPrefix(se.Msg, "nesting exceeds") {
				t.Fatalf("Skip rejects a valid document: %v", serr)
			}
		case serr == nil && string(bytes.TrimSpace(in)) != string(raw):
			t.Fatalf("Raw = %q, want the whole document %q", raw, in)
		}
	})
}
