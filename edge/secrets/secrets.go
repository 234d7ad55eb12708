// Package secrets keeps provider API keys encrypted in the gateway's bbolt
// file, so the config can say `api_key: secret:NAME` instead of holding the
// key or leaning on the environment. Each value is sealed with AES-256-GCM
// under a master key that never touches the file: it comes from
// $EDGEWAY_MASTER_KEY or the file $EDGEWAY_MASTER_KEY_FILE names (see
// LoadMasterKey). The store owns the bucket "secrets/v1"; names and dates
// are stored in the clear (listing needs no master key), values never are.
//
// AES-256-GCM rather than XChaCha20-Poly1305: it is in the standard library
// (no new module in a binary whose imports are reviewed), and a 96-bit
// random nonce is safe far beyond the number of times anyone sets a secret.
// Its speed does not matter here: values are decrypted once, at start.
package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.etcd.io/bbolt"
)

// Errors callers branch on.
var (
	// ErrNotFound is returned by Get for a name that was never set.
	ErrNotFound = errors.New("no such secret")
	// ErrWrongMasterKey is returned when the master key does not open what
	// the store holds: it is not the key the secrets were stored under.
	ErrWrongMasterKey = errors.New("the master key is not the one the secrets were stored under")
)

var (
	bucketName = []byte("secrets/v1")
	// checkName holds an encrypted known value, so a wrong master key is
	// told apart from a damaged record. Names cannot start with '.'.
	checkName = []byte(".check")
)

// recordVersion is the record format; it is bound into every ciphertext.
const recordVersion = 1

// record is one stored secret. The name and version are the AEAD's
// additional data, so a ciphertext moved to another name does not open.
type record struct {
	V       int       `json:"v"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	Nonce   []byte    `json:"nonce"`
	Sealed  []byte    `json:"sealed"`
}

// Info is what List shows of a secret: never its value.
type Info struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Store reads and writes secrets under one master key. It is safe for
// concurrent use (bbolt serialises writers).
type Store struct {
	db   *bbolt.DB
	aead cipher.AEAD
}

// Open returns the store over db, creating its bucket. It checks the
// master key against what is stored and returns ErrWrongMasterKey when it
// does not match; an Open of a store holding no secret records the check
// value under master.
func Open(db *bbolt.DB, master MasterKey) (*Store, error) {
	aead, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, aead: aead}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketName)
		if err != nil {
			return err
		}
		if v := b.Get(checkName); v != nil {
			if _, err := s.open(checkName, v); err == nil {
				return nil
			}
			// An empty store has nothing to protect: it takes the new key
			// (a first start with a throwaway key does not lock it).
			if !onlyCheck(b) {
				return ErrWrongMasterKey
			}
		}
		return s.put(b, checkName, []byte("edgeway"), time.Time{})
	})
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	return s, nil
}

// onlyCheck reports whether b holds the check value and no secret.
func onlyCheck(b *bbolt.Bucket) bool {
	c := b.Cursor()
	k, _ := c.First()
	if bytes.Equal(k, checkName) {
		k, _ = c.Next()
	}
	return k == nil
}

func newAEAD(master MasterKey) (cipher.AEAD, error) {
	if len(master) != MasterKeyLen {
		return nil, fmt.Errorf("secrets: the master key must be %d bytes", MasterKeyLen)
	}
	block, err := aes.NewCipher(master[:])
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	return cipher.NewGCM(block)
}

func additional(name []byte) []byte {
	return append([]byte(fmt.Sprintf("edgeway secret v%d\x00", recordVersion)), name...)
}

// put seals value under name in b; created is kept from an older record
// when zero.
func (s *Store) put(b *bbolt.Bucket, name, value []byte, created time.Time) error {
	now := time.Now().UTC()
	if created.IsZero() {
		created = now
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	rec := record{V: recordVersion, Created: created, Updated: now, Nonce: nonce,
		Sealed: s.aead.Seal(nil, nonce, value, additional(name))}
	enc, err := json.Marshal(&rec)
	if err != nil {
		return err
	}
	return b.Put(name, enc)
}

// open decrypts a stored record.
func (s *Store) open(name, raw []byte) ([]byte, error) {
	var rec record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("damaged record: %w", err)
	}
	if rec.V != recordVersion || len(rec.Nonce) != s.aead.NonceSize() {
		return nil, fmt.Errorf("record version %d is not understood", rec.V)
	}
	return s.aead.Open(nil, rec.Nonce, rec.Sealed, additional(name))
}

// Set stores value under name, replacing any older value.
func (s *Store) Set(name string, value []byte) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if len(value) == 0 {
		return errors.New("secrets: empty value")
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketName)
		var created time.Time
		if old := b.Get([]byte(name)); old != nil {
			var rec record
			if json.Unmarshal(old, &rec) == nil {
				created = rec.Created
			}
		}
		return s.put(b, []byte(name), value, created)
	})
	if err != nil {
		return fmt.Errorf("secrets: set %s: %w", name, err)
	}
	return nil
}

// Get returns the value stored under name. The error never holds the value.
func (s *Store) Get(name string) (string, error) {
	var out []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketName).Get([]byte(name))
		if raw == nil || name == "" || name[0] == '.' {
			return ErrNotFound
		}
		v, err := s.open([]byte(name), raw)
		if err != nil {
			return fmt.Errorf("cannot decrypt (altered record?): %w", err)
		}
		out = v
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", name, err)
	}
	return string(out), nil
}

// Rotate re-encrypts every secret under next in one transaction: either
// all of them move to the new key or none does. The store uses next
// afterwards.
func (s *Store) Rotate(next MasterKey) (int, error) {
	aead, err := newAEAD(next)
	if err != nil {
		return 0, err
	}
	ns := &Store{db: s.db, aead: aead}
	n := 0
	err = s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketName)
		type kv struct {
			name, value []byte
			created     time.Time
		}
		var all []kv
		err := b.ForEach(func(k, raw []byte) error {
			v, err := s.open(k, raw)
			if err != nil {
				return fmt.Errorf("%s: cannot decrypt under the current master key: %w", k, err)
			}
			var rec record
			_ = json.Unmarshal(raw, &rec)
			all = append(all, kv{append([]byte(nil), k...), v, rec.Created})
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range all {
			if err := ns.put(b, e.name, e.value, e.created); err != nil {
				return err
			}
			if e.name[0] != '.' {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("secrets: rotate: %w", err)
	}
	s.aead = aead
	return n, nil
}

// List returns the stored secrets' names and dates, sorted by name. It
// needs no master key.
func List(db *bbolt.DB) ([]Info, error) {
	var out []Info
	err := db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketName)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, raw []byte) error {
			if len(k) == 0 || k[0] == '.' {
				return nil
			}
			var rec record
			if err := json.Unmarshal(raw, &rec); err != nil {
				return fmt.Errorf("%s: damaged record: %w", k, err)
			}
			out = append(out, Info{Name: string(k), Created: rec.Created, Updated: rec.Updated})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("secrets: list: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// MaxNameLen bounds a secret's name.
const MaxNameLen = 64

// ValidName checks a secret's name: 1 to 64 of A-Z a-z 0-9 _ . -, not
// starting with '.' (reserved for the store's own records).
func ValidName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("secrets: a name is 1 to %d characters", MaxNameLen)
	}
	if name[0] == '.' {
		return fmt.Errorf("secrets: name %q: a name may not start with '.'", name)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-'
		if !ok {
			return fmt.Errorf("secrets: name %q: use only letters, digits, '_', '.' and '-'", name)
		}
	}
	return nil
}
