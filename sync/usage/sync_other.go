//go:build !linux

package usage

import "os"

func fdatasync(f *os.File) error { return f.Sync() }
