package glove

import (
	"os"
	"path/filepath"
)

// EnvPath names the environment variable that overrides Path.
const EnvPath = "EDGEWAY_GLOVE"

// CacheDir is the folder under the user cache directory where
// scripts/glove.sh writes glove.bin; the suffix names the source package
// and the format version, so a change to either gets a fresh folder.
const CacheDir = "edgeway/glove-sg100d-v1"

// Path returns where the glove.bin file is: $EDGEWAY_GLOVE when set, else
// the file scripts/glove.sh writes,
// ${XDG_CACHE_HOME:-$HOME/.cache}/edgeway/glove-sg100d-v1/glove.bin. ok
// reports whether a regular file is there; path is returned either way,
// for messages. A deployment configures its own path instead (the data
// dir); this default serves development and tests.
func Path() (path string, ok bool) {
	if p := os.Getenv(EnvPath); p != "" {
		return p, isFile(p)
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", false
	}
	p := filepath.Join(dir, filepath.FromSlash(CacheDir), "glove.bin")
	return p, isFile(p)
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
