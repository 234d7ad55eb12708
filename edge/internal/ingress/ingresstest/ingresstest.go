// Package ingresstest holds the test helpers the dialect packages share:
// building a chat body, comparing decoded requests by meaning, and the
// checks and benchmarks every chat decoder gets the same way. It is a
// plain package, not a _test file, so that one copy serves every
// package's tests.
package ingresstest

import (
	"github.com/edgeway/edgeway/edge/llm"
)

// ChatBody wraps messages JSON (and optional extra top-level members)
// into a chat request body for model "m".
func ChatBody(messages string, extra ...string) string {
	b := `{"model":"m","messages":` + messages
	for _, e := range extra {
		b += "," + e
	}
	return b + "}"
}

// Normalize makes empty slices nil so reflect.DeepEqual compares meaning,
// not whether a decoder reused a slice.
func Normalize(r *llm.ChatRequest) {
	if len(r.Messages) == 0 {
		r.Messages = nil
	}
	for i := range r.Messages {
		m := &r.Messages[i]
		if len(m.Content) == 0 {
			m.Content = nil
		}
		if len(m.ToolCalls) == 0 {
			m.ToolCalls = nil
		}
	}
	if len(r.Stop) == 0 {
		r.Stop = nil
	}
	if len(r.Tools) == 0 {
		r.Tools = nil
	}
	if len(r.Extra) == 0 {
		r.Extra = nil
	}
}
