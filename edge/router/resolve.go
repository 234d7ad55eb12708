package router

import (
	"strings"
	"unicode/utf8"
)

// resolve turns a requested model name into its ordered candidates,
// appending to buf (which it may return). The result for an alias is
// shared and must not be modified.
func (r *Router) resolve(model string, buf []candidate) ([]candidate, error) {
	if c, ok := r.aliases[model]; ok {
		return c, nil
	}
	if i := strings.IndexByte(model, '/'); i > 0 && i < len(model)-1 {
		if u := r.byName[model[:i]]; u != nil {
			return append(buf[:0], candidate{up: u, model: model[i+1:], target: model}), nil
		}
	}
	cands := buf[:0]
	if model != "" {
		for _, u := range r.ups {
			if u.Local && u.hasModel(model) {
				cands = append(cands, candidate{up: u, model: model, target: u.Name + "/" + model})
			}
		}
		for _, u := range r.ups {
			if !u.Local && claims(u.Type, u.Name, model) {
				cands = append(cands, candidate{up: u, model: model, target: u.Name + "/" + model})
			}
		}
	}
	if len(cands) == 0 {
		return nil, &UnknownModelError{Model: model, Known: append([]string(nil), r.known...)}
	}
	return cands, nil
}

// hasModel reports whether a Local upstream may serve model: its last model
// list names it, or no list is known.
func (u *upstream) hasModel(model string) bool {
	s := u.models.Load()
	if s == nil {
		return true
	}
	_, ok := (*s)[model]
	return ok
}

// setModels records a Local upstream's model list. "name:latest" is also
// recorded as "name", which is how Ollama resolves an untagged name.
func (u *upstream) setModels(ids []string) {
	s := make(modelSet, len(ids)*2)
	for _, id := range ids {
		s[id] = struct{}{}
		if base, ok := strings.CutSuffix(id, ":latest"); ok && base != "" {
			s[base] = struct{}{}
		}
	}
	u.models.Store(&s)
}

// claims reports whether a cloud upstream of type typ named name serves the
// bare model name by its well-known prefix.
func claims(typ, name, model string) bool {
	switch {
	case typ == "openai":
		if strings.HasPrefix(model, "text-embedding-004") {
			return false // Gemini's
		}
		return hasAnyPrefix(model, "gpt-", "o1", "o3", "o4", "chatgpt-", "text-embedding-")
	case typ == "anthropic":
		return strings.HasPrefix(model, "claude-")
	case typ == "gemini":
		return hasAnyPrefix(model, "gemini-", "gemini-embedding", "text-embedding-004")
	case typ == "mistral", typ == "openai-compatible" && name == "mistral":
		return hasAnyPrefix(model, "mistral-", "ministral-", "codestral-", "open-mistral", "pixtral-")
	}
	return false
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// maxShown bounds how much of a client-supplied name an error message
// quotes.
const maxShown = 200

// clip shortens s to at most n bytes without splitting a rune.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
