package cache

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/llm"
)

// baseRequest is a request using every field KeyOf covers.
func baseRequest() *llm.ChatRequest {
	return &llm.ChatRequest{
		Model: "fast",
		Messages: []llm.Message{
			textMsg(llm.RoleSystem, "You are terse."),
			{Role: llm.RoleUser, Name: "ann", Content: []llm.Part{
				{Type: llm.PartText, Text: "What is in this picture?"},
				{Type: llm.PartImage, ImageURL: "data:image/png;base64,AAAA", Detail: "low"},
			}},
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_1", Name: "lookup", Arguments: `{"q": "cat", "n": 1}`}}},
			{Role: llm.RoleTool, ToolCallID: "call_1", Content: []llm.Part{{Type: llm.PartText, Text: `{"found":true}`}}},
			textMsg(llm.RoleUser, "Thanks. And now?"),
		},
		Temperature:      new(0.0),
		TopP:             new(0.9),
		TopK:             new(40),
		MaxTokens:        new(256),
		Stop:             []string{"\n\n", "END"},
		Seed:             new(int64(42)),
		PresencePenalty:  new(0.1),
		FrequencyPenalty: new(0.2),
		ResponseFormat: &llm.ResponseFormat{Type: "json_schema", Name: "out", Description: "d",
			Schema: json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"required":["a"]}`), Strict: new(true)},
		Tools: []llm.Tool{{Name: "lookup", Description: "Look something up.",
			Parameters: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"},"n":{"type":"integer","minimum":1}}}`)}},
		ToolChoice:        &llm.ToolChoice{Mode: "auto"},
		ParallelToolCalls: new(false),
		User:              "user-1",
		Extra:             map[string]json.RawMessage{"logprobs": json.RawMessage(`true`), "reasoning_effort": json.RawMessage(`"low"`)},
	}
}

// clone deep-copies a request well enough for mutation in tests.
func clone(r *llm.ChatRequest) *llm.ChatRequest {
	c := *r
	c.Messages = nil
	for _, m := range r.Messages {
		m.Content = append([]llm.Part(nil), m.Content...)
		m.ToolCalls = append([]llm.ToolCall(nil), m.ToolCalls...)
		c.Messages = append(c.Messages, m)
	}
	c.Tools = append([]llm.Tool(nil), r.Tools...)
	c.Stop = append([]string(nil), r.Stop...)
	if r.ResponseFormat != nil {
		rf := *r.ResponseFormat
		c.ResponseFormat = &rf
	}
	if r.ToolChoice != nil {
		tc := *r.ToolChoice
		c.ToolChoice = &tc
	}
	c.Extra = make(map[string]json.RawMessage)
	for k, v := range r.Extra {
		c.Extra[k] = v
	}
	return &c
}

func TestKeyOf(t *testing.T) {
	base := KeyOf("", baseRequest())
	tests := []struct {
		name string
		ns   string
		mod  func(r *llm.ChatRequest)
		same bool
	}{
		// Irrelevant to the answer, or formatting only: same key.
		{"identical", "", func(r *llm.ChatRequest) {}, true},
		{"stream ignored", "", func(r *llm.ChatRequest) { r.Stream = true }, true},
		{"user ignored", "", func(r *llm.ChatRequest) { r.User = "someone-else" }, true},
		{"schema key order", "", func(r *llm.ChatRequest) {
			r.Tools[0].Parameters = json.RawMessage(`{"properties":{"n":{"minimum":1,"type":"integer"},"q":{"type":"string"}},"type":"object"}`)
		}, true},
		{"schema whitespace", "", func(r *llm.ChatRequest) {
			r.Tools[0].Parameters = json.RawMessage("{\n  \"type\": \"object\",\n  \"properties\": {\"q\": {\"type\": \"string\"}, \"n\": {\"type\": \"integer\", \"minimum\": 1}}\n}\n")
		}, true},
		{"schema escaped key", "", func(r *llm.ChatRequest) {
			r.Tools[0].Parameters = json.RawMessage(`{"\u0074ype":"object","properties":{"q":{"type":"string"},"n":{"type":"integer","minimum":1}}}`)
		}, true},
		{"response schema order", "", func(r *llm.ChatRequest) {
			r.ResponseFormat.Schema = json.RawMessage(`{ "required":["a"], "properties":{"b":{"type":"integer"},"a":{"type":"string"}}, "type":"object"}`)
		}, true},
		{"tool call arguments formatting", "", func(r *llm.ChatRequest) {
			r.Messages[2].ToolCalls[0].Arguments = "{\"n\":1,\n \"q\":\"cat\"}"
		}, true},
		{"extra value formatting", "", func(r *llm.ChatRequest) { r.Extra["reasoning_effort"] = json.RawMessage(` "low" `) }, true},
		{"negative zero temperature", "", func(r *llm.ChatRequest) { r.Temperature = new(math.Copysign(0, -1)) }, true},
		{"passthrough holding nothing more", "", func(r *llm.ChatRequest) {
			r.Passthrough = &llm.Passthrough{Dialect: "anthropic", Body: []byte(`{"model":"x"}`)}
		}, true},
		{"passthrough holding more", "", func(r *llm.ChatRequest) {
			r.Passthrough = &llm.Passthrough{Dialect: "anthropic", Body: []byte(`{"thinking":{"type":"adaptive"}}`), Dropped: []string{"thinking"}}
		}, false},

		// Anything that can change the answer: different key.
		{"namespace", "team-b", func(r *llm.ChatRequest) {}, false},
		{"model", "", func(r *llm.ChatRequest) { r.Model = "ollama/tiny" }, false},
		{"message text", "", func(r *llm.ChatRequest) { r.Messages[4].Content[0].Text = "Thanks. And then?" }, false},
		{"system prompt", "", func(r *llm.ChatRequest) { r.Messages[0].Content[0].Text = "You are verbose." }, false},
		{"role", "", func(r *llm.ChatRequest) { r.Messages[0].Role = llm.RoleUser }, false},
		{"participant name", "", func(r *llm.ChatRequest) { r.Messages[1].Name = "bob" }, false},
		{"image url", "", func(r *llm.ChatRequest) { r.Messages[1].Content[1].ImageURL = "data:image/png;base64,AAAB" }, false},
		{"image detail", "", func(r *llm.ChatRequest) { r.Messages[1].Content[1].Detail = "high" }, false},
		{"parts split differently", "", func(r *llm.ChatRequest) {
			r.Messages[4].Content = []llm.Part{{Type: llm.PartText, Text: "Thanks."}, {Type: llm.PartText, Text: " And now?"}}
		}, false},
		{"message dropped", "", func(r *llm.ChatRequest) { r.Messages = r.Messages[1:] }, false},
		{"tool call id", "", func(r *llm.ChatRequest) { r.Messages[2].ToolCalls[0].ID = "call_2" }, false},
		{"tool call name", "", func(r *llm.ChatRequest) { r.Messages[2].ToolCalls[0].Name = "search" }, false},
		{"tool call arguments", "", func(r *llm.ChatRequest) { r.Messages[2].ToolCalls[0].Arguments = `{"q":"dog","n":1}` }, false},
		{"tool result id", "", func(r *llm.ChatRequest) { r.Messages[3].ToolCallID = "call_9" }, false},
		{"tool result", "", func(r *llm.ChatRequest) { r.Messages[3].Content[0].Text = `{"found":false}` }, false},
		{"tool name", "", func(r *llm.ChatRequest) { r.Tools[0].Name = "find" }, false},
		{"tool description", "", func(r *llm.ChatRequest) { r.Tools[0].Description = "Find." }, false},
		{"tool parameters", "", func(r *llm.ChatRequest) {
			r.Tools[0].Parameters = json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"},"n":{"type":"integer","minimum":2}}}`)
		}, false},
		{"tool number written differently", "", func(r *llm.ChatRequest) {
			r.Tools[0].Parameters = json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"},"n":{"type":"integer","minimum":1.0}}}`)
		}, false},
		{"tool strict", "", func(r *llm.ChatRequest) { r.Tools[0].Strict = new(true) }, false},
		{"tool added", "", func(r *llm.ChatRequest) { r.Tools = append(r.Tools, llm.Tool{Name: "x"}) }, false},
		{"tool choice", "", func(r *llm.ChatRequest) { r.ToolChoice = &llm.ToolChoice{Mode: "required"} }, false},
		{"tool choice unset", "", func(r *llm.ChatRequest) { r.ToolChoice = nil }, false},
		{"parallel tool calls", "", func(r *llm.ChatRequest) { r.ParallelToolCalls = new(true) }, false},
		{"parallel tool calls unset", "", func(r *llm.ChatRequest) { r.ParallelToolCalls = nil }, false},
		{"response format type", "", func(r *llm.ChatRequest) { r.ResponseFormat = &llm.ResponseFormat{Type: "json_object"} }, false},
		{"response format unset", "", func(r *llm.ChatRequest) { r.ResponseFormat = nil }, false},
		{"response schema", "", func(r *llm.ChatRequest) {
			r.ResponseFormat.Schema = json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`)
		}, false},
		{"response strict", "", func(r *llm.ChatRequest) { r.ResponseFormat.Strict = new(false) }, false},
		{"temperature", "", func(r *llm.ChatRequest) { r.Temperature = new(0.7) }, false},
		{"temperature unset", "", func(r *llm.ChatRequest) { r.Temperature = nil }, false},
		{"top_p", "", func(r *llm.ChatRequest) { r.TopP = new(1.0) }, false},
		{"top_k", "", func(r *llm.ChatRequest) { r.TopK = new(41) }, false},
		{"max_tokens", "", func(r *llm.ChatRequest) { r.MaxTokens = new(255) }, false},
		{"max_tokens unset", "", func(r *llm.ChatRequest) { r.MaxTokens = nil }, false},
		{"stop", "", func(r *llm.ChatRequest) { r.Stop = []string{"\n\n"} }, false},
		{"stop order", "", func(r *llm.ChatRequest) { r.Stop = []string{"END", "\n\n"} }, false},
		{"seed", "", func(r *llm.ChatRequest) { r.Seed = new(int64(43)) }, false},
		{"seed unset", "", func(r *llm.ChatRequest) { r.Seed = nil }, false},
		{"presence penalty", "", func(r *llm.ChatRequest) { r.PresencePenalty = new(0.0) }, false},
		{"frequency penalty", "", func(r *llm.ChatRequest) { r.FrequencyPenalty = new(0.3) }, false},
		{"extra value", "", func(r *llm.ChatRequest) { r.Extra["reasoning_effort"] = json.RawMessage(`"high"`) }, false},
		{"extra added", "", func(r *llm.ChatRequest) { r.Extra["top_logprobs"] = json.RawMessage(`2`) }, false},
		{"extra removed", "", func(r *llm.ChatRequest) { delete(r.Extra, "logprobs") }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := clone(baseRequest())
			tc.mod(r)
			got := KeyOf(tc.ns, r)
			if (got == base) != tc.same {
				t.Errorf("KeyOf same as base = %v, want %v", got == base, tc.same)
			}
		})
	}
}

// TestKeyOfDefaults pins the documented choice: an explicit value equal to
// a common upstream default is still a different request from an unset one.
func TestKeyOfDefaults(t *testing.T) {
	unset := &llm.ChatRequest{Model: "m", Messages: []llm.Message{textMsg(llm.RoleUser, "hi")}}
	explicit := clone(unset)
	explicit.Temperature = new(1.0)
	explicit.TopP = new(1.0)
	if KeyOf("", unset) == KeyOf("", explicit) {
		t.Error("explicit defaults gave the same key as unset fields")
	}
	emptyExtra := clone(unset)
	emptyExtra.Extra = map[string]json.RawMessage{}
	if KeyOf("", unset) != KeyOf("", emptyExtra) {
		t.Error("nil and empty Extra differ")
	}
}

// TestKeyOfBoundaries checks that adjacent fields cannot run into each
// other.
func TestKeyOfBoundaries(t *testing.T) {
	a := &llm.ChatRequest{Model: "ab", Messages: []llm.Message{textMsg(llm.RoleUser, "c")}}
	b := &llm.ChatRequest{Model: "a", Messages: []llm.Message{textMsg(llm.RoleUser, "bc")}}
	if KeyOf("", a) == KeyOf("", b) {
		t.Error("model/text boundary is ambiguous")
	}
	if KeyOf("x", b) == KeyOf("", &llm.ChatRequest{Model: "xa", Messages: b.Messages}) {
		t.Error("namespace/model boundary is ambiguous")
	}
	// A number in a schema followed by the next field's bytes.
	t1 := &llm.ChatRequest{Model: "m", Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage(`1`), Description: ""}, {Name: "2"}}}
	t2 := &llm.ChatRequest{Model: "m", Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage(`12`)}, {Name: ""}}}
	if KeyOf("", t1) == KeyOf("", t2) {
		t.Error("JSON value boundary is ambiguous")
	}
	// Invalid JSON is hashed raw, distinct from any valid document.
	bad := &llm.ChatRequest{Model: "m", Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage(`{"a":`)}}}
	bad2 := &llm.ChatRequest{Model: "m", Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage(`{"a": `)}}}
	if KeyOf("", bad) == KeyOf("", bad2) {
		t.Error("invalid JSON was normalised")
	}
}

func TestKeyOfLongInput(t *testing.T) {
	// Inline images run far past the pooled buffer.
	r := baseRequest()
	big := strings.Repeat("A", 3*keyBufSize+17)
	r.Messages[1].Content[1].ImageURL = "data:image/png;base64," + big
	k1 := KeyOf("", r)
	r2 := clone(r)
	r2.Messages[1].Content[1].ImageURL = "data:image/png;base64," + big[:len(big)-1] + "B"
	if k1 == KeyOf("", r2) {
		t.Error("a change at the end of a long image was lost")
	}
	if k1 != KeyOf("", clone(r)) {
		t.Error("long input is not deterministic")
	}
}

func TestKeyOfAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	r := baseRequest()
	KeyOf("", r) // warm the pool
	if n := testing.AllocsPerRun(200, func() { KeyOf("ns", r) }); n != 0 {
		t.Errorf("KeyOf allocates %v times per call, want 0", n)
	}
}

func TestCanonicalJSON(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"sorted keys", `{"b":1,"a":{"d":[1, 2],"c":null}}`, `{"a":{"c":null,"d":[1,2]},"b":1}`, true},
		{"whitespace", " [ true ,false , null ,\"x\" ] \n", `[true,false,null,"x"]`, true},
		{"escapes normalised", `"\u0041\/\n\u00e9\ud83d\ude00"`, "\"A/\\u000a\u00e9\U0001F600\"", true},
		{"quote and backslash kept escaped", `"a\"b\\c"`, `"a\"b\\c"`, true},
		{"lone surrogate", `"\ud800"`, "\"\uFFFD\"", true},
		{"duplicate keys keep order", `{"b":1,"a":1,"b":2}`, `{"a":1,"b":1,"b":2}`, true},
		{"escaped key sorts by value", `{"b":1,"\u0061":2}`, `{"a":2,"b":1}`, true},
		{"numbers as written", `[1.0,1e2,-0]`, `[1.0,1e2,-0]`, true},
		{"empty containers", `{"a":{},"b":[]}`, `{"a":{},"b":[]}`, true},
		{"trailing garbage", `{} x`, "", false},
		{"unterminated", `{"a":1`, "", false},
		{"bad number", `01`, "", false},
		{"raw control char", "\"a\x01\"", "", false},
		{"too deep", strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1), "", false},
		{"deep enough", strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth), strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := appendCanonicalJSON([]byte(tc.in))
			if ok != tc.ok || (ok && string(got) != tc.want) {
				t.Errorf("canonical(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// FuzzCanonicalJSON checks that canonicalisation never panics, agrees with
// encoding/json on validity, preserves the decoded value and is idempotent.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[1,2,{"c":"\u00e9"}]}`, `"\ud83d\ude00"`, `[1e5, -0.5, true, null]`, `{"a":1,"a":2}`, `{`, `"\ud800x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, ok := appendCanonicalJSON(in)
		if !ok {
			if json.Valid(in) && depth(in) <= maxJSONDepth {
				t.Fatalf("rejected valid JSON %q", in)
			}
			return
		}
		if !json.Valid(in) {
			t.Fatalf("accepted invalid JSON %q", in)
		}
		a, err := decodeNumbers(in)
		if err != nil {
			t.Fatal(err)
		}
		b, err := decodeNumbers(out)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", out, in, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("canonical form changed the value: %q -> %q", in, out)
		}
		again, ok := appendCanonicalJSON(out)
		if !ok || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, out, again)
		}
	})
}

// decodeNumbers decodes keeping numbers as written, as the canonical form
// does (and so that huge numbers decode at all).
func decodeNumbers(in []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(in))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

// depth is the maximum nesting of a valid JSON document.
func depth(in []byte) int {
	d, m, inStr, esc := 0, 0, false, false
	for _, c := range in {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			d++
			m = max(m, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return m
}
