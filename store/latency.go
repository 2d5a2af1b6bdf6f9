package store

import (
	"math/bits"
	"time"
)

// Latencies are counted in log-scale buckets: four per power of two of
// microseconds, so a bucket's width is at most 19% of its value. That is
// precise enough for p50/p99 and keeps a histogram to ~100 rows.

// latencyBucket returns the bucket of a duration.
func latencyBucket(d time.Duration) int {
	us := uint64(max(d.Microseconds(), 0))
	if us < 4 {
		return int(us)
	}
	n := bits.Len64(us) // us in [2^(n-1), 2^n)
	frac := (us >> (n - 3)) & 3
	return (n-2)*4 + int(frac)
}

// bucketUpper returns the largest duration that falls in bucket b.
func bucketUpper(b int) time.Duration {
	if b < 4 {
		return time.Duration(b) * time.Microsecond
	}
	n := b/4 + 2
	frac := uint64(b % 4)
	lo := (uint64(1) << (n - 1)) | frac<<(n-3)
	hi := lo + (uint64(1) << (n - 3)) - 1
	return time.Duration(hi) * time.Microsecond
}

// Histogram is a latency distribution.
type Histogram map[int]int64

// Quantile returns the upper bound of the bucket holding quantile q.
func (h Histogram) Quantile(q float64) time.Duration {
	var total int64
	maxB := 0
	for b, n := range h {
		total += n
		maxB = max(maxB, b)
	}
	if total == 0 {
		return 0
	}
	rank := int64(q*float64(total-1)) + 1
	var seen int64
	for b := 0; b <= maxB; b++ {
		seen += h[b]
		if seen >= rank {
			return bucketUpper(b)
		}
	}
	return bucketUpper(maxB)
}

// Count returns the number of samples.
func (h Histogram) Count() int64 {
	var n int64
	for _, c := range h {
		n += c
	}
	return n
}

// Add counts one sample.
func (h Histogram) Add(d time.Duration) { h[latencyBucket(d)]++ }
