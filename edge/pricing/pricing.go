// Package pricing turns a provider's token usage into dollars. Its default
// prices come from catalog.json, generated from the maintained
// @pydantic/genai-prices catalog by `make prices` (never typed by hand);
// the config may override or add a price per provider/model. Local
// runtimes cost nothing unless the config prices them, and a model with no
// price has an unknown cost, which the ledger records as unknown, never as
// free.
package pricing

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/edgeway/edgeway/edge/llm"
)

//go:embed catalog.json
var catalogJSON []byte

// Price is what a model costs, in USD per million tokens. CacheRead and
// CacheWrite apply to the prompt tokens the provider read from or wrote to
// its prompt cache; zero means "as input".
type Price struct {
	Input      float64 `json:"in"`
	Output     float64 `json:"out"`
	CacheRead  float64 `json:"cache_read,omitempty"`
	CacheWrite float64 `json:"cache_write,omitempty"`
}

// Cost prices u.
func (p *Price) Cost(u llm.Usage) float64 {
	read, write := p.CacheRead, p.CacheWrite
	if read == 0 {
		read = p.Input
	}
	if write == 0 {
		write = p.Input
	}
	plain := max(u.PromptTokens-u.CachedTokens-u.CacheWriteTokens, 0)
	return (float64(plain)*p.Input + float64(u.CachedTokens)*read +
		float64(u.CacheWriteTokens)*write + float64(u.CompletionTokens)*p.Output) / 1e6
}

// Catalog is the embedded price list.
type Catalog struct {
	Source    string
	providers map[string]*provider
	order     []*provider
}

type provider struct {
	id     string
	api    *regexp.Regexp
	models []model
}

type model struct {
	id      string
	match   matcher
	price   Price
	context int
}

// Load parses the embedded catalog.
func Load() (*Catalog, error) {
	var doc struct {
		Source    string `json:"source"`
		Providers []struct {
			ID     string `json:"id"`
			API    string `json:"api"`
			Models []struct {
				ID      string          `json:"id"`
				Match   json.RawMessage `json:"match"`
				Prices  Price           `json:"prices"`
				Context int             `json:"context"`
			} `json:"models"`
		} `json:"providers"`
	}
	if err := json.Unmarshal(catalogJSON, &doc); err != nil {
		return nil, fmt.Errorf("pricing: catalog: %w", err)
	}
	c := &Catalog{Source: doc.Source, providers: map[string]*provider{}}
	for _, dp := range doc.Providers {
		p := &provider{id: dp.ID}
		if re, err := regexp.Compile("^" + dp.API); err == nil {
			p.api = re
		}
		for _, dm := range dp.Models {
			m, err := parseMatch(dm.Match)
			if err != nil {
				continue // a JavaScript regexp RE2 cannot compile: that model goes unpriced
			}
			p.models = append(p.models, model{id: dm.ID, match: m, price: dm.Prices, context: dm.Context})
		}
		c.providers[p.id] = p
		c.order = append(c.order, p)
	}
	return c, nil
}

// catalogID is the catalog's provider for an edgeway provider type.
var catalogID = map[string]string{"openai": "openai", "anthropic": "anthropic", "gemini": "google"}

// ProviderFor names the catalog provider for a configured provider of
// type typ at baseURL ("" when the catalog has none): by type, or for an
// OpenAI-compatible API by its URL (Mistral, Groq, DeepSeek, ...).
func (c *Catalog) ProviderFor(typ, baseURL string) string {
	if id, ok := catalogID[typ]; ok && (baseURL == "" || c.providers[id].api == nil || c.providers[id].api.MatchString(baseURL)) {
		return id
	}
	for _, p := range c.order {
		if p.api != nil && baseURL != "" && p.api.MatchString(baseURL) {
			return p.id
		}
	}
	return catalogID[typ]
}

// Lookup finds the price of model at catalog provider id.
func (c *Catalog) Lookup(id, model string) (Price, bool) {
	p := c.providers[id]
	if p == nil {
		return Price{}, false
	}
	lower := strings.ToLower(model)
	for i := range p.models {
		if p.models[i].match.matches(lower) {
			return p.models[i].price, true
		}
	}
	return Price{}, false
}

// Table prices the configured providers.
type Table struct {
	cat       *Catalog
	providers map[string]Upstream
	overrides map[string]Price    // "provider/model"
	aliases   map[string][]string // alias → "provider/model" targets

	mu   sync.RWMutex
	memo map[string]memoEntry // "provider/model" → the catalog's answer
}

type memoEntry struct {
	price Price
	ok    bool
}

// maxMemo bounds the remembered lookups: model names come from clients.
const maxMemo = 4096

// Upstream is what pricing needs to know of a configured provider.
type Upstream struct {
	Type, BaseURL string
	Local         bool
}

// NewTable prices the providers (by configured name), with overrides
// keyed "provider/model" and the config's aliases for Estimate.
func NewTable(cat *Catalog, providers map[string]Upstream, overrides map[string]Price, aliases map[string][]string) *Table {
	return &Table{cat: cat, providers: providers, overrides: overrides, aliases: aliases, memo: map[string]memoEntry{}}
}

// Estimate is what usage u of model (an alias or "provider/model") may
// cost before it is known which target serves: the dearest known price
// among the alias's targets. A budget reserves it at admission. A model
// with no known price estimates at zero.
func (t *Table) Estimate(model string, u llm.Usage) float64 {
	targets, ok := t.aliases[model]
	if !ok {
		targets = []string{model}
	}
	most := 0.0
	for _, target := range targets {
		provider, m, ok := strings.Cut(target, "/")
		if !ok {
			continue
		}
		if c, known := t.Cost(provider, m, u); known {
			most = max(most, c)
		}
	}
	return most
}

// Cost prices usage u of model at the configured provider. known is false
// when the model has no price.
func (t *Table) Cost(provider, model string, u llm.Usage) (float64, bool) {
	p, ok := t.Price(provider, model)
	if !ok {
		return 0, false
	}
	return p.Cost(u), true
}

// Price returns the price of model at the configured provider: the
// config's override, else zero for a local runtime, else the catalog's.
func (t *Table) Price(provider, model string) (Price, bool) {
	key := provider + "/" + model
	if p, ok := t.overrides[key]; ok {
		return p, true
	}
	up, ok := t.providers[provider]
	if !ok {
		return Price{}, false
	}
	if up.Local {
		return Price{}, true
	}
	t.mu.RLock()
	e, ok := t.memo[key]
	t.mu.RUnlock()
	if ok {
		return e.price, e.ok
	}
	e.price, e.ok = t.cat.Lookup(t.cat.ProviderFor(up.Type, up.BaseURL), model)
	t.mu.Lock()
	if len(t.memo) < maxMemo {
		t.memo[key] = e
	}
	t.mu.Unlock()
	return e.price, e.ok
}

// matcher is the catalog's model-name match logic.
type matcher struct {
	equals, startsWith, endsWith, contains string
	re                                     *regexp.Regexp
	or, and                                []matcher
}

func parseMatch(raw json.RawMessage) (matcher, error) {
	var m struct {
		Equals     *string           `json:"equals"`
		StartsWith *string           `json:"starts_with"`
		EndsWith   *string           `json:"ends_with"`
		Contains   *string           `json:"contains"`
		Regex      *string           `json:"regex"`
		Or         []json.RawMessage `json:"or"`
		And        []json.RawMessage `json:"and"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return matcher{}, err
	}
	var out matcher
	switch {
	case m.Equals != nil:
		out.equals = strings.ToLower(*m.Equals)
	case m.StartsWith != nil:
		out.startsWith = strings.ToLower(*m.StartsWith)
	case m.EndsWith != nil:
		out.endsWith = strings.ToLower(*m.EndsWith)
	case m.Contains != nil:
		out.contains = strings.ToLower(*m.Contains)
	case m.Regex != nil:
		re, err := regexp.Compile("(?i)" + *m.Regex)
		if err != nil {
			return matcher{}, err
		}
		out.re = re
	case m.Or != nil || m.And != nil:
		for _, r := range m.Or {
			sub, err := parseMatch(r)
			if err != nil {
				return matcher{}, err
			}
			out.or = append(out.or, sub)
		}
		for _, r := range m.And {
			sub, err := parseMatch(r)
			if err != nil {
				return matcher{}, err
			}
			out.and = append(out.and, sub)
		}
	default:
		return matcher{}, fmt.Errorf("pricing: unknown match %s", raw)
	}
	return out, nil
}

// matches reports whether the lower-cased model name s matches.
func (m *matcher) matches(s string) bool {
	switch {
	case m.equals != "":
		return s == m.equals
	case m.startsWith != "":
		return strings.HasPrefix(s, m.startsWith)
	case m.endsWith != "":
		return strings.HasSuffix(s, m.endsWith)
	case m.contains != "":
		return strings.Contains(s, m.contains)
	case m.re != nil:
		return m.re.MatchString(s)
	case m.or != nil:
		for i := range m.or {
			if m.or[i].matches(s) {
				return true
			}
		}
		return false
	case m.and != nil:
		for i := range m.and {
			if !m.and[i].matches(s) {
				return false
			}
		}
		return true
	}
	return false
}
