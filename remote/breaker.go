package remote

import (
	"sync"
	"time"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/telemetry"
)

// BreakerState is the state of a circuit breaker.
type BreakerState int

// The three states; the numbers are the values of the state metric.
const (
	Closed   BreakerState = 0 // calls flow; failures are counted
	HalfOpen BreakerState = 1 // a few probe calls test whether the service is back
	Open     BreakerState = 2 // calls fail fast with Unavailable
)

func (s BreakerState) String() string {
	switch s {
	case HalfOpen:
		return "half_open"
	case Open:
		return "open"
	}
	return "closed"
}

// BreakerConfig tunes a Breaker; zero fields take the defaults shown.
type BreakerConfig struct {
	Window       time.Duration // failure ratio window (10s)
	MinRequests  int           // calls in the window before the ratio counts (20)
	FailureRatio float64       // open at or above this ratio (0.5)
	OpenFor      time.Duration // stay open this long before probing (5s)
	Probes       int           // successful probes that close it again (3)
}

func (c *BreakerConfig) defaults() {
	if c.Window == 0 {
		c.Window = 10 * time.Second
	}
	if c.MinRequests == 0 {
		c.MinRequests = 20
	}
	if c.FailureRatio == 0 {
		c.FailureRatio = 0.5
	}
	if c.OpenFor == 0 {
		c.OpenFor = 5 * time.Second
	}
	if c.Probes == 0 {
		c.Probes = 3
	}
}

const breakerBuckets = 10

// Breaker is a circuit breaker for one downstream service. It counts
// successes and failures in a sliding window of ten buckets; at or above the
// failure ratio it opens, after OpenFor it lets a few probes through
// (half-open), and it closes after enough probes succeed. Safe for
// concurrent use.
type Breaker struct {
	service string
	cfg     BreakerConfig
	metrics *telemetry.Metrics

	mu       sync.Mutex
	state    BreakerState
	openedAt time.Time
	buckets  [breakerBuckets]struct {
		start     time.Time
		ok, fails int
	}
	probing  int // probes in flight
	probesOK int
	now      func() time.Time
}

// NewBreaker returns a closed breaker for service.
func NewBreaker(service string, m *telemetry.Metrics, cfg BreakerConfig) *Breaker {
	cfg.defaults()
	b := &Breaker{service: service, cfg: cfg, metrics: m, now: time.Now}
	if m != nil {
		m.BreakerState.WithLabelValues(service).Set(0)
		for _, st := range []BreakerState{Closed, HalfOpen, Open} {
			m.BreakerTrans.WithLabelValues(service, st.String()) // the series exist from the start, at 0
		}
	}
	return b
}

// Service names the downstream service the breaker guards.
func (b *Breaker) Service() string { return b.service }

// State returns the current state.
func (b *Breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(b.now())
	return b.state
}

// Allow asks to make a call. It returns Unavailable (with the time to wait)
// while the breaker is open, or a function the caller must call once with
// the call's outcome.
func (b *Breaker) Allow() (done func(success bool), err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.advance(now)
	switch b.state {
	case Open:
		wait := b.cfg.OpenFor - now.Sub(b.openedAt)
		return nil, &starling.Error{Code: starling.Unavailable, Message: "Service temporarily unavailable", RetryAfter: max(wait, time.Second)}
	case HalfOpen:
		if b.probing >= b.cfg.Probes {
			return nil, &starling.Error{Code: starling.Unavailable, Message: "Service temporarily unavailable", RetryAfter: time.Second}
		}
		b.probing++
		return b.probeDone, nil
	}
	return b.record, nil
}

func (b *Breaker) record(success bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	bk := &b.buckets[int(now.UnixNano()/int64(b.bucketLen()))%breakerBuckets]
	if now.Sub(bk.start) >= b.bucketLen() {
		bk.start, bk.ok, bk.fails = now.Truncate(b.bucketLen()), 0, 0
	}
	if success {
		bk.ok++
	} else {
		bk.fails++
	}
	if b.state != Closed {
		return
	}
	var ok, fails int
	for _, x := range b.buckets {
		if now.Sub(x.start) < b.cfg.Window {
			ok += x.ok
			fails += x.fails
		}
	}
	if total := ok + fails; total >= b.cfg.MinRequests && float64(fails)/float64(total) >= b.cfg.FailureRatio {
		b.transition(Open, now)
	}
}

func (b *Breaker) probeDone(success bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.probing = max(0, b.probing-1)
	if b.state != HalfOpen {
		return
	}
	if !success {
		b.transition(Open, now)
		return
	}
	b.probesOK++
	if b.probesOK >= b.cfg.Probes {
		b.transition(Closed, now)
	}
}

// advance moves an open breaker to half-open once OpenFor has passed.
func (b *Breaker) advance(now time.Time) {
	if b.state == Open && now.Sub(b.openedAt) >= b.cfg.OpenFor {
		b.transition(HalfOpen, now)
	}
}

func (b *Breaker) transition(to BreakerState, now time.Time) {
	b.state = to
	switch to {
	case Open:
		b.openedAt = now
	case HalfOpen:
		b.probesOK, b.probing = 0, 0
	case Closed:
		for i := range b.buckets {
			b.buckets[i].ok, b.buckets[i].fails = 0, 0
		}
	}
	if b.metrics != nil {
		b.metrics.BreakerState.WithLabelValues(b.service).Set(float64(to))
		b.metrics.BreakerTrans.WithLabelValues(b.service, to.String()).Inc()
	}
}

func (b *Breaker) bucketLen() time.Duration { return b.cfg.Window / breakerBuckets }
