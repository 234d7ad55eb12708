//go:build !linux

package testkit

import "testing"

// UnansweredAddr skips the test: only Linux is known to leave a connect
// beyond a full accept queue unanswered.
func UnansweredAddr(tb testing.TB) string {
	tb.Helper()
	tb.Skip("testkit: UnansweredAddr needs Linux")
	return ""
}
