package keys

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/edge/pii"
)

// Buckets this package owns in the gateway's bbolt file.
var (
	keysBucket  = []byte("keys/v1")
	teamsBucket = []byte("teams/v1")
)

// Errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// Store keeps teams and keys in bbolt and serves lookups from an immutable
// in-memory snapshot, replaced whole on every change (changes are rare,
// lookups are every request).
type Store struct {
	db  *bbolt.DB
	now func() time.Time
	mu  sync.Mutex // serialises writers
	cur atomic.Pointer[snapshot]
}

type snapshot struct {
	byHash map[Hash]*Caller
	byID   map[string]*Key
	teams  map[string]*Team
}

// Open loads the store from db, creating its buckets. now is the clock
// (time.Now when nil).
func Open(db *bbolt.DB, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	s := &Store{db: db, now: now}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{keysBucket, teamsBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return s.load(tx)
	})
	if err != nil {
		return nil, fmt.Errorf("keys: open: %w", err)
	}
	return s, nil
}

// load rebuilds the snapshot from tx.
func (s *Store) load(tx *bbolt.Tx) error {
	sn := &snapshot{byHash: map[Hash]*Caller{}, byID: map[string]*Key{}, teams: map[string]*Team{}}
	err := tx.Bucket(keysBucket).ForEach(func(k, v []byte) error {
		key, err := decodeKey(k, v)
		if err != nil {
			return err
		}
		sn.byID[key.ID] = key
		return nil
	})
	if err != nil {
		return err
	}
	err = tx.Bucket(teamsBucket).ForEach(func(k, v []byte) error {
		t := new(Team)
		if err := json.Unmarshal(v, t); err != nil {
			return fmt.Errorf("team %s: %w", k, err)
		}
		sn.teams[t.Name] = t
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range sn.byID {
		if k.Revoked.IsZero() {
			sn.byHash[k.Hash] = &Caller{Key: k, Team: sn.teams[k.Team], Admin: k.Role == RoleAdmin}
		}
	}
	s.cur.Store(sn)
	return nil
}

// storedKey is a key as the store writes it: with its hash, which the
// Key's own JSON leaves out.
type storedKey struct {
	*Key
	Hash Hash `json:"hash"`
}

func decodeKey(id, v []byte) (*Key, error) {
	sk := storedKey{Key: new(Key)}
	if err := json.Unmarshal(v, &sk); err != nil {
		return nil, fmt.Errorf("key %s: %w", id, err)
	}
	sk.Key.Hash = sk.Hash
	return sk.Key, nil
}

// update runs fn in a write transaction and, when it succeeds, reloads
// the snapshot from what was committed.
func (s *Store) update(fn func(tx *bbolt.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Update(func(tx *bbolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return s.load(tx)
	})
}

// Empty reports whether no key has ever been created (revoked ones count:
// a gateway that had keys stays closed).
func (s *Store) Empty() bool { return len(s.cur.Load().byID) == 0 }

// Lookup returns the active key whose text is secret, and its team (nil
// for a key without one). It does not allocate.
func (s *Store) Lookup(secret []byte) (*Key, *Team, bool) {
	c, ok := s.lookupHash(HashOf(secret))
	if !ok {
		return nil, nil, false
	}
	return c.Key, c.Team, true
}

// lookupHash returns the caller of the active key hashing to h. Each key's
// Caller is built with the snapshot, so a lookup allocates nothing.
func (s *Store) lookupHash(h Hash) (*Caller, bool) {
	c := s.cur.Load().byHash[h]
	if c == nil || !c.Key.Active(s.now()) {
		return nil, false
	}
	return c, true
}

// Key returns the key record with id.
func (s *Store) Key(id string) (*Key, bool) {
	k, ok := s.cur.Load().byID[id]
	return k, ok
}

// Team returns the team named name.
func (s *Store) Team(name string) (*Team, bool) {
	t, ok := s.cur.Load().teams[name]
	return t, ok
}

// Keys lists the keys of team (all keys for ""), oldest first.
func (s *Store) Keys(team string) []*Key {
	var out []*Key
	for _, k := range s.cur.Load().byID {
		if team == "" || k.Team == team {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b *Key) int { return a.Created.Compare(b.Created) })
	return out
}

// Teams lists the teams by name.
func (s *Store) Teams() []*Team {
	var out []*Team
	for _, t := range s.cur.Load().teams {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *Team) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// KeySpec is what a new key is made from.
type KeySpec struct {
	Name   string            `json:"name"`
	Team   string            `json:"team,omitempty"`
	Role   Role              `json:"role,omitempty"`
	Policy Policy            `json:"policy"`
	Tags   map[string]string `json:"tags,omitempty"`
	// TTL is the key's lifetime; 0 never expires.
	TTL time.Duration `json:"ttl,omitempty"`
}

// CreateKey makes a key from spec and returns its text, which exists
// nowhere else: it cannot be shown again.
func (s *Store) CreateKey(spec KeySpec) (string, *Key, error) {
	if spec.Role == "" {
		spec.Role = RoleMember
	}
	if err := s.checkSpec(&spec); err != nil {
		return "", nil, err
	}
	secret, prefix := newSecret()
	now := s.now().UTC()
	k := &Key{ID: newID(), Name: spec.Name, Team: spec.Team, Role: spec.Role, Prefix: prefix,
		Hash: HashOf([]byte(secret)), Policy: spec.Policy, Tags: spec.Tags, Created: now}
	if spec.TTL > 0 {
		k.Expires = now.Add(spec.TTL)
	}
	err := s.update(func(tx *bbolt.Tx) error {
		if spec.Team != "" && tx.Bucket(teamsBucket).Get([]byte(spec.Team)) == nil {
			return fmt.Errorf("team %q: %w", spec.Team, ErrNotFound)
		}
		return tx.Bucket(keysBucket).Put([]byte(k.ID), record(storedKey{k, k.Hash}))
	})
	if err != nil {
		return "", nil, err
	}
	return secret, k, nil
}

// Revoke ends key id at once.
func (s *Store) Revoke(id string) (*Key, error) {
	return s.change(id, func(k *Key) { k.Revoked = s.now().UTC() })
}

// Rotate gives key id a new text, keeping its id, policy and history; the
// old text stops working at once.
func (s *Store) Rotate(id string) (string, *Key, error) {
	var secret string
	k, err := s.change(id, func(k *Key) {
		var prefix string
		secret, prefix = newSecret()
		k.Hash, k.Prefix = HashOf([]byte(secret)), prefix
	})
	return secret, k, err
}

// change applies fn to a copy of key id and stores it.
func (s *Store) change(id string, fn func(*Key)) (*Key, error) {
	var out *Key
	err := s.update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(keysBucket)
		v := b.Get([]byte(id))
		if v == nil {
			return fmt.Errorf("key %q: %w", id, ErrNotFound)
		}
		k, err := decodeKey([]byte(id), v)
		if err != nil {
			return err
		}
		if !k.Revoked.IsZero() {
			return fmt.Errorf("key %q is revoked", id)
		}
		fn(k)
		out = k
		return b.Put([]byte(id), record(storedKey{k, k.Hash}))
	})
	return out, err
}

// PutTeam creates a team (create true) or replaces an existing team's
// policy and tags.
func (s *Store) PutTeam(t Team, create bool) (*Team, error) {
	if err := checkName("team name", t.Name); err != nil {
		return nil, err
	}
	if err := checkPolicy(&t.Policy); err != nil {
		return nil, err
	}
	err := s.update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(teamsBucket)
		old := b.Get([]byte(t.Name))
		switch {
		case create && old != nil:
			return fmt.Errorf("team %q: %w", t.Name, ErrExists)
		case !create && old == nil:
			return fmt.Errorf("team %q: %w", t.Name, ErrNotFound)
		case create:
			t.Created = s.now().UTC()
		default:
			var prev Team
			if err := json.Unmarshal(old, &prev); err != nil {
				return fmt.Errorf("team %s: %w", t.Name, err)
			}
			t.Created = prev.Created
		}
		return b.Put([]byte(t.Name), record(&t))
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// checkSpec validates a new key's spec.
func (s *Store) checkSpec(spec *KeySpec) error {
	if err := checkName("key name", spec.Name); err != nil {
		return err
	}
	if spec.Team != "" {
		if err := checkName("team", spec.Team); err != nil {
			return err
		}
	}
	if !spec.Role.Valid() {
		return fmt.Errorf("role %q: want admin, team-admin or member", spec.Role)
	}
	if spec.Role == RoleTeamAdmin && spec.Team == "" {
		return errors.New("a team-admin key needs a team")
	}
	if spec.TTL < 0 {
		return errors.New("expiry must be in the future")
	}
	for k, v := range spec.Tags {
		if err := checkName("tag", k); err != nil {
			return err
		}
		if len(v) > maxName {
			return fmt.Errorf("tag %s: value longer than %d bytes", k, maxName)
		}
	}
	return checkPolicy(&spec.Policy)
}

// maxName bounds names and tag values.
const maxName = 128

// checkName refuses empty, overlong and non-printable names: they end up
// in logs, tables and the ledger.
func checkName(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if len(s) > maxName {
		return fmt.Errorf("%s is longer than %d bytes", what, maxName)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%s %q holds a non-printable character", what, s)
		}
	}
	return nil
}

// clip bounds a rejected value echoed in an error.
func clip(s string) string {
	if len(s) > maxName {
		return s[:maxName] + "…"
	}
	return s
}

func checkPolicy(p *Policy) error {
	for _, m := range p.Models {
		if err := checkName("model", m); err != nil {
			return err
		}
	}
	for _, m := range p.Providers {
		if err := checkName("provider", m); err != nil {
			return err
		}
	}
	switch {
	case p.RPM < 0 || p.TPM < 0 || p.MaxConcurrent < 0:
		return errors.New("rpm, tpm and max_concurrent may not be negative")
	case p.BudgetUSD < 0:
		return errors.New("budget may not be negative")
	case p.BudgetUSD > 0 && p.BudgetPeriod == "":
		p.BudgetPeriod = Month
	case p.BudgetPeriod != "" && !p.BudgetPeriod.Valid():
		return fmt.Errorf("budget period %q: want 1h, 1d, 1w or 1mo", p.BudgetPeriod)
	case !pii.Action(p.PII).Valid():
		return fmt.Errorf("pii policy %q: want allow, redact-for-cloud, local-only or block", clip(p.PII))
	}
	return nil
}
