package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/edge/anthropic"
	"github.com/edgeway/edgeway/edge/audit"
	"github.com/edgeway/edgeway/edge/cache"
	"github.com/edgeway/edgeway/edge/config"
	"github.com/edgeway/edgeway/edge/gemini"
	"github.com/edgeway/edgeway/edge/keys"
	"github.com/edgeway/edgeway/edge/limits"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/openai"
	"github.com/edgeway/edgeway/edge/pii"
	"github.com/edgeway/edgeway/edge/pricing"
	"github.com/edgeway/edgeway/edge/responses"
	"github.com/edgeway/edgeway/edge/router"
	"github.com/edgeway/edgeway/edge/server"
	"github.com/edgeway/edgeway/edge/upstream"
	"github.com/edgeway/edgeway/runtime/llamacpp"
	"github.com/edgeway/edgeway/runtime/ollama"
	"github.com/edgeway/edgeway/sync/usage"
)

// gateway is the wired-up process: providers behind a router behind the
// HTTP server.
type gateway struct {
	router *router.Router
	server *server.Server
	cache  *cache.Cache // nil when off
	auth   *keys.Auth
	ledger *usage.Ledger    // nil without a data file
	audit  *audit.Log       // nil without a data file
	stored *responses.Store // nil without a data file
	// limits and semantic are kept across a live reload (reload.go).
	limits   *limits.Limiter // nil without a data file
	semantic bool
	// idlers are the providers' clients, whose pooled connections a
	// reload closes when their router is replaced.
	idlers []interface{ CloseIdleConnections() }
	// hint tells a first-time user what to do when nothing can serve.
	hint string
}

// build turns a validated config into a gateway. notes are things the user
// should know that do not stop the start (the semantic cache off for want
// of its word vectors).
func build(cfg *config.Config, log *slog.Logger, tooHot func() bool, db *bbolt.DB) (*gateway, []string, error) {
	return assemble(cfg, log, tooHot, db, nil)
}

// assemble is build; with keep (a live reload) the parts that hold state
// (cache, key store, stored responses, ledger, limiter, audit log) are
// keep's, not opened again, and only the router and the server's
// handlers are new.
func assemble(cfg *config.Config, log *slog.Logger, tooHot func() bool, db *bbolt.DB, keep *gateway) (*gateway, []string, error) {
	var (
		ups   []router.Upstream
		notes []string
		cloud bool
		local string
		// rts are the local runtimes, for the Ollama model endpoints.
		rts    []server.Runtime
		idlers []interface{ CloseIdleConnections() }
	)
	resolve, snotes, err := secretResolver(cfg, db)
	if err != nil {
		return nil, nil, err
	}
	notes = append(notes, snotes...)
	for i := range cfg.Providers {
		p := &cfg.Providers[i]
		prov, err := newProvider(p, resolve)
		if err != nil {
			return nil, nil, fmt.Errorf("providers[%d] %s: %w", i, p.Name, err)
		}
		if c, ok := prov.(interface{ CloseIdleConnections() }); ok {
			idlers = append(idlers, c)
		}
		if p.Local() {
			rts = append(rts, server.Runtime{Name: p.Name, Provider: prov})
			if local == "" {
				local = config.RedactURL(p.BaseURL) // shown to clients in hints
			}
		} else {
			cloud = true
			// A key with the redact-for-cloud PII policy marks its
			// requests; this is where they leave the device.
			prov = pii.Wrap(prov)
		}
		typ := p.Type
		if p.Wire == "responses" {
			typ = openai.PassthroughDialect // the wire it is spoken to in
		}
		ups = append(ups, router.Upstream{
			Name:              p.Name,
			Type:              typ,
			Provider:          prov,
			Local:             p.Local(),
			MaxInFlight:       p.MaxInFlight,
			ContextLength:     p.ContextLength,
			FirstTokenTimeout: p.FirstTokenTimeout.D(),
			StallTimeout:      p.StallTimeout.D(),
		})
	}
	rc := cfg.Router
	r, err := router.New(router.Config{
		Upstreams:        ups,
		Aliases:          cfg.Models,
		MaxAttempts:      rc.MaxAttempts,
		RetryBase:        rc.RetryBase.D(),
		RetryMax:         rc.RetryMax.D(),
		Deadline:         rc.Deadline.D(),
		BreakerThreshold: rc.BreakerThreshold,
		BreakerCooldown:  rc.BreakerCooldown.D(),
		ProbeInterval:    rc.ProbeInterval.D(),
		ProbeTimeout:     rc.ProbeTimeout.D(),
		StallTimeout:     rc.StallTimeout.D(),
		MaxAnswerBytes:   cfg.Server.MaxAnswerBytes,
		TooHot:           tooHot,
		Logger:           log,
	})
	if err != nil {
		return nil, nil, err
	}
	hint := ""
	if !cloud {
		if local == "" {
			local = config.DefaultOllamaURL
		}
		hint = "start Ollama at " + local + " or set OPENAI_API_KEY (or ANTHROPIC_API_KEY, GEMINI_API_KEY, MISTRAL_API_KEY)"
	} else {
		hint = "no local runtime is up and no cloud provider answers: check the network and the API keys"
	}
	var (
		respCache *cache.Cache
		semantic  bool
	)
	if keep != nil {
		respCache, semantic = keep.cache, keep.semantic
	} else if db != nil {
		c, sem, cnotes, err := openCache(db, cfg, r, log)
		if err != nil {
			return nil, nil, err
		}
		respCache, semantic, notes = c, sem, append(notes, cnotes...)
	}
	adminKey, err := cfg.Auth.ResolveAdminKey(os.LookupEnv)
	if err != nil {
		return nil, nil, err
	}
	var (
		store  *keys.Store
		ledger *usage.Ledger
		alog   *audit.Log
		stored *responses.Store
	)
	if keep != nil {
		store, ledger, alog, stored = keep.auth.Store(), keep.ledger, keep.audit, keep.stored
	} else if db != nil {
		if store, err = keys.Open(db, nil); err != nil {
			return nil, nil, err
		}
		if stored, err = responses.Open(db, responses.Options{TTL: cfg.Responses.TTL.D(), MaxEntries: cfg.Responses.MaxEntries, Logger: log}); err != nil {
			return nil, nil, err
		}
		lopts := usage.Options{Sync: usage.SyncMode(cfg.Ledger.Sync), MaxBytes: cfg.Ledger.MaxBytes, Logger: log}
		if ledger, err = usage.Open(db, lopts); err != nil {
			return nil, nil, err
		}
	}
	auth := keys.NewAuth(store, adminKey)
	s := cfg.Server
	opts := server.Options{
		Auth:            auth,
		PIIDefault:      cfg.PII.Default,
		PIIModels:       cfg.PII.Models,
		Usage:           ledger,
		Router:          r,
		MaxBodyBytes:    s.MaxBodyBytes,
		ReadTimeout:     s.ReadTimeout.D(),
		WriteTimeout:    s.WriteTimeout.D(),
		IdleTimeout:     s.IdleTimeout.D(),
		RequestTimeout:  s.RequestTimeout.D(),
		MaxConcurrency:  s.MaxConcurrency,
		Logger:          log,
		Version:         version,
		UnavailableHint: hint,
		MaxConns:        s.MaxConnections,
		HeaderTimeout:   s.HeaderTimeout.D(),
		AllowedOrigins:  s.AllowedOrigins,
		AllowedHosts:    s.AllowedHosts,
		Secrets:         providerSecrets(cfg, resolve),
		MaxAnswerBytes:  s.MaxAnswerBytes,
		Runtimes:        rts,
	}
	if respCache != nil {
		opts.Cache = respCache
		opts.CachePolicy = cache.Policy{Mode: cfg.Cache.Mode, CacheToolCalls: cfg.Cache.CacheToolCalls}
		opts.CacheTTL = cfg.Cache.TTL.D()
		opts.SemanticCache = semantic
		opts.SemanticEmbedderLocal = embedderLocal(cfg)
	}
	if ledger != nil {
		opts.Ledger = ledger
	}
	if stored != nil {
		opts.Responses = stored
	}
	prices, err := priceTable(cfg)
	if err != nil {
		return nil, nil, err
	}
	opts.Pricer = prices
	if keep != nil {
		opts.Limits = keep.limits
	} else if store != nil && ledger != nil {
		if opts.Limits, err = restoreLimits(store, ledger); err != nil {
			return nil, nil, err
		}
	}
	if keep != nil {
		if alog != nil {
			opts.Audit = alog
		}
	} else if db != nil {
		// Last, so a start that fails leaves no record of its config.
		if alog, err = openAudit(db, cfg, log); err != nil {
			return nil, nil, err
		}
		opts.Audit = alog
	}
	return &gateway{router: r, server: server.New(opts), cache: respCache, auth: auth, ledger: ledger, audit: alog, stored: stored,
		limits: opts.Limits, semantic: semantic, idlers: idlers, hint: hint}, notes, nil
}

// providerSecrets are the providers' credentials (keys, credential
// headers, base_url passwords), for the server to redact by value.
func providerSecrets(cfg *config.Config, resolve func(config.Secret) (string, error)) []string {
	var out []string
	for _, p := range cfg.Providers {
		if k, err := resolve(p.APIKey); err == nil && k != "" {
			out = append(out, k)
		}
		for h, v := range p.Headers {
			if upstream.CredentialHeader(h) {
				out = append(out, v)
			}
		}
		if u, err := url.Parse(p.BaseURL); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok {
				out = append(out, pw)
			}
		}
	}
	return out
}

// newProvider builds the client for one configured provider; resolve
// turns its api_key reference into the key.
func newProvider(p *config.Provider, resolve func(config.Secret) (string, error)) (llm.Provider, error) {
	key, err := resolve(p.APIKey)
	if err != nil {
		return nil, fmt.Errorf("api_key: %w", err)
	}
	ep := upstream.Endpoint{Name: p.Name, BaseURL: p.BaseURL, APIKey: key, Headers: p.Headers, Timeout: p.Timeout.D(), ConnectTimeout: p.ConnectTimeout.D()}
	switch p.Type {
	case config.TypeOllama:
		return ollama.New(ollama.Options{
			Name: ep.Name, BaseURL: ep.BaseURL, APIKey: ep.APIKey, Headers: ep.Headers,
			Timeout: ep.Timeout, ConnectTimeout: ep.ConnectTimeout, Options: p.Options,
		})
	case config.TypeLlamaCpp:
		return llamacpp.New(llamacpp.Options{Endpoint: ep, NoStreamOptions: p.NoStreamOptions, MaxTokensField: p.MaxTokensField})
	case config.TypeOpenAI, config.TypeOpenAICompatible:
		return openai.New(openai.Options{Endpoint: ep, NoStreamOptions: p.NoStreamOptions, MaxTokensField: p.MaxTokensField, Responses: p.Wire == "responses"})
	case config.TypeAnthropic:
		return anthropic.New(anthropic.Options{Endpoint: ep})
	case config.TypeGemini:
		return gemini.New(gemini.Options{Endpoint: ep})
	}
	// Unreachable for a validated config; a guard for new types.
	return nil, fmt.Errorf("type %q has no client", p.Type)
}

// priceTable prices the configured providers from the embedded catalog and
// the config's overrides.
func priceTable(cfg *config.Config) (*pricing.Table, error) {
	cat, err := pricing.Load()
	if err != nil {
		return nil, err
	}
	ups := make(map[string]pricing.Upstream, len(cfg.Providers))
	for i := range cfg.Providers {
		p := &cfg.Providers[i]
		ups[p.Name] = pricing.Upstream{Type: p.Type, BaseURL: p.BaseURL, Local: p.Local()}
	}
	over := make(map[string]pricing.Price, len(cfg.Pricing))
	for k, p := range cfg.Pricing {
		over[k] = pricing.Price{Input: p.Input, Output: p.Output, CacheRead: p.CachedInput, CacheWrite: p.CacheWrite}
	}
	return pricing.NewTable(cat, ups, over, cfg.Models), nil
}

// restoreLimits builds the limiter and books what the ledger says was
// already spent this budget period and requested this minute, so a restart
// frees no budget and no rate.
func restoreLimits(store *keys.Store, ledger *usage.Ledger) (*limits.Limiter, error) {
	l := limits.New(nil)
	now := time.Now()
	// A month is the longest period; a week may begin in the month before.
	since := now.AddDate(0, -1, -7)
	err := ledger.Rollups(since, func(g usage.Group, t usage.Totals) {
		if k, ok := store.Key(g.Key); ok {
			l.RestoreSpend('k', k.ID, &k.Policy, g.Hour, t.CostUSD)
		}
		if tm, ok := store.Team(g.Team); ok {
			l.RestoreSpend('t', tm.Name, &tm.Policy, g.Hour, t.CostUSD)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("limits: read spend: %w", err)
	}
	err = ledger.Recent(now.Add(-time.Minute), func(r *usage.Record) {
		tokens := r.TokensIn + r.TokensOut
		if k, ok := store.Key(r.Key); ok {
			l.RestoreRecent('k', k.ID, &k.Policy, r.Time, tokens)
		}
		if tm, ok := store.Team(r.Team); ok {
			l.RestoreRecent('t', tm.Name, &tm.Policy, r.Time, tokens)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("limits: read the last minute: %w", err)
	}
	return l, nil
}

// embedderLocal reports whether the semantic cache's embedder runs on the
// device: the built-in word vectors, or a model of a local runtime.
func embedderLocal(cfg *config.Config) bool {
	e := cfg.Cache.Semantic.Embedder
	if e == "" || e == "glove" {
		return true
	}
	name, _, _ := strings.Cut(e, "/")
	for i := range cfg.Providers {
		if cfg.Providers[i].Name == name {
			return cfg.Providers[i].Local()
		}
	}
	return false
}

// loopback reports whether a listen address accepts only this machine's
// connections.
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// authState says at start who may call.
func authState(a *keys.Auth) string {
	if a.Open() {
		return "open: no admin key and no keys, so any local program may call (loopback only); set " + config.AdminKeyEnv + " to require keys"
	}
	n := 0
	if st := a.Store(); st != nil {
		for _, k := range st.Keys("") {
			if k.Revoked.IsZero() {
				n++
			}
		}
	}
	admin := "no admin key"
	if a.HasAdmin() {
		admin = "admin key set"
	}
	return fmt.Sprintf("keys required (%d active keys, %s)", n, admin)
}
