package ollama

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/edgeway/edgeway/edge/testkit"
)

// reply is what the fake answers on one path.
type reply struct {
	status  int
	header  map[string]string
	fixture string // file under testdata/ sent as the body
	body    string // used when fixture is empty
	// handler, when set, replaces the canned answer.
	handler http.HandlerFunc
}

// fake is an httptest server speaking Ollama's API from fixtures. It
// records the body of every request it receives.
type fake struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	replies map[string]reply
	bodies  map[string][][]byte
}

func newFake(t *testing.T) *fake {
	t.Helper()
	f := &fake{t: t, replies: map[string]reply{}, bodies: map[string][][]byte{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) on(path string, r reply) *fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replies[path] = r
	return f
}

// requests returns the bodies received on path.
func (f *fake) requests(path string) [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[path]
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies[r.URL.Path] = append(f.bodies[r.URL.Path], b)
	rep, ok := f.replies[r.URL.Path]
	f.mu.Unlock()
	if !ok {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if rep.handler != nil {
		rep.handler(w, r)
		return
	}
	body := []byte(rep.body)
	if rep.fixture != "" {
		body = fixture(f.t, rep.fixture)
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	if rep.status != 0 {
		w.WriteHeader(rep.status)
	}
	w.Write(body)
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	return testkit.Fixture(t, name)
}

// provider returns a Provider pointed at f.
func (f *fake) provider(t *testing.T, o Options) *Provider {
	t.Helper()
	o.BaseURL = f.srv.URL
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
