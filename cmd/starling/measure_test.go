package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starling-social/starling/chaos"
	"github.com/starling-social/starling/cluster"
	"github.com/starling-social/starling/internal/startest"
)

// The figures of docs/consistency.md, measured on real processes. They
// take several minutes: STARLING_CLUSTER_MEASURE=1 go test ./cmd/starling
// -run Measure -v.

func skipUnlessMeasure(t *testing.T) {
	if os.Getenv("STARLING_CLUSTER_MEASURE") == "" {
		t.Skip("set STARLING_CLUSTER_MEASURE=1 to measure (several minutes)")
	}
}

// probe writes posts through the gateways of the nodes alive() allows,
// from several goroutines, and records each attempt.
type probe struct {
	mu    sync.Mutex
	atts  []probeAttempt
	stop  chan struct{}
	wg    sync.WaitGroup
	count atomic.Int64
}

type probeAttempt struct {
	start, end time.Time
	ok         bool
}

func startProbe(t *testing.T, l *cluster.Local, users []*startest.User, alive func(i int) bool, writers int) *probe {
	p := &probe{stop: make(chan struct{})}
	for w := 0; w < writers; w++ {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for k := 0; ; k++ {
				select {
				case <-p.stop:
					return
				default:
				}
				i := rng.IntN(len(l.Nodes()))
				if !alive(i) {
					continue
				}
				u := users[rng.IntN(len(users))]
				c := startest.NewClient(t, l.Node(i).URL()).As(u.Token)
				c.HTTP = u.HTTP
				a := probeAttempt{start: time.Now()}
				r, err := c.TryDo("POST", "/api/v1/statuses", startest.Form{"status": {fmt.Sprintf("probe %d/%d", w, k)}},
					"Idempotency-Key", fmt.Sprintf("probe-%d-%d-%d", w, k, a.start.UnixNano()))
				a.end = time.Now()
				a.ok = err == nil && r.Status == 200
				p.count.Add(1)
				p.mu.Lock()
				p.atts = append(p.atts, a)
				p.mu.Unlock()
				if !a.ok {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	return p
}

func (p *probe) halt() {
	close(p.stop)
	p.wg.Wait()
}

// window returns how long after t0 writes kept failing or taking more than
// slow: the end of the last such attempt that ended after t0, minus t0.
func (p *probe) window(t0 time.Time, slow time.Duration) (time.Duration, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var last time.Time
	bad := 0
	for _, a := range p.atts {
		if a.end.Before(t0) {
			continue
		}
		if !a.ok || a.end.Sub(a.start) > slow {
			bad++
			if a.end.After(last) {
				last = a.end
			}
		}
	}
	if last.IsZero() {
		return 0, 0
	}
	return last.Sub(t0), bad
}

// TestMeasureLeaderKill SIGKILLs the node leading the most partitions five
// times while writers post through the other nodes, and reports for each
// run how long writes failed or stalled (the write-unavailability window),
// how long the restarted node took to be ready and to catch up (with the
// writes it missed), and the medians.
func TestMeasureLeaderKill(t *testing.T) {
	skipUnlessMeasure(t)
	l := startCluster(t, 3)
	c := startest.NewClient(t, l.Node(0).URL())
	var users []*startest.User
	for i := 0; i < 8; i++ {
		users = append(users, c.SignUp("probe"))
	}
	ctx := context.Background()
	var windows, readies, catchups []time.Duration
	for run := 0; run < 5; run++ {
		if err := chaos.WaitHealthy(ctx, l, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		victim, leads, err := chaos.BusiestLeader(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		p := startProbe(t, l, users, func(i int) bool { return i != victim }, 8)
		time.Sleep(2 * time.Second)
		before := p.count.Load()
		t0 := time.Now()
		if err := l.Kill(victim); err != nil {
			t.Fatal(err)
		}
		time.Sleep(15 * time.Second) // writes pile up for the dead node to catch up on
		missed := p.count.Load() - before
		w, bad := p.window(t0, time.Second)
		t1 := time.Now()
		if err := l.Restart(ctx, victim); err != nil {
			t.Fatal(err)
		}
		ready := time.Since(t1)
		if err := chaos.WaitHealthy(ctx, l, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		caught := time.Since(t1)
		p.halt()
		windows, readies, catchups = append(windows, w), append(readies, ready), append(catchups, caught)
		t.Logf("run %d: killed %s (led %d streams): writes failed or took >1s for %v after the kill (%d such attempts); "+
			"restarted node ready in %v, all its replicas current %v after the restart (~%d writes missed)",
			run+1, l.Node(victim).Name, leads, w.Round(10*time.Millisecond), bad, ready.Round(10*time.Millisecond), caught.Round(10*time.Millisecond), missed)
	}
	t.Logf("MEDIANS over %d runs: write-unavailability window %v; restarted node ready %v, caught up %v",
		len(windows), pct(windows, .5).Round(10*time.Millisecond), pct(readies, .5).Round(10*time.Millisecond), pct(catchups, .5).Round(10*time.Millisecond))
}

// TestMeasureThroughput runs the chaos workload's mix (sign-ups, follows,
// posts, favourites, reads) as fast as it goes for 30 s against one node
// and against three nodes (replicas 3, requests spread over the three
// gateways), three times each, and reports the medians of acknowledged
// operations per second.
func TestMeasureThroughput(t *testing.T) {
	skipUnlessMeasure(t)
	run := func(nodes int, seed uint64) float64 {
		l := startCluster(t, nodes)
		w := chaos.New(chaos.Options{URLs: l.URLs, Users: 24, Workers: 16, Seed: seed, MaxPosts: 1 << 30})
		ctx := context.Background()
		if err := w.Setup(ctx); err != nil {
			t.Fatal(err)
		}
		before := acked(w.Stats())
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		start := time.Now()
		w.Run(rctx)
		cancel()
		ops := float64(acked(w.Stats())-before) / time.Since(start).Seconds()
		l.StopAll(15 * time.Second)
		return ops
	}
	for _, nodes := range []int{1, 3} {
		var rates []float64
		for i := 0; i < 3; i++ {
			rates = append(rates, run(nodes, uint64(10+i)))
		}
		slices.Sort(rates)
		t.Logf("MIXED WORKLOAD on %d node(s): %.0f acknowledged ops/s (median of %v)", nodes, rates[1], rates)
	}
}

func acked(s chaos.Stats) uint64 {
	var n uint64
	for _, c := range s.Ops {
		n += c[0]
	}
	return n
}
