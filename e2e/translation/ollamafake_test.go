package translation

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ollama/ollama/api"
)

// ollamaFake is a minimal Ollama server for the matrix: POST /api/chat
// records the body and answers an NDJSON stream shaped like Ollama 0.17.4's
// (see runtime/ollama/testdata/chat_stream.ndjson and chat_tools.ndjson).
// Ollama sends a tool call whole in one line, with its arguments as an
// object, so the tool scenario cannot split the arguments.
type ollamaFake struct {
	srv *httptest.Server
	sc  scenario

	mu   sync.Mutex
	last []byte
}

// maxFakeBody bounds a request body the fake reads.
const maxFakeBody = 8 << 20

func newOllamaFake(t *testing.T, sc scenario) *ollamaFake {
	t.Helper()
	f := &ollamaFake{sc: sc}
	// httptest listens on 127.0.0.1:0.
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *ollamaFake) url() string { return f.srv.URL }

func (f *ollamaFake) lastBody() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]byte(nil), f.last...)
}

func (f *ollamaFake) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/chat" {
		http.Error(w, `{"error":"404 page not found"}`, http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxFakeBody))
	if err != nil {
		http.Error(w, `{"error":"read body"}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.last = body
	f.mu.Unlock()
	var req api.ChatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	prompt := 0
	for _, m := range req.Messages {
		prompt += len(strings.Fields(m.Content))
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w) // one object per line
	const created = "2026-11-25T12:00:00.000000000Z"
	line := func(m api.Message, done bool, reason string, eval int) {
		resp := api.ChatResponse{Model: req.Model, Message: m, Done: done, DoneReason: reason}
		if done {
			resp.PromptEvalCount = prompt
			resp.EvalCount = eval
			resp.TotalDuration = 1500000
			resp.LoadDuration = 100000
			resp.PromptEvalDuration = 400000
			resp.EvalDuration = 1000000
		}
		raw, _ := json.Marshal(resp)
		// created_at is a time.Time in api.ChatResponse; pin it.
		var obj map[string]json.RawMessage
		_ = json.Unmarshal(raw, &obj)
		obj["created_at"] = json.RawMessage(`"` + created + `"`)
		_ = enc.Encode(obj)
	}
	if f.sc == answerTool && len(req.Tools) > 0 {
		args := api.NewToolCallFunctionArguments()
		_ = json.Unmarshal([]byte(toolArgs), &args)
		line(api.Message{Role: "assistant", ToolCalls: []api.ToolCall{{
			ID:       "call_k2x9q0ab",
			Function: api.ToolCallFunction{Index: 0, Name: toolName, Arguments: args},
		}}}, false, "", 0)
		line(api.Message{Role: "assistant"}, true, "stop", 1)
		return
	}
	pieces := splitPieces(replyText, replyPieces)
	for _, p := range pieces {
		line(api.Message{Role: "assistant", Content: p}, false, "", 0)
	}
	line(api.Message{Role: "assistant"}, true, "stop", len(pieces))
}

// splitPieces splits s into n pieces of nearly equal length (s is ASCII).
func splitPieces(s string, n int) []string {
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, s[i*len(s)/n:(i+1)*len(s)/n])
	}
	return out
}
