//go:build unix && !linux

package ollamatest

import "syscall"

func setParentDeathSignal(*syscall.SysProcAttr) {}
