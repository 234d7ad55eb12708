package llm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{"empty", "", 0},
		{"seconds", "3", 3 * time.Second},
		{"fraction", "0.5", 500 * time.Millisecond},
		{"negative", "-1", 0},
		{"capped", "99999", time.Minute},
		{"nan", "NaN", 0},
		{"inf", "Inf", time.Minute},
		{"http date", now.Add(20 * time.Second).Format(http.TimeFormat), 20 * time.Second},
		{"past date", now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"garbage", "soon", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseRetryAfter(tc.in, now, time.Minute); got != tc.want {
				t.Errorf("ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"llm error", fmt.Errorf("wrap: %w", &Error{Kind: KindRateLimited}), KindRateLimited},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), KindCanceled},
		{"deadline", context.DeadlineExceeded, KindTimeout},
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, KindUnavailable},
		{"dns", &net.DNSError{Err: "no such host", Name: "x"}, KindUnavailable},
		{"plain", errors.New("?"), KindUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := KindOf(tc.err); got != tc.want {
				t.Errorf("KindOf = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestKindForStatus(t *testing.T) {
	for status, want := range map[int]Kind{400: KindBadRequest, 401: KindAuth, 403: KindAuth, 404: KindNotFound, 408: KindTimeout,
		413: KindContextLength, 422: KindBadRequest, 429: KindRateLimited, 500: KindServer, 502: KindServer, 503: KindOverloaded, 504: KindTimeout, 529: KindOverloaded} {
		if got := KindForStatus(status); got != want {
			t.Errorf("KindForStatus(%d) = %v, want %v", status, got, want)
		}
	}
	if KindBadRequest.Failover() || KindCanceled.Failover() || !KindAuth.Failover() || !KindContextLength.Failover() {
		t.Error("Failover policy changed")
	}
}

func TestAggregate(t *testing.T) {
	var a Aggregate
	for _, c := range []Chunk{
		{Role: RoleAssistant, Text: "Hel"},
		{Text: "lo", ToolCalls: []ToolCallDelta{{Index: 0, ID: "c1", Name: "f", Arguments: `{"a"`}}},
		{ToolCalls: []ToolCallDelta{{Index: 0, Arguments: `:1}`}, {Index: 1, ID: "c2", Name: "g", Arguments: `{}`}}},
		{FinishReason: FinishToolCalls, Usage: &Usage{PromptTokens: 2, CompletionTokens: 3, TotalTokens: 5}},
		{ToolCalls: []ToolCallDelta{{Index: 1 << 30, Arguments: "x"}}}, // hostile index: bounded
	} {
		a.Add(&c)
	}
	if a.Text.String() != "Hello" || len(a.ToolCalls) != 2 || a.ToolCalls[0].Arguments != `{"a":1}` ||
		a.ToolCalls[1].Name != "g" || a.FinishReason != FinishToolCalls || !a.HasUsage || a.Usage.TotalTokens != 5 {
		t.Errorf("got %+v", a)
	}
	a.Reset()
	if a.Text.Len() != 0 || len(a.ToolCalls) != 0 || a.HasUsage {
		t.Error("Reset left state")
	}
}
