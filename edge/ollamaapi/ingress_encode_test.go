package ollamaapi

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/llm"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// testStart is when the test requests arrive.
var testStart = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// steppingClock returns a clock that starts at testStart+first and moves
// on by step at every reading, so durations in golden files are fixed.
func steppingClock(first, step time.Duration) func() time.Time {
	t := testStart.Add(first - step)
	return func() time.Time {
		t = t.Add(step)
		return t
	}
}

func newChatEncoder(model string) *ChatEncoder {
	var e ChatEncoder
	e.Reset(model, testStart)
	e.e.clock = steppingClock(250*time.Millisecond, 20*time.Millisecond)
	return &e
}

func newGenerateEncoder(model string) *GenerateEncoder {
	var e GenerateEncoder
	e.Reset(model, testStart)
	e.e.clock = steppingClock(250*time.Millisecond, 20*time.Millisecond)
	return &e
}

// Streams the golden tests and the client tests share.
var (
	textStream = []llm.Chunk{
		{Role: llm.RoleAssistant},
		{Reasoning: "Rayleigh scattering."},
		{Text: "The"},
		{Text: " sky is \"blue\""},
		{Text: " because of\nRayleigh scattering."},
		{FinishReason: llm.FinishStop, Usage: &llm.Usage{PromptTokens: 26, CompletionTokens: 5, TotalTokens: 31}},
	}
	textUsage = llm.Usage{PromptTokens: 26, CompletionTokens: 5, TotalTokens: 31}

	// toolStream is how an OpenAI-wire upstream streams two calls, and a
	// third that has no arguments (complete only at the end).
	toolStream = []llm.Chunk{
		{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "call_a1", Name: "get_weather"}}},
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: `{"city":`}}},
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: ` "Paris", "unit": "celsius"}`}}},
		{ToolCalls: []llm.ToolCallDelta{{Index: 1, ID: "call_b2", Name: "get_time", Arguments: `{"tz":`}}},
		{ToolCalls: []llm.ToolCallDelta{{Index: 1, Arguments: `"Europe/Paris"}`}}},
		{ToolCalls: []llm.ToolCallDelta{{Index: 2, ID: "call_c3", Name: "ping"}}},
		{FinishReason: llm.FinishToolCalls},
	}
	toolUsage = llm.Usage{PromptTokens: 169, CompletionTokens: 15}
)

// encodeStream runs chunks through enc and appends End.
func encodeStream(enc interface {
	Chunk([]byte, *llm.Chunk) []byte
	End([]byte, llm.Usage, llm.FinishReason) []byte
}, chunks []llm.Chunk, u llm.Usage, finish llm.FinishReason) []byte {
	var out []byte
	for i := range chunks {
		out = enc.Chunk(out, &chunks[i])
	}
	return enc.End(out, u, finish)
}

func aggregate(chunks []llm.Chunk, u llm.Usage) *llm.Aggregate {
	var a llm.Aggregate
	for i := range chunks {
		a.Add(&chunks[i])
	}
	a.Usage = u
	return &a
}

func TestEncoderGolden(t *testing.T) {
	tests := []struct {
		file string
		out  func() []byte
	}{
		{"chat_stream.ndjson", func() []byte {
			return encodeStream(newChatEncoder("llama3.2"), textStream, textUsage, llm.FinishStop)
		}},
		{"chat_stream_tools.ndjson", func() []byte {
			return encodeStream(newChatEncoder("llama3.2"), toolStream, toolUsage, llm.FinishToolCalls)
		}},
		{"chat_stream_length.ndjson", func() []byte {
			return encodeStream(newChatEncoder("llama3.2"), textStream[:3], llm.Usage{PromptTokens: 26, CompletionTokens: 1}, llm.FinishLength)
		}},
		{"generate_stream.ndjson", func() []byte {
			return encodeStream(newGenerateEncoder("llama3.2"), textStream, textUsage, llm.FinishStop)
		}},
		{"chat_whole.json", func() []byte {
			return newChatEncoder("llama3.2").Whole(nil, aggregate(textStream, textUsage))
		}},
		{"chat_whole_tools.json", func() []byte {
			return newChatEncoder("llama3.2").Whole(nil, aggregate(toolStream, toolUsage))
		}},
		{"generate_whole.json", func() []byte {
			return newGenerateEncoder("llama3.2").Whole(nil, aggregate(textStream, textUsage))
		}},
		{"chat_load.json", func() []byte { return newChatEncoder("llama3.2").Load(nil) }},
		{"generate_load.json", func() []byte { return newGenerateEncoder("llama3.2").Load(nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			out := tt.out()
			checkNDJSON(t, out)
			golden(t, tt.file, out)
		})
	}
}

// checkNDJSON checks that out is lines of valid JSON, each ending in "\n".
func checkNDJSON(t *testing.T, out []byte) {
	t.Helper()
	if len(out) == 0 || out[len(out)-1] != '\n' {
		t.Fatalf("output does not end in a newline: %q", out)
	}
	for i, line := range bytes.Split(out[:len(out)-1], []byte("\n")) {
		if !json.Valid(line) || !utf8.Valid(line) {
			t.Fatalf("line %d is not valid JSON: %s", i, line)
		}
	}
}

// wireLine is one line of an /api/chat or /api/generate answer.
type wireLine struct {
	Model      string `json:"model"`
	CreatedAt  string `json:"created_at"`
	Response   *string
	Message    *wireMessage `json:"message"`
	Thinking   string       `json:"thinking"`
	ToolCalls  []wireCall   `json:"tool_calls"`
	Done       bool         `json:"done"`
	DoneReason string       `json:"done_reason"`
	Error      string       `json:"error"`
	Total      *int64       `json:"total_duration"`
	Load       *int64       `json:"load_duration"`
	PromptN    *int         `json:"prompt_eval_count"`
	PromptDur  *int64       `json:"prompt_eval_duration"`
	EvalN      *int         `json:"eval_count"`
	EvalDur    *int64       `json:"eval_duration"`
}

type wireMessage struct {
	Role      string     `json:"role"`
	Content   *string    `json:"content"`
	Thinking  string     `json:"thinking"`
	ToolCalls []wireCall `json:"tool_calls"`
}

type wireCall struct {
	ID       string `json:"id"`
	Function struct {
		Index     int             `json:"index"`
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

func parseLines(t *testing.T, out []byte) []wireLine {
	t.Helper()
	checkNDJSON(t, out)
	var lines []wireLine
	for _, b := range bytes.Split(out[:len(out)-1], []byte("\n")) {
		var l wireLine
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		lines = append(lines, l)
	}
	return lines
}

// callsAndText collects the tool calls (name → compact arguments) and the
// content of a chat stream, checking that only the last line is done.
func callsAndText(t *testing.T, lines []wireLine) (calls []string, content string) {
	t.Helper()
	for i, l := range lines {
		if l.Done != (i == len(lines)-1) {
			t.Errorf("line %d: done = %v", i, l.Done)
		}
		if l.Message == nil || l.Message.Role != "assistant" || l.Message.Content == nil {
			t.Fatalf("line %d: message = %+v", i, l.Message)
		}
		content += *l.Message.Content
		for _, c := range l.Message.ToolCalls {
			calls = append(calls, c.ID+" "+c.Function.Name+" "+string(c.Function.Arguments))
		}
	}
	return calls, content
}

func TestChatEncoderToolCalls(t *testing.T) {
	d := func(i int, id, name, args string) llm.ToolCallDelta {
		return llm.ToolCallDelta{Index: i, ID: id, Name: name, Arguments: args}
	}
	tests := []struct {
		name        string
		chunks      []llm.Chunk
		wantLines   int // lines before the final one
		wantCalls   []string
		wantContent string
	}{
		{"whole calls as Ollama sends them share a line",
			[]llm.Chunk{{ToolCalls: []llm.ToolCallDelta{d(0, "call_1", "a", `{"x":1}`), d(1, "call_2", "b", `{}`)}}},
			1, []string{`call_1 a {"x":1}`, `call_2 b {}`}, ""},
		{"fragments wait for the closing brace",
			[]llm.Chunk{{ToolCalls: []llm.ToolCallDelta{d(0, "c", "f", `{"s":"}`)}}, {ToolCalls: []llm.ToolCallDelta{d(0, "", "", `"}`)}}},
			1, []string{`c f {"s":"}"}`}, ""},
		{"a call without arguments ends when the next starts",
			[]llm.Chunk{{ToolCalls: []llm.ToolCallDelta{d(0, "c1", "now", "")}}, {ToolCalls: []llm.ToolCallDelta{d(1, "c2", "f", `{"a":`)}}, {ToolCalls: []llm.ToolCallDelta{d(1, "", "", `2}`)}}},
			2, []string{`c1 now {}`, `c2 f {"a":2}`}, ""},
		{"a call left open is flushed before the final line",
			[]llm.Chunk{{Text: "Checking."}, {ToolCalls: []llm.ToolCallDelta{d(0, "c1", "now", "")}}},
			2, []string{`c1 now {}`}, "Checking."},
		{"text and a finished call in one chunk",
			[]llm.Chunk{{Text: "On it.", ToolCalls: []llm.ToolCallDelta{d(0, "c1", "f", `{"q":"x"}`)}}},
			1, []string{`c1 f {"q":"x"}`}, "On it."},
		{"whitespace and newlines in arguments are compacted",
			[]llm.Chunk{{ToolCalls: []llm.ToolCallDelta{d(0, "c", "f", "{\n  \"a\" : [1, 2],\n  \"s\": \"x y\\n\"\n}\n")}}},
			1, []string{`c f {"a":[1,2],"s":"x y\n"}`}, ""},
		{"a call cut off mid-arguments becomes text",
			[]llm.Chunk{{ToolCalls: []llm.ToolCallDelta{d(0, "c", "f", `{"city": "Par`)}}},
			1, nil, `{"city": "Par`},
		{"arguments that are not an object become text",
			[]llm.Chunk{{ToolCalls: []llm.ToolCallDelta{d(0, "c", "f", `[1]`)}}},
			1, nil, `[1]`},
		{"a call without a name becomes text",
			[]llm.Chunk{{ToolCalls: []llm.ToolCallDelta{d(0, "c", "", `{"a":1}`)}}},
			1, nil, `{"a":1}`},
		{"missing ids are named by position",
			[]llm.Chunk{{ToolCalls: []llm.ToolCallDelta{d(0, "", "a", `{}`)}}, {ToolCalls: []llm.ToolCallDelta{d(1, "", "b", `{}`)}}},
			2, []string{`call_0 a {}`, `call_1 b {}`}, ""},
		{"interleaved fragments",
			[]llm.Chunk{{ToolCalls: []llm.ToolCallDelta{d(0, "c0", "a", `{"x":`), d(1, "c1", "b", `{"y":`)}}, {ToolCalls: []llm.ToolCallDelta{d(0, "", "", `1}`), d(1, "", "", `2}`)}}},
			1, []string{`c0 a {"x":1}`, `c1 b {"y":2}`}, ""},
		{"oversized arguments are dropped",
			[]llm.Chunk{{ToolCalls: []llm.ToolCallDelta{d(0, "c", "f", `{"a":"`+strings.Repeat("x", maxCallArgs)+`"}`)}}, {ToolCalls: []llm.ToolCallDelta{d(1, "c2", "g", `{}`)}}},
			1, []string{`c2 g {}`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newChatEncoder("m")
			out := encodeStream(e, tt.chunks, llm.Usage{}, llm.FinishToolCalls)
			lines := parseLines(t, out)
			if got := len(lines) - 1; got != tt.wantLines {
				t.Errorf("%d lines before the final one, want %d:\n%s", got, tt.wantLines, out)
			}
			calls, content := callsAndText(t, lines)
			if strings.Join(calls, "\n") != strings.Join(tt.wantCalls, "\n") {
				t.Errorf("calls = %q, want %q", calls, tt.wantCalls)
			}
			if content != tt.wantContent {
				t.Errorf("content = %q, want %q", content, tt.wantContent)
			}
			if len(e.e.calls) != 0 {
				t.Errorf("%d calls still buffered after End", len(e.e.calls))
			}
		})
	}
}

func TestChatEncoderPendingBound(t *testing.T) {
	e := newChatEncoder("m")
	var out []byte
	// Each call stays open (no arguments) until the next starts, so at
	// most one is ever buffered; a hostile stream of distinct indexes
	// must not grow the buffer.
	for i := range 3 * maxPendingCalls {
		out = e.Chunk(out[:0], &llm.Chunk{ToolCalls: []llm.ToolCallDelta{{Index: i, Name: "f"}}})
		if len(e.e.calls) > 1 {
			t.Fatalf("after %d calls %d are buffered", i+1, len(e.e.calls))
		}
	}
	// Interleaved open calls are bounded too.
	e.Reset("m", testStart)
	deltas := make([]llm.ToolCallDelta, 0, 2*maxPendingCalls)
	for i := range 2 * maxPendingCalls {
		deltas = append(deltas, llm.ToolCallDelta{Index: i, Name: "f", Arguments: "{"})
	}
	e.Chunk(nil, &llm.Chunk{ToolCalls: deltas})
	if len(e.e.calls) > maxPendingCalls {
		t.Errorf("%d calls buffered, bound %d", len(e.e.calls), maxPendingCalls)
	}
}

func TestEncoderDurations(t *testing.T) {
	var e ChatEncoder
	start := testStart
	e.Reset("m", start)
	now := start.Add(400 * time.Millisecond)
	e.e.clock = func() time.Time { return now }
	out := e.Chunk(nil, &llm.Chunk{Text: "a"}) // first token at +400ms
	now = start.Add(1500 * time.Millisecond)
	out = e.End(out, llm.Usage{PromptTokens: 3, CompletionTokens: 4}, llm.FinishStop)
	lines := parseLines(t, out)
	last := lines[len(lines)-1]
	if *last.Total != int64(1500*time.Millisecond) || *last.PromptDur != int64(400*time.Millisecond) ||
		*last.EvalDur != int64(1100*time.Millisecond) || *last.Load != 0 || *last.PromptN != 3 || *last.EvalN != 4 {
		t.Errorf("final line = %s", out)
	}
	if last.CreatedAt != "2026-11-25T12:00:01.5Z" {
		t.Errorf("created_at = %q", last.CreatedAt)
	}

	// No chunk at all: everything counts as evaluation.
	e.Reset("m", start)
	now = start.Add(time.Second)
	lines = parseLines(t, e.End(nil, llm.Usage{}, ""))
	if l := lines[0]; *l.Total != int64(time.Second) || *l.PromptDur != 0 || *l.EvalDur != int64(time.Second) || l.DoneReason != "stop" {
		t.Errorf("final line = %+v", l)
	}

	// Never Reset: zero durations rather than the age of the epoch.
	var z GenerateEncoder
	lines = parseLines(t, z.End(nil, llm.Usage{}, llm.FinishLength))
	if l := lines[0]; *l.Total != 0 || l.DoneReason != "length" || l.Response == nil {
		t.Errorf("final line = %+v", l)
	}
}

func TestChatEncoderSkipsEmptyChunks(t *testing.T) {
	e := newChatEncoder("m")
	for _, c := range []llm.Chunk{
		{Role: llm.RoleAssistant},
		{FinishReason: llm.FinishStop},
		{Usage: &llm.Usage{PromptTokens: 1}},
		{Model: "upstream-name"},
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "c", Name: "f", Arguments: `{"a"`}}},
	} {
		if out := e.Chunk(nil, &c); len(out) != 0 {
			t.Errorf("chunk %+v wrote %s", c, out)
		}
	}
}

func TestChunkAllocs(t *testing.T) {
	c := &llm.Chunk{Text: "Hello \"world\"\n é"}
	buf := make([]byte, 0, 4096)
	var chat ChatEncoder
	chat.Reset("llama3.2:1b", time.Now())
	if allocs := testing.AllocsPerRun(1000, func() { buf = chat.Chunk(buf[:0], c) }); allocs != 0 {
		t.Errorf("ChatEncoder.Chunk allocates %.1f times into a pre-sized buffer, want 0", allocs)
	}
	var gen GenerateEncoder
	gen.Reset("llama3.2:1b", time.Now())
	if allocs := testing.AllocsPerRun(1000, func() { buf = gen.Chunk(buf[:0], c) }); allocs != 0 {
		t.Errorf("GenerateEncoder.Chunk allocates %.1f times into a pre-sized buffer, want 0", allocs)
	}
	r := &llm.Chunk{Reasoning: "hmm"}
	if allocs := testing.AllocsPerRun(1000, func() { buf = chat.Chunk(buf[:0], r) }); allocs != 0 {
		t.Errorf("ChatEncoder.Chunk allocates %.1f times for reasoning, want 0", allocs)
	}
}

func TestAppendErrors(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"error", AppendError(nil, `model "x" not found`), `{"error":"model \"x\" not found"}`},
		{"stream error", AppendStreamError(nil, "upstream went away\n"), `{"error":"upstream went away\n"}` + "\n"},
		{"invalid UTF-8 is replaced", AppendError(nil, "a\xffb"), `{"error":"a\ufffdb"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if string(tt.got) != tt.want {
				t.Errorf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
}

func TestAppendModels(t *testing.T) {
	models := []llm.Model{
		{ID: "ollama/llama3.2:1b", Provider: "ollama", Created: time.Date(2025, 5, 10, 15, 6, 48, 639712648, time.UTC)},
		{ID: "fast", Provider: "openai"},
	}
	golden(t, "tags.json", AppendTags(nil, models))
	golden(t, "show.json", AppendShow(nil, models[0]))
	if got := string(AppendTags(nil, nil)); got != `{"models":[]}` {
		t.Errorf("empty tags = %s", got)
	}
	if got := string(AppendVersion(nil, "0.4.1-edgeway")); got != `{"version":"0.4.1-edgeway"}` {
		t.Errorf("version = %s", got)
	}
	r := &llm.EmbedResponse{Model: "upstream", Vectors: [][]float32{{0.5, -1.25, 3e-8}, {}}, Usage: llm.Usage{PromptTokens: 8}}
	if got, want := string(AppendEmbedResponse(nil, "all-minilm", r)),
		`{"model":"all-minilm","embeddings":[[0.5,-1.25,3e-08],[]],"total_duration":0,"load_duration":0,"prompt_eval_count":8}`; got != want {
		t.Errorf("embed = %s\nwant    %s", got, want)
	}
	if got := string(AppendEmbedResponse(nil, "", &llm.EmbedResponse{Model: "up"})); got != `{"model":"up","embeddings":[],"total_duration":0,"load_duration":0,"prompt_eval_count":0}` {
		t.Errorf("empty embed = %s", got)
	}
	nan := &llm.EmbedResponse{Vectors: [][]float32{{float32(math.NaN()), float32(math.Inf(-1)), 1}}}
	if got := string(AppendLegacyEmbeddingsResponse(nil, nan)); got != `{"embedding":[0,0,1]}` {
		t.Errorf("NaN and Inf = %s, want zeros: JSON has no such numbers", got)
	}
	if got := string(AppendLegacyEmbeddingsResponse(nil, r)); got != `{"embedding":[0.5,-1.25,3e-08]}` {
		t.Errorf("legacy = %s", got)
	}
	if got := string(AppendLegacyEmbeddingsResponse(nil, nil)); got != `{"embedding":[]}` {
		t.Errorf("legacy load = %s", got)
	}
}
