package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/openai/openaitest"
)

func TestRunLoadAgainstFake(t *testing.T) {
	tests := []struct {
		name       string
		mode       openaitest.Mode
		stream     bool
		wantErrors bool
		wantStatus int
	}{
		{name: "json ok", mode: openaitest.OK},
		{name: "stream ok", mode: openaitest.OK, stream: true},
		{name: "500 counted", mode: openaitest.Error500, wantErrors: true, wantStatus: 500},
		{name: "stream cut counted", mode: openaitest.CutMidStream, stream: true, wantErrors: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := openaitest.NewT(t, openaitest.Options{FastHTTP: true, APIKey: "k"})
			fake.SetMode(tc.mode)
			res, err := runLoad(context.Background(), loadSpec{
				addr: fake.Addr(), path: "/v1/chat/completions", auth: "Bearer k",
				body: chatBody("gpt-4o-mini", tc.stream), stream: tc.stream,
				conns: 2, warmup: 50 * time.Millisecond, duration: 200 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantErrors {
				if res.Errors == 0 || res.OK != 0 {
					t.Fatalf("ok %d errors %d, want only errors", res.OK, res.Errors)
				}
				if tc.wantStatus != 0 && res.Statuses[tc.wantStatus] == 0 {
					t.Errorf("statuses %v lack %d", res.Statuses, tc.wantStatus)
				}
				if res.FirstErr == "" {
					t.Error("no first error kept")
				}
				return
			}
			if res.Errors != 0 || res.OK == 0 {
				t.Fatalf("ok %d errors %d (%s), want only ok", res.OK, res.Errors, res.FirstErr)
			}
			if res.Hist.Count() != res.OK || res.ReqPerSec() <= 0 || res.Hist.Percentile(50) <= 0 {
				t.Errorf("hist count %d, ok %d, req/s %.0f, p50 %v", res.Hist.Count(), res.OK, res.ReqPerSec(), res.Hist.Percentile(50))
			}
		})
	}
}

func TestRunLoadStopsOnCancel(t *testing.T) {
	fake := openaitest.NewT(t, openaitest.Options{FastHTTP: true})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	res, err := runLoad(ctx, loadSpec{
		addr: fake.Addr(), path: "/v1/chat/completions", body: chatBody("gpt-4o-mini", false),
		conns: 2, warmup: 0, duration: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(t0); el > 5*time.Second {
		t.Fatalf("took %v after cancel", el)
	}
	if !res.Truncated || res.Window >= time.Minute {
		t.Errorf("truncated %v window %v", res.Truncated, res.Window)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "defaults", args: []string{"-edgeway", "/bin/sh"}},
		{name: "bad conns", args: []string{"-edgeway", "/bin/sh", "-conns", "1,x,0"}, wantErr: `"x"`},
		{name: "bad duration", args: []string{"-edgeway", "/bin/sh", "-duration", "0s"}, wantErr: "-duration"},
		{name: "missing binary", args: []string{"-edgeway", "/nonexistent/edgeway"}, wantErr: "make build"},
		{name: "stray argument", args: []string{"-edgeway", "/bin/sh", "extra"}, wantErr: "unexpected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(tc.args, io.Discard)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(o.conns) != 4 || o.duration != 5*time.Second || o.warmup != time.Second {
					t.Errorf("defaults: %+v", o)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want it to mention %s", err, tc.wantErr)
			}
		})
	}
}
