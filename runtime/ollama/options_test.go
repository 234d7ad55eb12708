package ollama

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// An Ollama behind an authenticating proxy gets the configured key and
// headers on every request; a header that cannot be sent is refused by New.
func TestOptionsHeaders(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"version":"0.17.4"}`))
	}))
	defer srv.Close()
	p, err := New(Options{BaseURL: srv.URL, APIKey: "k-123", Headers: map[string]string{"X-Team": "edge"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"Authorization": "Bearer k-123", "X-Team": "edge", "User-Agent": "edgeway"} {
		if v := got.Get(k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}

	for _, o := range []Options{
		{Headers: map[string]string{"Bad Name": "x"}},
		{Headers: map[string]string{"X-Ok": "line\nbreak"}},
		{APIKey: "k\r\n"},
	} {
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), "ollama:") {
			t.Errorf("New(%+v) = %v, want an ollama: error", o, err)
		}
	}
}
