// Package keys holds edgeway's identities: teams and the virtual keys the
// gateway hands to apps, what each may call, and the admin key. Keys are
// stored in the gateway's bbolt file only as SHA-256 hashes (a key is 32
// random bytes, so a fast hash is as strong as a slow one) and looked up
// from an in-memory snapshot, so checking a request's key costs one hash
// and one map read, with no lock and no allocation.
package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Role is what a key may do besides calling models.
type Role string

// Roles. An admin may do everything; a team admin manages its own team's
// keys and reads its usage; a member calls models.
const (
	RoleAdmin     Role = "admin"
	RoleTeamAdmin Role = "team-admin"
	RoleMember    Role = "member"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleTeamAdmin || r == RoleMember }

// SecretPrefix starts every virtual key, so a leaked one is recognisable
// (and secret scanners can be taught it).
const SecretPrefix = "ew-"

// secretBytes is the randomness in a key.
const secretBytes = 32

// displayLen is how much of a key (after SecretPrefix) is kept for display.
const displayLen = 6

// Hash is the SHA-256 of a key's full text.
type Hash [sha256.Size]byte

// HashOf hashes a presented key.
func HashOf(secret []byte) Hash { return sha256.Sum256(secret) }

// MarshalText writes h in hex.
func (h Hash) MarshalText() ([]byte, error) { return hex.AppendEncode(nil, h[:]), nil }

// UnmarshalText reads h from hex.
func (h *Hash) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(h) {
		return fmt.Errorf("key hash: want %d hex digits, got %d", 2*len(h), len(b))
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// Equal compares in constant time, for the admin key.
func (h Hash) Equal(o Hash) bool { return subtle.ConstantTimeCompare(h[:], o[:]) == 1 }

// Policy is what a key or a team may call and how much. A key is bound by
// its own policy and its team's: both must allow a call. The zero Policy
// allows everything without limit.
type Policy struct {
	// Models lists the aliases and "provider/model" names that may be
	// asked for; empty allows all.
	Models []string `json:"models,omitempty"`
	// Providers lists the providers a request may reach; empty allows all.
	Providers []string `json:"providers,omitempty"`
	// LocalOnly keeps every request on the device: no cloud provider, even
	// when the local runtime is down.
	LocalOnly bool `json:"local_only,omitempty"`
	// RPM and TPM bound requests and tokens per minute; 0 is unlimited.
	RPM int64 `json:"rpm,omitempty"`
	TPM int64 `json:"tpm,omitempty"`
	// MaxConcurrent bounds requests in flight; 0 is unlimited.
	MaxConcurrent int `json:"max_concurrent,omitempty"`
	// BudgetUSD bounds spend per BudgetPeriod; 0 is unlimited.
	BudgetUSD    float64 `json:"budget_usd,omitempty"`
	BudgetPeriod Period  `json:"budget_period,omitempty"`
	// PII is what happens to a prompt that holds personal data: allow,
	// redact-for-cloud, local-only or block (a pii.Action); empty is no
	// policy, and no scan. Of a key's and its team's, the stricter wins.
	PII string `json:"pii,omitempty"`
}

// AllowsModel reports whether the policy lets a request name model.
func (p *Policy) AllowsModel(model string) bool {
	return len(p.Models) == 0 || slices.Contains(p.Models, model)
}

// AllowsProvider reports whether the policy lets a request reach provider,
// local telling whether it is a runtime on the device.
func (p *Policy) AllowsProvider(provider string, local bool) bool {
	if p.LocalOnly && !local {
		return false
	}
	return len(p.Providers) == 0 || slices.Contains(p.Providers, provider)
}

// Team groups keys under one policy and one budget.
type Team struct {
	Name    string            `json:"name"`
	Policy  Policy            `json:"policy"`
	Tags    map[string]string `json:"tags,omitempty"`
	Created time.Time         `json:"created"`
}

// Key is a virtual key's record. The key itself is never stored: Hash
// identifies it and Prefix shows it to people. Its JSON, which the admin
// API shows, leaves the hash out; the store writes it apart (storedKey).
type Key struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Team    string            `json:"team,omitempty"`
	Role    Role              `json:"role"`
	Prefix  string            `json:"prefix"`
	Hash    Hash              `json:"-"`
	Policy  Policy            `json:"policy"`
	Tags    map[string]string `json:"tags,omitempty"`
	Created time.Time         `json:"created"`
	// Expires is when the key stops working; zero never.
	Expires time.Time `json:"expires,omitzero"`
	// Revoked is when the key was revoked; zero if it was not.
	Revoked time.Time `json:"revoked,omitzero"`
}

// Active reports whether k may be used at now.
func (k *Key) Active(now time.Time) bool {
	return k.Revoked.IsZero() && (k.Expires.IsZero() || now.Before(k.Expires))
}

// newSecret returns a fresh key and its display prefix.
func newSecret() (secret, prefix string) {
	var b [secretBytes]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	secret = SecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, secret[:len(SecretPrefix)+displayLen]
}

// newID returns a short random record id.
func newID() string {
	var b [6]byte
	rand.Read(b[:])
	return "key_" + hex.EncodeToString(b[:])
}

// Period is a budget's window: 1h, 1d, 1w or 1mo, aligned to UTC
// boundaries (the hour, midnight, Monday, the 1st) so a budget resets at a
// time a person can predict.
type Period string

// Periods.
const (
	Hour  Period = "1h"
	Day   Period = "1d"
	Week  Period = "1w"
	Month Period = "1mo"
)

// Valid reports whether p is a known period.
func (p Period) Valid() bool { return p == Hour || p == Day || p == Week || p == Month }

// Window returns the start and end of the period holding t.
func (p Period) Window(t time.Time) (start, end time.Time) {
	t = t.UTC()
	switch p {
	case Hour:
		start = t.Truncate(time.Hour)
		return start, start.Add(time.Hour)
	case Week:
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		start = d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
		return start, start.AddDate(0, 0, 7)
	case Month:
		start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	default: // Day
		start = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1)
	}
}

// maxLifetime bounds ParseDuration: a century is "never" for a key, and
// anything longer would overflow.
const maxLifetime = 100 * 365 * 24 * time.Hour

// ParseDuration reads a lifetime such as "30d", "12h" or "2w" (days and
// weeks on top of Go's units), for --expires and --since.
func ParseDuration(s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v <= 0 || n[0] == '+' || time.Duration(v) > maxLifetime/u.unit {
				return 0, fmt.Errorf("%q is not a duration like 30d, 2w or 12h (at most 100 years)", s)
			}
			return time.Duration(v) * u.unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a duration like 30d, 2w or 12h", s)
	}
	return d, nil
}

// record is how Key and Team are stored: JSON, so a field added later
// reads old records as its zero value.
func record(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("keys: encode %T: %v", v, err)) // plain structs: cannot fail
	}
	return b
}
