package geminitest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/gemini/geminitest"
	"github.com/edgeway/edgeway/edge/testkit"
	"github.com/edgeway/edgeway/edge/upstream/upstreamtest"
)

const (
	helloBody  = `{"contents":[{"role":"user","parts":[{"text":"Say hello to the tests"}]}],"systemInstruction":{"parts":[{"text":"Be brief."}]}}`
	helloWords = 7 // words in helloBody's text parts
	replyWords = 5 // words in DefaultReply
	toolsBody  = `{"contents":[{"role":"user","parts":[{"text":"weather?"}]}],"tools":[{"functionDeclarations":[{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}]}]}`
)

type result = testkit.Result

var newClient = testkit.Client

func do(t *testing.T, c *http.Client, method, url, body string, hdr ...string) result {
	t.Helper()
	return testkit.Do(t, context.Background(), c, method, url, body, hdr...)
}

// response is what the tests read of a GenerateContentResponse.
type response struct {
	Candidates []struct {
		Content struct {
			Role  string `json:"role"`
			Parts []struct {
				Text             *string `json:"text"`
				ThoughtSignature string  `json:"thoughtSignature"`
				FunctionCall     *struct {
					Name string          `json:"name"`
					Args json.RawMessage `json:"args"`
				} `json:"functionCall"`
			} `json:"parts"`
		} `json:"content"`
		FinishReason string `json:"finishReason"`
		Index        int    `json:"index"`
	} `json:"candidates"`
	PromptFeedback *struct {
		BlockReason string `json:"blockReason"`
	} `json:"promptFeedback"`
	UsageMetadata struct {
		PromptTokenCount     int `json:"promptTokenCount"`
		CandidatesTokenCount int `json:"candidatesTokenCount"`
		TotalTokenCount      int `json:"totalTokenCount"`
	} `json:"usageMetadata"`
	ModelVersion string `json:"modelVersion"`
	ResponseID   string `json:"responseId"`
}

type apiError struct {
	Error struct {
		Code    int              `json:"code"`
		Message string           `json:"message"`
		Status  string           `json:"status"`
		Details []map[string]any `json:"details"`
	} `json:"error"`
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %T: %v\nbody: %s", v, err, b)
	}
	return v
}

// parseSSE checks the framing exactly: "data: <payload>\r\n\r\n" events and
// nothing else, as Gemini frames them. It returns the payloads.
func parseSSE(t *testing.T, body []byte) [][]byte {
	t.Helper()
	return upstreamtest.Framing{EventSep: "\r\n\r\n"}.ParseEvents(t, body)
}

func text(r response) string {
	var b strings.Builder
	for _, c := range r.Candidates {
		for _, p := range c.Content.Parts {
			if p.Text != nil {
				b.WriteString(*p.Text)
			}
		}
	}
	return b.String()
}

func TestGenerateContent(t *testing.T) {
	s := geminitest.NewT(t, geminitest.Options{})
	c := newClient(t, 5*time.Second)
	r := do(t, c, "POST", s.URL()+"/models/gemini-2.5-flash:generateContent", helloBody)
	if r.Err != nil || r.Status != 200 {
		t.Fatalf("status %d err %v body %s", r.Status, r.Err, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	resp := decode[response](t, r.Body)
	if got := text(resp); got != geminitest.DefaultReply {
		t.Errorf("text = %q", got)
	}
	c0 := resp.Candidates[0]
	if c0.FinishReason != "STOP" || c0.Content.Role != "model" || resp.ModelVersion != "gemini-2.5-flash" || resp.ResponseID == "" {
		t.Errorf("response = %+v", resp)
	}
	if u := resp.UsageMetadata; u.PromptTokenCount != helloWords || u.CandidatesTokenCount != replyWords || u.TotalTokenCount != helloWords+replyWords {
		t.Errorf("usage = %+v", u)
	}
	if s.Requests() != 1 || string(s.LastRequest()) != helloBody {
		t.Errorf("Requests = %d, LastRequest = %s", s.Requests(), s.LastRequest())
	}
}

func TestStreamGenerateContent(t *testing.T) {
	s := geminitest.NewT(t, geminitest.Options{Reply: "one two three four"})
	c := newClient(t, 5*time.Second)
	r := do(t, c, "POST", s.URL()+"/models/gemini-2.5-flash:streamGenerateContent?alt=sse", helloBody)
	if r.Status != 200 || r.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d header %v", r.Status, r.Header)
	}
	events := parseSSE(t, r.Body)
	if len(events) != 4 {
		t.Fatalf("%d events, want 4", len(events))
	}
	var all strings.Builder
	for i, ev := range events {
		resp := decode[response](t, ev)
		all.WriteString(text(resp))
		finish := resp.Candidates[0].FinishReason
		if (finish != "") != (i == 3) || (i == 3 && finish != "STOP") {
			t.Errorf("event %d finishReason %q", i, finish)
		}
		if u := resp.UsageMetadata; u.PromptTokenCount != helloWords || u.CandidatesTokenCount != i+1 {
			t.Errorf("event %d usage %+v: want cumulative counts", i, u)
		}
	}
	if all.String() != "one two three four" {
		t.Errorf("text = %q", all.String())
	}

	t.Run("without alt=sse a JSON array", func(t *testing.T) {
		r := do(t, c, "POST", s.URL()+"/models/m:streamGenerateContent", helloBody)
		list := decode[[]response](t, r.Body)
		if len(list) != 4 || list[3].Candidates[0].FinishReason != "STOP" {
			t.Errorf("array of %d: %s", len(list), r.Body)
		}
	})
	t.Run("maxOutputTokens", func(t *testing.T) {
		r := do(t, c, "POST", s.URL()+"/models/m:streamGenerateContent?alt=sse",
			`{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"maxOutputTokens":2}}`)
		events := parseSSE(t, r.Body)
		last := decode[response](t, events[len(events)-1])
		if len(events) != 2 || last.Candidates[0].FinishReason != "MAX_TOKENS" || last.UsageMetadata.CandidatesTokenCount != 2 {
			t.Errorf("%d events, last %+v", len(events), last)
		}
	})
	t.Run("even chunks", func(t *testing.T) {
		s := geminitest.NewT(t, geminitest.Options{Reply: "abcdefgh", Chunks: 3})
		r := do(t, c, "POST", s.URL()+"/models/m:streamGenerateContent?alt=sse", helloBody)
		var got []string
		for _, ev := range parseSSE(t, r.Body) {
			got = append(got, text(decode[response](t, ev)))
		}
		if strings.Join(got, "|") != "ab|cde|fgh" {
			t.Errorf("pieces = %q", got)
		}
	})
}

func TestFunctionCall(t *testing.T) {
	s := geminitest.NewT(t, geminitest.Options{FunctionCall: &geminitest.FunctionCall{Name: "get_weather", Args: json.RawMessage(`{"city":"Paris"}`)}})
	c := newClient(t, 5*time.Second)
	r := do(t, c, "POST", s.URL()+"/models/m:streamGenerateContent?alt=sse", toolsBody)
	events := parseSSE(t, r.Body)
	if len(events) != 1 {
		t.Fatalf("%d events: %s", len(events), r.Body)
	}
	resp := decode[response](t, events[0])
	p := resp.Candidates[0].Content.Parts[0]
	if p.FunctionCall == nil || p.FunctionCall.Name != "get_weather" || string(p.FunctionCall.Args) != `{"city":"Paris"}` ||
		p.ThoughtSignature == "" || resp.Candidates[0].FinishReason != "STOP" {
		t.Errorf("response %s", events[0])
	}
	// Mode NONE or no declarations: text.
	none := strings.Replace(toolsBody, `]}]}`, `]}],"toolConfig":{"functionCallingConfig":{"mode":"NONE"}}}`, 1)
	r = do(t, c, "POST", s.URL()+"/models/m:generateContent", none)
	if got := text(decode[response](t, r.Body)); got != geminitest.DefaultReply {
		t.Errorf("mode NONE answered %s", r.Body)
	}
	r = do(t, c, "POST", s.URL()+"/models/m:generateContent", helloBody)
	if got := text(decode[response](t, r.Body)); got != geminitest.DefaultReply {
		t.Errorf("no tools answered %s", r.Body)
	}
}

func TestEmbeddings(t *testing.T) {
	s := geminitest.NewT(t, geminitest.Options{})
	c := newClient(t, 5*time.Second)
	r := do(t, c, "POST", s.URL()+"/models/gemini-embedding-001:batchEmbedContents", `{"requests":[
		{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"hello"}]}},
		{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"world"}]},"outputDimensionality":3,"taskType":"RETRIEVAL_QUERY"}]}`)
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	got := decode[struct {
		Embeddings []struct {
			Values []float32 `json:"values"`
		} `json:"embeddings"`
	}](t, r.Body)
	if len(got.Embeddings) != 2 || len(got.Embeddings[0].Values) != geminitest.DefaultEmbeddingDims || len(got.Embeddings[1].Values) != 3 {
		t.Fatalf("embeddings = %+v", got)
	}
	for i, want := range [][]float32{geminitest.Vector("hello", geminitest.DefaultEmbeddingDims), geminitest.Vector("world", 3)} {
		var norm float64
		for j, v := range got.Embeddings[i].Values {
			if v != want[j] {
				t.Errorf("vector %d differs from Vector()", i)
			}
			norm += float64(v) * float64(v)
		}
		if math.Abs(norm-1) > 1e-5 {
			t.Errorf("vector %d norm² = %v", i, norm)
		}
	}
	r = do(t, c, "POST", s.URL()+"/models/gemini-embedding-001:embedContent", `{"content":{"parts":[{"text":"hello"}]},"outputDimensionality":4}`)
	one := decode[struct {
		Embedding struct {
			Values []float32 `json:"values"`
		} `json:"embedding"`
	}](t, r.Body)
	if len(one.Embedding.Values) != 4 || s.EmbedRequests() != 2 {
		t.Errorf("embedContent = %s (%d embed requests)", r.Body, s.EmbedRequests())
	}
	// A shorter vector is the renormalised prefix of a longer one.
	long, short := geminitest.Vector("x", 16), geminitest.Vector("x", 4)
	if (long[0] > 0) != (short[0] > 0) || (long[1] > 0) != (short[1] > 0) {
		t.Error("prefix property broken")
	}
}

func TestBadRequests(t *testing.T) {
	s := geminitest.NewT(t, geminitest.Options{})
	c := newClient(t, 5*time.Second)
	many := `{"requests":[` + strings.Repeat(`{"model":"models/e","content":{"parts":[{"text":"x"}]}},`, 100) + `{"model":"models/e","content":{"parts":[{"text":"x"}]}}]}`
	tests := []struct {
		name, path, body string
		status           int
		message          string
	}{
		{"not JSON", ":generateContent", `{"contents":`, 400, "Invalid JSON payload received"},
		{"unknown field", ":generateContent", `{"contents":[{"parts":[{"text":"x"}]}],"generation_config2":{}}`, 400, `Unknown name "generation_config2"`},
		{"unknown schema key", ":generateContent", `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"object","additionalProperties":false,"properties":{"a":{"type":"string"}}}}]}]}`, 400, `Unknown name "additionalProperties"`},
		{"no contents", ":generateContent", `{}`, 400, "contents is not specified"},
		{"bad role", ":generateContent", `{"contents":[{"role":"assistant","parts":[{"text":"x"}]}]}`, 400, "valid role"},
		{"empty parts", ":generateContent", `{"contents":[{"role":"user","parts":[]}]}`, 400, "must not be empty"},
		{"two data in a part", ":generateContent", `{"contents":[{"parts":[{"text":"x","inlineData":{"mimeType":"image/png","data":"AA=="}}]}]}`, 400, "oneof field 'data'"},
		{"bad base64", ":generateContent", `{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":"!!"}}]}]}`, 400, "Base64 decoding failed"},
		{"bad signature", ":generateContent", `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"},"thoughtSignature":"?"}]}]}`, 400, "Base64 decoding failed"},
		{"args not an object", ":generateContent", `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":[1]}}]}]}`, 400, "function_call.args"},
		{"response not an object", ":generateContent", `{"contents":[{"parts":[{"functionResponse":{"name":"f","response":"x"}}]}]}`, 400, "function_response.response"},
		{"empty object parameters", ":generateContent", `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"object","properties":{}}}]}]}`, 400, "should be non-empty for OBJECT type"},
		{"bad function name", ":generateContent", `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"9 lives"}]}]}`, 400, "Invalid function name"},
		{"string format", ":generateContent", `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseMimeType":"application/json","responseSchema":{"type":"string","format":"email"}}}`, 400, "only 'enum' and 'date-time'"},
		{"schema without JSON mime", ":generateContent", `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseSchema":{"type":"string"}}}`, 400, "response_mime_type"},
		{"allowed names without ANY", ":generateContent", `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"AUTO","allowedFunctionNames":["f"]}}}`, 400, "only be set when"},
		{"undeclared allowed name", ":generateContent", `{"contents":[{"parts":[{"text":"x"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["g"]}}}`, 400, "is not declared"},
		{"bad mode", ":generateContent", `{"contents":[{"parts":[{"text":"x"}]}],"toolConfig":{"functionCallingConfig":{"mode":"auto"}}}`, 400, "function_calling_config.mode"},
		{"seed out of int32", ":generateContent", `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"seed":4294967296}}`, 400, "Invalid JSON payload"},
		{"too many stop sequences", ":generateContent", `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"stopSequences":["a","b","c","d","e","f"]}}`, 400, "at most 5"},
		{"batch too large", ":batchEmbedContents", many, 400, "at most 100 requests"},
		{"batch model mismatch", ":batchEmbedContents", `{"requests":[{"model":"models/other","content":{"parts":[{"text":"x"}]}}]}`, 400, "must be the same as the batch model"},
		{"dimensions out of range", ":embedContent", `{"content":{"parts":[{"text":"x"}]},"outputDimensionality":0}`, 400, "output_dimensionality"},
		{"unknown method", ":countTokens", `{}`, 404, "Method not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, c, "POST", s.URL()+"/models/e"+tt.path, tt.body)
			e := decode[apiError](t, r.Body)
			if r.Status != tt.status || e.Error.Code != tt.status || !strings.Contains(e.Error.Message, tt.message) {
				t.Errorf("status %d body %s; want %d with %q", r.Status, r.Body, tt.status, tt.message)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	s := geminitest.NewT(t, geminitest.Options{APIKey: "AIza-good"})
	c := newClient(t, 5*time.Second)
	url := s.URL() + "/models/m:generateContent"
	tests := []struct {
		name   string
		url    string
		hdr    []string
		status int
		want   string // status name
	}{
		{"header", url, []string{"x-goog-api-key", "AIza-good"}, 200, ""},
		{"query", url + "?key=AIza-good", nil, 200, ""},
		{"missing", url, nil, 403, "PERMISSION_DENIED"},
		{"wrong", url, []string{"x-goog-api-key", "AIza-bad"}, 400, "INVALID_ARGUMENT"},
		{"bearer is not a key", url, []string{"Authorization", "Bearer AIza-good"}, 403, "PERMISSION_DENIED"},
		{"models need it too", s.URL() + "/models", nil, 403, "PERMISSION_DENIED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, c, "POST", tt.url, helloBody, tt.hdr...)
			if strings.HasSuffix(tt.url, "/models") {
				r = do(t, c, "GET", tt.url, "", tt.hdr...)
			}
			if r.Status != tt.status {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			if tt.want != "" {
				e := decode[apiError](t, r.Body)
				if e.Error.Status != tt.want {
					t.Errorf("status name %q", e.Error.Status)
				}
				if tt.want == "INVALID_ARGUMENT" && (len(e.Error.Details) == 0 || e.Error.Details[0]["reason"] != "API_KEY_INVALID") {
					t.Errorf("details %v", e.Error.Details)
				}
			}
		})
	}
}

func TestModels(t *testing.T) {
	models := []string{"a", "b", "c-embedding", "d", "e"}
	s := geminitest.NewT(t, geminitest.Options{Models: models, RejectUnknownModels: true})
	c := newClient(t, 5*time.Second)
	var got []string
	token := ""
	for range 10 {
		u := s.URL() + "/models?pageSize=2"
		if token != "" {
			u += "&pageToken=" + token
		}
		r := do(t, c, "GET", u, "")
		page := decode[struct {
			Models []struct {
				Name    string   `json:"name"`
				Methods []string `json:"supportedGenerationMethods"`
			} `json:"models"`
			NextPageToken string `json:"nextPageToken"`
		}](t, r.Body)
		for _, m := range page.Models {
			got = append(got, m.Name)
			if strings.Contains(m.Name, "embedding") != (m.Methods[0] == "embedContent") {
				t.Errorf("%s offers %v", m.Name, m.Methods)
			}
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	if strings.Join(got, ",") != "models/a,models/b,models/c-embedding,models/d,models/e" {
		t.Errorf("models = %v", got)
	}
	if r := do(t, c, "GET", s.URL()+"/models/b", ""); r.Status != 200 || !strings.Contains(string(r.Body), `"name":"models/b"`) {
		t.Errorf("get model: %d %s", r.Status, r.Body)
	}
	if r := do(t, c, "GET", s.URL()+"/models/zz", ""); r.Status != 404 {
		t.Errorf("unknown model: %d", r.Status)
	}
	if r := do(t, c, "GET", s.URL()+"/models?pageToken=x", ""); r.Status != 400 {
		t.Errorf("bad page token: %d", r.Status)
	}
	if r := do(t, c, "POST", s.URL()+"/models/zz:generateContent", helloBody); r.Status != 404 || !strings.Contains(string(r.Body), "models/zz is not found") {
		t.Errorf("generate with unknown model: %d %s", r.Status, r.Body)
	}
}

func TestModes(t *testing.T) {
	s := geminitest.NewT(t, geminitest.Options{})
	c := newClient(t, 5*time.Second)
	gen := s.URL() + "/models/m:streamGenerateContent?alt=sse"
	tests := []struct {
		mode    geminitest.Mode
		status  int
		name    string // error status name
		check   func(t *testing.T, r result)
		noReply bool
	}{
		{mode: geminitest.Error500, status: 500, name: "INTERNAL"},
		{mode: geminitest.Unavailable503, status: 503, name: "UNAVAILABLE"},
		{mode: geminitest.TooManyTokens, status: 400, name: "INVALID_ARGUMENT", check: func(t *testing.T, r result) {
			if !strings.Contains(string(r.Body), "exceeds the maximum number of tokens allowed") {
				t.Errorf("body %s", r.Body)
			}
		}},
		{mode: geminitest.Unauthorized, status: 400, name: "INVALID_ARGUMENT", check: func(t *testing.T, r result) {
			if !strings.Contains(string(r.Body), "API_KEY_INVALID") {
				t.Errorf("body %s", r.Body)
			}
		}},
		{mode: geminitest.RateLimit429, status: 429, name: "RESOURCE_EXHAUSTED", check: func(t *testing.T, r result) {
			e := decode[apiError](t, r.Body)
			last := e.Error.Details[len(e.Error.Details)-1]
			if r.Header.Get("Retry-After") != "1" || last["@type"] != "type.googleapis.com/google.rpc.RetryInfo" || last["retryDelay"] != "1s" {
				t.Errorf("headers %v details %v", r.Header, e.Error.Details)
			}
		}},
		{mode: geminitest.Blocked, status: 200, check: func(t *testing.T, r result) {
			resp := decode[response](t, parseSSE(t, r.Body)[0])
			if resp.PromptFeedback == nil || resp.PromptFeedback.BlockReason != "SAFETY" || len(resp.Candidates) != 0 {
				t.Errorf("body %s", r.Body)
			}
		}},
		{mode: geminitest.MalformedJSON, status: 200, check: func(t *testing.T, r result) {
			if json.Valid(parseSSE(t, r.Body)[0]) {
				t.Errorf("first event is valid JSON: %s", r.Body)
			}
		}},
		{mode: geminitest.CutMidStream, status: 200, check: func(t *testing.T, r result) {
			if r.ReadErr == nil {
				t.Errorf("stream was not cut: %s", r.Body)
			}
			if bytes.Contains(r.Body, []byte("finishReason")) {
				t.Errorf("the cut stream finished: %s", r.Body)
			}
		}},
		{mode: geminitest.Refuse, noReply: true},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			s.SetModeN(tt.mode, 1)
			r := do(t, c, "POST", gen, helloBody)
			if tt.noReply {
				if r.Err == nil {
					t.Errorf("got a response %d", r.Status)
				}
			} else {
				if r.Err != nil || r.Status != tt.status {
					t.Fatalf("status %d err %v body %s", r.Status, r.Err, r.Body)
				}
				if tt.name != "" {
					if e := decode[apiError](t, r.Body); e.Error.Status != tt.name || e.Error.Code != tt.status {
						t.Errorf("error %+v", e.Error)
					}
				}
				if tt.check != nil {
					tt.check(t, r)
				}
			}
			// SetModeN(…, 1) is spent: the next request is fine.
			if r := do(t, c, "POST", gen, helloBody); r.Status != 200 || r.ReadErr != nil {
				t.Errorf("after the fault: status %d err %v", r.Status, r.ReadErr)
			}
		})
	}
	t.Run("cut non-stream", func(t *testing.T) {
		s.SetModeN(geminitest.CutMidStream, 1)
		r := do(t, c, "POST", s.URL()+"/models/m:generateContent", helloBody)
		if r.ReadErr == nil {
			t.Errorf("body was not cut: %s", r.Body)
		}
	})
	t.Run("faults apply to embeddings, not to models", func(t *testing.T) {
		s.SetMode(geminitest.Error500)
		defer s.SetMode(geminitest.OK)
		if r := do(t, c, "GET", s.URL()+"/models", ""); r.Status != 200 {
			t.Errorf("models: %d", r.Status)
		}
		if r := do(t, c, "POST", s.URL()+"/models/e:embedContent", `{"content":{"parts":[{"text":"x"}]}}`); r.Status != 500 {
			t.Errorf("embed: %d", r.Status)
		}
	})
}

func TestRefuseAndRecover(t *testing.T) {
	s := geminitest.NewT(t, geminitest.Options{})
	c := newClient(t, 5*time.Second)
	s.SetMode(geminitest.Refuse)
	if r := do(t, c, "GET", s.URL()+"/models", ""); r.Err == nil {
		t.Fatalf("refusing server answered %d", r.Status)
	}
	s.SetMode(geminitest.OK)
	if r := do(t, c, "GET", s.URL()+"/models", ""); r.Status != 200 {
		t.Fatalf("after Refuse: %d %v", r.Status, r.Err)
	}
}

func TestAborted(t *testing.T) {
	t.Run("stall", func(t *testing.T) {
		s := geminitest.NewT(t, geminitest.Options{})
		s.SetMode(geminitest.Stall)
		c := newClient(t, 100*time.Millisecond)
		if r := do(t, c, "POST", s.URL()+"/models/m:streamGenerateContent?alt=sse", helloBody); r.Err == nil {
			t.Fatalf("stalled request answered %d", r.Status)
		}
		testkit.Until(t, "s.Aborted() == 1", func() bool { return s.Aborted() == 1 })
	})
	t.Run("mid-stream", func(t *testing.T) {
		s := geminitest.NewT(t, geminitest.Options{ChunkDelay: 50 * time.Millisecond, Reply: "a b c d e f g h"})
		c := newClient(t, 5*time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "POST", s.URL()+"/models/m:streamGenerateContent?alt=sse", strings.NewReader(helloBody))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 10)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			t.Fatal(err)
		}
		cancel()
		resp.Body.Close()
		testkit.Until(t, "s.Aborted() == 1", func() bool { return s.Aborted() == 1 })
	})
	t.Run("server close is not an abort", func(t *testing.T) {
		s, err := geminitest.New(geminitest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.SetMode(geminitest.Stall)
		c := newClient(t, 5*time.Second)
		done := make(chan result, 1)
		go func() { done <- do(t, c, "POST", s.URL()+"/models/m:generateContent", helloBody) }()
		testkit.Until(t, "s.Requests() == 1", func() bool { return s.Requests() == 1 })
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		<-done
		if s.Aborted() != 0 {
			t.Errorf("Aborted = %d", s.Aborted())
		}
	})
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]geminitest.Mode{
		"ok": geminitest.OK, "REFUSE": geminitest.Refuse, "500": geminitest.Error500, "overloaded": geminitest.Unavailable503,
		"ratelimit": geminitest.RateLimit429, "stall": geminitest.Stall, "cut": geminitest.CutMidStream,
		"malformed": geminitest.MalformedJSON, "tokens": geminitest.TooManyTokens, "401": geminitest.Unauthorized, " blocked ": geminitest.Blocked,
	} {
		if got, err := geminitest.ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := geminitest.ParseMode("sometimes"); err == nil {
		t.Error("ParseMode accepted nonsense")
	}
	if s := geminitest.Mode(99).String(); s != "Mode(99)" {
		t.Errorf("String = %q", s)
	}
}

func TestNewValidation(t *testing.T) {
	_, err := geminitest.New(geminitest.Options{Addr: "0.0.0.0:0", Chunks: -1, EmbeddingDims: 5000,
		FunctionCall: &geminitest.FunctionCall{Args: json.RawMessage(`{`)}, Latency: -1})
	if err == nil {
		t.Fatal("New accepted bad options")
	}
	for _, want := range []string{"not a loopback", "Chunks -1", "EmbeddingDims 5000", "FunctionCall.Name", "FunctionCall.Args", "Latency"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	var nerr interface{ Unwrap() []error }
	if !errors.As(err, &nerr) {
		t.Error("errors are not joined")
	}
}
