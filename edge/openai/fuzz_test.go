package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/llm"
)

func FuzzDecodeChatRequest(f *testing.F) {
	for _, name := range []string{"chat_request_basic.json", "chat_request_full.json", "upstream_request_full.json"} {
		f.Add(readFixture(f, name))
	}
	for _, s := range []string{
		chatBody(userHi),
		chatBody(`[{"role":"assistant","content":"","tool_calls":[{"id":"c","function":{"name":"f","arguments":{"a":[1,{"b":null}]}}}]}]`),
		chatBody(`[{"role":"user","content":[{"type":"image_url","image_url":"u"},{"type":"refusal","refusal":"no"}]}]`),
		chatBody(userHi, `"stop":"","seed":-9223372036854775808,"temperature":-0,"x":"\ud800"`),
		chatBody(userHi, `"response_format":{"type":"text","json_schema":{"name":"n"}}`),
		`{"model":"m","messages":[{"role":"tool","tool_call_id":"t","content":"\u2028"}],"":1}`,
		`{"a":[[[[[[[[]]]]]]]]}`,
		`{"model":"m","messages":[` + "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req llm.ChatRequest
		inc, err := DecodeChatRequest(body, &req)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) || re.Status != 400 || re.Message == "" {
				t.Fatalf("error %v (%T) is not a complete *RequestError", err, err)
			}
			return
		}
		_ = inc
		// Any accepted request re-encodes into valid JSON that decodes
		// back to the same request.
		out, err := appendChatRequest(nil, &req, wireOptions{})
		if err != nil {
			t.Fatalf("accepted request does not re-encode: %v", err)
		}
		if !json.Valid(out) {
			t.Fatalf("re-encoded request is not valid JSON: %s", out)
		}
		var again llm.ChatRequest
		inc2, err := DecodeChatRequest(out, &again)
		if err != nil {
			t.Fatalf("re-encoded request is rejected: %v\n%s", err, out)
		}
		if req.Stream && !inc2 {
			t.Error("re-encoded request lost stream_options.include_usage")
		}
		req.Stream, again.Stream = false, false
		normalize(&req)
		normalize(&again)
		if !reflect.DeepEqual(req, again) {
			t.Fatalf("round trip changed the request\nfirst:  %+v\nsecond: %+v\nwire: %s", req, again, out)
		}
	})
}

func FuzzDecodeEmbedRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"e","input":"hello"}`,
		`{"model":"e","input":["a","b"],"dimensions":3,"encoding_format":"base64","user":"u"}`,
		`{"model":"e","input":[[1,2]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req llm.EmbedRequest
		format, err := DecodeEmbedRequest(body, &req)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) || re.Message == "" {
				t.Fatalf("error %v is not a *RequestError", err)
			}
			return
		}
		if req.Model == "" || len(req.Input) == 0 || (format != "float" && format != "base64") {
			t.Fatalf("accepted an incomplete request: %+v %q", req, format)
		}
		for _, in := range req.Input {
			if in == "" || !utf8.ValidString(in) {
				t.Fatalf("accepted input %q", in)
			}
		}
	})
}

func FuzzSSEReader(f *testing.F) {
	for _, name := range []string{"stream_text.sse", "stream_tool_calls.sse", "stream_error_event.sse"} {
		f.Add(readFixture(f, name), uint16(4096))
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
// by U+FFFD, the way appendJSONString treats it.
func validForm(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", hostile, "\xed\xa0\x80", "\u2028\u2029", "\x00\x1f\x7f", "a\xe2\x82"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendJSONString(nil, s)
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
	})
}

// FuzzChatStream feeds arbitrary bytes to the client's stream parser as if
// an upstream sent them.
func FuzzChatStream(f *testing.F) {
	for _, name := range []string{"stream_text.sse", "stream_tool_calls.sse", "stream_error_event.sse", "chat_completion.json"} {
		f.Add(readFixture(f, name))
	}
	f.Add([]byte(`data: {"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"arguments":{"x":1}}},{"function":{"arguments":"y"}}]},"finish_reason":"eos"}],"usage":{"prompt_tokens":1.0}}` + "\n\n"))
	c, err := New(Options{Name: "fuzz", BaseURL: "http://127.0.0.1:1/v1", MaxResponseBytes: 4096})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		s := chatStream{c: c}
		n := 0
		_, err := s.read(context.Background(), bytes.NewReader(body), func(ch *llm.Chunk) error {
			if (ch.Role != "") != (n == 0) {
				t.Fatalf("chunk %d has role %q", n, ch.Role)
			}
			n++
			return nil
		})
		if err != nil {
			var le *llm.Error
			if !errors.As(err, &le) || le.Provider != "fuzz" {
				t.Fatalf("error %v (%T) is not an *llm.Error", err, err)
			}
		}
	})
}
