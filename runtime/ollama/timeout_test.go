package ollama

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
)

// TestTimeoutHonoured: Options.Timeout (the provider's "timeout" setting)
// bounds a chat whose stream stops mid-way: the call ends as KindTimeout
// and the request is canceled upstream.
func TestTimeoutHonoured(t *testing.T) {
	left := make(chan struct{})
	f := newFake(t).on("/api/chat", reply{handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(200)
		_, _ = w.Write([]byte(`{"model":"m","message":{"role":"assistant","content":"a"},"done":false}` + "\n"))
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done()
		close(left)
	}})
	p := f.provider(t, Options{Timeout: 100 * time.Millisecond})
	req := &llm.ChatRequest{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Text: "hi"}}}}}
	_, err := p.Chat(context.Background(), req, func(*llm.Chunk) error { return nil })
	if k := llm.KindOf(err); k != llm.KindTimeout {
		t.Fatalf("err = %v (kind %v), want a timeout", err, k)
	}
	<-left // the fake saw the request end
}
