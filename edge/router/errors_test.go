package router

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
)

func TestExhaustedError(t *testing.T) {
	tried := func(target string, err error) Attempt {
		return Attempt{Target: target, Kind: llm.KindOf(err), Err: err}
	}
	skipped := func(target, why string) Attempt {
		return Attempt{Target: target, Kind: skipKind[why], Skipped: why}
	}
	ra := func(k llm.Kind, status int, after time.Duration) *llm.Error {
		e := withStatus(k, status)
		e.RetryAfter = after
		return e
	}
	cases := []struct {
		name       string
		e          ExhaustedError
		wantStatus int
		wantAfter  time.Duration
		wantMsg    string
	}{
		{
			name: "offline",
			e: ExhaustedError{Model: "chat", Offline: true, Attempts: []Attempt{
				tried("ollama/llama3.2:1b", refusedErr("ollama")), skipped("openai/gpt-4o-mini", SkipOffline)}},
			wantStatus: http.StatusServiceUnavailable,
			wantMsg: `offline: no local runtime could serve "chat" (tried ollama/llama3.2:1b: unavailable: connection refused; ` +
				`openai/gpt-4o-mini: skipped, offline)`,
		},
		{
			name: "all rate limited",
			e: ExhaustedError{Model: "chat", Attempts: []Attempt{
				skipped("ollama/m", SkipBusy),
				tried("openai/gpt-4o", ra(llm.KindRateLimited, 429, 3*time.Second)),
				tried("anthropic/claude-3", ra(llm.KindRateLimited, 429, time.Second))}},
			wantStatus: http.StatusTooManyRequests,
			wantAfter:  time.Second,
			wantMsg: `no provider could serve "chat": tried ollama/m: skipped, busy; ` +
				`openai/gpt-4o: rate_limited (HTTP 429): scripted rate_limited; anthropic/claude-3: rate_limited (HTTP 429): scripted rate_limited`,
		},
		{
			name: "last timed out",
			e: ExhaustedError{Model: "m", Attempts: []Attempt{
				tried("a/m", withStatus(llm.KindServer, 500)), tried("b/m", llm.TransportError("b", context.DeadlineExceeded))}},
			wantStatus: http.StatusGatewayTimeout,
		},
		{
			name:       "last busy",
			e:          ExhaustedError{Model: "m", Attempts: []Attempt{tried("a/m", withStatus(llm.KindServer, 500)), skipped("b/m", SkipBusy)}},
			wantStatus: http.StatusServiceUnavailable,
		},
		{
			name:       "last circuit open",
			e:          ExhaustedError{Model: "m", Attempts: []Attempt{skipped("b/m", SkipCircuitOpen)}},
			wantStatus: http.StatusServiceUnavailable,
			wantMsg:    `no provider could serve "m": tried b/m: skipped, circuit open`,
		},
		{
			name: "overloaded keeps its Retry-After",
			e: ExhaustedError{Model: "m", Attempts: []Attempt{
				tried("a/m", ra(llm.KindOverloaded, 503, 5*time.Second))}},
			wantStatus: http.StatusServiceUnavailable,
			wantAfter:  5 * time.Second,
		},
		{
			name: "rate limit then server error",
			e: ExhaustedError{Model: "m", Attempts: []Attempt{
				tried("a/m", ra(llm.KindRateLimited, 429, time.Second)), tried("b/m", withStatus(llm.KindServer, 500))}},
			wantStatus: http.StatusBadGateway,
			wantAfter:  time.Second,
		},
		{
			name:       "all not found",
			e:          ExhaustedError{Model: "m", Attempts: []Attempt{tried("a/m", withStatus(llm.KindNotFound, 404))}},
			wantStatus: http.StatusNotFound,
		},
		{
			name: "upstream message preferred",
			e: ExhaustedError{Model: "m", Attempts: []Attempt{tried("a/m",
				&llm.Error{Provider: "a", Kind: llm.KindAuth, Status: 401, Message: "invalid api key", Err: errors.New("raw")})}},
			wantStatus: http.StatusBadGateway,
			wantMsg:    `no provider could serve "m": tried a/m: auth (HTTP 401): invalid api key`,
		},
		{
			name:       "nothing tried",
			e:          ExhaustedError{Model: "m"},
			wantStatus: http.StatusBadGateway,
			wantMsg:    `no provider could serve "m": tried nothing`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.e.Status(); got != tc.wantStatus {
				t.Errorf("Status = %d, want %d", got, tc.wantStatus)
			}
			if got := tc.e.RetryAfter(); got != tc.wantAfter {
				t.Errorf("RetryAfter = %v, want %v", got, tc.wantAfter)
			}
			if tc.wantMsg != "" && tc.e.Error() != tc.wantMsg {
				t.Errorf("Error\n got %s\nwant %s", tc.e.Error(), tc.wantMsg)
			}
		})
	}
}
