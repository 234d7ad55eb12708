package cache

import (
	"context"
	"hash/fnv"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
	"go.etcd.io/bbolt"
)

func openDB(t testing.TB, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("bbolt.Open: %v", err)
	}
	return db
}

// newCache opens a cache over a fresh file in t.TempDir and closes both at
// the end of the test.
func newCache(t testing.TB, o Options) (*Cache, *bbolt.DB) {
	t.Helper()
	db := openDB(t, filepath.Join(t.TempDir(), "edgeway.db"))
	c, err := Open(db, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		db.Close()
	})
	return c, db
}

func newClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
}

func flush(t testing.TB, c *Cache) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func textMsg(role llm.Role, text string) llm.Message {
	return llm.Message{Role: role, Content: []llm.Part{{Type: llm.PartText, Text: text}}}
}

// chat builds a deterministic request: a system prompt, then turns
// alternating user/assistant, ending with the last user turn.
func chat(model string, turns ...string) *llm.ChatRequest {
	r := &llm.ChatRequest{Model: model, Temperature: new(0.0)}
	r.Messages = append(r.Messages, textMsg(llm.RoleSystem, "You are terse."))
	for i, t := range turns {
		role := llm.RoleUser
		if i%2 == 1 {
			role = llm.RoleAssistant
		}
		r.Messages = append(r.Messages, textMsg(role, t))
	}
	return r
}

func answer(text string) *Entry {
	return &Entry{RequestModel: "m", Model: "tiny", Provider: "ollama", Text: text, FinishReason: llm.FinishStop,
		Usage: llm.Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7}}
}

// bowEmbedder is a deterministic bag-of-words embedder: each lowercased
// word adds a hashed ±1 to one of dim coordinates. Texts with the same
// words embed identically whatever their order; each differing word moves
// the vector away.
type bowEmbedder struct {
	dim   int
	calls atomic.Int64
	delay atomic.Int64 // time.Duration
	fail  atomic.Bool
}

func (e *bowEmbedder) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	e.calls.Add(1)
	if d := time.Duration(e.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if e.fail.Load() {
		return nil, &llm.Error{Provider: "fake", Kind: llm.KindUnavailable}
	}
	resp := &llm.EmbedResponse{Model: req.Model}
	for _, in := range req.Input {
		v := make([]float32, e.dim)
		for _, w := range strings.FieldsFunc(strings.ToLower(in), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			h := fnv.New64a()
			h.Write([]byte(w))
			x := h.Sum64()
			if x>>63 == 0 {
				v[x%uint64(e.dim)]++
			} else {
				v[x%uint64(e.dim)]--
			}
		}
		resp.Vectors = append(resp.Vectors, v)
	}
	return resp, nil
}
