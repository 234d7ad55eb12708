package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		rss, hwm int64
		wantErr  bool
	}{
		{
			name: "real layout",
			in:   "Name:\tedgeway\nVmPeak:\t 1260000 kB\nVmHWM:\t   19764 kB\nVmRSS:\t   17300 kB\nThreads:\t7\n",
			rss:  17300, hwm: 19764,
		},
		{name: "missing hwm", in: "VmRSS:\t 1 kB\n", wantErr: true},
		{name: "odd unit", in: "VmRSS:\t 1 MB\nVmHWM:\t 2 kB\n", wantErr: true},
		{name: "not a number", in: "VmRSS:\t x kB\nVmHWM:\t 2 kB\n", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rss, hwm, err := parseStatus([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && (rss != tc.rss || hwm != tc.hwm) {
				t.Errorf("rss, hwm = %d, %d; want %d, %d", rss, hwm, tc.rss, tc.hwm)
			}
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{
			name: "real layout",
			in:   "20492 (cat) R 20488 20488 2008 0 -1 4194304 99 0 0 0 150 25 0 0 20 0 1 0 163367 3133440 389\n",
			want: 1750 * time.Millisecond,
		},
		{
			name: "name with spaces and parens",
			in:   "7 (a b) c)) S 1 1 1 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 1 1\n",
			want: 70 * time.Millisecond,
		},
		{name: "truncated", in: "7 (x) S 1 1 1", wantErr: true},
		{name: "no name", in: "7 x S 1 1 1 0 -1 0 0 0 0 0 3 4", wantErr: true},
		{name: "not numbers", in: "7 (x) S 1 1 1 0 -1 0 0 0 0 0 u s 0", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("cpu = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestProcReadsSelf checks both readers against this very process.
func TestProcReadsSelf(t *testing.T) {
	rss, hwm, err := procMemory(os.Getpid())
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if rss <= 0 || hwm < rss {
		t.Errorf("rss %d kB, hwm %d kB", rss, hwm)
	}
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Errorf("procCPU: %v", err)
	}
}

func TestBoundedLog(t *testing.T) {
	var l boundedLog
	head := strings.Repeat("h", logHeadBytes)
	l.Write([]byte(head))
	for range 100 {
		l.Write([]byte(strings.Repeat("m", 1000)))
	}
	l.Write([]byte("the end\n"))
	s := l.String()
	if !strings.HasPrefix(s, head) || !strings.HasSuffix(s, "the end\n") || !strings.Contains(s, "bytes of log dropped") {
		t.Errorf("log keeps wrong parts (len %d)", len(s))
	}
	if len(s) > logHeadBytes+logTailBytes+100 {
		t.Errorf("log is %d bytes, bound %d", len(s), logHeadBytes+logTailBytes)
	}
}

func FuzzParseProc(f *testing.F) {
	f.Add([]byte("VmHWM:\t 2 kB\nVmRSS:\t 1 kB\n"))
	f.Add([]byte("1 (x) S 1 1 1 0 -1 0 0 0 0 0 3 4 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = parseStatus(b)
		_, _ = parseStatCPU(b)
	})
}
