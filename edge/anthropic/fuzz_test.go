package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/edgeway/edgeway/edge/internal/ingress"
	"github.com/edgeway/edgeway/edge/internal/ingress/ingresstest"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/edge/upstream"
)

// FuzzDecodeMessagesRequest checks that the decoder never panics, that
// every refusal is a complete *ingress.Error, and that what it accepts
// translates to an upstream body that is valid JSON and a fixed point:
// decoding that body and translating again gives the same bytes.
func FuzzDecodeMessagesRequest(f *testing.F) {
	testkit.Seed(f, []string{"request_basic.json", "request_full.json", "upstream_request_full.json"},
		`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"a.b","is_error":true},{"type":"text","text":" "}]},{"role":"assistant","content":"x "}]}`,
		`{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{"a":[1,{"b":null}]}}]},{"role":"user","content":"\u2028"}]}`,
		`{"model":"m","max_tokens":1,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}],"tools":[{"name":"f","input_schema":{}}],"tool_choice":{"type":"none"}}`,
		`{"model":"m","max_tokens":1.0,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/gif","data":"R0lG"}}]}],"output_format":{"type":"json_schema","schema":{}}}`,
		`{"a":[[[[[[[[]]]]]]]]}`,
		`{"model":"m","max_tokens":1,"messages":[`+"\xff",
		`{"model":"m","max_tokens":1,"system":"s","messages":[{"role":"user","content":"a"},{"role":"system","content":"late","cache_control":{"type":"ephemeral"}},{"role":"assistant","content":"b"},{"role":"system","content":[{"type":"text","text":"x"}]}],"thinking":{"type":"adaptive"},"future":1}`,
		`{"model":"m","max_tokens":1,"messages":[{"role":"system","content":"first"},{"role":"user","content":[{"type":"text","text":"q","cache_control":{"type":"ephemeral","ttl":"1h"}}]},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"redacted_thinking","data":"d"},{"type":"text","text":"a"}]}]}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		var req llm.ChatRequest
		if err := DecodeMessagesRequest(body, &req); err != nil {
			ingresstest.CheckRefused(t, err, "")
			return
		}
		o := wireOptions{defaultMaxTokens: DefaultMaxTokens}
		first, err := appendMessagesRequest(nil, &req, o)
		if err != nil {
			t.Fatalf("accepted request does not translate: %v", err)
		}
		if !json.Valid(first) {
			t.Fatalf("upstream body is not valid JSON: %s", first)
		}
		var again llm.ChatRequest
		if err := DecodeMessagesRequest(first, &again); err != nil {
			// A request that became empty (only empty or skipped
			// content) is refused the second time; nothing else may be.
			var re *ingress.Error
			if errors.As(err, &re) && (re.Param == "messages" || re.Message == "tool_choice.name: Tool '"+toolChoiceName(&req)+"' not found in provided tools") {
				return
			}
			t.Fatalf("upstream body is refused: %v\n%s", err, first)
		}
		second, err := appendMessagesRequest(nil, &again, o)
		if err != nil {
			t.Fatalf("second translation failed: %v", err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("translation is not a fixed point\nfirst:  %s\nsecond: %s", first, second)
		}
		// The passthrough body, system turns in place or folded, is
		// valid JSON that decodes with no system turn left when folded.
		for _, inPlace := range []bool{true, false} {
			pt, err := appendPassthrough(nil, req.Passthrough.Body, "m2", true, inPlace)
			if err != nil || !json.Valid(pt) {
				t.Fatalf("passthrough (in place %v) = %v\n%s", inPlace, err, pt)
			}
			var folded llm.ChatRequest
			if inPlace || DecodeMessagesRequest(pt, &folded) != nil {
				continue
			}
			for i, m := range folded.Messages[leadingSystem(folded.Messages):] {
				if m.Role == llm.RoleSystem {
					t.Fatalf("message %d is still a system turn after folding:\n%s", i, pt)
				}
			}
		}
	})
}

func toolChoiceName(req *llm.ChatRequest) string {
	if req.ToolChoice == nil {
		return ""
	}
	return req.ToolChoice.Name
}

// FuzzStream feeds arbitrary bytes to the client's stream parser as if an
// upstream sent them, whole and one byte at a time.
func FuzzStream(f *testing.F) {
	testkit.Seed(f, []string{"stream_text.sse", "stream_tool_use.sse", "stream_thinking.sse", "stream_error.sse"})
	f.Add([]byte("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"EmwK\"}}\n\n" +
		"data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"c2ln\"}}\n\n" +
		"data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"x\",\"signature\":\"pre\"}}\n\ndata: {\"type\":\"message_stop\"}"))
	f.Add([]byte("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":3,\"content_block\":{\"type\":\"tool_use\",\"id\":\"a\",\"name\":\"f\"}}\n\n" +
		"data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n" +
		"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":null},\"usage\":{\"output_tokens\":1.0,\"input_tokens\":null}}\n\ndata: {\"type\":\"message_stop\"}"))
	c, err := New(Options{Endpoint: upstream.Endpoint{Name: "fuzz", BaseURL: "http://127.0.0.1:1/v1", MaxResponseBytes: 4096}})
	if err != nil {
		f.Fatal(err)
	}
	type result struct {
		Chunks []llm.Chunk
		Usage  llm.Usage
		Err    string
	}
	run := func(t *testing.T, r *bytes.Reader, oneByte bool) result {
		s := msgStream{c: c}
		var out result
		var rd = iotestReader(r, oneByte)
		u, err := s.read(context.Background(), rd, func(ch *llm.Chunk) error {
			if (ch.Role != "") != (len(out.Chunks) == 0) {
				t.Fatalf("chunk %d has role %q", len(out.Chunks), ch.Role)
			}
			cp := *ch
			cp.ToolCalls = append([]llm.ToolCallDelta(nil), ch.ToolCalls...)
			if ch.Usage != nil {
				uu := *ch.Usage
				cp.Usage = &uu
			}
			for _, d := range ch.ToolCalls {
				if d.Index < 0 || d.Index >= maxStreamBlocks {
					t.Fatalf("tool index %d out of range", d.Index)
				}
			}
			out.Chunks = append(out.Chunks, cp)
			return nil
		})
		out.Usage = u
		if err != nil {
			var le *llm.Error
			if !errors.As(err, &le) || le.Provider != "fuzz" {
				t.Fatalf("error %v (%T) is not an *llm.Error", err, err)
			}
			out.Err = err.Error()
		}
		if u.PromptTokens < 0 || u.CompletionTokens < 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens && u != (llm.Usage{}) {
			t.Fatalf("usage %+v is inconsistent", u)
		}
		return out
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		whole := run(t, bytes.NewReader(body), false)
		bytewise := run(t, bytes.NewReader(body), true)
		if !reflect.DeepEqual(whole, bytewise) {
			t.Fatalf("results differ with read size:\n%+v\n%+v", whole, bytewise)
		}
		// The JSON fallback parser must not panic either.
		s := msgStream{c: c}
		_ = s.whole(body, func(*llm.Chunk) error { return nil })
	})
}

func iotestReader(r *bytes.Reader, oneByte bool) interface{ Read([]byte) (int, error) } {
	if oneByte {
		return iotest.OneByteReader(r)
	}
	return r
}

// FuzzStreamEncoder drives the encoder with arbitrary chunk sequences and
// checks the output is always a well-formed Anthropic stream.
func FuzzStreamEncoder(f *testing.F) {
	f.Add("Hel", "lo", "", 0, `{"a":`, uint8(1))
	f.Add("", "", "think", 3, "", uint8(2))
	f.Add("x\xff", "\u2028", "", -1, "}", uint8(0))
	c, err := New(Options{Endpoint: upstream.Endpoint{Name: "fuzz"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, t1, t2, reasoning string, toolIdx int, args string, finish uint8) {
		reasons := []llm.FinishReason{"", llm.FinishStop, llm.FinishLength, llm.FinishToolCalls, llm.FinishContentFilter}
		sig, redacted := "", ""
		if finish&8 != 0 {
			sig = args
		}
		if finish&16 != 0 {
			redacted = t2
		}
		chunks := []llm.Chunk{
			{Role: llm.RoleAssistant, Reasoning: reasoning, Signature: sig},
			{RedactedReasoning: redacted, Text: t1},
			{ToolCalls: []llm.ToolCallDelta{{Index: toolIdx, ID: t2, Name: t1, Arguments: args}}},
			{Text: t2, ToolCalls: []llm.ToolCallDelta{{Index: toolIdx + 1, Arguments: args}}},
			{FinishReason: reasons[int(finish)%len(reasons)]},
		}
		out := encodeStream(chunks, llm.Usage{PromptTokens: 3, CompletionTokens: 4})
		evs := parseSSE(t, out)
		if evs[0].Name != "message_start" || evs[len(evs)-1].Name != "message_stop" || evs[len(evs)-2].Name != "message_delta" {
			t.Fatalf("events = %v", names(evs))
		}
		// The client's own parser reads it back to the same text (chunk
		// by chunk: a rune split across chunks is invalid in each).
		s := msgStream{c: c}
		var a llm.Aggregate
		if _, err := s.read(context.Background(), bytes.NewReader(out), func(ch *llm.Chunk) error { a.Add(ch); return nil }); err != nil {
			t.Fatalf("client cannot read the encoder's stream: %v\n%s", err, out)
		}
		if want := validForm(t1) + validForm(t2); a.Text.String() != want {
			t.Fatalf("text = %q, want %q", a.Text.String(), want)
		}
	})
}
