package cache

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/edge/llm"
)

func semCache(t *testing.T, emb *bowEmbedder, mod func(*Options)) (*Cache, *bbolt.DB) {
	t.Helper()
	o := Options{Semantic: &SemanticOptions{Embedder: emb, EmbedModel: "bow"}}
	if mod != nil {
		mod(&o)
	}
	return newCache(t, o)
}

// store puts an answer for req exactly and semantically, and waits for
// both to be committed.
func store(t *testing.T, c *Cache, ns string, req *llm.ChatRequest, text string) Key {
	t.Helper()
	key := KeyOf(ns, req)
	c.Put(key, &Entry{Namespace: ns, RequestModel: req.Model, Text: text, FinishReason: llm.FinishStop}, 0)
	c.PutSemantic(ns, req, key)
	flush(t, c)
	return key
}

func TestSemanticLookup(t *testing.T) {
	emb := &bowEmbedder{dim: 256}
	c, _ := semCache(t, emb, nil)
	store(t, c, "", chat("m", "What is the capital of France?"), "Paris.")
	if n := c.Stats().SemanticEntries; n != 1 {
		t.Fatalf("SemanticEntries = %d, want 1", n)
	}
	tests := []struct {
		name string
		ns   string
		req  *llm.ChatRequest
		hit  bool
		// embeds: whether the lookup had to call the embedder at all.
		embeds bool
	}{
		{"same words reordered", "", chat("m", "the capital of France is what?"), true, true},
		{"case and punctuation", "", chat("m", "what is the capital of france"), true, true},
		{"unrelated", "", chat("m", "How do I bake sourdough bread at home?"), false, true},
		{"other namespace", "team-b", chat("m", "What is the capital of France?"), false, false},
		{"other model", "", chat("m2", "What is the capital of France?"), false, false},
		{"other sampling", "", func() *llm.ChatRequest {
			r := chat("m", "What is the capital of France?")
			r.MaxTokens = new(5)
			return r
		}(), false, false},
		{"other system prompt", "", func() *llm.ChatRequest {
			r := chat("m", "What is the capital of France?")
			r.Messages[0].Content[0].Text = "Answer in French."
			return r
		}(), false, false},
		{"with tools", "", func() *llm.ChatRequest {
			r := chat("m", "What is the capital of France?")
			r.Tools = []llm.Tool{{Name: "search"}}
			return r
		}(), false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := emb.calls.Load()
			e, sim, ok := c.GetSemantic(context.Background(), tc.ns, tc.req)
			if ok != tc.hit {
				t.Fatalf("hit = %v (similarity %v), want %v", ok, sim, tc.hit)
			}
			if ok && (e.Text != "Paris." || sim < DefaultThreshold || sim > 1.0001) {
				t.Errorf("hit %q with similarity %v", e.Text, sim)
			}
			if called := emb.calls.Load() != before; called != tc.embeds {
				t.Errorf("embedder called = %v, want %v", called, tc.embeds)
			}
		})
	}
}

func TestSemanticMultiTurn(t *testing.T) {
	emb := &bowEmbedder{dim: 256}
	c, _ := semCache(t, emb, nil)
	store(t, c, "", chat("m", "Tell me a joke about cats.", "Why did the cat sit on the computer? To keep an eye on the mouse.", "Another one please."), "joke 2")
	tests := []struct {
		name string
		req  *llm.ChatRequest
		hit  bool
	}{
		{"same conversation, same words", chat("m", "Tell me a joke about cats.", "Why did the cat sit on the computer? To keep an eye on the mouse.", "please, another one"), true},
		{"other conversation, same last turn", chat("m", "Tell me a joke about dogs.", "What do you call a dog magician? A labracadabrador.", "Another one please."), false},
		{"other assistant answer", chat("m", "Tell me a joke about cats.", "Cats are not funny.", "Another one please."), false},
		{"last turn alone", chat("m", "Another one please."), false},
		{"longer conversation", chat("m", "Tell me a joke about cats.", "Why did the cat sit on the computer? To keep an eye on the mouse.", "Another one please.", "joke 2", "Another one please."), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, sim, ok := c.GetSemantic(context.Background(), "", tc.req); ok != tc.hit {
				t.Errorf("hit = %v (similarity %v), want %v", ok, sim, tc.hit)
			}
		})
	}
}

func TestSemanticEligibility(t *testing.T) {
	emb := &bowEmbedder{dim: 256}
	c, _ := semCache(t, emb, nil)
	image := chat("m", "What is in this picture?")
	image.Messages[1].Content = append(image.Messages[1].Content, llm.Part{Type: llm.PartImage, ImageURL: "data:image/png;base64,AA"})
	afterTool := chat("m", "Look it up.")
	afterTool.Messages = append(afterTool.Messages, llm.Message{Role: llm.RoleTool, ToolCallID: "c1", Content: []llm.Part{{Text: "42"}}})
	tests := []struct {
		name string
		req  *llm.ChatRequest
	}{
		{"image in last turn", image},
		{"ends with a tool result", afterTool},
		{"ends with the assistant", chat("m", "Hi", "Hello!")},
		{"last turn too long", chat("m", strings.Repeat("word ", maxSemanticText/5+1))},
		{"no messages", &llm.ChatRequest{Model: "m"}},
		{"empty text", chat("m", "")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store(t, c, "", tc.req, "x")
			if _, _, ok := c.GetSemantic(context.Background(), "", tc.req); ok {
				t.Error("semantic hit on an ineligible request")
			}
			if n := c.Stats().SemanticEntries; n != 0 {
				t.Errorf("SemanticEntries = %d, want 0", n)
			}
		})
	}
	if n := emb.calls.Load(); n != 0 {
		t.Errorf("embedder called %d times for ineligible requests", n)
	}
}

// capitalGuard refuses a match when the capitalised words differ, a crude
// stand-in for edge/cache/guard.
func capitalGuard(a, b string) (bool, string) {
	caps := func(s string) string {
		var out []string
		for _, w := range strings.Fields(s) {
			if r := []rune(w); len(r) > 0 && unicode.IsUpper(r[0]) {
				out = append(out, strings.TrimRight(w, "?.!,"))
			}
		}
		return strings.Join(out, " ")
	}
	if caps(a) != caps(b) {
		return false, "entities differ"
	}
	return true, ""
}

func TestSemanticGuard(t *testing.T) {
	// At a loose threshold the bag of words finds France and Spain close
	// (5 of 6 words shared); the guard must stop that hit.
	for _, tc := range []struct {
		name   string
		guard  func(a, b string) (bool, string)
		hit    bool
		refuse uint64
	}{
		{"without guard the near miss is served", nil, true, 0},
		{"guard refuses it", capitalGuard, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := semCache(t, &bowEmbedder{dim: 256}, func(o *Options) {
				o.Semantic.Threshold = 0.8
				o.Semantic.Guard = tc.guard
			})
			store(t, c, "", chat("m", "What is the capital of France?"), "Paris.")
			_, sim, ok := c.GetSemantic(context.Background(), "", chat("m", "What is the capital of Spain?"))
			if ok != tc.hit {
				t.Errorf("hit = %v (similarity %v), want %v", ok, sim, tc.hit)
			}
			if got := c.Stats().GuardRefusals; got != tc.refuse {
				t.Errorf("GuardRefusals = %d, want %d", got, tc.refuse)
			}
			// A paraphrase with the same entity still passes the guard.
			if _, _, ok := c.GetSemantic(context.Background(), "", chat("m", "What the capital of France is?")); !ok {
				t.Error("paraphrase refused")
			}
		})
	}
}

func TestSemanticSlowEmbedder(t *testing.T) {
	emb := &bowEmbedder{dim: 256}
	c, _ := semCache(t, emb, func(o *Options) { o.Semantic.EmbedTimeout = 50 * time.Millisecond })
	store(t, c, "", chat("m", "What is the capital of France?"), "Paris.")

	emb.delay.Store(int64(2 * time.Second))
	start := time.Now()
	_, _, ok := c.GetSemantic(context.Background(), "", chat("m", "capital of France, what is it?"))
	if d := time.Since(start); d > time.Second {
		t.Errorf("lookup took %v with a 50ms embed timeout", d)
	}
	if ok || c.Stats().EmbedErrors == 0 {
		t.Errorf("hit = %v, EmbedErrors = %d; want a counted miss", ok, c.Stats().EmbedErrors)
	}

	emb.delay.Store(0)
	emb.fail.Store(true)
	if _, _, ok := c.GetSemantic(context.Background(), "", chat("m", "France: capital is what?")); ok {
		t.Error("hit with a failing embedder")
	}
}

func TestSemanticPersistence(t *testing.T) {
	emb := &bowEmbedder{dim: 256}
	path := filepath.Join(t.TempDir(), "edgeway.db")
	open := func(max int) (*Cache, *bbolt.DB) {
		db := openDB(t, path)
		c, err := Open(db, Options{Semantic: &SemanticOptions{Embedder: emb, EmbedModel: "bow", MaxEntries: max}})
		if err != nil {
			t.Fatal(err)
		}
		return c, db
	}
	c, db := open(10)
	for i := range 5 {
		store(t, c, "", chat("m", "question number "+strconv.Itoa(i)+" about topic "+strconv.Itoa(i*7)), "a"+strconv.Itoa(i))
	}
	c.Close()
	db.Close()

	c, db = open(10)
	if n := c.Stats().SemanticEntries; n != 5 {
		t.Fatalf("SemanticEntries after restart = %d, want 5", n)
	}
	if e, _, ok := c.GetSemantic(context.Background(), "", chat("m", "about topic 14, question number 2")); !ok || e.Text != "a2" {
		t.Fatalf("after restart: %v %v", e, ok)
	}
	c.Close()
	db.Close()

	// Reopened with a smaller bound: only the newest stay, in memory and
	// in the file.
	c, db = open(3)
	defer db.Close()
	defer c.Close()
	if n := c.Stats().SemanticEntries; n != 3 {
		t.Fatalf("SemanticEntries with MaxEntries 3 = %d", n)
	}
	if _, _, ok := c.GetSemantic(context.Background(), "", chat("m", "question number 0 about topic 0")); ok {
		t.Error("oldest record survived the smaller bound")
	}
	if _, _, ok := c.GetSemantic(context.Background(), "", chat("m", "question number 4 about topic 28")); !ok {
		t.Error("newest record lost")
	}
	flush(t, c)
	db.View(func(tx *bbolt.Tx) error {
		b, _ := openBuckets(tx)
		if n := b.semIdx.Stats().KeyN; n != 3 {
			t.Errorf("semidx holds %d records, want 3", n)
		}
		return nil
	})
	checkRows(t, db)
}

func TestSemanticMaxEntries(t *testing.T) {
	c, db := semCache(t, &bowEmbedder{dim: 256}, func(o *Options) { o.Semantic.MaxEntries = 4 })
	for i := range 10 {
		store(t, c, "", chat("m", "distinct question "+strconv.Itoa(i)+" zz"+strconv.Itoa(i)), "a")
	}
	flush(t, c)
	if n := c.Stats().SemanticEntries; n != 4 {
		t.Errorf("SemanticEntries = %d, want 4", n)
	}
	if _, _, ok := c.GetSemantic(context.Background(), "", chat("m", "distinct question 9 zz9")); !ok {
		t.Error("newest entry evicted")
	}
	if _, _, ok := c.GetSemantic(context.Background(), "", chat("m", "distinct question 0 zz0")); ok {
		t.Error("oldest entry kept")
	}
	checkRows(t, db)
}

func TestSemanticFollowsEntry(t *testing.T) {
	// Deleting an entry (purge, expiry, eviction) deletes its semantic
	// record and vector.
	clk := newClock()
	c, db := semCache(t, &bowEmbedder{dim: 256}, func(o *Options) { o.Now = clk.Now })
	store(t, c, "a", chat("m", "What is the capital of France?"), "Paris.")
	store(t, c, "b", chat("m", "What is the capital of Italy?"), "Rome.")
	if n, err := c.Purge("a", ""); n != 1 || err != nil {
		t.Fatalf("Purge = %d, %v", n, err)
	}
	if n := c.Stats().SemanticEntries; n != 1 {
		t.Errorf("SemanticEntries after purge = %d, want 1", n)
	}
	clk.Advance(DefaultTTL + time.Second)
	if _, _, ok := c.GetSemantic(context.Background(), "b", chat("m", "capital of Italy: what is it")); ok {
		t.Error("expired entry served semantically")
	}
	sweepNow(t, c)
	if s := c.Stats(); s.SemanticEntries != 0 || s.Entries != 0 || s.Bytes != 0 {
		t.Errorf("after expiry: %+v", s)
	}
	checkEmpty(t, db)

	// A semantic record never outlives or predates its entry.
	req := chat("m", "orphan?")
	c.PutSemantic("", req, KeyOf("", req))
	flush(t, c)
	if n := c.Stats().SemanticEntries; n != 0 {
		t.Errorf("record stored without its entry: SemanticEntries = %d", n)
	}
}

func TestSemanticDropOnFull(t *testing.T) {
	emb := &bowEmbedder{dim: 64}
	emb.delay.Store(int64(200 * time.Millisecond))
	c, _ := semCache(t, emb, func(o *Options) { o.WriteQueue = 2 })
	start := time.Now()
	for i := range 20 {
		r := chat("m", "q"+strconv.Itoa(i))
		c.PutSemantic("", r, KeyOf("", r))
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("PutSemantic blocked for %v", d)
	}
	if c.Stats().Dropped == 0 {
		t.Error("no drops with a slow embedder and a queue of 2")
	}
}
