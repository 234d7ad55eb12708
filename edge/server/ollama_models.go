package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/ollamaapi"
)

// The Ollama endpoints that show and manage the device's models, for the
// Ollama CLI (`ollama ps`, `ollama pull`, `ollama rm`, `ollama cp`) and
// UIs such as Open WebUI:
//
//	GET    /api/ps      every caller: the local runtimes' loaded models
//	POST   /api/pull    admin: passed to the local Ollama, progress streamed
//	DELETE /api/delete  admin: passed to the local Ollama
//	POST   /api/copy    admin: passed to the local Ollama
//	POST   /api/create, /api/push, /api/blobs/… and the ollama.com account
//	       endpoints: refused with 501 (a gateway does not build models or
//	       publish them)
//
// Model names are edgeway's ("provider/model", as /api/tags lists them);
// a name without a runtime's prefix goes to the first Ollama runtime.

// Runtime is a local runtime the Ollama endpoints report on and manage.
type Runtime struct {
	Name     string
	Provider llm.Provider
}

// runningLister is a runtime that says which models it has loaded, each
// as an Ollama /api/ps model object; *ollama.Provider implements it.
type runningLister interface {
	Running(ctx context.Context) ([]json.RawMessage, error)
}

// modelStore is a runtime that downloads and removes models;
// *ollama.Provider implements it.
type modelStore interface {
	Pull(ctx context.Context, model string, insecure bool, progress func(line []byte) error) error
	Delete(ctx context.Context, model string) error
	Copy(ctx context.Context, src, dst string) error
}

// Bounds of the model-store endpoints.
const (
	// pullTimeout bounds one pull: gigabytes over a slow link, but not
	// forever.
	pullTimeout = 2 * time.Hour
	// storeTimeout bounds a delete or copy.
	storeTimeout = time.Minute
	// maxModelName bounds a model name in a store request.
	maxModelName = 512
)

// ollamaPS serves GET /api/ps: Ollama runtimes report what they have
// loaded; other local runtimes (llama-server) serve the models they list,
// which are loaded while they are up. No local runtime: no models.
func (s *Server) ollamaPS(c *fasthttp.RequestCtx) {
	ctx, cancel := context.WithTimeout(context.Background(), modelsTimeout)
	defer cancel()
	dst := append(make([]byte, 0, 512), `{"models":[`...)
	n := 0
	for _, rt := range s.opts.Runtimes {
		switch p := rt.Provider.(type) {
		case runningLister:
			ms, err := p.Running(ctx)
			if err != nil {
				s.log.Debug("ollama ps: runtime did not answer", "provider", rt.Name, "err", err)
				continue
			}
			for _, raw := range ms {
				if b, ok := prefixRunning(raw, rt.Name); ok {
					if n > 0 {
						dst = append(dst, ',')
					}
					dst, n = append(dst, b...), n+1
				}
			}
		case llm.ModelLister:
			ms, err := p.Models(ctx)
			if err != nil {
				s.log.Debug("ollama ps: runtime did not answer", "provider", rt.Name, "err", err)
				continue
			}
			for _, m := range ms {
				if n > 0 {
					dst = append(dst, ',')
				}
				dst, n = ollamaapi.AppendRunning(dst, rt.Name+"/"+m.ID), n+1
			}
		}
	}
	c.SetContentType("application/json; charset=utf-8")
	c.SetBody(append(dst, "]}"...))
}

// prefixRunning renames an Ollama /api/ps model object to edgeway's name
// for it (runtime/name), keeping every other field as Ollama sent it.
func prefixRunning(raw json.RawMessage, runtime string) ([]byte, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil, false
	}
	for _, k := range []string{"name", "model"} {
		var v string
		if json.Unmarshal(m[k], &v) == nil && v != "" {
			m[k], _ = json.Marshal(runtime + "/" + v)
		}
	}
	b, err := json.Marshal(m)
	return b, err == nil
}

// storeRequest is the body of /api/pull, /api/delete and /api/copy.
// name is Ollama's deprecated spelling of model.
type storeRequest struct {
	Model       string `json:"model"`
	Name        string `json:"name"`
	Insecure    bool   `json:"insecure"`
	Stream      *bool  `json:"stream"`
	Source      string `json:"source"`
	Destination string `json:"destination"`
}

// errStoreRequest marks a store request body that is not usable.
var errStoreRequest = errors.New("ollama: bad request")

// decodeStoreRequest reads a store request; copy wants source and
// destination, the others a model.
func decodeStoreRequest(body []byte, copy bool) (*storeRequest, error) {
	var r storeRequest
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, errors.Join(errStoreRequest, errors.New("body is not a JSON object: "+err.Error()))
	}
	if r.Model == "" {
		r.Model = r.Name
	}
	names := []*string{&r.Model}
	want := "model"
	if copy {
		names, want = []*string{&r.Source, &r.Destination}, "source and destination"
	}
	for _, n := range names {
		if *n == "" {
			return nil, errors.Join(errStoreRequest, errors.New(want+" is required"))
		}
		if len(*n) > maxModelName || strings.ContainsFunc(*n, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return nil, errors.Join(errStoreRequest, errors.New("invalid model name "+echo([]byte(*n))))
		}
	}
	return &r, nil
}

// mayManageModels reports whether the caller may change the device's
// models: the admin key, or anyone on a gateway with no keys (which cmd
// allows only on loopback). Members are told why not, in Ollama's dialect.
func (s *Server) mayManageModels(c *fasthttp.RequestCtx) bool {
	if s.opts.Auth == nil || s.opts.Auth.Open() || caller(c).Admin {
		return true
	}
	s.metrics.forbidden.Add(1)
	writeOllamaError(c, &apiError{status: 403, message: "only the admin key may change the device's models (" + string(c.Path()) + " downloads or removes models on the device)"})
	return false
}

// store finds the runtime that holds model ("runtime/name", or a bare
// name for the first Ollama runtime) and the name it knows it by, or
// answers the client and reports false.
func (s *Server) store(c *fasthttp.RequestCtx, model string) (modelStore, string, bool) {
	var first modelStore
	for _, rt := range s.opts.Runtimes {
		ms, ok := rt.Provider.(modelStore)
		if !ok {
			continue
		}
		if rest, ok := strings.CutPrefix(model, rt.Name+"/"); ok {
			return ms, rest, true
		}
		if first == nil {
			first = ms
		}
	}
	if first == nil {
		writeOllamaError(c, &apiError{status: 501, message: "edgeway has no local Ollama runtime to manage models in (add a provider of type ollama)"})
		return nil, "", false
	}
	return first, model, true
}

// storeError answers a failed store request: Ollama's own message and
// status where it said one (404 for a missing model), else the gateway's
// mapping.
func storeError(c *fasthttp.RequestCtx, err error) {
	var le *llm.Error
	if errors.As(err, &le) && le.Kind == llm.KindNotFound && le.Message != "" {
		writeOllamaError(c, &apiError{status: 404, message: le.Message})
		return
	}
	if errors.Is(err, errStoreRequest) {
		writeOllamaError(c, &apiError{status: 400, message: err.Error()})
		return
	}
	writeOllamaError(c, classify(err))
}

// ollamaStore serves /api/delete and /api/copy.
func (s *Server) ollamaStore(c *fasthttp.RequestCtx, copy bool) {
	if !s.mayManageModels(c) {
		return
	}
	r, err := decodeStoreRequest(c.PostBody(), copy)
	if err != nil {
		storeError(c, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if copy {
		ms, src, ok := s.store(c, r.Source)
		if !ok {
			return
		}
		dst := r.Destination
		for _, rt := range s.opts.Runtimes {
			dst = strings.TrimPrefix(dst, rt.Name+"/")
		}
		err = ms.Copy(ctx, src, dst)
	} else {
		ms, name, ok := s.store(c, r.Model)
		if !ok {
			return
		}
		err = ms.Delete(ctx, name)
	}
	if err != nil {
		storeError(c, err)
		return
	}
	c.SetStatusCode(fasthttp.StatusOK)
}

// ollamaPull serves POST /api/pull: streamed (Ollama's default) as the
// progress lines Ollama sends, or with stream:false as the last one. The
// headers wait for the first line, so a pull that fails at once gets its
// status.
func (s *Server) ollamaPull(c *fasthttp.RequestCtx) {
	if !s.mayManageModels(c) {
		return
	}
	r, err := decodeStoreRequest(c.PostBody(), false)
	if err != nil {
		storeError(c, err)
		return
	}
	ms, name, ok := s.store(c, r.Model)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), pullTimeout)
	if r.Stream != nil && !*r.Stream {
		defer cancel()
		var (
			last []byte
			err  error
			w    watcher // a client that hangs up cancels the pull
		)
		w.run(c, cancel, func() {
			err = ms.Pull(ctx, name, r.Insecure, func(line []byte) error {
				last = append(last[:0], line...)
				return nil
			})
		})
		if err != nil {
			storeError(c, err)
			return
		}
		c.SetContentType("application/json; charset=utf-8")
		c.SetBody(last)
		return
	}
	ps := &pullStream{s: s, c: c, cancel: cancel, lines: make(chan []byte, streamQueue)}
	// The pull runs on its own goroutine while this one waits for its
	// lines and watches the connection: a client that hangs up cancels it.
	ps.w.start(c, func() {
		ps.err = ms.Pull(ctx, name, r.Insecure, func(line []byte) error {
			select {
			case ps.lines <- append(append(make([]byte, 0, len(line)+1), line...), '\n'):
				ps.w.wake()
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	})
	first := ps.w.await(cancel, ps.lines)
	if first == nil { // the pull ended before its first line
		cancel()
		if ps.err != nil {
			storeError(c, ps.err)
			return
		}
		c.SetContentType("application/x-ndjson")
		return
	}
	c.SetContentType("application/x-ndjson")
	c.Response.Header.Set("Cache-Control", "no-cache")
	c.Response.Header.Set("X-Accel-Buffering", "no")
	_ = c.SetWriteDeadline(time.Time{}) // per write instead, in Read
	ps.pending = first
	c.SetBodyStream(ps, -1)
}

// pullStream hands a pull's progress lines to fasthttp (Read, on the
// connection's goroutine, watching the connection while it waits, as a
// chat stream does) as the pull's goroutine queues them; Close (called by
// fasthttp when the response is done, whatever happened) cancels the
// pull and waits for its goroutine.
type pullStream struct {
	s       *Server
	c       *fasthttp.RequestCtx
	w       watcher
	cancel  context.CancelFunc
	lines   chan []byte
	pending []byte
	err     error // the pull's, read after w.done is closed
	tail    bool  // the end (or the in-stream error) is queued
}

func (ps *pullStream) Read(p []byte) (int, error) {
	for len(ps.pending) == 0 {
		if b := ps.w.await(ps.cancel, ps.lines); b != nil {
			ps.pending = b
			continue
		}
		if ps.tail || ps.err == nil {
			return 0, io.EOF
		}
		ps.tail = true
		// Ollama reports a failed pull in the stream, so does edgeway.
		msg := classify(ps.err).message
		var le *llm.Error
		if errors.As(ps.err, &le) && le.Message != "" {
			msg = le.Message // Ollama's own words
		}
		ps.pending = ollamaapi.AppendStreamError(nil, msg)
	}
	n := copy(p, ps.pending)
	ps.pending = ps.pending[n:]
	_ = ps.c.SetWriteDeadline(time.Now().Add(ps.s.opts.WriteTimeout))
	return n, nil
}

func (ps *pullStream) Close() error {
	ps.cancel()
	<-ps.w.done
	ps.s.logPlain(ps.c)
	return nil
}

// ollamaRefuse answers the Ollama endpoints a gateway does not serve.
func ollamaRefuse(c *fasthttp.RequestCtx, what string) {
	writeOllamaError(c, &apiError{status: 501, message: strconv.Quote(string(c.Path())) + " is not served by edgeway: " + what})
}
