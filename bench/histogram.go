package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram layout: values are recorded in microseconds. Values below
// 2·subBuckets µs get a bucket each (exact to the microsecond); above that,
// every power of two is split into subBuckets linear buckets, so a bucket's
// width is at most 1/subBuckets (0.78%) of its lower bound. That covers 1 µs
// to histMax (1 hour) in numBuckets counters.
const (
	subBits    = 7
	subBuckets = 1 << subBits // linear buckets per power of two
	histMax    = uint64(time.Hour / time.Microsecond)
	histBits   = 32 // bits.Len64(histMax)
	numBuckets = (histBits-subBits)*subBuckets + subBuckets
)

// Histogram is a log-linear latency histogram in the spirit of HdrHistogram:
// every percentile it reports is within 1% of the exact value for latencies
// between 1 µs and 1 hour (longer ones are clamped to an hour, Max stays
// exact). Record may be called from many goroutines at once: it only does
// atomic additions, no locks. The zero value is an empty histogram ready to
// use; histograms merge by adding counts, so workers can record into their
// own and a report merges them at the end.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	count  atomic.Uint64
	sum    atomic.Uint64 // nanoseconds
	min    atomic.Int64  // nanoseconds + 1; 0 while empty
	max    atomic.Int64  // nanoseconds
}

// bucketOf returns the bucket of a value in microseconds.
func bucketOf(us uint64) int {
	if us > histMax {
		us = histMax
	}
	if us < 2*subBuckets {
		return int(us)
	}
	shift := bits.Len64(us) - 1 - subBits
	return shift*subBuckets + int(us>>shift)
}

// bucketRange returns the lowest value and the width, in microseconds, of
// bucket i.
func bucketRange(i int) (lo, width uint64) {
	if i < 2*subBuckets {
		return uint64(i), 1
	}
	shift := i/subBuckets - 1
	sub := uint64(i - shift*subBuckets)
	return sub << shift, 1 << shift
}

// Record adds one latency. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d/time.Microsecond))].Add(1)
	h.count.Add(1)
	h.sum.Add(uint64(d))
	h.observe(int64(d), int64(d))
}

// observe lowers min to lo and raises max to hi where they are beyond.
func (h *Histogram) observe(lo, hi int64) {
	for {
		old := h.min.Load()
		if (old != 0 && old <= lo+1) || h.min.CompareAndSwap(old, lo+1) {
			break
		}
	}
	for {
		old := h.max.Load()
		if old >= hi || h.max.CompareAndSwap(old, hi) {
			break
		}
	}
}

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	n := o.count.Load()
	if n == 0 {
		return
	}
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.count.Add(n)
	h.sum.Add(o.sum.Load())
	if m := o.min.Load(); m != 0 { // 0 only while a concurrent Record is halfway
		h.observe(m-1, o.max.Load())
	}
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.count.Load() }

// Min returns the smallest recorded value, or 0 if there is none.
func (h *Histogram) Min() time.Duration {
	if m := h.min.Load(); m != 0 {
		return time.Duration(m - 1)
	}
	return 0
}

// Max returns the largest recorded value, or 0 if there is none.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean returns the exact mean of the recorded values, or 0 if there is none.
func (h *Histogram) Mean() time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Percentile returns the value below or at which p percent (0–100) of the
// recorded values fall, or 0 if there is none. The answer is the middle of
// the bucket holding that value, clamped to [Min, Max], so it is within 1% of
// the exact percentile.
func (h *Histogram) Percentile(p float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(n)))
	rank = max(rank, 1)
	if rank >= n {
		return h.Max()
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, w := bucketRange(i)
			v := time.Duration(lo)*time.Microsecond + time.Duration(w)*time.Microsecond/2
			return min(max(v, h.Min()), h.Max())
		}
	}
	return h.Max()
}

// Reset empties the histogram. It must not race with Record.
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.count.Store(0)
	h.sum.Store(0)
	h.min.Store(0)
	h.max.Store(0)
}
