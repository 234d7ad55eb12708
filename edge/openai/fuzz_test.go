package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/internal/ingress/ingresstest"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/edge/upstream"
	"github.com/edgeway/edgeway/edge/upstream/upstreamtest"
)

func FuzzDecodeChatRequest(f *testing.F) {
	testkit.Seed(f, []string{"chat_request_basic.json", "chat_request_full.json", "upstream_request_full.json"},
		ingresstest.ChatBody(userHi),
		ingresstest.ChatBody(`[{"role":"assistant","content":"","tool_calls":[{"id":"c","function":{"name":"f","arguments":{"a":[1,{"b":null}]}}}]}]`),
		ingresstest.ChatBody(`[{"role":"user","content":[{"type":"image_url","image_url":"u"},{"type":"refusal","refusal":"no"}]}]`),
		ingresstest.ChatBody(userHi, `"stop":"","seed":-9223372036854775808,"temperature":-0,"x":"\ud800"`),
		ingresstest.ChatBody(userHi, `"response_format":{"type":"text","json_schema":{"name":"n"}}`),
		`{"model":"m","messages":[{"role":"tool","tool_call_id":"t","content":"\u2028"}],"":1}`,
		`{"a":[[[[[[[[]]]]]]]]}`,
		`{"model":"m","messages":[`+"\xff",
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		var req llm.ChatRequest
		inc, err := DecodeChatRequest(body, &req)
		if err != nil {
			ingresstest.CheckRefused(t, err, "")
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
		ingresstest.Normalize(&req)
		ingresstest.Normalize(&again)
		if !reflect.DeepEqual(req, again) {
			t.Fatalf("round trip changed the request\nfirst:  %+v\nsecond: %+v\nwire: %s", req, again, out)
		}
	})
}

func FuzzDecodeEmbedRequest(f *testing.F) {
	testkit.Seed(f, nil,
		`{"model":"e","input":"hello"}`,
		`{"model":"e","input":["a","b"],"dimensions":3,"encoding_format":"base64","user":"u"}`,
		`{"model":"e","input":[[1,2]]}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		var req llm.EmbedRequest
		format, err := DecodeEmbedRequest(body, &req)
		if err != nil {
			ingresstest.CheckRefused(t, err, "")
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

// FuzzChatStream feeds arbitrary bytes to the client's stream parser as if
// an upstream sent them.
func FuzzChatStream(f *testing.F) {
	testkit.Seed(f, []string{"stream_text.sse", "stream_tool_calls.sse", "stream_error_event.sse", "chat_completion.json"})
	f.Add([]byte(`data: {"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"arguments":{"x":1}}},{"function":{"arguments":"y"}}]},"finish_reason":"eos"}],"usage":{"prompt_tokens":1.0}}` + "\n\n"))
	c, err := New(Options{Endpoint: upstream.Endpoint{Name: "fuzz", BaseURL: "http://127.0.0.1:1/v1", MaxResponseBytes: 4096}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		s := chatStream{c: c}
		upstreamtest.CheckFuzzedStream(t, func(emit func(*llm.Chunk) error) error {
			_, err := s.read(context.Background(), bytes.NewReader(body), emit)
			return err
		}, nil)
	})
}
