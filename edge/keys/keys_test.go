package keys

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func openDB(t testing.TB) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "k.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func openStore(t testing.TB) (*Store, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
	s, err := Open(openDB(t), c.now)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func TestCreateLookupRevokeRotate(t *testing.T) {
	s, clk := openStore(t)
	if !s.Empty() {
		t.Fatal("new store not empty")
	}
	secret, k, err := s.CreateKey(KeySpec{Name: "app", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "ew-") || len(secret) != 3+43 {
		t.Fatalf("secret %q: want ew- and 43 base64url characters", secret)
	}
	if !strings.HasPrefix(secret, k.Prefix) || len(k.Prefix) != 9 {
		t.Fatalf("prefix %q of %q", k.Prefix, secret)
	}
	if got, _, ok := s.Lookup([]byte(secret)); !ok || got.ID != k.ID {
		t.Fatalf("lookup: %v %v", got, ok)
	}
	if _, _, ok := s.Lookup([]byte(secret + "x")); ok {
		t.Fatal("a wrong key was accepted")
	}

	// Rotation: old text dead, new text alive, same id.
	secret2, k2, err := s.Rotate(k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s.Lookup([]byte(secret)); ok {
		t.Fatal("old key works after rotate")
	}
	if got, _, ok := s.Lookup([]byte(secret2)); !ok || got.ID != k.ID || k2.ID != k.ID {
		t.Fatal("rotated key does not work")
	}

	// Expiry.
	clk.t = clk.t.Add(2 * time.Hour)
	if _, _, ok := s.Lookup([]byte(secret2)); ok {
		t.Fatal("expired key works")
	}
	clk.t = clk.t.Add(-2 * time.Hour)

	if _, err := s.Revoke(k.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s.Lookup([]byte(secret2)); ok {
		t.Fatal("revoked key works")
	}
	if _, _, err := s.Rotate(k.ID); err == nil {
		t.Fatal("rotated a revoked key")
	}
	if _, err := s.Revoke("key_nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	if s.Empty() {
		t.Fatal("a store that had keys reports empty")
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	db := openDB(t)
	s, err := Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutTeam(Team{Name: "ml", Policy: Policy{LocalOnly: true}}, true); err != nil {
		t.Fatal(err)
	}
	secret, k, err := s.CreateKey(KeySpec{Name: "a", Team: "ml", Policy: Policy{Models: []string{"fast"}}})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, team, ok := s2.Lookup([]byte(secret))
	if !ok || got.ID != k.ID || team == nil || !team.Policy.LocalOnly || got.Policy.Models[0] != "fast" {
		t.Fatalf("after reopen: %+v %+v %v", got, team, ok)
	}
	// Nothing in the file is the key itself.
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				if strings.Contains(string(v), secret[3:]) {
					t.Errorf("bucket %s holds the key in plaintext", name)
				}
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSpecValidation(t *testing.T) {
	s, _ := openStore(t)
	if _, err := s.PutTeam(Team{Name: "ops"}, true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		spec KeySpec
		want string // substring of the error; "" for success
	}{
		{"plain", KeySpec{Name: "a"}, ""},
		{"in team", KeySpec{Name: "a", Team: "ops"}, ""},
		{"team admin", KeySpec{Name: "a", Team: "ops", Role: RoleTeamAdmin}, ""},
		{"empty name", KeySpec{}, "key name is empty"},
		{"control char", KeySpec{Name: "a\x1b[2J"}, "non-printable"},
		{"long name", KeySpec{Name: strings.Repeat("n", 129)}, "longer than 128"},
		{"unknown team", KeySpec{Name: "a", Team: "nope"}, "not found"},
		{"bad role", KeySpec{Name: "a", Role: "root"}, "role"},
		{"team admin without team", KeySpec{Name: "a", Role: RoleTeamAdmin}, "needs a team"},
		{"negative rpm", KeySpec{Name: "a", Policy: Policy{RPM: -1}}, "negative"},
		{"negative budget", KeySpec{Name: "a", Policy: Policy{BudgetUSD: -1}}, "negative"},
		{"bad period", KeySpec{Name: "a", Policy: Policy{BudgetUSD: 1, BudgetPeriod: "2d"}}, "budget period"},
		{"past expiry", KeySpec{Name: "a", TTL: -time.Second}, "future"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.CreateKey(tc.spec)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := s.PutTeam(Team{Name: "ops"}, true); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate team: %v", err)
	}
	if _, err := s.PutTeam(Team{Name: "ghost"}, false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("set unknown team: %v", err)
	}
}

func TestCallerPermissions(t *testing.T) {
	team := &Team{Name: "t", Policy: Policy{Models: []string{"fast", "ollama/qwen"}, Providers: []string{"ollama", "openai"}}}
	for _, tc := range []struct {
		name         string
		c            *Caller
		model        string
		provider     string
		local        bool
		wantModel    bool // AllowsModel
		wantProvider bool // AllowsProvider
	}{
		{"open gateway", Anyone, "x", "openai", false, true, true},
		{"admin", admin, "x", "openai", false, true, true},
		{"free key", &Caller{Key: &Key{}}, "x", "anthropic", false, true, true},
		{"key models", &Caller{Key: &Key{Policy: Policy{Models: []string{"fast"}}}}, "smart", "openai", false, false, true},
		{"key models ok", &Caller{Key: &Key{Policy: Policy{Models: []string{"fast"}}}}, "fast", "openai", false, true, true},
		{"local-only cloud", &Caller{Key: &Key{Policy: Policy{LocalOnly: true}}}, "fast", "openai", false, true, false},
		{"local-only local", &Caller{Key: &Key{Policy: Policy{LocalOnly: true}}}, "fast", "ollama", true, true, true},
		{"team narrows model", &Caller{Key: &Key{}, Team: team}, "smart", "ollama", true, false, true},
		{"team allows model", &Caller{Key: &Key{}, Team: team}, "fast", "ollama", true, true, true},
		{"team narrows provider", &Caller{Key: &Key{}, Team: team}, "fast", "anthropic", false, true, false},
		{"team local-only", &Caller{Key: &Key{}, Team: &Team{Policy: Policy{LocalOnly: true}}}, "m", "openai", false, true, false},
		{"key narrower than team", &Caller{Key: &Key{Policy: Policy{Providers: []string{"ollama"}}}, Team: team}, "fast", "openai", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.AllowsModel(tc.model); got != tc.wantModel {
				t.Errorf("AllowsModel(%q) = %v", tc.model, got)
			}
			if got := tc.c.AllowsProvider(tc.provider, tc.local); got != tc.wantProvider {
				t.Errorf("AllowsProvider(%q, %v) = %v", tc.provider, tc.local, got)
			}
		})
	}
}

func TestManagesTeam(t *testing.T) {
	ta := &Caller{Key: &Key{Role: RoleTeamAdmin, Team: "a"}}
	member := &Caller{Key: &Key{Role: RoleMember, Team: "a"}}
	for _, tc := range []struct {
		c    *Caller
		team string
		want bool
	}{
		{admin, "", true}, {admin, "a", true},
		{ta, "a", true}, {ta, "b", false}, {ta, "", false},
		{member, "a", false}, {Anyone, "a", false}, {Anyone, "", false},
	} {
		if got := tc.c.ManagesTeam(tc.team); got != tc.want {
			t.Errorf("%s manages %q = %v, want %v", tc.c.ID(), tc.team, got, tc.want)
		}
	}
}

func TestAuth(t *testing.T) {
	s, _ := openStore(t)
	if a := NewAuth(s, ""); !a.Open() {
		t.Fatal("no keys and no admin key: want open")
	} else if c, ok := a.Check(nil); !ok || c != Anyone {
		t.Fatal("open gateway refused a keyless request")
	}
	a := NewAuth(s, "sesame")
	if a.Open() {
		t.Fatal("admin key configured: want closed")
	}
	secret, k, err := s.CreateKey(KeySpec{Name: "app"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, secret, want string
	}{
		{"none", "", ""},
		{"wrong", "ew-nope", ""},
		{"admin", "sesame", "admin"},
		{"virtual", secret, k.ID},
	} {
		c, ok := a.Check([]byte(tc.secret))
		if got := ""; ok {
			got = c.ID()
			if got != tc.want {
				t.Errorf("%s: caller %q, want %q", tc.name, got, tc.want)
			}
		} else if tc.want != "" {
			t.Errorf("%s: refused", tc.name)
		}
	}
}

func TestFromHeaders(t *testing.T) {
	for _, tc := range []struct {
		h    map[string]string
		want string
	}{
		{map[string]string{"Authorization": "Bearer ew-1"}, "ew-1"},
		{map[string]string{"Authorization": "bearer  ew-1 "}, "ew-1"},
		{map[string]string{"Authorization": "Basic Zm9v"}, ""},
		{map[string]string{"x-api-key": "ew-2"}, "ew-2"},
		{map[string]string{"api-key": "ew-3"}, "ew-3"},
		{map[string]string{"Authorization": "Bearer ew-1", "x-api-key": "ew-2"}, "ew-1"},
		{map[string]string{}, ""},
	} {
		got := FromHeaders(func(n string) []byte { return []byte(tc.h[n]) })
		if string(got) != tc.want {
			t.Errorf("%v: got %q, want %q", tc.h, got, tc.want)
		}
	}
}

func TestPeriodWindow(t *testing.T) {
	at := time.Date(2026, 12, 6, 13, 45, 0, 0, time.UTC) // a Sunday
	for _, tc := range []struct {
		p          Period
		start, end string
	}{
		{Hour, "2026-12-06T13:00:00Z", "2026-12-06T14:00:00Z"},
		{Day, "2026-12-06T00:00:00Z", "2026-12-07T00:00:00Z"},
		{Week, "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"},
		{Month, "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
	} {
		s, e := tc.p.Window(at)
		if s.Format(time.RFC3339) != tc.start || e.Format(time.RFC3339) != tc.end {
			t.Errorf("%s: %s..%s, want %s..%s", tc.p, s.Format(time.RFC3339), e.Format(time.RFC3339), tc.start, tc.end)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30d", 30 * 24 * time.Hour, true}, {"2w", 14 * 24 * time.Hour, true}, {"12h", 12 * time.Hour, true},
		{"0d", 0, false}, {"-1d", 0, false}, {"d", 0, false}, {"1.5d", 0, false}, {"forever", 0, false}, {"-5m", 0, false},
	} {
		got, err := ParseDuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q: %v %v", tc.in, got, err)
		}
	}
}

// BenchmarkCheck is the per-request cost of finding the caller: the issue's
// target is under 2 µs and no allocation.
func BenchmarkCheck(b *testing.B) {
	s, _ := openStore(b)
	var secrets []string
	for i := range 100 {
		secret, _, err := s.CreateKey(KeySpec{Name: "k" + string(rune('a'+i%26))})
		if err != nil {
			b.Fatal(err)
		}
		secrets = append(secrets, secret)
	}
	a := NewAuth(s, "admin")
	hdr := []byte("Bearer " + secrets[42])
	get := func(string) []byte { return hdr }
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := a.Check(FromHeaders(get)); !ok {
			b.Fatal("refused")
		}
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30d", "2w", "12h", "0d", "-1d", "1.5d", "9999999999999d", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseDuration(s); err == nil && d <= 0 {
			t.Fatalf("%q: %v without an error", s, d)
		}
	})
}

func FuzzFromHeaders(f *testing.F) {
	f.Add("Bearer ew-x", "", "")
	f.Add("", "ew-y", "")
	f.Add("bearer", "", "ew-z")
	f.Fuzz(func(t *testing.T, auth, xkey, apikey string) {
		h := map[string]string{"Authorization": auth, "x-api-key": xkey, "api-key": apikey}
		got := FromHeaders(func(n string) []byte { return []byte(h[n]) })
		if len(got) > len(auth)+len(xkey)+len(apikey) {
			t.Fatal("longer than its input")
		}
	})
}
