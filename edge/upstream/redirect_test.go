package upstream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// A redirect is never followed: the key would go with it to wherever it
// points (net/http strips Authorization across hosts, but not x-api-key or
// a configured header).
func TestRedirectsNotFollowed(t *testing.T) {
	var reached atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.WriteHeader(200)
	}))
	defer other.Close()
	for _, tc := range []struct {
		name string
		own  bool // the client's own transport rather than a supplied http.Client
		code int
	}{{"own transport 307", true, 307}, {"own transport 302", true, 302}, {"supplied client 307", false, 307}, {"supplied client 301", false, 301}} {
		t.Run(tc.name, func(t *testing.T) {
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+"/steal?key=sk-leak-0123456789&x=1", tc.code)
			}))
			defer up.Close()
			o := ClientOptions{
				Endpoint: Endpoint{Name: "fake", BaseURL: up.URL + "/v1", APIKey: "secret-key-0123456789", Headers: map[string]string{"X-Api-Key": "secret-key-0123456789"}},
				Auth:     Auth{Header: "Authorization", Prefix: "Bearer "},
			}
			if !tc.own {
				o.HTTPClient = &http.Client{}
			}
			c, err := NewClient("fake", o)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Send(context.Background(), "chat", "POST", "/chat/completions", []byte(`{}`), "application/json")
			if err == nil {
				t.Fatalf("a redirect was taken as an answer (%d requests reached the other host)", reached.Load())
			}
			if reached.Load() != 0 {
				t.Fatalf("the redirect was followed (%d requests reached the other host)", reached.Load())
			}
			msg := err.Error()
			if !strings.Contains(msg, "redirected to") || strings.Contains(msg, "sk-leak") || strings.Contains(msg, "secret-key") {
				t.Errorf("error %q: want the redirect named, without credentials", msg)
			}
		})
	}
}
