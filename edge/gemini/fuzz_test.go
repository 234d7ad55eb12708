package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/edge/upstream"
	"github.com/edgeway/edgeway/edge/upstream/upstreamtest"
)

// FuzzStream feeds arbitrary bytes to the client's stream parser as if an
// upstream sent them: it must never panic, must fail only with an
// *llm.Error, and what it emits must keep the Chunk contract.
func FuzzStream(f *testing.F) {
	testkit.Seed(f, []string{"stream_text.sse", "stream_function_call.sse", "stream_thinking_usage.sse", "stream_safety.sse",
		"stream_prompt_blocked.sse", "stream_error_event.sse", "stream_cut.sse"})
	f.Add([]byte(event(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":[1]}},{"text":"x","thought":true}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":-1}}`)))
	f.Add([]byte("data: {\"error\":{\"code\":\"x\"}}\n\ndata: [DONE]\n\n"))
	c, err := New(Options{Endpoint: upstream.Endpoint{Name: "fuzz", BaseURL: "http://127.0.0.1:1/v1beta", MaxResponseBytes: 4096}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		s := chatStream{c: c}
		seen := map[string]bool{}
		read := func(emit func(*llm.Chunk) error) error {
			_, err := s.read(context.Background(), bytes.NewReader(body), emit)
			return err
		}
		upstreamtest.CheckFuzzedStream(t, read, func(ch *llm.Chunk) {
			for _, d := range ch.ToolCalls {
				if d.ID == "" || d.Name == "" || !json.Valid([]byte(d.Arguments)) {
					t.Fatalf("incomplete tool call delta %+v", d)
				}
				if seen[d.ID] {
					t.Fatalf("tool call id %q repeated", d.ID)
				}
				seen[d.ID] = true
			}
			if u := ch.Usage; u != nil && (u.PromptTokens < 0 || u.CompletionTokens < 0 || u.TotalTokens < 0 || u.CachedTokens < 0) {
				t.Fatalf("negative usage %+v", u)
			}
		})
	})
}

// allowedSchemaKeys are the keys a sanitised schema node may hold.
var allowedSchemaKeys = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range schemaKeyOrder {
		m[k] = true
	}
	return m
}()

// checkSchema walks a sanitised schema and fails on anything Gemini's
// Schema does not allow.
func checkSchema(t *testing.T, o *jsonObject, depth int) {
	t.Helper()
	if depth > maxSchemaDepth+2 {
		t.Fatalf("schema nests deeper than %d", maxSchemaDepth)
	}
	typ, _ := o.vals["type"].(string)
	for _, k := range o.keys {
		if !allowedSchemaKeys[k] {
			t.Fatalf("key %q survived", k)
		}
		switch k {
		case "type":
			if !schemaTypes[typ] {
				t.Fatalf("type %q", typ)
			}
		case "properties":
			if typ != "object" {
				t.Fatalf("properties on type %q", typ)
			}
			p := o.vals[k].(*jsonObject)
			for _, name := range p.keys {
				checkSchema(t, p.vals[name].(*jsonObject), depth+1)
			}
		case "items":
			if typ != "array" {
				t.Fatalf("items on type %q", typ)
			}
			checkSchema(t, o.vals[k].(*jsonObject), depth+1)
		case "anyOf":
			for _, b := range o.vals[k].([]any) {
				checkSchema(t, b.(*jsonObject), depth+1)
			}
		case "enum":
			for _, e := range o.vals[k].([]any) {
				if _, ok := e.(string); !ok {
					t.Fatalf("enum value %v", e)
				}
			}
		case "format":
			if !allowedFormats[typ][o.vals[k].(string)] {
				t.Fatalf("format %q on %q", o.vals[k], typ)
			}
		case "required":
			p, _ := o.vals["properties"].(*jsonObject)
			for _, e := range o.vals[k].([]any) {
				if p == nil || p.vals[e.(string)] == nil {
					t.Fatalf("required %q is not a property", e)
				}
			}
		}
	}
	if !slices.IsSortedFunc(o.keys, func(a, b string) int { return schemaKeyRank[a] - schemaKeyRank[b] }) {
		t.Fatalf("keys out of order: %v", o.keys)
	}
}

func FuzzSanitizeSchema(f *testing.F) {
	for _, g := range goldenRequests {
		for _, tool := range g.req.Tools {
			if len(tool.Parameters) > 0 {
				f.Add([]byte(tool.Parameters), false)
			}
		}
		if rf := g.req.ResponseFormat; rf != nil {
			f.Add([]byte(rf.Schema), true)
		}
	}
	for _, s := range []string{
		`{"$defs":{"N":{"type":"object","properties":{"c":{"type":"array","items":{"$ref":"#/$defs/N"}}}}},"$ref":"#/$defs/N"}`,
		`{"type":["string","null","integer"],"enum":["a",1],"const":"x","allOf":[{"required":["q"]}],"oneOf":[true,false,{"type":"null"}]}`,
		`{"properties":{"a":{"$ref":"#"},"b":{"items":[{"type":"string"},{}]}},"required":"a"}`,
		`{"type":"number","minimum":1e400,"maximum":-0,"format":"double","minItems":1.5}`,
	} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, raw []byte, ordering bool) {
		out, cut, err := sanitizeSchema(raw, ordering)
		if err != nil {
			return
		}
		b := appendValue(nil, out)
		if !json.Valid(b) || !utf8.Valid(b) {
			t.Fatalf("output is not valid JSON: %q", b)
		}
		checkSchema(t, out, 0)
		if cut {
			return
		}
		again, cut2, err := sanitizeSchema(b, ordering)
		if err != nil || cut2 {
			t.Fatalf("output does not sanitise again: %v (cut %v)\n%s", err, cut2, b)
		}
		if b2 := appendValue(nil, again); !bytes.Equal(b, b2) {
			t.Fatalf("not idempotent:\n%s\n%s", b, b2)
		}
	})
}

// FuzzGenerateRequest checks that whatever text, arguments, results,
// schemas and image URLs a client sends, the upstream body is valid JSON
// (or the request is refused).
func FuzzGenerateRequest(f *testing.F) {
	f.Add("Hello", `{"city":"Paris"}`, `{"temp":21}`, `{"type":"object","properties":{"a":{"type":"string"}}}`, "data:image/png;base64,AA==")
	f.Add("\xff\u2028\"", `{"a":`, `[1]`, `{"$ref":"#"}`, "https://example.com/x.webp")
	f.Add("", ``, ``, `true`, "data:,%zz")
	f.Fuzz(func(t *testing.T, text, args, result, schema, image string) {
		req := llm.ChatRequest{Model: "m", Messages: []llm.Message{
			system(text),
			{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: text}, {Type: llm.PartImage, ImageURL: image}}},
			{Role: llm.RoleAssistant, Content: textParts(text), ToolCalls: []llm.ToolCall{{ID: "c", Name: "f", Arguments: args}}},
			toolResult("c", result),
		},
			Tools:          []llm.Tool{{Name: "f", Description: text, Parameters: json.RawMessage(schema)}},
			ToolChoice:     &llm.ToolChoice{Mode: "function", Name: text + "x"},
			Stop:           []string{text},
			ResponseFormat: &llm.ResponseFormat{Type: "json_schema", Description: text, Schema: json.RawMessage(schema)},
		}
		body, err := appendGenerateRequest(nil, &req)
		if err != nil {
			return
		}
		if !json.Valid(body) || !utf8.Valid(body) {
			t.Fatalf("body is not valid JSON: %q", body)
		}
	})
}
