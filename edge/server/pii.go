package server

import (
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/keys"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/pii"
	"github.com/edgeway/edgeway/edge/router"
)

// piiState is what a request's prompt held and what the caller's PII
// policy did about it. It is left on the RequestCtx (only when something
// was found) for the ledger and the error messages.
type piiState struct {
	found  int
	kinds  pii.Kinds
	action pii.Action
}

type piiKey struct{}

// piiDecision tells complete how to serve a request with personal data.
type piiDecision struct {
	// local keeps the request on local runtimes.
	local bool
	// redact marks the request context so that cloud providers (wrapped by
	// pii.Wrap) get placeholders.
	redact bool
}

// piiPolicy is the PII policy of a request for model: the strictest of
// the route's (config pii:), the caller's key's and its team's ("" when
// none has one).
func (s *Server) piiPolicy(k *keys.Caller, model string) pii.Action {
	a := pii.Action(s.opts.PIIDefault)
	if m, ok := s.opts.PIIModels[model]; ok {
		a = pii.Stricter(a, pii.Action(m))
	}
	if k.Key != nil {
		a = pii.Stricter(a, pii.Action(k.Key.Policy.PII))
	}
	if k.Team != nil {
		a = pii.Stricter(a, pii.Action(k.Team.Policy.PII))
	}
	return a
}

// scanInputs counts the personal data in an embedding request's inputs.
func scanInputs(req *llm.EmbedRequest) (n int, kinds pii.Kinds) {
	for _, in := range req.Input {
		k, ks := pii.Count(in)
		n, kinds = n+k, kinds|ks
	}
	return n, kinds
}

// scanPrompt counts the personal data in req's messages: every text part
// and tool-call argument, of every role (history is sent too).
func scanPrompt(req *llm.ChatRequest) (n int, kinds pii.Kinds) {
	for i := range req.Messages {
		m := &req.Messages[i]
		for j := range m.Content {
			if m.Content[j].Type == llm.PartText {
				k, ks := pii.Count(m.Content[j].Text)
				n, kinds = n+k, kinds|ks
			}
		}
		for j := range m.ToolCalls {
			k, ks := pii.Count(m.ToolCalls[j].Arguments)
			n, kinds = n+k, kinds|ks
		}
	}
	return n, kinds
}

// applyPII scans a request for model (with scan: scanPrompt or
// scanInputs) when the caller has a PII policy and applies it. A blocked
// request is answered (400 in d, naming the kinds found, never the
// values), recorded, and reported false. Callers without a policy pay
// nothing: the prompt is not scanned.
func (s *Server) applyPII(c *fasthttp.RequestCtx, model string, scan func() (int, pii.Kinds), d dialect) (piiDecision, bool) {
	action := s.piiPolicy(caller(c), model)
	if action == "" {
		return piiDecision{}, true
	}
	n, kinds := scan()
	if n == 0 {
		return piiDecision{}, true
	}
	c.SetUserValue(piiKey{}, &piiState{found: n, kinds: kinds, action: action})
	switch action {
	case pii.Block:
		d.writeError(c, &apiError{status: 400, typ: "invalid_request_error", code: "pii_blocked",
			message: "the prompt holds personal data (" + strconv.Itoa(n) + " found: " + kinds.String() +
				") and the PII policy for this key and model is block: remove it, or ask an admin for another policy"})
		s.account(c, model, &acct{status: 400, outcome: "pii_blocked"})
		return piiDecision{}, false
	case pii.LocalOnly:
		return piiDecision{local: true}, true
	case pii.RedactForCloud:
		return piiDecision{redact: true}, true
	}
	return piiDecision{}, true
}

// piiOf returns what the request's prompt held and the policy applied to
// it, for the ledger: 0 and "" when nothing was found or no policy applies.
func piiOf(c *fasthttp.RequestCtx) (int, string) {
	if p, ok := c.UserValue(piiKey{}).(*piiState); ok {
		return p.found, string(p.action)
	}
	return 0, ""
}

// piiNote explains a routing failure caused by the local-only PII policy,
// so the client learns why the cloud was not tried; "" otherwise.
func piiNote(c *fasthttp.RequestCtx) string {
	if p, ok := c.UserValue(piiKey{}).(*piiState); ok && p.action == pii.LocalOnly {
		return "the prompt holds personal data (" + p.kinds.String() + ") and the PII policy for this key and model is local-only, so no cloud provider may serve it"
	}
	return ""
}

// localScope narrows a request's scope to local runtimes.
type localScope struct{ inner router.Scope }

func (l localScope) AllowsProvider(provider string, local bool) bool {
	return local && (l.inner == nil || l.inner.AllowsProvider(provider, local))
}
