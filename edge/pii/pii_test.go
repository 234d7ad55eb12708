package pii

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/llm"
)

func TestDetectors(t *testing.T) {
	cases := []struct {
		name, text string
		want       []string // "kind:value"
	}{
		{"email", "mail bob@example.com now", []string{"email:bob@example.com"}},
		{"email trailing dot", "to bob@example.com.", []string{"email:bob@example.com"}},
		{"email no tld", "bob@localhost", nil},
		{"asset name", "logo@2x.png", nil},
		{"npm version", "pkg@1.2.3", nil},
		{"phone nanp", "call (555) 123-4567", []string{"phone:(555) 123-4567"}},
		{"phone intl", "+44 20 7946 0958", []string{"phone:+44 20 7946 0958"}},
		{"phone trunk 0", "ring 020 7946 0958", []string{"phone:020 7946 0958"}},
		{"date", "on 2024-01-15", nil},
		{"version", "v10.0.19041.1234", nil},
		{"digits only", "order 5551234567", nil},
		{"card spaced", "4111 1111 1111 1111", []string{"card:4111 1111 1111 1111"}},
		{"card dashed", "4111-1111-1111-1111", []string{"card:4111-1111-1111-1111"}},
		{"card bad luhn", "4111 1111 1111 1112", nil},
		{"card mixed separators", "4111-1111 1111-1111", nil},
		{"card inside serial", "SN-4111-1111-1111-1111", nil},
		{"iban", "DE89370400440532013000", []string{"iban:DE89370400440532013000"}},
		{"iban grouped", "DE89 3704 0044 0532 0130 00", []string{"iban:DE89 3704 0044 0532 0130 00"}},
		{"iban bad checksum", "DE88370400440532013000", nil},
		{"openai key", "sk-abcdefghij0123456789abcd", []string{"api_key:sk-abcdefghij0123456789abcd"}},
		{"words after sk", "sk-learn-for-beginners-tutorial", nil},
		{"aws", "AKIAIOSFODNN7EXAMPLE", []string{"api_key:AKIAIOSFODNN7EXAMPLE"}},
		{"jwt", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U ok", []string{"api_key:eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"}},
		{"jwt-like words", "eyJhbGciOiJIUzI1NiJ9 alone", nil},
		{"uuid", "123e4567-e89b-12d3-a456-426614174000", nil},
		{"sha1", "9fceb02d0ae598e95dc970b74767f19372d61af8", nil},
		{"random token", "Xq7Lm2Pz9Rt4Vw8Ks3Jd6Hf1Gb5Nc0Ya", []string{"api_key:Xq7Lm2Pz9Rt4Vw8Ks3Jd6Hf1Gb5Nc0Ya"}},
		{"several", "a@b.io, +33 1 23 45 67 89", []string{"email:a@b.io", "phone:+33 1 23 45 67 89"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, f := range Scan(nil, tc.text) {
				got = append(got, f.Kind.String()+":"+tc.text[f.Start:f.End])
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("Scan(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

func TestStricter(t *testing.T) {
	cases := []struct{ a, b, want Action }{
		{"", "", ""},
		{"", Allow, Allow},
		{Allow, RedactForCloud, RedactForCloud},
		{LocalOnly, RedactForCloud, LocalOnly},
		{Block, LocalOnly, Block},
		{RedactForCloud, "", RedactForCloud},
	}
	for _, tc := range cases {
		if got := Stricter(tc.a, tc.b); got != tc.want {
			t.Errorf("Stricter(%q, %q) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
	if Action("maybe").Valid() || !Action("").Valid() || !Block.Valid() {
		t.Error("Valid is wrong")
	}
}

func TestRedactRestore(t *testing.T) {
	var m Mapping
	in := "Mail bob@example.com or bob@example.com, card 4111 1111 1111 1111, call +44 20 7946 0958."
	out, ok := m.Redact(in)
	want := "Mail «EMAIL_1» or «EMAIL_1», card «CARD_1», call «PHONE_1»."
	if !ok || out != want {
		t.Fatalf("Redact = %q, %v; want %q", out, ok, want)
	}
	if back := m.Restore(out); back != in {
		t.Errorf("Restore = %q, want %q", back, in)
	}
	if s := m.Restore("«EMAIL_9» and «unclosed"); s != "«EMAIL_9» and «unclosed" {
		t.Errorf("unknown placeholders changed: %q", s)
	}
}

// TestRestoreSplit feeds an answer split at every byte boundary pair and
// checks the restored stream is the same as restoring it whole.
func TestRestoreSplit(t *testing.T) {
	var m Mapping
	if _, ok := m.Redact("x bob@example.com y 4111 1111 1111 1111"); !ok {
		t.Fatal("nothing redacted")
	}
	answer := "Dear «EMAIL_1», your card «CARD_1» is «EMAIL_1». «nope» «"
	want := m.Restore(answer)
	for i := 0; i <= len(answer); i++ {
		for j := i; j <= len(answer); j++ {
			r := restorer{m: &m}
			got := r.feed(answer[:i]) + r.feed(answer[i:j]) + r.feed(answer[j:]) + r.flush()
			if got != want {
				t.Fatalf("split at %d,%d: %q, want %q", i, j, got, want)
			}
		}
	}
}

// fakeProvider answers with its reply split into pieces, recording the
// request it got.
type fakeProvider struct {
	got    *llm.ChatRequest
	pieces []string
}

func (f *fakeProvider) Name() string { return "cloud" }
func (f *fakeProvider) Chat(_ context.Context, req *llm.ChatRequest, emit func(*llm.Chunk) error) (llm.Usage, error) {
	f.got = req
	var ch llm.Chunk
	for i, p := range f.pieces {
		ch = llm.Chunk{Text: p}
		if i == len(f.pieces)-1 {
			ch.FinishReason = llm.FinishStop
		}
		if err := emit(&ch); err != nil {
			return llm.Usage{}, err
		}
	}
	return llm.Usage{PromptTokens: 1}, nil
}

type pingingProvider struct{ fakeProvider }

func (pingingProvider) Ping(context.Context) error { return errors.New("down") }

func userMsg(s string) llm.Message {
	return llm.Message{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: s}}}
}

func TestProvider(t *testing.T) {
	prompt := "I am bob@example.com"
	cases := []struct {
		name      string
		redact    bool
		pieces    []string
		wantSent  string
		wantReply string
	}{
		{"unmarked passes through", false, []string{"hi «EMAIL_1»"}, prompt, "hi «EMAIL_1»"},
		{"placeholder split", true, []string{"Hello «EM", "AIL", "_1», bye"}, "I am «EMAIL_1»", "Hello bob@example.com, bye"},
		{"placeholder at the end", true, []string{"mail «EMAIL_1", "»"}, "I am «EMAIL_1»", "mail bob@example.com"},
		{"no placeholder", true, []string{"plain ", "answer"}, "I am «EMAIL_1»", "plain answer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fp := &fakeProvider{pieces: tc.pieces}
			p := Wrap(fp)
			req := &llm.ChatRequest{Model: "m", Messages: []llm.Message{userMsg(prompt)}}
			ctx := context.Background()
			if tc.redact {
				ctx = WithRedaction(ctx)
			}
			var reply strings.Builder
			if _, err := p.Chat(ctx, req, func(c *llm.Chunk) error { reply.WriteString(c.Text); return nil }); err != nil {
				t.Fatal(err)
			}
			if got := fp.got.Messages[0].Text(); got != tc.wantSent {
				t.Errorf("provider got %q, want %q", got, tc.wantSent)
			}
			if req.Messages[0].Text() != prompt {
				t.Errorf("caller's request was changed: %q", req.Messages[0].Text())
			}
			if reply.String() != tc.wantReply {
				t.Errorf("reply %q, want %q", reply.String(), tc.wantReply)
			}
		})
	}
}

func TestWrapKeepsAbilities(t *testing.T) {
	if _, ok := Wrap(&fakeProvider{}).(llm.Pinger); ok {
		t.Error("a provider without Ping gained one")
	}
	w := Wrap(&pingingProvider{})
	g, ok := w.(llm.Pinger)
	if !ok || g.Ping(context.Background()) == nil {
		t.Error("Ping lost or not forwarded")
	}
	if _, ok := w.(llm.Embedder); ok {
		t.Error("gained Embed")
	}
}

func TestScanNoAlloc(t *testing.T) {
	prompt := benchPrompt()
	if n, _ := Count(prompt); n != 0 {
		t.Fatalf("bench prompt holds %d findings", n)
	}
	if a := testing.AllocsPerRun(100, func() { Count(prompt) }); a != 0 {
		t.Errorf("Count allocates %v times", a)
	}
	var m Mapping
	if a := testing.AllocsPerRun(100, func() { m.Redact(prompt) }); a != 0 {
		t.Errorf("Redact of a clean prompt allocates %v times", a)
	}
}

// benchPrompt is 4 KB of ordinary prompt text with numbers, dates,
// versions and ids, and no personal data.
func benchPrompt() string {
	const para = "Summarise the release notes for v2.14.3 (build 2024.03.17) and order #100234987651 " +
		"placed on 2024-01-15 at 10:30. The request id was 550e8400-e29b-41d4-a716-446655440000 " +
		"and the commit 9fceb02d0ae598e95dc970b74767f19372d61af8; see section 6.5.1 of RFC 7231, " +
		"then explain why the latency rose from 120 ms to 340 ms on 192.168.1.20 after the upgrade. "
	var b strings.Builder
	for b.Len() < 4096 {
		b.WriteString(para)
	}
	return b.String()[:4096]
}

func BenchmarkCount(b *testing.B) {
	prompt := benchPrompt()
	b.SetBytes(int64(len(prompt)))
	b.ReportAllocs()
	for b.Loop() {
		Count(prompt)
	}
}

func BenchmarkCountWithFindings(b *testing.B) {
	prompt := benchPrompt()[:4000] + " bob@example.com +44 20 7946 0958"
	b.SetBytes(int64(len(prompt)))
	b.ReportAllocs()
	for b.Loop() {
		Count(prompt)
	}
}

func FuzzScan(f *testing.F) {
	for _, s := range []string{"bob@example.com", "+44 20 7946 0958", "(555) 123-4567", "4111 1111 1111 1111",
		"DE89 3704 0044 0532 0130 00", "sk-abcdefghij0123456789abcd", "«EMAIL_1", "a@b.c@d.ee", "((((1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		prev := 0
		for _, fd := range Scan(nil, s) {
			if fd.Start < prev || fd.End <= fd.Start || fd.End > len(s) || fd.Kind == 0 || fd.Kind >= numKinds {
				t.Fatalf("bad finding %+v in %q", fd, s)
			}
			prev = fd.End
		}
		var m Mapping
		red, _ := m.Redact(s)
		if n, _ := Count(red); n != 0 && !strings.Contains(s, "«") {
			t.Fatalf("redacted text %q still holds findings", red)
		}
		if !strings.Contains(s, "«") && m.Restore(red) != s {
			t.Fatalf("restore(%q) = %q, want %q", red, m.Restore(red), s)
		}
		r := restorer{m: &m}
		half := len(red) / 2
		if got := r.feed(red[:half]) + r.feed(red[half:]) + r.flush(); got != m.Restore(red) {
			t.Fatalf("split restore %q, want %q", got, m.Restore(red))
		}
	})
}

// toolProvider streams a tool call whose arguments hold a placeholder
// split across deltas, ending with a finish chunk without arguments.
type toolProvider struct{ fakeProvider }

func (p *toolProvider) Chat(_ context.Context, req *llm.ChatRequest, emit func(*llm.Chunk) error) (llm.Usage, error) {
	p.got = req
	for _, c := range []llm.Chunk{
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, ID: "c1", Name: "mail", Arguments: `{"to":"«EMA`}}},
		{ToolCalls: []llm.ToolCallDelta{{Index: 0, Arguments: `IL_1»"}`}}},
		{ToolCalls: []llm.ToolCallDelta{{Index: 1, ID: "c2", Name: "x", Arguments: `«EMAIL_1`}}},
		{FinishReason: llm.FinishToolCalls},
	} {
		if err := emit(&c); err != nil {
			return llm.Usage{}, err
		}
	}
	return llm.Usage{}, nil
}

func TestProviderToolArguments(t *testing.T) {
	p := Wrap(&toolProvider{})
	req := &llm.ChatRequest{Messages: []llm.Message{userMsg("I am bob@example.com")}}
	var agg llm.Aggregate
	if _, err := p.Chat(WithRedaction(context.Background()), req, func(c *llm.Chunk) error { agg.Add(c); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(agg.ToolCalls) != 2 || agg.ToolCalls[0].Arguments != `{"to":"bob@example.com"}` || agg.ToolCalls[1].Arguments != "«EMAIL_1" {
		t.Errorf("tool calls %+v", agg.ToolCalls)
	}
	if agg.FinishReason != llm.FinishToolCalls {
		t.Errorf("finish %q", agg.FinishReason)
	}
}

// BenchmarkRedactRestore is the cost of redact-for-cloud on a 4 KB prompt
// with two findings, and of restoring an answer with both placeholders.
func BenchmarkRedactRestore(b *testing.B) {
	prompt := benchPrompt()[:4000] + " bob@example.com +44 20 7946 0958"
	b.SetBytes(int64(len(prompt)))
	b.ReportAllocs()
	for b.Loop() {
		var m Mapping
		m.Redact(prompt)
		m.Restore("Mail «EMAIL_1» or call «PHONE_1».")
	}
}

// TestRedactRequestDropsPassthroughBody: a redacted request must not carry
// the client's original body, which still holds what was redacted; the
// passthrough's headers stay.
func TestRedactRequestDropsPassthroughBody(t *testing.T) {
	pt := &llm.Passthrough{Dialect: "anthropic", Body: []byte(`{"messages":[{"role":"user","content":"I am bob@example.com"}]}`),
		Headers: []llm.Header{{Name: "anthropic-beta", Value: "b"}}}
	req := &llm.ChatRequest{Model: "m", Messages: []llm.Message{userMsg("I am bob@example.com")}, Passthrough: pt}
	got, changed := new(Mapping).RedactRequest(req)
	if !changed || got.Passthrough == nil || got.Passthrough.Body != nil || len(got.Passthrough.Headers) != 1 {
		t.Fatalf("changed %v, passthrough %+v", changed, got.Passthrough)
	}
	if req.Passthrough != pt || len(pt.Body) == 0 {
		t.Error("the caller's request was modified")
	}
	clean := &llm.ChatRequest{Model: "m", Messages: []llm.Message{userMsg("nothing personal")}, Passthrough: pt}
	if got, changed := new(Mapping).RedactRequest(clean); changed || got.Passthrough != pt {
		t.Errorf("a request without personal data lost its passthrough")
	}
}
