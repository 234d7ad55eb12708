package main

import (
	"math"
	"math/bits"
	"time"
)

// Histogram layout: values are nanoseconds; below 2^histSubBits each value
// has its own bucket, above it every power of two is split into
// 2^histSubBits buckets, so a bucket is at most 1/64 (1.6%) of its values
// wide. Values at or above 2^histMaxExp ns (~137 s) land in the last bucket.
const (
	histSubBits  = 6
	histSubCount = 1 << histSubBits
	histMaxExp   = 37
	histBuckets  = (histMaxExp-histSubBits+1)*histSubCount + histSubCount
)

// Histogram records latencies in fixed log-scale buckets: its size does not
// grow with the number of samples. The zero value is empty and ready. It is
// not safe for concurrent use; each worker owns one and Merge combines them.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    time.Duration
	min    time.Duration
	max    time.Duration
}

// bucketOf returns the bucket index of v nanoseconds.
func bucketOf(v uint64) int {
	if v < histSubCount {
		return int(v)
	}
	e := bits.Len64(v) - 1 // v is in [2^e, 2^(e+1))
	if e > histMaxExp {
		return histBuckets - 1
	}
	shift := e - histSubBits
	mant := v >> uint(shift) // in [histSubCount, 2*histSubCount)
	return (shift+1)*histSubCount + int(mant-histSubCount)
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < histSubCount {
		return uint64(i), uint64(i)
	}
	shift := i/histSubCount - 1
	mant := uint64(i%histSubCount + histSubCount)
	lo = mant << uint(shift)
	hi = lo + (1 << uint(shift)) - 1
	return lo, hi
}

// Record adds one latency; negative values count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += d
}

// Merge adds o's samples to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Min returns the smallest sample (exact), zero when empty.
func (h *Histogram) Min() time.Duration { return h.min }

// Max returns the largest sample (exact), zero when empty.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean returns the average sample (exact), zero when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Percentile returns the smallest recorded value v such that at least p
// percent of the samples are ≤ v, to within a bucket's width (reported as
// the bucket's midpoint, clamped to the exact min and max). p is clamped to
// [0, 100]; an empty histogram gives zero.
func (h *Histogram) Percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if math.IsNaN(p) || p <= 0 {
		return h.min
	}
	if p >= 100 {
		return h.max
	}
	rank := uint64(math.Ceil(p / 100 * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen < rank {
			continue
		}
		lo, hi := bucketRange(i)
		v := time.Duration(lo + (hi-lo)/2)
		return max(h.min, min(v, h.max))
	}
	return h.max
}
