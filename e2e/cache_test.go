package e2e

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/runtime/ollama/ollamatest"
)

// TestCacheRealOllama: edgeway in front of the real Ollama with the cache
// on. The second identical request never reaches Ollama; a near-paraphrase
// is served from the semantic cache using Ollama's own embeddings of the
// tiny model; a different question is not.
//
// The tiny model's weights are random, so its embeddings carry no meaning.
// Measured on it: the vector is dominated by the last tokens ("Please say
// hello to the team" vs "Say hello to the team": cosine 0.990; "List
// three kinds of fruit": 0.37; even "say hello to the team!" only 0.19).
// So the paraphrase here keeps the ending, and the threshold is the
// default 0.95. The meaning-level quality of the semantic cache is
// measured with real word vectors in edge/cache/guard.
func TestCacheRealOllama(t *testing.T) {
	ollamatest.Require(t)
	inst := ollamatest.Start(t)
	g := startEdgeway(t, providers(ollamaProvider(inst.URL))+`
models:
  tiny: [ollama/`+inst.Model+`]
cache:
  semantic:
    enabled: true
    embedder: ollama/`+inst.Model+`
    threshold: 0.95
`)
	client := newClient(g)
	ask := func(q string) (string, *http.Response) {
		t.Helper()
		var hr *http.Response
		resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "tiny", Messages: userMsg(q), Temperature: openai.Float(0),
		}, option.WithResponseInto(&hr))
		if err != nil {
			t.Fatal(err)
		}
		// A truncated answer (finish_reason "length") is never cached; the
		// tiny model ends these prompts with its end-of-sequence token.
		if fr := resp.Choices[0].FinishReason; fr != "stop" {
			t.Fatalf("%q: finish reason %q, want stop", q, fr)
		}
		return resp.Choices[0].Message.Content, hr
	}
	first, h1 := ask("Say hello to the team")
	if h1.Header.Get("x-edgeway-cache") != "miss" || h1.Header.Get("x-edgeway-provider") != "ollama" {
		t.Fatalf("first: cache %q provider %q", h1.Header.Get("x-edgeway-cache"), h1.Header.Get("x-edgeway-provider"))
	}
	waitCache := func() { // the write is asynchronous; a real client's next question comes later
		t.Helper()
		testkit.Until(t, "the answer is cached", func() bool {
			_, h := ask("Say hello to the team")
			return h.Header.Get("x-edgeway-cache") == "hit"
		})
	}
	waitCache()
	again, h2 := ask("Say hello to the team")
	if again != first || h2.Header.Get("x-edgeway-provider") != "cache" {
		t.Errorf("hit: %q vs %q, provider %q", again, first, h2.Header.Get("x-edgeway-provider"))
	}
	// The semantic record is written in the background after the answer.
	testkit.Until(t, "the semantic record is written", func() bool {
		resp, err := http.Get(g.URL + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "edgeway_cache_semantic_entries 1")
	})
	para, h3 := ask("Please say hello to the team")
	sim, _ := strconv.ParseFloat(h3.Header.Get("x-edgeway-similarity"), 64)
	t.Logf("paraphrase: cache %q similarity %.4f", h3.Header.Get("x-edgeway-cache"), sim)
	if h3.Header.Get("x-edgeway-cache") != "semantic" || para != first || sim < 0.95 {
		t.Errorf("paraphrase not served from the semantic cache: %q, %q, sim %v", h3.Header.Get("x-edgeway-cache"), para, sim)
	}
	_, h4 := ask("List three kinds of fruit")
	if h4.Header.Get("x-edgeway-cache") != "miss" {
		t.Errorf("different question: cache %q similarity %s", h4.Header.Get("x-edgeway-cache"), h4.Header.Get("x-edgeway-similarity"))
	}
}
