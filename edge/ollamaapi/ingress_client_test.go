package ollamaapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ollama/ollama/api"
	"github.com/ollama/ollama/types/model"

	"github.com/edgeway/edgeway/edge/internal/ingress"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
)

// These tests read the encoders' output with the wire types of
// github.com/ollama/ollama/api, and drive a test server built on the
// decoders and encoders with Ollama's own Go client: what they accept is
// what Ollama's clients read.

// ndjsonLines splits an NDJSON body into its lines.
func ndjsonLines(t *testing.T, b []byte) [][]byte {
	t.Helper()
	checkNDJSON(t, b)
	return bytes.Split(b[:len(b)-1], []byte("\n"))
}

func TestChatOutputReadsAsOllamaTypes(t *testing.T) {
	var (
		content, thinking strings.Builder
		last              api.ChatResponse
	)
	lines := ndjsonLines(t, testkit.Fixture(t, "chat_stream.ndjson"))
	for i, b := range lines {
		var r api.ChatResponse
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if r.Model != "llama3.2" || r.Message.Role != "assistant" || r.CreatedAt.IsZero() || r.CreatedAt.Location() != time.UTC {
			t.Errorf("line %d: %+v", i, r)
		}
		if r.Done != (i == len(lines)-1) {
			t.Errorf("line %d: done = %v", i, r.Done)
		}
		content.WriteString(r.Message.Content)
		thinking.WriteString(r.Message.Thinking)
		last = r
	}
	if got := content.String(); got != "The sky is \"blue\" because of\nRayleigh scattering." {
		t.Errorf("content = %q", got)
	}
	if thinking.String() != "Rayleigh scattering." {
		t.Errorf("thinking = %q", thinking.String())
	}
	m := last.Metrics
	if last.DoneReason != "stop" || m.PromptEvalCount != 26 || m.EvalCount != 5 || m.TotalDuration != 370*time.Millisecond ||
		m.PromptEvalDuration != 250*time.Millisecond || m.EvalDuration != 120*time.Millisecond || m.LoadDuration != 0 {
		t.Errorf("final = %+v", last)
	}

	var whole api.ChatResponse
	if err := json.Unmarshal(testkit.Fixture(t, "chat_whole_tools.json"), &whole); err != nil {
		t.Fatal(err)
	}
	calls := whole.Message.ToolCalls
	if !whole.Done || len(calls) != 3 {
		t.Fatalf("whole = %+v", whole)
	}
	city, _ := calls[0].Function.Arguments.Get("city")
	tz, _ := calls[1].Function.Arguments.Get("tz")
	if calls[0].ID != "call_a1" || calls[0].Function.Name != "get_weather" || city != "Paris" ||
		calls[1].Function.Index != 1 || tz != "Europe/Paris" || calls[2].Function.Name != "ping" || calls[2].Function.Arguments.Len() != 0 {
		t.Errorf("tool calls = %+v", calls)
	}

	var load api.ChatResponse
	if err := json.Unmarshal(testkit.Fixture(t, "chat_load.json"), &load); err != nil || !load.Done || load.DoneReason != "load" {
		t.Errorf("load = %+v, %v", load, err)
	}
}

func TestGenerateOutputReadsAsOllamaTypes(t *testing.T) {
	var text strings.Builder
	var last api.GenerateResponse
	for i, b := range ndjsonLines(t, testkit.Fixture(t, "generate_stream.ndjson")) {
		var r api.GenerateResponse
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		text.WriteString(r.Response)
		last = r
	}
	if text.String() != "The sky is \"blue\" because of\nRayleigh scattering." || !last.Done || last.Context != nil || last.EvalCount != 5 {
		t.Errorf("text %q, final %+v", text.String(), last)
	}
	var whole api.GenerateResponse
	if err := json.Unmarshal(testkit.Fixture(t, "generate_whole.json"), &whole); err != nil {
		t.Fatal(err)
	}
	if whole.Response != text.String() || whole.Thinking != "Rayleigh scattering." || whole.DoneReason != "stop" {
		t.Errorf("whole = %+v", whole)
	}
}

func TestModelOutputReadsAsOllamaTypes(t *testing.T) {
	var list api.ListResponse
	if err := json.Unmarshal(testkit.Fixture(t, "tags.json"), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Models) != 2 {
		t.Fatalf("models = %+v", list.Models)
	}
	m := list.Models[0]
	if m.Name != "ollama/llama3.2:1b" || m.Model != m.Name || len(m.Digest) < 12 ||
		!m.ModifiedAt.Equal(time.Date(2025, 5, 10, 15, 6, 48, 639712648, time.UTC)) {
		t.Errorf("model = %+v", m)
	}
	// `ollama list` shows a zero time as "Never".
	if !list.Models[1].ModifiedAt.IsZero() || list.Models[1].Digest == m.Digest {
		t.Errorf("second model = %+v", list.Models[1])
	}

	var show api.ShowResponse
	if err := json.Unmarshal(testkit.Fixture(t, "show.json"), &show); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(show.Capabilities, model.CapabilityCompletion) || show.ModelInfo == nil || show.RemoteHost != "" ||
		!strings.Contains(show.Modelfile, "FROM ollama/llama3.2:1b") {
		t.Errorf("show = %+v", show)
	}

	var emb api.EmbedResponse
	r := &llm.EmbedResponse{Vectors: [][]float32{{0.25, -1}, {3e-8}}, Usage: llm.Usage{PromptTokens: 8}}
	if err := json.Unmarshal(AppendEmbedResponse(nil, "all-minilm", r), &emb); err != nil {
		t.Fatal(err)
	}
	if emb.Model != "all-minilm" || len(emb.Embeddings) != 2 || emb.Embeddings[0][1] != -1 || emb.Embeddings[1][0] != 3e-8 || emb.PromptEvalCount != 8 {
		t.Errorf("embed = %+v", emb)
	}
	var legacy api.EmbeddingResponse
	if err := json.Unmarshal(AppendLegacyEmbeddingsResponse(nil, r), &legacy); err != nil || len(legacy.Embedding) != 2 || legacy.Embedding[0] != 0.25 {
		t.Errorf("legacy = %+v, %v", legacy, err)
	}
}

// fakeOllama is an Ollama server made of this package and a scripted
// upstream, for the official client to talk to.
type fakeOllama struct {
	mu   sync.Mutex
	last llm.ChatRequest // the last chat or generate request decoded
}

func (f *fakeOllama) lastRequest() llm.ChatRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// decodeEmbed decodes r's body with decode, answering a refusal itself;
// it reports whether there is a request to serve.
func readEmbed(w http.ResponseWriter, r *http.Request, decode func([]byte, *llm.EmbedRequest) error) (llm.EmbedRequest, bool) {
	body, _ := io.ReadAll(r.Body)
	var req llm.EmbedRequest
	if err := decode(body, &req); err != nil {
		writeRequestError(w, err)
		return req, false
	}
	return req, true
}

func writeRequestError(w http.ResponseWriter, err error) {
	var re *ingress.Error
	if !errors.As(err, &re) {
		// Fails the test through the client, which sees a 500.
		re = &ingress.Error{Status: 500, Message: "not an *ingress.Error: " + err.Error()}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(re.Status)
	w.Write(AppendError(nil, re.Message))
}

// script picks the upstream's answer: tool calls when tools are offered,
// a stream that breaks when the last message says "fail", text otherwise.
func script(req *llm.ChatRequest) (chunks []llm.Chunk, u llm.Usage, fail bool) {
	if len(req.Tools) > 0 {
		return toolStream, toolUsage, false
	}
	last := req.Messages[len(req.Messages)-1].Text()
	return textStream, textUsage, last == "fail"
}

// serve answers a chat or generate request with enc.
func (f *fakeOllama) serve(w http.ResponseWriter, r *http.Request, decode func([]byte, *llm.ChatRequest) (bool, error), enc interface {
	Reset(string, time.Time)
	Chunk([]byte, *llm.Chunk) []byte
	End([]byte, llm.Usage, llm.FinishReason) []byte
	Whole([]byte, *llm.Aggregate) []byte
	Load([]byte) []byte
}) {
	body, _ := io.ReadAll(r.Body)
	var req llm.ChatRequest
	stream, err := decode(body, &req)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	f.mu.Lock()
	f.last = req
	f.mu.Unlock()
	enc.Reset(req.Model, time.Now())
	if len(req.Messages) == 0 {
		w.Write(enc.Load(nil))
		return
	}
	chunks, usage, fail := script(&req)
	if !stream {
		w.Write(enc.Whole(nil, aggregate(chunks, usage)))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	for i := range chunks {
		w.Write(enc.Chunk(nil, &chunks[i]))
		w.(http.Flusher).Flush()
		if fail && i == 2 {
			w.Write(AppendStreamError(nil, "upstream went away"))
			return
		}
	}
	w.Write(enc.End(nil, usage, llm.FinishStop))
}

func (f *fakeOllama) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/chat", func(w http.ResponseWriter, r *http.Request) {
		f.serve(w, r, DecodeChatRequest, &ChatEncoder{})
	})
	mux.HandleFunc("POST /api/generate", func(w http.ResponseWriter, r *http.Request) {
		f.serve(w, r, DecodeGenerateRequest, &GenerateEncoder{})
	})
	mux.HandleFunc("POST /api/embed", func(w http.ResponseWriter, r *http.Request) {
		req, ok := readEmbed(w, r, DecodeEmbedRequest)
		if !ok {
			return
		}
		resp := &llm.EmbedResponse{Usage: llm.Usage{PromptTokens: 3 * len(req.Input)}}
		for i := range req.Input {
			resp.Vectors = append(resp.Vectors, []float32{float32(i), 0.5})
		}
		w.Write(AppendEmbedResponse(nil, req.Model, resp))
	})
	mux.HandleFunc("POST /api/embeddings", func(w http.ResponseWriter, r *http.Request) {
		req, ok := readEmbed(w, r, DecodeLegacyEmbeddingsRequest)
		if !ok {
			return
		}
		resp := &llm.EmbedResponse{}
		if len(req.Input) > 0 {
			resp.Vectors = [][]float32{{0.25, 0.75}}
		}
		w.Write(AppendLegacyEmbeddingsResponse(nil, resp))
	})
	mux.HandleFunc("GET /api/tags", func(w http.ResponseWriter, r *http.Request) {
		w.Write(AppendTags(nil, []llm.Model{{ID: "local", Provider: "ollama"}, {ID: "openai/gpt-4o-mini", Provider: "openai"}}))
	})
	mux.HandleFunc("POST /api/show", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		name, err := DecodeShowRequest(body)
		if err != nil {
			writeRequestError(w, err)
			return
		}
		w.Write(AppendShow(nil, llm.Model{ID: name}))
	})
	mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, r *http.Request) {
		w.Write(AppendVersion(nil, "0.17.4-edgeway"))
	})
	return mux
}

func newOfficialClient(t *testing.T) (*api.Client, *fakeOllama) {
	t.Helper()
	f := &fakeOllama{}
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return api.NewClient(u, srv.Client()), f
}

func TestOfficialClient(t *testing.T) {
	t.Setenv("OLLAMA_AUTH", "")
	client, fake := newOfficialClient(t)
	ctx := context.Background()
	png, _ := base64.StdEncoding.DecodeString(pngB64)
	noStream := false

	t.Run("chat stream", func(t *testing.T) {
		var content, thinking strings.Builder
		var final api.ChatResponse
		n := 0
		err := client.Chat(ctx, &api.ChatRequest{
			Model:    "llava",
			Messages: []api.Message{{Role: "user", Content: "what is this?", Images: []api.ImageData{png}}},
			Format:   json.RawMessage(`"json"`),
			Options:  map[string]any{"temperature": 0.2, "top_k": 10, "num_predict": 64, "seed": 7, "num_ctx": 2048},
			Think:    &api.ThinkValue{Value: "low"},
		}, func(r api.ChatResponse) error {
			content.WriteString(r.Message.Content)
			thinking.WriteString(r.Message.Thinking)
			final = r
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != 5 || content.String() != "The sky is \"blue\" because of\nRayleigh scattering." || thinking.String() != "Rayleigh scattering." {
			t.Errorf("%d responses, content %q, thinking %q", n, content.String(), thinking.String())
		}
		if !final.Done || final.DoneReason != "stop" || final.PromptEvalCount != 26 || final.EvalCount != 5 || final.TotalDuration <= 0 {
			t.Errorf("final = %+v", final)
		}
		req := fake.lastRequest()
		m := req.Messages[0]
		if !req.Stream || len(m.Content) != 2 || m.Content[1] != image("image/png", pngB64) ||
			req.ResponseFormat == nil || req.ResponseFormat.Type != "json_object" ||
			*req.Temperature != 0.2 || *req.TopK != 10 || *req.MaxTokens != 64 || *req.Seed != 7 {
			t.Errorf("the request arrived as %+v", req)
		}
	})

	t.Run("chat with tools, not streaming", func(t *testing.T) {
		var got []api.ChatResponse
		args := api.NewToolCallFunctionArguments()
		args.Set("city", "Toronto")
		err := client.Chat(ctx, &api.ChatRequest{
			Model: "llama3.2",
			Messages: []api.Message{
				{Role: "user", Content: "weather in Toronto?"},
				{Role: "assistant", ToolCalls: []api.ToolCall{{Function: api.ToolCallFunction{Name: "get_weather", Arguments: args}}}},
				{Role: "tool", ToolName: "get_weather", Content: "11 degrees"},
			},
			Tools:  api.Tools{{Type: "function", Function: api.ToolFunction{Name: "get_weather", Parameters: api.ToolFunctionParameters{Type: "object"}}}},
			Stream: &noStream,
		}, func(r api.ChatResponse) error {
			got = append(got, r)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || len(got[0].Message.ToolCalls) != 3 {
			t.Fatalf("responses = %+v", got)
		}
		city, _ := got[0].Message.ToolCalls[0].Function.Arguments.Get("city")
		if city != "Paris" || got[0].Message.ToolCalls[1].Function.Name != "get_time" {
			t.Errorf("tool calls = %+v", got[0].Message.ToolCalls)
		}
		req := fake.lastRequest()
		if req.Stream || req.Messages[1].ToolCalls[0].Arguments != `{"city":"Toronto"}` ||
			req.Messages[2].ToolCallID != req.Messages[1].ToolCalls[0].ID || req.Messages[2].Name != "get_weather" {
			t.Errorf("the request arrived as %+v", req)
		}
	})

	t.Run("chat load", func(t *testing.T) {
		var got api.ChatResponse
		if err := client.Chat(ctx, &api.ChatRequest{Model: "llama3.2"}, func(r api.ChatResponse) error { got = r; return nil }); err != nil {
			t.Fatal(err)
		}
		if !got.Done || got.DoneReason != "load" {
			t.Errorf("got %+v", got)
		}
	})

	t.Run("bad request", func(t *testing.T) {
		err := client.Chat(ctx, &api.ChatRequest{
			Model:    "llava",
			Messages: []api.Message{{Role: "user", Content: "x", Images: []api.ImageData{[]byte("GIF00 not an image")}}},
		}, func(api.ChatResponse) error { return nil })
		var se api.StatusError
		if !errors.As(err, &se) || se.StatusCode != 400 || se.ErrorMessage != "messages[0].images[0] is not a PNG, JPEG, GIF or WebP image" {
			t.Errorf("err = %#v", err)
		}
	})

	t.Run("error mid-stream", func(t *testing.T) {
		n := 0
		err := client.Chat(ctx, &api.ChatRequest{Model: "m", Messages: []api.Message{{Role: "user", Content: "fail"}}},
			func(api.ChatResponse) error { n++; return nil })
		if err == nil || err.Error() != "upstream went away" || n == 0 {
			t.Errorf("err = %v after %d responses", err, n)
		}
	})

	t.Run("generate", func(t *testing.T) {
		var text strings.Builder
		err := client.Generate(ctx, &api.GenerateRequest{Model: "llama3.2", Prompt: "why?", System: "be brief"},
			func(r api.GenerateResponse) error { text.WriteString(r.Response); return nil })
		if err != nil || text.String() != "The sky is \"blue\" because of\nRayleigh scattering." {
			t.Errorf("text %q, err %v", text.String(), err)
		}
		req := fake.lastRequest()
		if len(req.Messages) != 2 || req.Messages[0].Role != llm.RoleSystem || req.Messages[1].Text() != "why?" {
			t.Errorf("the request arrived as %+v", req.Messages)
		}
		var whole []api.GenerateResponse
		err = client.Generate(ctx, &api.GenerateRequest{Model: "llama3.2", Prompt: "why?", Stream: &noStream},
			func(r api.GenerateResponse) error { whole = append(whole, r); return nil })
		if err != nil || len(whole) != 1 || whole[0].Response != text.String() || !whole[0].Done {
			t.Errorf("whole = %+v, %v", whole, err)
		}
	})

	t.Run("generate load, as ollama run does", func(t *testing.T) {
		var got api.GenerateResponse
		err := client.Generate(ctx, &api.GenerateRequest{Model: "llama3.2", KeepAlive: &api.Duration{Duration: 5 * time.Minute}},
			func(r api.GenerateResponse) error { got = r; return nil })
		if err != nil || got.DoneReason != "load" {
			t.Errorf("got %+v, %v", got, err)
		}
	})

	t.Run("generate suffix", func(t *testing.T) {
		err := client.Generate(ctx, &api.GenerateRequest{Model: "codellama:code", Prompt: "def f():", Suffix: "return x"},
			func(api.GenerateResponse) error { return nil })
		var se api.StatusError
		if !errors.As(err, &se) || se.StatusCode != 400 || !strings.HasPrefix(se.ErrorMessage, "suffix is not supported") {
			t.Errorf("err = %#v", err)
		}
	})

	t.Run("embed", func(t *testing.T) {
		resp, err := client.Embed(ctx, &api.EmbedRequest{Model: "all-minilm", Input: []string{"a", "b"}, Dimensions: 2})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Model != "all-minilm" || len(resp.Embeddings) != 2 || resp.Embeddings[1][0] != 1 || resp.PromptEvalCount != 6 {
			t.Errorf("resp = %+v", resp)
		}
		one, err := client.Embed(ctx, &api.EmbedRequest{Model: "all-minilm", Input: "a"})
		if err != nil || len(one.Embeddings) != 1 {
			t.Errorf("one = %+v, %v", one, err)
		}
		legacy, err := client.Embeddings(ctx, &api.EmbeddingRequest{Model: "all-minilm", Prompt: "a"})
		if err != nil || len(legacy.Embedding) != 2 || legacy.Embedding[1] != 0.75 {
			t.Errorf("legacy = %+v, %v", legacy, err)
		}
	})

	t.Run("list, show, version", func(t *testing.T) {
		list, err := client.List(ctx)
		if err != nil || len(list.Models) != 2 || list.Models[1].Name != "openai/gpt-4o-mini" || len(list.Models[0].Digest) < 12 {
			t.Fatalf("list = %+v, %v", list, err)
		}
		// ollama run still asks by the deprecated name.
		show, err := client.Show(ctx, &api.ShowRequest{Name: "openai/gpt-4o-mini"})
		if err != nil || !slices.Contains(show.Capabilities, model.CapabilityCompletion) || !strings.Contains(show.Modelfile, "openai/gpt-4o-mini") {
			t.Errorf("show = %+v, %v", show, err)
		}
		v, err := client.Version(ctx)
		if err != nil || v != "0.17.4-edgeway" {
			t.Errorf("version = %q, %v", v, err)
		}
	})
}
