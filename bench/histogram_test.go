package bench

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestHistogramLayout(t *testing.T) {
	if got := bits.Len64(histMax); got != histBits {
		t.Fatalf("histBits = %d, want %d", histBits, got)
	}
	// Buckets tile the range without gaps or overlaps and stay within 1%.
	next := uint64(0)
	for i := range numBuckets {
		lo, w := bucketRange(i)
		if lo > histMax { // the rest only exist to round the array up
			break
		}
		if lo != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, lo, next)
		}
		if lo >= 2*subBuckets && float64(w)/float64(lo) > 0.01 { // below: 1µs wide
			t.Fatalf("bucket %d: width %d at %d is over 1%%", i, w, lo)
		}
		if bucketOf(lo) != i || bucketOf(lo+w-1) != i {
			t.Fatalf("bucket %d: bucketOf(%d)=%d bucketOf(%d)=%d", i, lo, bucketOf(lo), lo+w-1, bucketOf(lo+w-1))
		}
		next = lo + w
	}
	if next <= histMax {
		t.Fatalf("buckets end at %d, below %d", next, histMax)
	}
}

func TestHistogramPercentiles(t *testing.T) {
	tests := []struct {
		name string
		gen  func(r *rand.Rand) time.Duration
	}{
		{"uniform 1-100ms", func(r *rand.Rand) time.Duration {
			return time.Millisecond + time.Duration(r.Int64N(int64(99*time.Millisecond)))
		}},
		{"exponential mean 5ms", func(r *rand.Rand) time.Duration {
			return time.Duration(r.ExpFloat64() * float64(5*time.Millisecond))
		}},
		{"lognormal around 2ms", func(r *rand.Rand) time.Duration {
			return time.Duration(math.Exp(r.NormFloat64()) * float64(2*time.Millisecond))
		}},
		{"bimodal 1ms and 500ms", func(r *rand.Rand) time.Duration {
			if r.IntN(100) < 3 {
				return 500*time.Millisecond + time.Duration(r.Int64N(int64(time.Millisecond)))
			}
			return time.Millisecond + time.Duration(r.Int64N(int64(100*time.Microsecond)))
		}},
		{"seconds to an hour", func(r *rand.Rand) time.Duration {
			return time.Second + time.Duration(r.Int64N(int64(time.Hour-time.Second)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var h Histogram
			vals := make([]time.Duration, 50000)
			for i := range vals {
				vals[i] = tt.gen(r)
				h.Record(vals[i])
			}
			slices.Sort(vals)
			for _, p := range []float64{1, 10, 50, 90, 99, 99.9, 99.99, 100} {
				rank := max(int(math.Ceil(p/100*float64(len(vals)))), 1)
				exact := vals[rank-1]
				got := h.Percentile(p)
				// Below 100µs buckets are 1µs wide: allow that half-step.
				if err := math.Abs(float64(got-exact)) / float64(exact); err > 0.01 && got-exact > time.Microsecond && exact-got > time.Microsecond {
					t.Errorf("p%v = %v, exact %v (error %.2f%%)", p, got, exact, err*100)
				}
			}
			if h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
				t.Errorf("min/max = %v/%v, want %v/%v", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
			}
			var sum time.Duration
			for _, v := range vals {
				sum += v
			}
			if want := sum / time.Duration(len(vals)); h.Mean() != want {
				t.Errorf("mean = %v, want %v", h.Mean(), want)
			}
		})
	}
}

func TestHistogramEdges(t *testing.T) {
	tests := []struct {
		name               string
		record             []time.Duration
		count              uint64
		min, max, p50, p99 time.Duration
	}{
		{name: "empty"},
		{"single value", []time.Duration{42 * time.Millisecond}, 1, 42 * time.Millisecond, 42 * time.Millisecond, 42 * time.Millisecond, 42 * time.Millisecond},
		{"zero and negative", []time.Duration{0, -5}, 2, 0, 0, 0, 0},
		{"over an hour is clamped but max is exact", []time.Duration{time.Millisecond, 3 * time.Hour}, 2, time.Millisecond, 3 * time.Hour, time.Millisecond, 3 * time.Hour},
		{"sub-microsecond", []time.Duration{300, 700}, 2, 300, 700, 500, 700},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			for _, v := range tt.record {
				h.Record(v)
			}
			if h.Count() != tt.count || h.Min() != tt.min || h.Max() != tt.max {
				t.Fatalf("count/min/max = %d/%v/%v, want %d/%v/%v", h.Count(), h.Min(), h.Max(), tt.count, tt.min, tt.max)
			}
			if p := h.Percentile(50); !near(p, tt.p50) {
				t.Errorf("p50 = %v, want %v", p, tt.p50)
			}
			if p := h.Percentile(99); !near(p, tt.p99) {
				t.Errorf("p99 = %v, want %v", p, tt.p99)
			}
			h.Reset()
			if h.Count() != 0 || h.Max() != 0 || h.Percentile(50) != 0 {
				t.Errorf("not empty after Reset")
			}
		})
	}
}

func TestHistogramMergeConcurrent(t *testing.T) {
	const workers, each = 8, 10000
	value := func(r *rand.Rand, w int) time.Duration {
		return time.Duration(r.Int64N(int64(50*time.Millisecond))) + time.Duration(w)*time.Millisecond
	}
	parts := make([]Histogram, workers)
	var shared, single Histogram
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for range each {
				d := value(r, w)
				parts[w].Record(d)
				shared.Record(d) // recorded concurrently into one histogram
			}
		})
	}
	wg.Wait()
	var merged Histogram
	merged.Merge(&Histogram{}) // merging an empty one changes nothing
	for w := range parts {
		merged.Merge(&parts[w])
	}
	for w := range workers { // the same values recorded sequentially
		r := rand.New(rand.NewPCG(uint64(w), 7))
		for range each {
			single.Record(value(r, w))
		}
	}
	for _, h := range []*Histogram{&merged, &shared} {
		if h.Count() != workers*each {
			t.Fatalf("count = %d, want %d", h.Count(), workers*each)
		}
		for _, p := range []float64{50, 90, 99, 99.9} {
			if h.Percentile(p) != single.Percentile(p) {
				t.Errorf("p%v = %v, want %v", p, h.Percentile(p), single.Percentile(p))
			}
		}
		if h.Min() != single.Min() || h.Max() != single.Max() || h.Mean() != single.Mean() {
			t.Errorf("min/max/mean differ: %v/%v/%v vs %v/%v/%v", h.Min(), h.Max(), h.Mean(), single.Min(), single.Max(), single.Mean())
		}
	}
	lowest := parts[0].Min()
	for w := range parts {
		lowest = min(lowest, parts[w].Min())
	}
	if merged.Min() != lowest {
		t.Errorf("merged min = %v, want %v", merged.Min(), lowest)
	}
}

// near reports whether got is within 1% (or 1µs) of want.
func near(got, want time.Duration) bool {
	d := got - want
	if d < 0 {
		d = -d
	}
	return d <= time.Microsecond || float64(d) <= 0.01*float64(want)
}
