package router

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// scopeFunc adapts a function to Scope.
type scopeFunc func(provider string, local bool) bool

func (f scopeFunc) AllowsProvider(p string, local bool) bool { return f(p, local) }

var (
	localOnly  = scopeFunc(func(_ string, local bool) bool { return local })
	cloudOnly  = scopeFunc(func(_ string, local bool) bool { return !local })
	onlyOpenAI = scopeFunc(func(p string, _ bool) bool { return p == "openai" })
)

func TestRouteScope(t *testing.T) {
	for _, tc := range []struct {
		name        string
		scope       Scope
		localDown   bool
		wantServed  string   // provider that served; "" for an error
		wantCalls   [2]int64 // ollama, openai
		wantErr     string   // substring of the error
		wantStatus  int
		wantDenied  []string
		wantFailovs int
	}{
		{name: "no scope, local serves", wantServed: "ollama", wantCalls: [2]int64{1, 0}},
		{name: "no scope, local down fails over", localDown: true, wantServed: "openai", wantCalls: [2]int64{1, 1}, wantFailovs: 1},
		{name: "local-only, local serves", scope: localOnly, wantServed: "ollama", wantCalls: [2]int64{1, 0}},
		{name: "local-only never reaches the cloud", scope: localOnly, localDown: true, wantCalls: [2]int64{1, 0},
			wantErr: "not allowed for this key: openai/m", wantStatus: 503, wantDenied: []string{"openai/m"}},
		{name: "cloud-only skips local without a failover", scope: cloudOnly, wantServed: "openai", wantCalls: [2]int64{0, 1}},
		{name: "provider list", scope: onlyOpenAI, wantServed: "openai", wantCalls: [2]int64{0, 1}},
		{name: "nothing allowed", scope: scopeFunc(func(string, bool) bool { return false }), wantCalls: [2]int64{0, 0},
			wantErr: `this key may not use "m" through ollama/m, openai/m`, wantStatus: 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local := newFake("ollama", step{chunks: 1})
			if tc.localDown {
				local = newFake("ollama", step{err: refusedErr("ollama")})
			}
			cloud := newFake("openai", step{chunks: 1})
			r := newTestRouter(t, []Upstream{
				{Name: "ollama", Type: "ollama", Provider: chatOnly{local}, Local: true},
				{Name: "openai", Type: "openai", Provider: chatOnly{cloud}},
			}, map[string][]string{"m": {"ollama/m", "openai/m"}}, nil)
			st := &Status{Scope: tc.scope}
			_, err := collect(context.Background(), r, "m", st)
			if got := [2]int64{local.calls.Load(), cloud.calls.Load()}; got != tc.wantCalls {
				t.Errorf("calls %v, want %v", got, tc.wantCalls)
			}
			if (st.Scope == nil) != (tc.scope == nil) {
				t.Error("Route dropped the scope")
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if st.Provider != tc.wantServed || st.Failovers != tc.wantFailovs {
					t.Fatalf("served by %s after %d failovers, want %s after %d", st.Provider, st.Failovers, tc.wantServed, tc.wantFailovs)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			var se interface{ Status() int }
			if !errors.As(err, &se) || se.Status() != tc.wantStatus {
				t.Fatalf("error %T status, want %d", err, tc.wantStatus)
			}
			var ex *ExhaustedError
			if errors.As(err, &ex) && !slices.Equal(ex.Denied, tc.wantDenied) {
				t.Fatalf("denied %v, want %v", ex.Denied, tc.wantDenied)
			}
		})
	}
}
