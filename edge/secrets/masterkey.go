package secrets

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// MasterKeyLen is the master key's length in bytes (AES-256).
const MasterKeyLen = 32

// MasterKey is the key every secret is sealed under.
type MasterKey []byte

// Where the master key comes from.
const (
	// MasterKeyEnv holds the key itself.
	MasterKeyEnv = "EDGEWAY_MASTER_KEY"
	// MasterKeyFileEnv names a file holding it (systemd's LoadCredential=
	// puts one in $CREDENTIALS_DIRECTORY).
	MasterKeyFileEnv = "EDGEWAY_MASTER_KEY_FILE"
)

// ErrNoMasterKey is returned by LoadMasterKey when neither variable is set.
var ErrNoMasterKey = errors.New("no master key: set " + MasterKeyEnv + " or " + MasterKeyFileEnv + " (make one with: openssl rand -base64 32)")

// ParseMasterKey decodes a master key written as 64 hex digits or as
// base64 (standard or URL alphabet, padded or not) of exactly 32 bytes;
// surrounding white space is ignored. It refuses keys that cannot have
// come from a random source: few distinct bytes, or all printable text
// (a passphrase encoded to the right length). The error never quotes the
// key.
func ParseMasterKey(text string) (MasterKey, error) {
	text = strings.TrimSpace(text)
	var b []byte
	if len(text) == 2*MasterKeyLen {
		if h, err := hex.DecodeString(text); err == nil {
			b = h
		}
	}
	if b == nil {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if d, err := enc.DecodeString(text); err == nil {
				b = d
				break
			}
		}
	}
	if b == nil {
		return nil, fmt.Errorf("master key: not hex or base64 (%d characters); make one with: openssl rand -base64 32", len(text))
	}
	if len(b) != MasterKeyLen {
		return nil, fmt.Errorf("master key: %d bytes, want %d (openssl rand -base64 32)", len(b), MasterKeyLen)
	}
	if weak(b) {
		return nil, errors.New("master key: too weak, it does not look random (openssl rand -base64 32)")
	}
	return MasterKey(b), nil
}

// weak reports whether 32 bytes are unlikely to be random: fewer than 12
// distinct values (a random key has about 30) or only printable ASCII
// (a chance of 1 in 10^13 for random bytes).
func weak(b []byte) bool {
	var seen [256]bool
	distinct, printable := 0, true
	for _, c := range b {
		if !seen[c] {
			seen[c] = true
			distinct++
		}
		if c < 0x20 || c > 0x7e {
			printable = false
		}
	}
	return distinct < 12 || printable
}

// LoadMasterKey reads the master key from $EDGEWAY_MASTER_KEY or the file
// $EDGEWAY_MASTER_KEY_FILE names (one of them, not both). A key file must
// not be readable by group or others. lookup is os.LookupEnv in
// production.
func LoadMasterKey(lookup func(string) (string, bool)) (MasterKey, error) {
	v, _ := lookup(MasterKeyEnv)
	path, _ := lookup(MasterKeyFileEnv)
	switch {
	case v != "" && path != "":
		return nil, fmt.Errorf("both %s and %s are set: use one", MasterKeyEnv, MasterKeyFileEnv)
	case v != "":
		k, err := ParseMasterKey(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", MasterKeyEnv, err)
		}
		return k, nil
	case path != "":
		return ReadMasterKeyFile(path)
	}
	return nil, ErrNoMasterKey
}

// ReadMasterKeyFile reads a master key file, refusing one that group or
// others may read.
func ReadMasterKeyFile(path string) (MasterKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("master key file %s: mode %04o lets others read it; chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	k, err := ParseMasterKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// GenerateMasterKeyFile writes a new random master key, base64, to path
// (mode 0600), refusing to replace an existing file.
func GenerateMasterKeyFile(path string) (MasterKey, error) {
	k := make(MasterKey, MasterKeyLen)
	for {
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		if !weak(k) {
			break
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("master key file: %w", err)
	}
	return k, nil
}
