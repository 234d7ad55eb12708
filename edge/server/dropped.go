package server

import (
	"slices"
	"strings"

	"github.com/edgeway/edgeway/edge/pii"
)

// droppedHeader tells a client what of its request the upstream that
// served it never saw, as a comma-separated list of names
// ("cache_control,thinking"): for an Anthropic client, the request's
// Passthrough.Dropped when the upstream speaks another dialect (or the
// prompt was redacted, so the client's body could not go as it came); for
// an OpenAI client, the fields edgeway passes on verbatim (llm.ChatRequest
// Extra: logprobs, reasoning_effort, ...) when the upstream does not
// speak OpenAI's wire. It is absent when nothing was dropped.
const droppedHeader = "x-edgeway-dropped"

// openAIWire are the provider types that take an OpenAI request's Extra
// fields.
var openAIWire = []string{"openai", "openai-compatible", "llamacpp"}

// setDropped sets droppedHeader for the upstream that served ex.
func (ex *exchange) setDropped() {
	p, extra := ex.req.Passthrough, ex.req.Extra
	if (p == nil || len(p.Dropped) == 0) && len(extra) == 0 || ex.st.Provider == "" {
		return
	}
	tr, ok := ex.s.opts.Router.(targetRouter)
	if !ok {
		return
	}
	typ := tr.ProviderType(ex.st.Provider)
	var names []string
	if p != nil && (typ != p.Dialect || p.Body == nil || pii.Redacting(ex.ctx)) {
		names = append(names, p.Dropped...)
	}
	if len(extra) > 0 && !slices.Contains(openAIWire, typ) {
		for k := range extra {
			names = append(names, k)
		}
		slices.Sort(names)
	}
	if len(names) > 0 {
		// A dialect may have named what its decoder left out already
		// (the Responses API's hosted tools).
		if prev := ex.c.Response.Header.Peek(droppedHeader); len(prev) > 0 {
			names = append(strings.Split(string(prev), ","), names...)
		}
		ex.c.Response.Header.Set(droppedHeader, strings.Join(names, ","))
	}
}
