package keys

import (
	"bytes"
)

// Caller is who made a request: a virtual key (with its team), the admin
// key, or nobody at all on an open gateway.
type Caller struct {
	Key   *Key  // nil for the admin key and an open gateway
	Team  *Team // nil when the key has no team
	Admin bool
}

// Anyone is the caller of a gateway with no keys: it may call any model and
// administer nothing.
var Anyone = &Caller{}

var admin = &Caller{Admin: true}

// AllowsModel reports whether the caller may ask for model (an alias or
// "provider/model").
func (c *Caller) AllowsModel(model string) bool {
	if c.Key != nil && !c.Key.Policy.AllowsModel(model) {
		return false
	}
	return c.Team == nil || c.Team.Policy.AllowsModel(model)
}

// AllowsProvider reports whether the caller's requests may reach provider;
// local tells whether it runs on the device. The router asks this of every
// target, so a local-only key never reaches a cloud provider.
func (c *Caller) AllowsProvider(provider string, local bool) bool {
	if c.Key != nil && !c.Key.Policy.AllowsProvider(provider, local) {
		return false
	}
	return c.Team == nil || c.Team.Policy.AllowsProvider(provider, local)
}

// LocalOnly reports whether the caller may reach only local runtimes.
func (c *Caller) LocalOnly() bool {
	return c.Key != nil && c.Key.Policy.LocalOnly || c.Team != nil && c.Team.Policy.LocalOnly
}

// ManagesTeam reports whether the caller may administer team's keys and
// read its usage ("" meaning every team: only the admin).
func (c *Caller) ManagesTeam(team string) bool {
	if c.Admin {
		return true
	}
	return team != "" && c.Key != nil && c.Key.Role == RoleTeamAdmin && c.Key.Team == team
}

// ID names the caller in logs and the ledger: the key's id, "admin", or "".
func (c *Caller) ID() string {
	switch {
	case c.Key != nil:
		return c.Key.ID
	case c.Admin:
		return "admin"
	}
	return ""
}

// TeamName is the caller's team, or "".
func (c *Caller) TeamName() string {
	if c.Key != nil {
		return c.Key.Team
	}
	return ""
}

// Auth decides who a request comes from.
type Auth struct {
	store    *Store
	admin    Hash
	hasAdmin bool
}

// NewAuth authenticates against store and, when adminKey is not empty, the
// admin key. store may be nil (no virtual keys).
func NewAuth(store *Store, adminKey string) *Auth {
	a := &Auth{store: store}
	if adminKey != "" {
		a.admin, a.hasAdmin = HashOf([]byte(adminKey)), true
	}
	return a
}

// Open reports whether the gateway has neither an admin key nor any
// virtual key: then every request is let in (and cmd keeps such a gateway
// on loopback).
func (a *Auth) Open() bool {
	return !a.hasAdmin && (a.store == nil || a.store.Empty())
}

// HasAdmin reports whether an admin key is configured.
func (a *Auth) HasAdmin() bool { return a.hasAdmin }

// Store returns the key store (nil when there is none).
func (a *Auth) Store() *Store { return a.store }

// Check returns the caller a presented key belongs to; secret is empty
// when the request carried none. It does not allocate.
func (a *Auth) Check(secret []byte) (*Caller, bool) {
	if a.Open() {
		return Anyone, true
	}
	if len(secret) == 0 {
		return nil, false
	}
	h := HashOf(secret)
	if a.hasAdmin && h.Equal(a.admin) {
		return admin, true
	}
	if a.store == nil {
		return nil, false
	}
	return a.store.lookupHash(h)
}

// FromHeaders finds the presented key among the headers clients send it
// in: Authorization: Bearer (OpenAI and Ollama clients), x-api-key
// (Anthropic's) and api-key (Azure-style). get is the request's header
// getter; the result aliases its memory.
func FromHeaders(get func(name string) []byte) []byte {
	if v := get("Authorization"); len(v) > 0 {
		if len(v) > 7 && bytes.EqualFold(v[:7], []byte("Bearer ")) {
			return bytes.TrimSpace(v[7:])
		}
		return nil
	}
	if v := get("x-api-key"); len(v) > 0 {
		return bytes.TrimSpace(v)
	}
	return bytes.TrimSpace(get("api-key"))
}
