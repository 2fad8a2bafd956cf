package remote

import (
	"testing"
	"time"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/telemetry"
)

// fakeClock is a settable time source for breakers.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }
func gauge(m *telemetry.Metrics, svc string) float64 {
	return metricValue(m, "starling_circuit_breaker_state", "service", svc)
}

// metricValue reads one sample of a counter or gauge from m's registry
// (labels as name, value pairs); -1 when absent.
func metricValue(m *telemetry.Metrics, name string, labels ...string) float64 {
	mfs, err := m.Registry().Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, s := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range s.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			if c := s.GetCounter(); c != nil {
				return c.GetValue()
			}
			return s.GetGauge().GetValue()
		}
	}
	return -1
}

func newTestBreaker(t *testing.T) (*Breaker, *fakeClock, *telemetry.Metrics) {
	t.Helper()
	m := telemetry.NewMetrics()
	clk := newFakeClock()
	b := NewBreaker("svc", m, BreakerConfig{Window: 10 * time.Second, MinRequests: 10, FailureRatio: 0.5, OpenFor: 5 * time.Second, Probes: 3})
	b.now = clk.now
	return b, clk, m
}

// call makes one call through b with the given outcome; it reports whether
// the breaker let it through.
func call(b *Breaker, success bool) bool {
	done, err := b.Allow()
	if err != nil {
		return false
	}
	done(success)
	return true
}

func TestBreakerOpensOnFailureRatio(t *testing.T) {
	b, clk, m := newTestBreaker(t)
	if gauge(m, "svc") != 0 || metricValue(m, "starling_circuit_breaker_transitions_total", "service", "svc", "state", "open") != 0 {
		t.Fatal("breaker series must exist at 0 from the start")
	}
	// Below MinRequests even all failures keep it closed.
	for range 9 {
		call(b, false)
	}
	if b.State() != Closed {
		t.Fatalf("opened after 9 calls, below MinRequests 10")
	}
	// Failures older than the window do not count.
	clk.add(11 * time.Second)
	for range 5 {
		call(b, true)
	}
	for range 4 {
		call(b, false)
	}
	if b.State() != Closed {
		t.Fatalf("opened at 4 failures of 9 recent calls")
	}
	// The tenth recent call makes 5 of 10 failures: the ratio is reached.
	call(b, false)
	if b.State() != Open {
		t.Fatalf("state %v after 5 failures of 10, want open", b.State())
	}
	if gauge(m, "svc") != 2 || metricValue(m, "starling_circuit_breaker_transitions_total", "service", "svc", "state", "open") != 1 {
		t.Fatalf("metrics: state %v, open transitions %v", gauge(m, "svc"), metricValue(m, "starling_circuit_breaker_transitions_total", "service", "svc", "state", "open"))
	}
	// Open: calls fail fast, telling the caller when to come back.
	clk.add(2 * time.Second)
	_, err := b.Allow()
	e := starling.AsError(err)
	if e == nil || e.Code != starling.Unavailable || e.RetryAfter != 3*time.Second {
		t.Fatalf("Allow while open = %v, want Unavailable retry after 3s", err)
	}
}

func TestBreakerHalfOpenProbes(t *testing.T) {
	b, clk, m := newTestBreaker(t)
	for range 10 {
		call(b, false)
	}
	if b.State() != Open {
		t.Fatal("not open")
	}
	clk.add(5 * time.Second)
	if b.State() != HalfOpen || gauge(m, "svc") != 1 {
		t.Fatalf("after OpenFor: state %v gauge %v, want half-open", b.State(), gauge(m, "svc"))
	}
	// Only Probes calls at a time go through.
	var probes []func(bool)
	for range 5 {
		if done, err := b.Allow(); err == nil {
			probes = append(probes, done)
		}
	}
	if len(probes) != 3 {
		t.Fatalf("%d probes let through, want 3", len(probes))
	}
	// One failed probe opens it again.
	probes[0](false)
	if b.State() != Open {
		t.Fatalf("state %v after a failed probe, want open", b.State())
	}
	probes[1](true) // late answers of the old probes change nothing
	probes[2](true)
	if b.State() != Open {
		t.Fatalf("state %v after stale probes, want open", b.State())
	}
	// Next round: every probe succeeds and it closes.
	clk.add(5 * time.Second)
	for i := range 3 {
		if !call(b, true) {
			t.Fatalf("probe %d refused", i)
		}
	}
	if b.State() != Closed || gauge(m, "svc") != 0 {
		t.Fatalf("state %v gauge %v after 3 good probes, want closed", b.State(), gauge(m, "svc"))
	}
	if n := metricValue(m, "starling_circuit_breaker_transitions_total", "service", "svc", "state", "open"); n != 2 {
		t.Fatalf("open transitions = %v, want 2", n)
	}
	// Closed again with a clean slate: old failures are forgotten.
	for range 9 {
		call(b, false)
	}
	if b.State() != Closed {
		t.Fatal("old failures counted after closing")
	}
}
