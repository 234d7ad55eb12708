package server

import (
	"strings"

	"github.com/edgeway/edgeway/edge/pii"
)

// droppedHeader tells a client what of its request the upstream that
// served it never saw: the names in the request's Passthrough.Dropped
// ("cache_control,thinking"), when that upstream speaks another dialect
// than the client (or the prompt was redacted, so the client's body could
// not be sent as it came). It is absent when nothing was dropped.
const droppedHeader = "x-edgeway-dropped"

// setDropped sets droppedHeader for the upstream that served ex.
func (ex *exchange) setDropped() {
	p := ex.req.Passthrough
	if p == nil || len(p.Dropped) == 0 || ex.st.Provider == "" {
		return
	}
	if tr, ok := ex.s.opts.Router.(targetRouter); ok && tr.ProviderType(ex.st.Provider) == p.Dialect && !pii.Redacting(ex.ctx) {
		return // the same dialect: the upstream got the client's body
	}
	ex.c.Response.Header.Set(droppedHeader, strings.Join(p.Dropped, ","))
}
