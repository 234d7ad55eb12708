package router

import "github.com/edgeway/edgeway/edge/llm"

// Target is one upstream a model name resolves to, for a caller that
// makes a side call to the upstream that would serve a request
// (count_tokens) instead of routing it.
type Target struct {
	// Provider is the upstream's Provider; Name and Type its configured
	// name and type; Model the upstream's own model name.
	Provider          llm.Provider
	Name, Type, Model string
	Local             bool
}

// Targets resolves model as Route does and returns its targets in the
// order Route tries them, without those scope (nil: none) does not
// allow. It does not look at health, breakers or busy caps: Route's
// failover is not replayed. The errors are Route's: *UnknownModelError,
// *NotAllowedError.
func (r *Router) Targets(model string, scope Scope) ([]Target, error) {
	cands, err := r.resolve(model, nil)
	if err != nil {
		return nil, err
	}
	out := make([]Target, 0, len(cands))
	var denied []string
	for _, c := range cands {
		if scope != nil && !scope.AllowsProvider(c.up.Name, c.up.Local) {
			denied = append(denied, c.target)
			continue
		}
		out = append(out, Target{Provider: c.up.Provider, Name: c.up.Name, Type: c.up.Type, Model: c.model, Local: c.up.Local})
	}
	if len(out) == 0 {
		return nil, &NotAllowedError{Model: model, Denied: denied}
	}
	return out, nil
}

// ProviderType returns the configured Type of the upstream named name, or
// "" when there is none: what wire a Status.Provider was spoken to in.
func (r *Router) ProviderType(name string) string {
	if u := r.byName[name]; u != nil {
		return u.Type
	}
	return ""
}
