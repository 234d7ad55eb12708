package server

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/responses"
	"github.com/edgeway/edgeway/edge/router"
)

// TestResponsesEndpoint: a whole answer is stored and continued with
// previous_response_id (the upstream gets the earlier turns), read back,
// deleted; what only OpenAI's own Responses API can run is refused for a
// route that does not end there.
func TestResponsesEndpoint(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "r.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := responses.Open(db, responses.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var got []llm.Message
	fr := &fakeRouter{route: func(ctx context.Context, req *llm.ChatRequest, st *router.Status, emit func(*llm.Chunk) error) (llm.Usage, error) {
		got = append([]llm.Message(nil), req.Messages...)
		return replyWords(ctx, req, st, emit)
	}}
	url := startServer(t, fr, Options{Responses: store})

	resp, body := post(t, url+"/v1/responses", `{"model":"chat","input":"first question","instructions":"Be brief."}`)
	var r struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Output []struct {
			Content []struct{ Text string } `json:"content"`
		} `json:"output"`
	}
	if err := json.Unmarshal(body, &r); err != nil || resp.StatusCode != 200 || r.Status != "completed" || r.Output[0].Content[0].Text != "Hello from fake" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp, body = post(t, url+"/v1/responses", `{"model":"chat","input":"second","previous_response_id":"`+r.ID+`","stream":true}`)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "event: response.completed") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if len(got) != 3 || got[0].Text() != "first question" || got[1].Text() != "Hello from fake" || got[2].Text() != "second" {
		t.Fatalf("the continuation sent %+v (instructions are not carried over)", got)
	}
	if resp, body = send(t, "GET", url+"/v1/responses/"+r.ID, ""); resp.StatusCode != 200 || !strings.Contains(string(body), r.ID) {
		t.Fatalf("get: %d %s", resp.StatusCode, body)
	}
	if resp, _ = send(t, "DELETE", url+"/v1/responses/"+r.ID, ""); resp.StatusCode != 200 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	for _, tc := range []struct{ name, body, param string }{
		{"unknown previous", `{"model":"chat","input":"x","previous_response_id":"resp_nope"}`, "previous_response_id"},
		{"forced hosted tool", `{"model":"chat","input":"x","tools":[{"type":"web_search"}],"tool_choice":{"type":"web_search"}}`, "tool_choice"},
		{"pdf", `{"model":"chat","input":[{"role":"user","content":[{"type":"input_file","file_data":"data:application/pdf;base64,JVBERi0="}]}]}`, "input"},
	} {
		resp, body := post(t, url+"/v1/responses", tc.body)
		var e oaiError
		json.Unmarshal(body, &e)
		if resp.StatusCode/100 != 4 || e.Error.Param == nil || *e.Error.Param != tc.param || resp.Header.Get("x-request-id") == "" {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, body)
		}
	}
	if resp, _ := send(t, "GET", url+"/v1/responses/resp_\"x", ""); resp.StatusCode != 404 {
		t.Fatalf("a malformed id: %d", resp.StatusCode)
	}
}
