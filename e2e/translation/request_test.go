package translation

import (
	"encoding/json"
	"reflect"
	"strconv"
	"testing"

	"github.com/edgeway/edgeway/edge/anthropic"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/ollamaapi"
	"github.com/edgeway/edgeway/edge/openai"
	"github.com/edgeway/edgeway/edge/testkit"
)

// decodeIngress decodes testdata/ingress/<dialect>.json with that
// dialect's ingress decoder.
func decodeIngress(t *testing.T, dialect string) *llm.ChatRequest {
	t.Helper()
	body := testkit.Fixture(t, "ingress/"+dialect+".json")
	req := &llm.ChatRequest{}
	var err error
	switch dialect {
	case ingressOpenAI:
		var includeUsage bool
		includeUsage, err = openai.DecodeChatRequest(body, req)
		if err == nil && !includeUsage {
			t.Errorf("openai: stream_options.include_usage was not reported")
		}
	case ingressAnthropic:
		err = anthropic.DecodeMessagesRequest(body, req)
	case ingressOllama:
		var stream bool
		stream, err = ollamaapi.DecodeChatRequest(body, req)
		if err == nil && !stream {
			t.Errorf("ollama: stream = false, want true")
		}
	default:
		t.Fatalf("unknown dialect %q", dialect)
	}
	if err != nil {
		t.Fatalf("%s: decode: %v", dialect, err)
	}
	return req
}

// normalize returns a deep copy of req with the differences the dialects
// cannot avoid taken out, so what is left must be equal. Each one is a
// documented property of a wire format, not a translation fault:
//
//  1. Model: every client names a model of its own vendor; the router
//     replaces the name with the upstream's before a provider sees it.
//
//  2. Tool call ids: each client mints ids in its own style (OpenAI
//     "call_…", Anthropic "toolu_…"), and Ollama's documented history form
//     carries none, so ollamaapi numbers them "call_<n>". What must survive
//     is the pairing, checked here before the ids are replaced by their
//     position.
//
//  3. Tool result names: Ollama links a result to its call by tool_name,
//     kept as Message.Name; OpenAI and Anthropic results carry only the id.
//
//  4. tool_choice: Ollama has none. Both other dialects say "auto", which
//     is also their documented default when tools are offered, so a nil
//     choice means the same thing.
//
//  5. Raw JSON (tool parameters, call arguments) is kept as the client
//     formatted it: OpenAI sends arguments as a string, Anthropic and
//     Ollama as an object re-serialised by the decoder. Whitespace is
//     compacted before comparing.
//
//  6. Passthrough: the Anthropic decoder keeps the client's own body, for
//     an Anthropic upstream; it is not part of the canonical form.
//
// max_tokens is required by Anthropic and optional elsewhere; the fixtures
// all set 128, so it needs no normalising here.
func normalize(t *testing.T, dialect string, in *llm.ChatRequest) *llm.ChatRequest {
	t.Helper()
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var req llm.ChatRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	req.Model = ""        // 1
	req.Passthrough = nil // 6

	ids := map[string]string{} // 2
	n := 0
	for i := range req.Messages {
		m := &req.Messages[i]
		for j := range m.ToolCalls {
			tc := &m.ToolCalls[j]
			if tc.ID == "" {
				t.Errorf("%s: messages[%d].tool_calls[%d] has no id", dialect, i, j)
			}
			ids[tc.ID] = "call_" + strconv.Itoa(n)
			n++
			tc.ID = ids[tc.ID]
			tc.Arguments = compactJSON(t, dialect+" arguments", tc.Arguments) // 5
		}
		if m.Role == llm.RoleTool {
			id, ok := ids[m.ToolCallID]
			if !ok {
				t.Errorf("%s: messages[%d] answers tool call %q, which no earlier assistant turn made", dialect, i, m.ToolCallID)
			}
			m.ToolCallID = id
			m.Name = "" // 3
		}
	}
	if req.ToolChoice != nil && req.ToolChoice.Mode == "auto" && len(req.Tools) > 0 { // 4
		req.ToolChoice = nil
	}
	for i := range req.Tools { // 5
		req.Tools[i].Parameters = json.RawMessage(compactJSON(t, dialect+" parameters", string(req.Tools[i].Parameters)))
	}
	return &req
}

// TestRequestMatrix decodes the same conversation from each ingress
// dialect, checks the canonical requests agree, then sends each through
// every upstream client and compares what the fake received with a golden
// file.
func TestRequestMatrix(t *testing.T) {
	decoded := map[string]*llm.ChatRequest{}
	for _, d := range ingresses {
		decoded[d] = decodeIngress(t, d)
	}

	t.Run("canonical", func(t *testing.T) {
		checkCanonical(t, decoded[ingressOpenAI])
		want := normalize(t, ingressOpenAI, decoded[ingressOpenAI])
		for _, d := range ingresses[1:] {
			got := normalize(t, d, decoded[d])
			if !reflect.DeepEqual(got, want) {
				g, _ := json.MarshalIndent(got, "", "  ")
				w, _ := json.MarshalIndent(want, "", "  ")
				t.Errorf("%s decodes to a different canonical request than openai:\n%s:\n%s\nopenai:\n%s", d, d, g, w)
			}
		}
	})

	for _, d := range ingresses {
		for _, p := range upstreamNames {
			t.Run(d+"_to_"+p, func(t *testing.T) {
				u := startUpstream(t, p, answerText)
				chunks, _ := u.chat(t, decoded[d])
				if len(chunks) == 0 {
					t.Errorf("%s answered nothing", p)
				}
				checkJSONGolden(t, "upstream/"+d+"_to_"+p+".json", u.lastBody())
			})
		}
	}
}

func init() {
	// Claude Sonnet 4.5, Haiku 4.5 and Opus 4.1 and later refuse a request
	// that sets both: 400 invalid_request_error "temperature and top_p
	// cannot both be specified for this model. Please use only one."
	// Anthropic's reference has long said to alter one or the other, not
	// both. OpenAI and Ollama clients commonly send both, so the
	// Anthropic client should keep temperature and drop top_p.
	const bothSamplers = "top_p is left out because temperature is set: current Claude models refuse both " +
		"(\"temperature and top_p cannot both be specified for this model\"); edge/anthropic appendMessagesRequest should drop top_p when temperature is set."
	for _, d := range ingresses {
		if d == ingressAnthropic {
			// An Anthropic client's body goes to an Anthropic upstream
			// as it came (model replaced): what it sends is its own to
			// choose.
			continue
		}
		goldenNotes["upstream/"+d+"_to_anthropic.json"] = bothSamplers
	}
}

// checkCanonical pins the decoded conversation itself, so a decoder that
// lost the same thing in every dialect would still be caught.
func checkCanonical(t *testing.T, r *llm.ChatRequest) {
	t.Helper()
	f := func(v float64) *float64 { return &v }
	i := func(v int) *int { return &v }
	if !reflect.DeepEqual(r.Temperature, f(0.2)) || !reflect.DeepEqual(r.TopP, f(0.9)) ||
		!reflect.DeepEqual(r.MaxTokens, i(128)) || !reflect.DeepEqual(r.Stop, []string{"END"}) || !r.Stream {
		t.Errorf("sampling: temperature %v top_p %v max_tokens %v stop %q stream %v",
			deref(r.Temperature), deref(r.TopP), deref(r.MaxTokens), r.Stop, r.Stream)
	}
	roles := make([]llm.Role, len(r.Messages))
	for k := range r.Messages {
		roles[k] = r.Messages[k].Role
	}
	wantRoles := []llm.Role{llm.RoleSystem, llm.RoleUser, llm.RoleAssistant, llm.RoleUser, llm.RoleAssistant, llm.RoleTool, llm.RoleUser}
	if !reflect.DeepEqual(roles, wantRoles) {
		t.Fatalf("roles = %v, want %v", roles, wantRoles)
	}
	img := r.Messages[1].Content
	if len(img) != 2 || img[0].Type != llm.PartText || img[1].Type != llm.PartImage ||
		img[1].ImageURL != "data:image/png;base64,"+pngBase64 {
		t.Errorf("user image turn = %+v", img)
	}
	if m := &r.Messages[4]; m.Text() != toolPreamble || len(m.ToolCalls) != 1 || m.ToolCalls[0].Name != toolName || m.ToolCalls[0].Arguments != toolArgs {
		t.Errorf("assistant tool-call turn = %q %+v", m.Text(), m.ToolCalls)
	}
	if len(r.Tools) != 1 || r.Tools[0].Name != toolName || r.ToolChoice == nil || r.ToolChoice.Mode != "auto" {
		t.Errorf("tools = %+v, tool_choice = %+v", r.Tools, r.ToolChoice)
	}
}

// pngBase64 is the 1×1 PNG every ingress fixture carries.
const pngBase64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
