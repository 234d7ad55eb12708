package server

import (
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/upstream"
)

// readyz answers 200 when at least one upstream can take requests now
// (online, circuit not open), 503 otherwise, listing each upstream.
func (s *Server) readyz(c *fasthttp.RequestCtx) {
	hs := s.opts.Router.Health()
	ready := false
	b := make([]byte, 0, 256)
	b = append(b, `{"upstreams":[`...)
	for i, h := range hs {
		if h.Online && h.Circuit != "open" {
			ready = true
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = strconv.AppendQuote(b, h.Name)
		b = append(b, `,"type":`...)
		b = strconv.AppendQuote(b, h.Type)
		b = append(b, `,"local":`...)
		b = strconv.AppendBool(b, h.Local)
		b = append(b, `,"online":`...)
		b = strconv.AppendBool(b, h.Online)
		b = append(b, `,"circuit":`...)
		b = strconv.AppendQuote(b, h.Circuit)
		if len(h.Circuits) > 0 {
			// Which models' circuits are not closed (breakers are per
			// provider + model).
			b = append(b, `,"circuits":{`...)
			for j, mc := range h.Circuits {
				if j > 0 {
					b = append(b, ',')
				}
				// A model name comes from a client: JSON-escaped, bounded.
				b = wire.AppendString(b, upstream.CleanMessage(mc.Model))
				b = append(b, ':')
				b = strconv.AppendQuote(b, mc.Circuit)
			}
			b = append(b, '}')
		}
		b = append(b, `,"in_flight":`...)
		b = strconv.AppendInt(b, int64(h.InFlight), 10)
		if h.LastError != "" {
			b = append(b, `,"last_error":`...)
			// /readyz needs no key: the text is redacted again here, whatever
			// provider produced it.
			b = strconv.AppendQuote(b, upstream.CleanMessage(h.LastError, s.opts.Secrets...))
		}
		b = append(b, '}')
	}
	b = append(b, `],"ready":`...)
	b = strconv.AppendBool(b, ready)
	b = append(b, '}')
	if !ready {
		c.SetStatusCode(fasthttp.StatusServiceUnavailable)
	}
	c.SetContentType("application/json")
	c.SetBody(b)
}
