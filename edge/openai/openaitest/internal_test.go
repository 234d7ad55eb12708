package openaitest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/internal/wire"
)

var update = flag.Bool("update", false, "rewrite testdata/golden files")

// newCore builds a Server that is not listening, to drive serve directly.
func newCore(t testing.TB, o Options) *Server {
	t.Helper()
	if err := normalize(&o); err != nil {
		t.Fatal(err)
	}
	return &Server{opt: o, wire: precompute(&o)}
}

// render serves one request through the core and returns a copy of the
// decided answer.
func render(s *Server, ep endpoint, body []byte) (status int, act action, out []byte, marks []int) {
	x := getExchange(s)
	defer putExchange(x)
	s.serve(x, ep, body, "")
	return x.status, x.act, append([]byte(nil), x.body...), append([]int(nil), x.marks...)
}

var goldenOptions = Options{ToolCall: &ToolCall{Name: "get_weather", Arguments: `{"city":"Paris"}`}}

var normalizers = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`"chatcmpl-[0-9a-f]{32}"`), `"chatcmpl-ID"`},
	{regexp.MustCompile(`"created":[0-9]+`), `"created":0`},
}

// TestGolden pins the exact wire bytes for the requests in
// testdata/requests; run with -update after a deliberate change.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/requests/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no request fixtures: %v", err)
	}
	type golden struct {
		name string
		mode Mode
		ep   endpoint
		body []byte
	}
	var cases []golden
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		ep := epChat
		if strings.HasPrefix(name, "embeddings") {
			ep = epEmbeddings
		}
		cases = append(cases, golden{name, OK, ep, bytes.TrimSpace(body)})
	}
	chat := []byte(`{"model":"m","messages":[{"role":"user","content":"x"}]}`)
	for _, m := range []Mode{Error500, Overloaded503, RateLimit429, ContextTooLong, Unauthorized} {
		cases = append(cases, golden{"error_" + m.String(), m, epChat, chat})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newCore(t, goldenOptions)
			s.SetMode(tc.mode)
			x := getExchange(s)
			defer putExchange(x)
			x.auth = append(x.auth[:0], "Bearer sk-golden-0123456789"...)
			s.serve(x, tc.ep, tc.body, "")
			got := []byte(strings.Join([]string{"status: " + statusText(x.status), "content-type: " + x.contentType(), "", ""}, "\n"))
			got = append(got, x.body...)
			for _, n := range normalizers {
				got = n.re.ReplaceAll(got, []byte(n.repl))
			}
			path := filepath.Join("testdata", "golden", tc.name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("wire bytes differ from %s:\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\", "ctl\x00\x01\x1f\n\r\t", "é😀", "bad\xffutf8\xc3", "ls\u2028ps\u2029", "<html>&"} {
		checkJSONString(t, s)
	}
}

func checkJSONString(t *testing.T, s string) {
	t.Helper()
	b := wire.AppendString(nil, s)
	var got string
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("AppendString(%q) = %s: %v", s, b, err)
	}
	ref, _ := json.Marshal(s)
	var want string
	_ = json.Unmarshal(ref, &want)
	if got != want {
		t.Fatalf("AppendString(%q) decodes to %q, encoding/json gives %q", s, got, want)
	}
}

func TestCountWords(t *testing.T) {
	for _, s := range []string{"", " ", "one", "one two", " a\tb\nc\rd\fe\vf ", "é 😀 x"} {
		lit, _ := json.Marshal(s)
		if got, want := countWordsJSONString(lit), len(strings.Fields(s)); got != want {
			t.Errorf("countWordsJSONString(%s) = %d, want %d", lit, got, want)
		}
		if got, want := countWords(s), len(strings.Fields(s)); got != want {
			t.Errorf("countWords(%q) = %d, want %d", s, got, want)
		}
	}
	if n := countWordsJSONString([]byte(`"a\nb\u0020c\u00e9d"`)); n != 3 {
		t.Errorf("escaped literal: %d words", n)
	}
}

// TestPooledRequestsDoNotLeak guards the reuse of pooled request scratch:
// fields from an earlier request must not show through in a later one.
func TestPooledRequestsDoNotLeak(t *testing.T) {
	s := newCore(t, Options{ToolCall: &ToolCall{Name: "f", Arguments: "{}"}})
	first := []byte(`{"model":"first","stream":true,"stream_options":{"include_usage":true},"max_tokens":1,"tools":[{"type":"function"}],"messages":[{"role":"user","content":"a b c d"},{"role":"user","content":[{"type":"text","text":"e f"}]}]}`)
	second := []byte(`{"model":"second","messages":[{"role":"user"},{"role":"user","content":[{"type":"image_url"}]}]}`)
	for i := 0; i < 3; i++ {
		render(s, epChat, first)
		status, act, body, _ := render(s, epChat, second)
		if status != 200 || act != actRespond {
			t.Fatalf("second: %d %v %s", status, act, body)
		}
		var c struct {
			Model   string `json:"model"`
			Choices []struct {
				FinishReason string `json:"finish_reason"`
			} `json:"choices"`
			Usage struct {
				PromptTokens int `json:"prompt_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(body, &c); err != nil {
			t.Fatal(err)
		}
		if c.Model != "second" || c.Choices[0].FinishReason != "stop" || c.Usage.PromptTokens != 0 {
			t.Fatalf("state leaked between pooled requests: %s", body)
		}
	}
	e1 := []byte(`{"model":"e","input":"aaaa bbbb"}`)
	e2 := []byte(`{"model":"e","input":["x","yy"]}`)
	e3 := []byte(`{"model":"e","input":[1,2,3]}`)
	_, _, want1, _ := render(s, epEmbeddings, e1)
	_, _, want2, _ := render(s, epEmbeddings, e2)
	_, _, want3, _ := render(s, epEmbeddings, e3)
	for i := 0; i < 3; i++ {
		for _, c := range []struct{ in, want []byte }{{e1, want1}, {e3, want3}, {e2, want2}, {e1, want1}} {
			if _, _, got, _ := render(s, epEmbeddings, c.in); !bytes.Equal(got, c.want) {
				t.Fatalf("embeddings of %s changed with pooling:\n%s\n%s", c.in, got, c.want)
			}
		}
	}
}

// TestServeAllocs bounds the allocations of the core on the OK path (the
// HTTP stack's own are measured by BenchmarkChat).
func TestServeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race")
	}
	s := newCore(t, Options{})
	cases := []struct {
		name string
		ep   endpoint
		body string
		max  float64
	}{
		{"chat", epChat, `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Say hello to the tests"}]}`, 8},
		{"stream", epChat, `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Say hello"}]}`, 8},
		{"embeddings", epEmbeddings, `{"model":"text-embedding-3-small","input":"the quick brown fox"}`, 6},
	}
	for _, tc := range cases {
		body := []byte(tc.body)
		allocs := testing.AllocsPerRun(200, func() {
			x := getExchange(s)
			s.serve(x, tc.ep, body, "")
			if x.status != 200 {
				t.Fatalf("%s: status %d %s", tc.name, x.status, x.body)
			}
			putExchange(x)
		})
		t.Logf("%s: %.0f allocs/op", tc.name, allocs)
		if allocs > tc.max {
			t.Errorf("%s: %.0f allocs/op, want <= %.0f", tc.name, allocs, tc.max)
		}
	}
}

// TestRouteAllocs: fasthttp hands paths over as []byte; routing them must
// not copy them into strings.
func TestRouteAllocs(t *testing.T) {
	post, get := []byte("POST"), []byte("GET")
	chat, model := []byte("/v1/chat/completions"), []byte("/v1/models/gpt-4o-mini")
	allocs := testing.AllocsPerRun(100, func() {
		if ep, _ := routeOf(post, chat); ep != epChat {
			t.Fatalf("chat routed to %d", ep)
		}
		if ep, id := routeOf(get, model); ep != epModel || string(id) != "gpt-4o-mini" {
			t.Fatalf("model routed to %d %q", ep, id)
		}
	})
	if allocs != 0 {
		t.Errorf("%.0f allocs per routing", allocs)
	}
}

func BenchmarkServeChat(b *testing.B) {
	s := newCore(b, Options{})
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Say hello to the tests"}]}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		x := getExchange(s)
		s.serve(x, epChat, body, "")
		putExchange(x)
	}
}

func fuzzSeeds(f *testing.F, prefix string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "requests", prefix+"*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"model":"m","messages":[{"content":[{"text":"\u00e9\n"}]}],"max_tokens":-1}`))
	f.Add([]byte(`{"model":"m","messages":null,"stream":null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
}

// checkAnswer asserts what must hold for any request: a well-formed answer.
func checkAnswer(t *testing.T, status int, act action, body []byte, marks []int) {
	t.Helper()
	switch act {
	case actRespond:
		if !json.Valid(body) {
			t.Fatalf("status %d: invalid JSON answer %q", status, body)
		}
	case actStream:
		prev := 0
		for i, end := range marks {
			ev := body[prev:end]
			prev = end
			if !bytes.HasPrefix(ev, []byte("data: ")) || !bytes.HasSuffix(ev, []byte("\n\n")) {
				t.Fatalf("event %d framing %q", i, ev)
			}
			payload := ev[len("data: ") : len(ev)-2]
			if i == len(marks)-1 {
				if string(payload) != "[DONE]" {
					t.Fatalf("last event %q", payload)
				}
			} else if !json.Valid(payload) {
				t.Fatalf("event %d invalid JSON %q", i, payload)
			}
		}
		if prev != len(body) {
			t.Fatalf("bytes after the last event")
		}
	default:
		t.Fatalf("unexpected action %d", act)
	}
	if !utf8.Valid(body) {
		t.Fatalf("answer is not UTF-8")
	}
}

func FuzzChatRequest(f *testing.F) {
	fuzzSeeds(f, "chat")
	s := newCore(f, Options{ToolCall: &ToolCall{Name: "f", Arguments: `{"a":"\"é"}`}, Reply: "tab\there \"quoted\" é"})
	f.Fuzz(func(t *testing.T, body []byte) {
		status, act, out, marks := render(s, epChat, body)
		checkAnswer(t, status, act, out, marks)
	})
}

func FuzzEmbeddingsRequest(f *testing.F) {
	fuzzSeeds(f, "embeddings")
	f.Add([]byte(`{"model":"e","input":[-1,"x"]}`))
	f.Add([]byte(`{"model":"e","input":[[],[1]]}`))
	s := newCore(f, Options{})
	f.Fuzz(func(t *testing.T, body []byte) {
		status, act, out, marks := render(s, epEmbeddings, body)
		checkAnswer(t, status, act, out, marks)
	})
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "\u2028", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkJSONString(t, s)
		if n := countWordsJSONString(wire.AppendString(nil, s)); n != countWords(strings.ToValidUTF8(s, "\ufffd")) && utf8.ValidString(s) {
			t.Fatalf("word count %d for %q", n, s)
		}
	})
}
