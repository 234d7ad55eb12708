package ollamaapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/internal/ingress"
	"github.com/edgeway/edgeway/edge/internal/ingress/ingresstest"
	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
)

// validRequest reports what is wrong with an accepted request, or nil: the
// promises the decoders make to the router and the providers.
func validRequest(r *llm.ChatRequest) error {
	if r.Model == "" {
		return errors.New("no model")
	}
	strs := []string{r.Model}
	for i := range r.Messages {
		m := &r.Messages[i]
		switch m.Role {
		case llm.RoleSystem, llm.RoleUser, llm.RoleAssistant, llm.RoleTool:
		default:
			return fmt.Errorf("message %d: role %q", i, m.Role)
		}
		if len(m.ToolCalls) > 0 && m.Role != llm.RoleAssistant {
			return fmt.Errorf("message %d: tool calls on %s", i, m.Role)
		}
		if m.Role == llm.RoleTool && m.ToolCallID == "" {
			return fmt.Errorf("message %d: tool result without a call id", i)
		}
		if len(m.Content) == 0 && len(m.ToolCalls) == 0 {
			return fmt.Errorf("message %d: empty", i)
		}
		for j, p := range m.Content {
			switch {
			case p.Type == llm.PartText && j == 0:
				strs = append(strs, p.Text)
			case p.Type == llm.PartImage:
				if err := validDataURL(p.ImageURL); err != nil {
					return fmt.Errorf("message %d part %d: %v", i, j, err)
				}
			default:
				return fmt.Errorf("message %d part %d: %+v", i, j, p)
			}
		}
		for j, tc := range m.ToolCalls {
			if tc.ID == "" || tc.Name == "" || !wire.IsObject([]byte(tc.Arguments)) {
				return fmt.Errorf("message %d call %d: %+v", i, j, tc)
			}
			strs = append(strs, tc.ID, tc.Name, tc.Arguments)
		}
		strs = append(strs, m.Name, m.ToolCallID)
	}
	for i, t := range r.Tools {
		if t.Name == "" || (t.Parameters != nil && !wire.IsObject(t.Parameters)) {
			return fmt.Errorf("tool %d: %+v", i, t)
		}
		strs = append(strs, t.Name, t.Description)
	}
	if f := r.ResponseFormat; f != nil {
		switch {
		case f.Type == "json_object" && f.Schema == nil:
		case f.Type == "json_schema" && f.Name == formatName && wire.IsObject(f.Schema):
		default:
			return fmt.Errorf("response format %+v", f)
		}
	}
	finite := func(p *float64) bool { return p == nil || !math.IsNaN(*p) && !math.IsInf(*p, 0) }
	switch {
	case !finite(r.Temperature) || !finite(r.TopP) || !finite(r.PresencePenalty) || !finite(r.FrequencyPenalty):
		return errors.New("a number is not finite")
	case r.Temperature != nil && *r.Temperature < 0:
		return fmt.Errorf("temperature %v", *r.Temperature)
	case r.TopP != nil && (*r.TopP < 0 || *r.TopP > 1):
		return fmt.Errorf("top_p %v", *r.TopP)
	case r.TopK != nil && *r.TopK < 0:
		return fmt.Errorf("top_k %v", *r.TopK)
	case r.MaxTokens != nil && *r.MaxTokens < 1:
		return fmt.Errorf("max tokens %v", *r.MaxTokens)
	case r.Seed != nil && *r.Seed == -1:
		return errors.New("seed -1 kept")
	case len(r.Stop) > MaxStop || len(r.Tools) > MaxTools:
		return errors.New("a bound is exceeded")
	case r.Extra != nil:
		return errors.New("extra fields kept")
	}
	strs = append(strs, r.Stop...)
	for _, s := range strs {
		if !utf8.ValidString(s) {
			return fmt.Errorf("invalid UTF-8 in %q", s)
		}
	}
	return nil
}

func validDataURL(u string) error {
	rest, ok := strings.CutPrefix(u, "data:")
	media, b64, ok2 := strings.Cut(rest, ";base64,")
	if !ok || !ok2 {
		return fmt.Errorf("not a base64 data URL: %.40q", u)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return err
	}
	if got := ingress.SniffImage(b); got == "" || got != media {
		return fmt.Errorf("media type %q for bytes sniffed as %q", media, got)
	}
	return nil
}

// fuzzDecode checks one decoder on body: errors are complete
// *ingress.Errors, accepted requests are valid, and decoding is
// deterministic and independent of what req held before.
func fuzzDecode(t *testing.T, body []byte, decode func([]byte, *llm.ChatRequest) (bool, error)) {
	var req llm.ChatRequest
	stream, err := decode(body, &req)
	if err != nil {
		if re := ingresstest.CheckRefused(t, err, ""); !utf8.ValidString(re.Message) {
			t.Fatalf("error message %q is not UTF-8", re.Message)
		}
		return
	}
	if stream != req.Stream {
		t.Fatalf("stream %v but req.Stream %v", stream, req.Stream)
	}
	if err := validRequest(&req); err != nil {
		t.Fatalf("accepted an invalid request: %v\nbody: %q", err, body)
	}
	// Decoding again into a used request gives the same result.
	used := llm.ChatRequest{
		Messages: make([]llm.Message, 3, 8),
		Stop:     []string{"x", "y"},
		Tools:    []llm.Tool{{Name: "old"}},
	}
	used.Messages[0].Content = []llm.Part{{Type: llm.PartImage, ImageURL: "old"}, {Text: "old"}}
	used.Messages[1].ToolCalls = []llm.ToolCall{{ID: "old"}}
	if _, err := decode(body, &used); err != nil {
		t.Fatalf("second decode failed: %v", err)
	}
	ingresstest.Normalize(&req)
	ingresstest.Normalize(&used)
	if !reflect.DeepEqual(req, used) {
		t.Fatalf("decoding into a used request differs\nfresh: %+v\nused:  %+v", req, used)
	}
}

func FuzzDecodeChatRequest(f *testing.F) {
	testkit.Seed(f, []string{"chat_request_basic.json", "chat_request_tools_history.json", "chat_request_full.json"},
		ingresstest.ChatBody(userHi),
		ingresstest.ChatBody(`[]`),
		ingresstest.ChatBody(`[{"role":"ASSISTANT","tool_calls":[{"function":{"name":"f","arguments":"{\"a\":[1,{\"b\":null}]}"}}]},{"role":"tool","content":"r"},{"role":"tool","tool_name":"g","tool_call_id":""}]`),
		ingresstest.ChatBody(`[{"role":"user","content":null,"images":["data:image/gif;base64,`+gifB64+`","`+webpB64[:12]+`\n`+webpB64[12:]+`"]}]`),
		ingresstest.ChatBody(userHi, `"options":{"temperature":-0,"top_p":1e-400,"top_k":-1,"num_predict":-2,"seed":-1.5,"stop":"","num_ctx":"x"}`),
		ingresstest.ChatBody(userHi, `"format":{"type":"object"},"think":"low","keep_alive":-1,"stream":null`),
		ingresstest.ChatBody(userHi, `"tools":[{"function":{"name":"f","parameters":null}},{"type":null,"function":{"name":"g"}}]`),
		`{"model":"m","messages":[{"role":"user","content":"\ud800\u2028"}],"":1}`,
		`{"a":[[[[[[[[]]]]]]]]}`,
		`{"model":"m","messages":[`+"\xff",
	)
	f.Fuzz(func(t *testing.T, body []byte) { fuzzDecode(t, body, DecodeChatRequest) })
}

func FuzzDecodeGenerateRequest(f *testing.F) {
	testkit.Seed(f, []string{"generate_request_basic.json", "generate_request_full.json", "generate_request_schema.json"},
		`{"model":"m","prompt":""}`,
		`{"model":"m","prompt":"p","system":"s","raw":true}`,
		`{"model":"m","prompt":"p","suffix":"x"}`,
		`{"model":"m","prompt":"p","context":[1],"images":["`+jpegB64+`"]}`,
		`{"model":"m","prompt":"p","context":[],"images":null,"format":"","options":{"stop":["a","b"]}}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) { fuzzDecode(t, body, DecodeGenerateRequest) })
}

func FuzzDecodeEmbedRequest(f *testing.F) {
	testkit.Seed(f, []string{"embed_request.json"}, `{"model":"e","input":"a"}`, `{"model":"e","input":["a",""]}`, `{"model":"e","dimensions":-3}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		var req llm.EmbedRequest
		if err := DecodeEmbedRequest(body, &req); err != nil {
			ingresstest.CheckRefused(t, err, "")
			return
		}
		if req.Model == "" || len(req.Input) > MaxEmbedInputs || req.Dimensions != nil && *req.Dimensions < 1 {
			t.Fatalf("accepted %+v", req)
		}
		for _, in := range req.Input {
			if in == "" || !utf8.ValidString(in) {
				t.Fatalf("accepted input %q", in)
			}
		}
	})
}

// FuzzChatEncoder feeds the encoder a stream of chunks scripted by the
// input: whatever upstreams send, the output is NDJSON that Ollama's types
// read, and every tool call in it has a name and an object of arguments.
func FuzzChatEncoder(f *testing.F) {
	f.Add([]byte("t:Hello\nc0:call_1:f:{\"a\"\nc0:::: 1}\nc1::g:\nr:hmm\nc2::h:[1]\n"))
	f.Add([]byte("c0::f:{}\nc0::f:{}\nc5:id:n:{\"x\":\"}\"}\n"))
	f.Fuzz(func(t *testing.T, script []byte) {
		var e ChatEncoder
		e.Reset("m\u2028", testStart)
		var out []byte
		for _, line := range bytes.Split(script, []byte("\n")) {
			var c llm.Chunk
			switch {
			case bytes.HasPrefix(line, []byte("t:")):
				c.Text = string(line[2:])
			case bytes.HasPrefix(line, []byte("r:")):
				c.Reasoning = string(line[2:])
			case len(line) > 1 && line[0] == 'c':
				parts := strings.SplitN(string(line[2:]), ":", 3)
				for len(parts) < 3 {
					parts = append(parts, "")
				}
				c.ToolCalls = []llm.ToolCallDelta{{Index: int(line[1] % 8), ID: parts[0], Name: parts[1], Arguments: parts[2]}}
			default:
				continue
			}
			out = e.Chunk(out, &c)
		}
		out = e.End(out, llm.Usage{PromptTokens: 1}, llm.FinishToolCalls)
		lines := parseLines(t, out)
		for _, l := range lines {
			for _, c := range l.Message.ToolCalls {
				if c.Function.Name == "" || c.ID == "" || !wire.IsObject(c.Function.Arguments) {
					t.Fatalf("bad call %+v in\n%s", c, out)
				}
			}
		}
		if !lines[len(lines)-1].Done {
			t.Fatalf("the last line is not done:\n%s", out)
		}
		if !json.Valid(out[:bytes.IndexByte(out, '\n')]) {
			t.Fatal("first line invalid")
		}
	})
}
