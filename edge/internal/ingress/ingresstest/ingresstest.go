// Package ingresstest holds the test helpers the dialect packages share:
// building a chat body, comparing decoded requests by meaning, and the
// checks and benchmarks every chat decoder gets the same way. It is a
// plain package, not a _test file, so that one copy serves every
// package's tests.
package ingresstest

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/internal/ingress"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/testkit"
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

// Decoder is a dialect's chat decoder: it fills req from body and reports
// the one flag its dialect carries beside the request.
type Decoder func(body []byte, req *llm.ChatRequest) (bool, error)

// CheckRequest normalizes got and fails tb, showing both as JSON, when it
// differs in meaning from want.
func CheckRequest(tb testing.TB, got, want *llm.ChatRequest) {
	tb.Helper()
	Normalize(got)
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.MarshalIndent(got, "", "  ")
		wj, _ := json.MarshalIndent(want, "", "  ")
		tb.Errorf("decoded request differs\ngot:  %s\nwant: %s", gj, wj)
	}
}

// CheckRefused checks that err is a complete refusal of a client's body:
// a 400 *ingress.Error that says its message, which contains msg and is
// not empty. It returns that error.
func CheckRefused(tb testing.TB, err error, msg string) *ingress.Error {
	tb.Helper()
	var re *ingress.Error
	if !errors.As(err, &re) {
		tb.Fatalf("error = %v (%T), want *ingress.Error", err, err)
	}
	if re.Status != 400 {
		tb.Errorf("Status = %d, want 400", re.Status)
	}
	if re.Message == "" || !strings.Contains(re.Message, msg) {
		tb.Errorf("Message = %q, want it to contain %q", re.Message, msg)
	}
	if re.Error() != re.Message {
		tb.Errorf("Error() = %q, want the message", re.Error())
	}
	return re
}

// CheckReuse checks that decode, reusing one request value, keeps nothing
// of an earlier larger request (full, then small) and that what it decodes
// does not alias the body, which the server reuses.
func CheckReuse(tb testing.TB, decode Decoder, full, small []byte) {
	tb.Helper()
	var req, fresh, want llm.ChatRequest
	for _, d := range []struct {
		body []byte
		into *llm.ChatRequest
	}{{full, &req}, {small, &req}, {small, &fresh}, {full, &want}} {
		if _, err := decode(d.body, d.into); err != nil {
			tb.Fatal(err)
		}
	}
	Normalize(&req)
	Normalize(&fresh)
	if !reflect.DeepEqual(req, fresh) {
		tb.Errorf("reused request differs from a fresh one:\n%+v\n%+v", req, fresh)
	}
	body := append([]byte(nil), full...)
	if _, err := decode(body, &req); err != nil {
		tb.Fatal(err)
	}
	for i := range body {
		body[i] = 'X'
	}
	Normalize(&req)
	Normalize(&want)
	if !reflect.DeepEqual(req, want) {
		tb.Error("decoded request changed when the body was overwritten: it aliases the body")
	}
}

// BenchDecode benchmarks decode on each testdata fixture, one
// sub-benchmark a fixture, reusing one request value as the server does.
func BenchDecode(b *testing.B, decode Decoder, fixtures ...string) {
	for _, name := range fixtures {
		b.Run(strings.TrimSuffix(name, ".json"), func(b *testing.B) {
			body := testkit.Fixture(b, name)
			var req llm.ChatRequest
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decode(body, &req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
