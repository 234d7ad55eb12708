package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/router"
	"github.com/edgeway/edgeway/edge/testkit"
)

// TestReplace: a stream in flight when the handlers are replaced ends on
// the old router; the next request goes to the new one; the in-flight
// count and the metrics are the listener's throughout.
func TestReplace(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	old := &fakeRouter{route: func(ctx context.Context, req *llm.ChatRequest, st *router.Status, emit func(*llm.Chunk) error) (llm.Usage, error) {
		st.Provider, st.Model = "old", "tiny"
		if err := emit(&llm.Chunk{Role: llm.RoleAssistant, Text: "from old"}); err != nil {
			return llm.Usage{}, err
		}
		close(started)
		<-release
		return llm.Usage{}, emit(&llm.Chunk{Text: ".", FinishReason: llm.FinishStop})
	}}
	next := &fakeRouter{route: func(ctx context.Context, req *llm.ChatRequest, st *router.Status, emit func(*llm.Chunk) error) (llm.Usage, error) {
		st.Provider, st.Model = "new", "tiny"
		return llm.Usage{}, emit(&llm.Chunk{Role: llm.RoleAssistant, Text: "from new", FinishReason: llm.FinishStop})
	}}
	front := New(Options{Router: old})
	ln := testkit.Listen(t)
	go front.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		front.Shutdown(ctx)
	})
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := testkit.Client(t, 0)
	chat := func(stream bool) testkit.Result {
		body := `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`
		if stream {
			body = `{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`
		}
		return testkit.Do(t, ctx, c, "POST", url+"/v1/chat/completions", body)
	}

	inFlight := make(chan testkit.Result, 1)
	go func() { inFlight <- chat(true) }()
	testkit.Closed(t, "the old stream started", started)

	front.Replace(New(Options{Router: next}))
	if res := chat(false); res.Status != 200 || res.Header.Get("x-edgeway-provider") != "new" {
		t.Fatalf("after Replace: status %d provider %q: %s", res.Status, res.Header.Get("x-edgeway-provider"), res.Body)
	}
	res := testkit.Do(t, ctx, c, "GET", url+"/metrics", "")
	if !strings.Contains(string(res.Body), "edgeway_in_flight 1\n") {
		t.Errorf("the old stream is not counted in flight after Replace:\n%s", res.Body)
	}
	close(release)
	old1 := <-inFlight
	if old1.Status != 200 || old1.Header.Get("x-edgeway-provider") != "old" || !strings.Contains(string(old1.Body), "[DONE]") {
		t.Errorf("in-flight stream: status %d provider %q: %s", old1.Status, old1.Header.Get("x-edgeway-provider"), old1.Body)
	}
	res = testkit.Do(t, ctx, c, "GET", url+"/metrics", "")
	if !strings.Contains(string(res.Body), "edgeway_chat_requests_total 2\n") || !strings.Contains(string(res.Body), "edgeway_in_flight 0\n") {
		t.Errorf("metrics across Replace:\n%s", res.Body)
	}
}
