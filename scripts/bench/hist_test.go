package main

import (
	"math"
	"testing"
	"time"
)

// within reports whether got is within rel (relative) of want.
func within(got, want time.Duration, rel float64) bool {
	return math.Abs(float64(got-want)) <= rel*float64(want)
}

func TestHistogramPercentiles(t *testing.T) {
	tests := []struct {
		name    string
		samples func(rec func(time.Duration))
		want    map[float64]time.Duration
		rel     float64
	}{
		{
			name: "uniform 1..1000 µs",
			samples: func(rec func(time.Duration)) {
				for i := 1; i <= 1000; i++ {
					rec(time.Duration(i) * time.Microsecond)
				}
			},
			want: map[float64]time.Duration{
				50:  500 * time.Microsecond,
				90:  900 * time.Microsecond,
				99:  990 * time.Microsecond,
				0:   1 * time.Microsecond,
				100: 1000 * time.Microsecond,
			},
			rel: 0.01,
		},
		{
			name: "small exact values",
			samples: func(rec func(time.Duration)) {
				for i := 1; i <= 10; i++ {
					rec(time.Duration(i)) // nanoseconds: exact buckets
				}
			},
			want: map[float64]time.Duration{10: 1, 50: 5, 90: 9, 100: 10},
			rel:  0,
		},
		{
			name: "bimodal 99 fast 1 slow",
			samples: func(rec func(time.Duration)) {
				for range 99 {
					rec(100 * time.Microsecond)
				}
				rec(50 * time.Millisecond)
			},
			want: map[float64]time.Duration{
				50:   100 * time.Microsecond,
				99:   100 * time.Microsecond,
				99.5: 50 * time.Millisecond,
				100:  50 * time.Millisecond,
			},
			rel: 0.01,
		},
		{
			name: "single sample",
			samples: func(rec func(time.Duration)) {
				rec(1234567 * time.Nanosecond)
			},
			want: map[float64]time.Duration{
				1:  1234567 * time.Nanosecond,
				50: 1234567 * time.Nanosecond,
				99: 1234567 * time.Nanosecond,
			},
			rel: 0, // clamped to the exact min and max
		},
		{
			name: "beyond the top bucket",
			samples: func(rec func(time.Duration)) {
				rec(time.Millisecond)
				rec(10 * time.Minute)
			},
			want: map[float64]time.Duration{50: time.Millisecond, 100: 10 * time.Minute},
			rel:  0.01,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			tc.samples(h.Record)
			for p, want := range tc.want {
				if got := h.Percentile(p); !within(got, want, tc.rel) {
					t.Errorf("p%v = %v, want %v (±%.1f%%)", p, got, want, tc.rel*100)
				}
			}
		})
	}
}

func TestHistogramMergeAndStats(t *testing.T) {
	var a, b, all Histogram
	for i := 1; i <= 500; i++ {
		d := time.Duration(i) * time.Millisecond
		a.Record(d)
		all.Record(d)
	}
	for i := 501; i <= 1000; i++ {
		d := time.Duration(i) * time.Millisecond
		b.Record(d)
		all.Record(d)
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&Histogram{}) // empty: no effect on min
	if m.Count() != 1000 || m.Min() != time.Millisecond || m.Max() != time.Second {
		t.Fatalf("merged count/min/max = %d/%v/%v, want 1000/1ms/1s", m.Count(), m.Min(), m.Max())
	}
	if want := 500500 * time.Microsecond; m.Mean() != want {
		t.Errorf("mean = %v, want %v", m.Mean(), want)
	}
	for _, p := range []float64{50, 90, 99, 99.9} {
		if got, want := m.Percentile(p), all.Percentile(p); got != want {
			t.Errorf("merged p%v = %v, recorded in one = %v", p, got, want)
		}
	}
}

func TestHistogramEmptyAndOdd(t *testing.T) {
	var h Histogram
	if h.Percentile(50) != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Fatalf("empty histogram is not all zero")
	}
	h.Record(-time.Second) // negative: counts as zero
	h.Record(time.Second)
	if h.Min() != 0 {
		t.Errorf("min = %v, want 0", h.Min())
	}
	if got := h.Percentile(math.NaN()); got != 0 {
		t.Errorf("p(NaN) = %v, want the min", got)
	}
	if got := h.Percentile(1e9); got != time.Second {
		t.Errorf("p(1e9) = %v, want the max", got)
	}
}

// TestBucketsCoverAndOrder checks every bucket's range starts right after
// the previous one ends and maps back to itself.
func TestBucketsCoverAndOrder(t *testing.T) {
	var next uint64
	for i := range histBuckets {
		lo, hi := bucketRange(i)
		if lo != next || hi < lo {
			t.Fatalf("bucket %d = [%d,%d], want to start at %d", i, lo, hi, next)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d: bucketOf(%d)=%d bucketOf(%d)=%d", i, lo, bucketOf(lo), hi, bucketOf(hi))
		}
		if lo >= histSubCount && float64(hi-lo+1)/float64(lo) > 1.0/histSubCount+1e-9 {
			t.Fatalf("bucket %d = [%d,%d] wider than 1/%d", i, lo, hi, histSubCount)
		}
		next = hi + 1
	}
	if bucketOf(math.MaxUint64) != histBuckets-1 {
		t.Errorf("huge value not in the last bucket")
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	b.ReportAllocs()
	var h Histogram
	for i := range b.N {
		h.Record(time.Duration(i&0xfffff) * 97)
	}
}
