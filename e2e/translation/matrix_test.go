package translation

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/anthropic"
	"github.com/edgeway/edgeway/edge/anthropic/anthropictest"
	"github.com/edgeway/edgeway/edge/gemini"
	"github.com/edgeway/edgeway/edge/gemini/geminitest"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/openai"
	"github.com/edgeway/edgeway/edge/openai/openaitest"
	"github.com/edgeway/edgeway/edge/testkit"
	up "github.com/edgeway/edgeway/edge/upstream"
	"github.com/edgeway/edgeway/edge/upstream/upstreamtest"
	"github.com/edgeway/edgeway/runtime/ollama"
)

// update rewrites the golden files from what the code produces now.
var update = flag.Bool("update", false, "rewrite testdata golden files")

// testTimeout bounds one provider call; every fake answers at once.
const testTimeout = 5 * time.Second

// Ingress dialect names, as used in testdata file names.
const (
	ingressOpenAI    = "openai"
	ingressAnthropic = "anthropic"
	ingressOllama    = "ollama"
)

var ingresses = []string{ingressOpenAI, ingressAnthropic, ingressOllama}

// scenario says what a fake answers.
type scenario int

const (
	// answerText streams replyText in several pieces.
	answerText scenario = iota
	// answerTool calls toolName with toolArgs, the arguments split into
	// several pieces where the upstream's wire allows it.
	answerTool
)

func (s scenario) String() string {
	if s == answerTool {
		return "tool"
	}
	return "text"
}

// What the fakes answer in the response matrix.
const (
	replyText = "Light rain is expected in Paris this afternoon, so take an umbrella."
	// replyPieces is how many pieces the text is streamed in.
	replyPieces = 5
	toolName    = "get_weather"
	toolArgs    = `{"city":"Paris","unit":"celsius"}`
	// toolPieces is how many pieces the arguments are streamed in by the
	// upstreams whose wire splits them (OpenAI, Anthropic).
	toolPieces = 6
	// toolPreamble is the text Anthropic's fake writes before its call.
	toolPreamble = "Let me check the weather in Paris."
)

// upstream is one provider wired to its fake.
type upstream struct {
	name string
	// model is the upstream model name the router would resolve to.
	model    string
	provider llm.Provider
	// lastBody returns the body of the last chat request the fake got.
	lastBody func() []byte
}

// upstreamNames lists the providers in matrix order.
var upstreamNames = []string{"openai", "anthropic", "gemini", "ollama"}

// startUpstream starts the fake for provider name, answering as sc says,
// and returns the real client pointed at it.
func startUpstream(t *testing.T, name string, sc scenario) *upstream {
	t.Helper()
	switch name {
	case "openai":
		o := openaitest.Options{Reply: replyText, Chunks: replyPieces}
		if sc == answerTool {
			o.Chunks = toolPieces
			o.ToolCall = &openaitest.ToolCall{ID: "call_upstream01", Name: toolName, Arguments: toolArgs}
		}
		srv := openaitest.NewT(t, o)
		c, err := openai.New(openai.Options{Endpoint: up.Endpoint{BaseURL: srv.URL(), APIKey: "sk-test"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.CloseIdleConnections)
		return &upstream{name: name, model: "gpt-4o-mini", provider: c, lastBody: srv.LastRequest}
	case "anthropic":
		o := anthropictest.Options{Reply: replyText, Chunks: replyPieces}
		if sc == answerTool {
			o.Chunks = toolPieces
			// Claude often writes a sentence before it calls a tool: the
			// text block then comes first and the tool_use block has index 1.
			o.ToolUse = &anthropictest.ToolUse{ID: "toolu_01Upstream", Name: toolName, Input: toolArgs, Preamble: toolPreamble}
		}
		srv := anthropictest.NewT(t, o)
		c, err := anthropic.New(anthropic.Options{Endpoint: up.Endpoint{BaseURL: srv.URL(), APIKey: "sk-ant-test"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.CloseIdleConnections)
		return &upstream{name: name, model: "claude-sonnet-4-5-20250929", provider: c, lastBody: srv.LastRequest}
	case "gemini":
		o := geminitest.Options{Reply: replyText, Chunks: replyPieces}
		if sc == answerTool {
			// Gemini sends a functionCall whole in one event: its wire has
			// no argument fragments.
			o.FunctionCall = &geminitest.FunctionCall{Name: toolName, Args: json.RawMessage(toolArgs)}
		}
		srv := geminitest.NewT(t, o)
		c, err := gemini.New(gemini.Options{Endpoint: up.Endpoint{BaseURL: srv.URL(), APIKey: "gemini-test"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.CloseIdleConnections)
		return &upstream{name: name, model: "gemini-2.5-flash", provider: c, lastBody: srv.LastRequest}
	case "ollama":
		f := newOllamaFake(t, sc)
		p, err := ollama.New(ollama.Options{BaseURL: f.url()})
		if err != nil {
			t.Fatal(err)
		}
		return &upstream{name: name, model: "llama3.2", provider: p, lastBody: f.lastBody}
	}
	t.Fatalf("unknown upstream %q", name)
	return nil
}

// chat runs req through u with the upstream model name, as the router
// does, collecting a copy of every chunk.
func (u *upstream) chat(t *testing.T, req *llm.ChatRequest) ([]llm.Chunk, llm.Usage) {
	t.Helper()
	r := *req
	r.Model = u.model
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	chunks, _, usage, err := upstreamtest.CollectCtx(ctx, u.provider.Chat, &r)
	if err != nil {
		t.Fatalf("%s: Chat: %v", u.name, err)
	}
	return chunks, usage
}

// writeGolden writes b to testdata/name, creating its folder.
func writeGolden(t *testing.T, name string, b []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkJSONGolden compares got with the JSON golden file name after
// decoding both, so key order and whitespace do not matter. With -update it
// writes got, indented, instead, except over a golden corrected by hand
// (one with a goldenNotes entry), which only a person may rewrite.
func checkJSONGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	if *update && goldenNotes[name] == "" {
		var out bytes.Buffer
		if err := json.Indent(&out, bytes.TrimSpace(got), "", "  "); err != nil {
			t.Fatalf("%s: body is not JSON: %v\n%s", name, err, got)
		}
		out.WriteByte('\n')
		writeGolden(t, name, out.Bytes())
		return
	}
	want := testkit.Fixture(t, name)
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: body is not JSON: %v\n%s", name, err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: golden is not JSON: %v", name, err)
	}
	if !reflect.DeepEqual(g, w) {
		var diffs []string
		jsonDiff(&diffs, "$", g, w)
		msg := ""
		if note := goldenNotes[name]; note != "" {
			msg = "\nThis golden was corrected by hand: " + note
		}
		t.Errorf("%s differs from the golden file:\n\t%s%s", name, strings.Join(diffs, "\n\t"), msg)
	}
}

// goldenNotes explains the golden files written as the code should
// produce them rather than as it does, so a failure says why.
var goldenNotes = map[string]string{}

// maxDiffs bounds the differences jsonDiff reports.
const maxDiffs = 20

// jsonDiff appends to diffs the paths where got and want, decoded JSON
// values, differ.
func jsonDiff(diffs *[]string, path string, got, want any) {
	if len(*diffs) >= maxDiffs {
		return
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(g)+len(w))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, gok := g[k]
			wv, wok := w[k]
			switch {
			case !gok:
				*diffs = append(*diffs, fmt.Sprintf("%s.%s: missing, want %s", path, k, short(wv)))
			case !wok:
				*diffs = append(*diffs, fmt.Sprintf("%s.%s: unexpected %s", path, k, short(gv)))
			default:
				jsonDiff(diffs, path+"."+k, gv, wv)
			}
		}
		return
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			break
		}
		for i := range w {
			jsonDiff(diffs, fmt.Sprintf("%s[%d]", path, i), g[i], w[i])
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		*diffs = append(*diffs, fmt.Sprintf("%s: got %s, want %s", path, short(got), short(want)))
	}
}

// short renders v as compact JSON, cut to a readable length.
func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 120 {
		return string(b[:120]) + "…"
	}
	return string(b)
}

// checkGolden compares got byte for byte with the golden file name, or
// writes it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	if *update {
		writeGolden(t, name, got)
		return
	}
	want := testkit.Fixture(t, name)
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update to see the diff in git):\n%s", name, got)
	}
}

// compactJSON returns s compacted, or fails t when s is not JSON.
func compactJSON(t *testing.T, what, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Errorf("%s is not JSON: %v: %q", what, err, s)
		return s
	}
	return b.String()
}
