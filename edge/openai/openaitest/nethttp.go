package openaitest

import (
	"errors"
	"net"
	"net/http"

	"github.com/edgeway/edgeway/edge/internal/fakeupstream"
)

// The net/http frontend: the default, because it notices a client going
// away (the request context ends) at any point, which Aborted relies on.

// netHeader is a static header with its value pre-wrapped for http.Header,
// so setting it allocates nothing. The slices are shared and never written.
type netHeader struct {
	key   string
	value []string
}

func netHeaders(hs []header) []netHeader {
	out := make([]netHeader, len(hs))
	for i, h := range hs {
		out[i] = netHeader{h.key, []string{h.value}}
	}
	return out
}

var (
	netNormalHeaders  = netHeaders(normalHeaders)
	netLimitedHeaders = netHeaders(limitedHeaders)
	netCTJSON         = []string{contentTypeJSON}
	netCTSSE          = []string{contentTypeSSE}
	netNoCache        = []string{"no-cache"}
)

// serveNet serves epochs with net/http.
func (s *Server) serveNet(fe *fakeupstream.Epoch, ln net.Listener) (serve, stop func()) {
	return fakeupstream.HTTP(func(fe *fakeupstream.Epoch, w http.ResponseWriter, r *http.Request) {
		e := epoch{fe, s}
		e.serveHTTP(w, r)
	})(fe, ln)
}

// serveHTTP serves one request of the epoch.
func (e *epoch) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s := e.s
	x := getExchange(s)
	defer putExchange(x)

	ep, modelID := routeOf(r.Method, r.URL.Path)
	if ep == epNotFound {
		s.notFound(x, r.Method, r.URL.Path)
	} else {
		var err error
		x.in, err = fakeupstream.ReadBody(r.Body, x.in, r.ContentLength, MaxBodyBytes)
		switch {
		case errors.Is(err, fakeupstream.ErrTooLarge):
			s.tooLarge(x)
		case err != nil:
			return // the client is gone mid-body
		default:
			x.auth = append(x.auth[:0], r.Header.Get("Authorization")...)
			s.serve(x, ep, x.in, modelID)
		}
	}
	e.deliverNet(w, r, x)
}

func (e *epoch) deliverNet(w http.ResponseWriter, r *http.Request, x *exchange) {
	s := e.s
	gone := r.Context().Done()
	if x.delay && !e.Wait(gone, s.opt.Latency) {
		return
	}
	switch x.act {
	case actDrop:
		fakeupstream.Drop(w)
		return
	case actStall:
		e.Stall(gone)
		fakeupstream.Drop(w)
		return
	}
	h := w.Header()
	if x.sse {
		h["Content-Type"] = netCTSSE
		h["Cache-Control"] = netNoCache
	} else {
		h["Content-Type"] = netCTJSON
	}
	h["X-Request-Id"] = []string{string(x.requestID())}
	h["Openai-Processing-Ms"] = []string{x.processingMS()}
	hs := netNormalHeaders
	if x.limited {
		hs = netLimitedHeaders
	}
	for _, kv := range hs {
		h[kv.key] = kv.value
	}
	ev := fakeupstream.Events{Body: x.body, Marks: x.marks}
	switch x.act {
	case actRespond:
		fakeupstream.WriteWhole(w, x.status, x.body)
	case actStream:
		e.WriteEvents(w, gone, x.status, ev, ev.Len())
	case actCut:
		if !x.sse {
			fakeupstream.WriteCut(w, x.status, x.body)
		} else if e.WriteEvents(w, gone, x.status, ev, x.cut) {
			fakeupstream.Drop(w)
		}
	case actStallAfter:
		e.WriteEventsThenStall(w, gone, x.status, ev, x.cut)
	case actEndless:
		e.WriteEndless(w, gone, x.status, ev, x.cut, x.body[x.marks[x.cut-2]:x.marks[x.cut-1]])
	}
}
