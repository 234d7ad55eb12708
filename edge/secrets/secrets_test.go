package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
)

func testDB(t *testing.T) (*bbolt.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// key returns a fixed key that passes the strength check.
func key(seed byte) MasterKey {
	k := make(MasterKey, MasterKeyLen)
	for i := range k {
		k[i] = seed + byte(i*37) + 0x80
	}
	return k
}

const plain = "sk-live-PLAINTEXT-0123456789"

func TestSetGetListRotate(t *testing.T) {
	db, path := testDB(t)
	if _, err := Open(db, key(9)); err != nil {
		t.Fatal(err)
	}
	// Empty, the store takes another key.
	s, err := Open(db, key(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("openai", []byte(plain)); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("other", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get("openai"); err != nil || v != plain {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if _, err := s.Get("missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.Get(".check"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(.check) = %v, want ErrNotFound", err)
	}
	infos, err := List(db)
	if err != nil || len(infos) != 2 || infos[0].Name != "openai" || infos[1].Name != "other" || infos[0].Created.IsZero() {
		t.Fatalf("List = %+v, %v", infos, err)
	}
	if _, err := Open(db, key(2)); !errors.Is(err, ErrWrongMasterKey) {
		t.Errorf("Open with another key = %v, want ErrWrongMasterKey", err)
	}
	n, err := s.Rotate(key(2))
	if err != nil || n != 2 {
		t.Fatalf("Rotate = %d, %v", n, err)
	}
	if _, err := Open(db, key(1)); !errors.Is(err, ErrWrongMasterKey) {
		t.Errorf("old key still opens the store after rotation: %v", err)
	}
	s2, err := Open(db, key(2))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s2.Get("openai"); err != nil || v != plain {
		t.Fatalf("after rotation Get = %q, %v", v, err)
	}
	db.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(plain)) || bytes.Contains(raw, []byte("PLAINTEXT")) {
		t.Error("the data file holds the plaintext")
	}
}

// TestMovedCiphertext: a sealed value copied under another name does not
// open, because the name is bound into the AEAD.
func TestMovedCiphertext(t *testing.T) {
	db, _ := testDB(t)
	s, err := Open(db, key(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("a", []byte(plain)); err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketName)
		return b.Put([]byte("b"), append([]byte(nil), b.Get([]byte("a"))...))
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Get("b")
	if err == nil {
		t.Fatal("a ciphertext moved to another name opened")
	}
	if strings.Contains(err.Error(), plain) {
		t.Errorf("error holds the plaintext: %v", err)
	}
}

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"openai", true}, {"OPENAI_KEY-2.prod", true}, {"", false}, {".check", false},
		{"a b", false}, {"a/b", false}, {strings.Repeat("a", 64), true}, {strings.Repeat("a", 65), false}, {"é", false},
	} {
		if err := ValidName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidName(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestParseMasterKey(t *testing.T) {
	good := key(3)
	for _, tc := range []struct {
		name, text string
		ok         bool
	}{
		{"base64", base64.StdEncoding.EncodeToString(good), true},
		{"base64 raw url with newline", base64.RawURLEncoding.EncodeToString(good) + "\n", true},
		{"hex", hex.EncodeToString(good), true},
		{"short", base64.StdEncoding.EncodeToString(good[:16]), false},
		{"long", base64.StdEncoding.EncodeToString(append(good, 1)), false},
		{"not encoded", "correct horse battery staple", false},
		{"zeros", hex.EncodeToString(make([]byte, 32)), false},
		{"text passphrase", base64.StdEncoding.EncodeToString([]byte("my very secret passphrase 12345!")), false},
		{"empty", "", false},
	} {
		k, err := ParseMasterKey(tc.text)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok %v", tc.name, err, tc.ok)
		}
		if tc.ok && !bytes.Equal(k, good) {
			t.Errorf("%s: decoded the wrong key", tc.name)
		}
		if err != nil && tc.text != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.text)) {
			t.Errorf("%s: error quotes the key: %v", tc.name, err)
		}
	}
}

func TestLoadMasterKey(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "k")
	if _, err := GenerateMasterKeyFile(good); err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateMasterKeyFile(good); err == nil {
		t.Error("GenerateMasterKeyFile replaced an existing file")
	}
	loose := filepath.Join(dir, "loose")
	b, _ := os.ReadFile(good)
	if err := os.WriteFile(loose, b, 0o644); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	enc := base64.StdEncoding.EncodeToString(key(4))
	for _, tc := range []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{"env", map[string]string{MasterKeyEnv: enc}, true},
		{"file", map[string]string{MasterKeyFileEnv: good}, true},
		{"both", map[string]string{MasterKeyEnv: enc, MasterKeyFileEnv: good}, false},
		{"none", nil, false},
		{"world-readable file", map[string]string{MasterKeyFileEnv: loose}, false},
		{"missing file", map[string]string{MasterKeyFileEnv: filepath.Join(dir, "nope")}, false},
	} {
		if _, err := LoadMasterKey(env(tc.env)); (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func FuzzParseMasterKey(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString(key(5)))
	f.Add(hex.EncodeToString(key(6)))
	f.Add("not a key")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseMasterKey(s)
		if err == nil && len(k) != MasterKeyLen {
			t.Fatalf("accepted a %d-byte key", len(k))
		}
	})
}
