package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/edge/upstream"
	"github.com/edgeway/edgeway/edge/upstream/upstreamtest"
)

func TestChatRequestWire(t *testing.T) {
	req := simpleRequest()
	req.Model = "models/gemini-2.5-flash"
	f, _, _, _ := upstreamtest.MustChat(t, frame.SSE(string(testkit.Fixture(t, "stream_text.sse"))), newTestClient, req)
	r := f.Last(t)
	if r.Method != http.MethodPost || r.Path != "/v1beta/models/gemini-2.5-flash:streamGenerateContent" || r.Query != "alt=sse" {
		t.Errorf("request = %s %s?%s", r.Method, r.Path, r.Query)
	}
	r.CheckHeaders(t, map[string]string{
		"X-Goog-Api-Key": "AIza-test", "Accept": "text/event-stream", "Content-Type": "application/json",
		"X-Title": "edgeway-test", "User-Agent": "edgeway", "Authorization": "",
	})
	if want := `{"contents":[{"role":"user","parts":[{"text":"Hello!"}]}]}`; string(r.Body) != want {
		t.Errorf("body = %s, want %s", r.Body, want)
	}
}

func TestChatBadRequestNotSent(t *testing.T) {
	f := upstreamtest.NewFake(t, frame.SSE(""))
	c := newTestClient(t, f.URL)
	for name, req := range map[string]*llm.ChatRequest{
		"bad parameters": {Model: "m", Messages: []llm.Message{user("x")}, Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":`)}}},
		"bad model":      {Model: "a/b", Messages: []llm.Message{user("x")}},
		"no model":       {Messages: []llm.Message{user("x")}},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, _, err := upstreamtest.Collect(c.Chat, req)
			if k := llm.KindOf(err); k != llm.KindBadRequest {
				t.Errorf("Kind = %v, want bad_request (%v)", k, err)
			}
			if !strings.HasPrefix(err.Error(), "fake: bad_request: chat: ") {
				t.Errorf("error %q lacks its prefix", err)
			}
		})
	}
	if n := len(f.All()); n != 0 {
		t.Errorf("%d invalid requests were sent upstream", n)
	}
}

func TestChatJSONAnswer(t *testing.T) {
	// A proxy that dropped ?alt=sse gets the JSON array form.
	body := `[{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":1,"totalTokenCount":3}}]`
	f := upstreamtest.NewFake(t, frame.JSON(200, nil, body))
	c := newTestClient(t, f.URL)
	_, agg, usage, err := upstreamtest.Collect(c.Chat, simpleRequest())
	if err != nil || agg.Text.String() != "Hi" || usage.TotalTokens != 3 || agg.FinishReason != llm.FinishStop {
		t.Errorf("err %v text %q usage %+v", err, agg.Text.String(), usage)
	}
}

func TestChatEmitErrorPassesThrough(t *testing.T) {
	upstreamtest.CheckEmitAbort(t, frame, event(`{"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"},"index":0}]}`), simpleRequest(), newTestClient)
}

// embedHandler answers batchEmbedContents with vectors [i, len(text)] for
// each request, or with fewer vectors when short is set.
func embedHandler(t *testing.T, short bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Requests []struct {
				Model   string `json:"model"`
				Content struct {
					Parts []struct {
						Text string `json:"text"`
					} `json:"parts"`
				} `json:"content"`
				OutputDimensionality *int `json:"outputDimensionality"`
			} `json:"requests"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		var out struct {
			Embeddings []map[string][]float32 `json:"embeddings"`
		}
		for i, rq := range req.Requests {
			if !short || i > 0 {
				out.Embeddings = append(out.Embeddings, map[string][]float32{"values": {float32(i), float32(len(rq.Content.Parts[0].Text))}})
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	}
}

func TestEmbed(t *testing.T) {
	t.Run("batches of MaxEmbedBatch in order", func(t *testing.T) {
		f := upstreamtest.NewFake(t, embedHandler(t, false))
		c := newTestClient(t, f.URL)
		inputs := make([]string, 2*MaxEmbedBatch+5)
		for i := range inputs {
			inputs[i] = strings.Repeat("x", i)
		}
		resp, err := c.Embed(context.Background(), &llm.EmbedRequest{Model: "gemini-embedding-001", Input: inputs, Dimensions: new(768), User: "u"})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Vectors) != len(inputs) || resp.Model != "gemini-embedding-001" {
			t.Fatalf("%d vectors, model %q", len(resp.Vectors), resp.Model)
		}
		for i, v := range resp.Vectors {
			if want := []float32{float32(i % MaxEmbedBatch), float32(i)}; !reflect.DeepEqual(v, want) {
				t.Fatalf("vector %d = %v, want %v", i, v, want)
			}
		}
		reqs := f.All()
		if len(reqs) != 3 {
			t.Fatalf("%d upstream calls, want 3", len(reqs))
		}
		r := reqs[0]
		if r.Path != "/v1beta/models/gemini-embedding-001:batchEmbedContents" || r.Header.Get("X-Goog-Api-Key") != "AIza-test" {
			t.Errorf("request %s %v", r.Path, r.Header)
		}
		var body struct {
			Requests []map[string]any `json:"requests"`
		}
		json.Unmarshal(r.Body, &body)
		if len(body.Requests) != MaxEmbedBatch || body.Requests[0]["model"] != "models/gemini-embedding-001" || body.Requests[0]["outputDimensionality"] != 768.0 {
			t.Errorf("first batch: %d requests, first %v", len(body.Requests), body.Requests[0])
		}
	})
	t.Run("wrong vector count", func(t *testing.T) {
		f := upstreamtest.NewFake(t, embedHandler(t, true))
		c := newTestClient(t, f.URL)
		_, err := c.Embed(context.Background(), &llm.EmbedRequest{Model: "e", Input: []string{"a", "b"}})
		if !errors.Is(err, llm.ErrMalformed) || llm.KindOf(err) != llm.KindServer {
			t.Errorf("error = %v", err)
		}
	})
	for name, body := range map[string]string{
		"empty vector": `{"embeddings":[{"values":[]}]}`,
		"not JSON":     `{"embeddings":`,
		"wrong types":  `{"embeddings":[{"values":["a"]}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			f := upstreamtest.NewFake(t, frame.JSON(200, nil, body))
			c := newTestClient(t, f.URL)
			if _, err := c.Embed(context.Background(), &llm.EmbedRequest{Model: "e", Input: []string{"a"}}); !errors.Is(err, llm.ErrMalformed) {
				t.Errorf("error = %v", err)
			}
		})
	}
	t.Run("upstream error", func(t *testing.T) {
		f := upstreamtest.NewFake(t, frame.JSON(404, nil, string(testkit.Fixture(t, "error_404.json"))))
		c := newTestClient(t, f.URL)
		_, err := c.Embed(context.Background(), &llm.EmbedRequest{Model: "e", Input: []string{"a"}})
		if k := llm.KindOf(err); k != llm.KindNotFound {
			t.Errorf("Kind = %v (%v)", k, err)
		}
	})
	for name, req := range map[string]*llm.EmbedRequest{
		"no input":        {Model: "e"},
		"zero dimensions": {Model: "e", Input: []string{"a"}, Dimensions: new(0)},
		"bad model":       {Model: "e:x", Input: []string{"a"}},
	} {
		t.Run(name, func(t *testing.T) {
			c := newTestClient(t, "http://127.0.0.1:1")
			if _, err := c.Embed(context.Background(), req); llm.KindOf(err) != llm.KindBadRequest {
				t.Errorf("error = %v", err)
			}
		})
	}
}

func TestModels(t *testing.T) {
	pages := map[string]string{
		"": `{"models":[
			{"name":"models/gemini-2.5-flash","supportedGenerationMethods":["generateContent","countTokens"]},
			{"name":"models/imagen-4.0-generate-001","supportedGenerationMethods":["predict"]},
			{"name":"models/legacy"}],
			"nextPageToken":"p2"}`,
		"p2": `{"models":[{"name":"models/gemini-embedding-001","supportedGenerationMethods":["embedContent"]},{"name":"models/gemini-2.5-flash"},{"name":""}]}`,
	}
	f := upstreamtest.NewFake(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, pages[r.URL.Query().Get("pageToken")])
	})
	c := newTestClient(t, f.URL)
	got, err := c.Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []llm.Model{
		{ID: "gemini-2.5-flash", Provider: "fake", OwnedBy: "google"},
		{ID: "legacy", Provider: "fake", OwnedBy: "google"},
		{ID: "gemini-embedding-001", Provider: "fake", OwnedBy: "google"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("models = %+v, want %+v", got, want)
	}
	reqs := f.All()
	if len(reqs) != 2 || reqs[0].Method != http.MethodGet || reqs[0].Path != "/v1beta/models" ||
		reqs[0].Query != "pageSize=1000" || reqs[1].Query != "pageSize=1000&pageToken=p2" {
		t.Errorf("requests = %+v", reqs)
	}
}

func TestModelsPagesBounded(t *testing.T) {
	n := 0
	f := upstreamtest.NewFake(t, func(w http.ResponseWriter, r *http.Request) {
		n++
		fmt.Fprintf(w, `{"models":[{"name":"models/m%d"}],"nextPageToken":"t%d"}`, n, n)
	})
	c := newTestClient(t, f.URL)
	got, err := c.Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != maxModelPages || len(f.All()) != maxModelPages {
		t.Errorf("%d models from %d requests, want %d", len(got), len(f.All()), maxModelPages)
	}
}

func TestModelsErrors(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"403":      frame.JSON(403, nil, string(testkit.Fixture(t, "error_403.json"))),
		"not JSON": frame.JSON(200, nil, `{"models":[`),
	} {
		t.Run(name, func(t *testing.T) {
			f := upstreamtest.NewFake(t, h)
			c := newTestClient(t, f.URL)
			if _, err := c.Models(context.Background()); err == nil {
				t.Error("Models succeeded")
			}
		})
	}
}

func TestPing(t *testing.T) {
	upstreamtest.CheckPing(t, newTestClient, nil, func(t *testing.T, r upstreamtest.Request) {
		if r.Path != "/v1beta/models" || r.Query != "pageSize=1" {
			t.Errorf("request %s?%s", r.Path, r.Query)
		}
	},
		upstreamtest.Answer{Name: "200", Handler: frame.JSON(200, nil, `{"models":[]}`)},
		upstreamtest.Answer{Name: "403 still proves the link", Handler: frame.JSON(403, nil, `{"error":{"code":403}}`)},
		upstreamtest.Answer{Name: "500 still proves the link", Handler: frame.JSON(500, nil, `oops`)},
	)
}

func TestNew(t *testing.T) {
	for _, o := range []Options{{Endpoint: upstream.Endpoint{APIKey: "k"}}, {Endpoint: upstream.Endpoint{BaseURL: "http://127.0.0.1:8080/v1beta"}}} {
		c, err := New(o)
		if err != nil || c.Name() != DefaultName {
			t.Fatalf("New(%+v) = %v", o, err)
		}
		if o.BaseURL == "" && c.up.BaseURL() != DefaultBaseURL {
			t.Errorf("base = %q", c.up.BaseURL())
		}
	}
	_, err := New(Options{Endpoint: upstream.Endpoint{Headers: map[string]string{"x-goog-api-key": "other"}}})
	if err == nil || !strings.Contains(err.Error(), `gemini: new "gemini": APIKey is required for `+DefaultBaseURL) {
		t.Errorf("error %v, want the key required", err)
	}
	_, err = New(Options{Endpoint: upstream.Endpoint{APIKey: "k", Headers: map[string]string{"x-goog-api-key": "other"}}})
	if err == nil || !strings.Contains(err.Error(), "x-goog-api-key conflicts with APIKey") {
		t.Errorf("error %v, want the key header conflict", err)
	}
}
