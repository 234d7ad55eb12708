package server

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/cache"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/openai"
	"github.com/edgeway/edgeway/edge/testkit"
)

// semanticCache is a Cache whose semantic lookup waits for its context,
// standing for an embedder that is slow to answer.
type semanticCache struct {
	lookups  chan struct{}
	canceled atomic.Int64
}

func (c *semanticCache) Get(cache.Key) (*cache.Entry, bool)              { return nil, false }
func (c *semanticCache) Put(cache.Key, *cache.Entry, time.Duration)      {}
func (c *semanticCache) PutSemantic(string, *llm.ChatRequest, cache.Key) {}
func (c *semanticCache) Stats() cache.Stats                              { return cache.Stats{} }
func (c *semanticCache) GetSemantic(ctx context.Context, _ string, _ *llm.ChatRequest) (*cache.Entry, float32, bool) {
	c.lookups <- struct{}{}
	<-ctx.Done()
	if ctx.Err() == context.Canceled { // not the lookup's own timeout
		c.canceled.Add(1)
	}
	return nil, 0, false
}

// A client that hangs up during the semantic lookup cancels it: the
// request's context reaches the embedder.
func TestDisconnectCancelsSemanticLookup(t *testing.T) {
	sc := &semanticCache{lookups: make(chan struct{}, 1)}
	base := startServer(t, &fakeRouter{route: replyWords}, Options{Cache: sc, SemanticCache: true})
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	rawPost(t, conn, `{"model":"chat","temperature":0,"messages":[{"role":"user","content":"hi"}]}`)
	<-sc.lookups
	conn.Close()
	testkit.Until(t, "the lookup is canceled", func() bool { return sc.canceled.Load() == 1 })
}

// Cache hits are inside the concurrency cap: with the one slot taken, a
// request that would be a hit is shed like any other.
func TestCacheHitsCountAgainstCap(t *testing.T) {
	started := make(chan struct{}, 1)
	f := blockingRouter(started)
	c := openTestCache(t)
	const det = `{"model":"chat","temperature":0,"messages":[{"role":"user","content":"hi"}]}`
	c.Put(cache.KeyOf("", decodeOpenAI(t, det)), &cache.Entry{Model: "m", Text: "cached", FinishReason: llm.FinishStop}, time.Hour)
	testkit.Until(t, "the entry is stored", func() bool { _, ok := c.Get(cache.KeyOf("", decodeOpenAI(t, det))); return ok })

	base := startServer(t, f, Options{Cache: c, MaxConcurrency: 1})
	if resp, body := post(t, base+"/v1/chat/completions", det); resp.StatusCode != 200 || resp.Header.Get("x-edgeway-cache") != "hit" {
		t.Fatalf("with a free slot: status %d cache %q: %s", resp.StatusCode, resp.Header.Get("x-edgeway-cache"), body)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rawPost(t, conn, `{"model":"chat","messages":[{"role":"user","content":"hold the slot"}]}`)
	<-started
	if resp, body := post(t, base+"/v1/chat/completions", det); resp.StatusCode != 503 {
		t.Fatalf("with the slot taken: status %d, want 503: %s", resp.StatusCode, body)
	}
}

func decodeOpenAI(t *testing.T, body string) *llm.ChatRequest {
	t.Helper()
	req := new(llm.ChatRequest)
	if _, err := openai.DecodeChatRequest([]byte(body), req); err != nil {
		t.Fatal(err)
	}
	return req
}
