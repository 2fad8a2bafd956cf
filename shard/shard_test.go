package shard_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/internal/startest"
	"github.com/starling-social/starling/shard"
)

// ledger records, across members, who serves which partition, and fails
// the test when two live members serve one partition at once.
type ledger struct {
	t       *testing.T
	mu      sync.Mutex
	serving map[int]string
	crashed map[string]bool
	moves   int
}

func newLedger(t *testing.T) *ledger {
	return &ledger{t: t, serving: map[int]string{}, crashed: map[string]bool{}}
}

// hooks returns member's hooks.
func (l *ledger) hooks(member string) shard.Hooks { return &fakeHooks{l: l, member: member} }

func (l *ledger) owners() map[int]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int]string{}
	for p, m := range l.serving {
		if !l.crashed[m] {
			out[p] = m
		}
	}
	return out
}

type fakeHooks struct {
	l      *ledger
	member string
}

func (h *fakeHooks) Acquire(ctx context.Context, p int, how string) error {
	l := h.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if other, ok := l.serving[p]; ok && !l.crashed[other] {
		l.t.Errorf("partition %d: %s acquires it (%s) while %s serves it", p, h.member, how, other)
	}
	l.serving[p] = h.member
	l.moves++
	return nil
}

func (h *fakeHooks) Release(p int) {
	l := h.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.serving[p] == h.member {
		delete(l.serving, p)
	}
}

func (h *fakeHooks) Save(ctx context.Context, p int) error { return nil }

const parts = 8

// cluster is the members of one test, on one engine.
type cluster struct {
	t   *testing.T
	eng *engine.Engine
	l   *ledger
}

func newCluster(t *testing.T) *cluster {
	return &cluster{t: t, eng: startest.Engine(t), l: newLedger(t)}
}

func (c *cluster) start(member string) *shard.Manager {
	c.t.Helper()
	m, err := shard.Start(context.Background(), shard.Config{Engine: c.eng, Service: "test", Partitions: parts, Member: member,
		Hooks: c.l.hooks(member), Telemetry: startest.Telemetry(c.t), Tick: 100 * time.Millisecond, Steal: time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

// crash stops a member as a killed process stops.
func (c *cluster) crash(m *shard.Manager) {
	c.l.mu.Lock()
	c.l.crashed[m.Member()] = true
	c.l.mu.Unlock()
	shard.Crash(m)
}

// balanced waits until every partition is served by exactly the members
// given, none with more than its fair share.
func (c *cluster) balanced(members ...string) {
	c.t.Helper()
	startest.Eventually(c.t, 15*time.Second, fmt.Sprintf("every partition served, balanced over %v", members), func() bool {
		o := c.l.owners()
		if len(o) != parts {
			return false
		}
		count := map[string]int{}
		for _, m := range o {
			if !slices.Contains(members, m) {
				return false
			}
			count[m]++
		}
		for _, m := range members {
			if n := count[m]; n == 0 || n > (parts+len(members)-1)/len(members) {
				return false
			}
		}
		return true
	})
}

func TestOneOwnerPerPartition(t *testing.T) {
	c := newCluster(t)
	a, b := c.start("a"), c.start("b")
	c.balanced("a", "b")
	for _, m := range []*shard.Manager{a, b} {
		if err := m.WaitReady(startest.Context(t)); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(a.Owned()) + len(b.Owned()); got != parts {
		t.Fatalf("a owns %v, b owns %v: %d in all, want %d", a.Owned(), b.Owned(), got, parts)
	}
	for p := range parts {
		if a.Owns(p) == b.Owns(p) {
			t.Fatalf("partition %d: a owns it %v, b owns it %v", p, a.Owns(p), b.Owns(p))
		}
	}

	t.Run("a member joins: partitions are handed over to it", func(t *testing.T) {
		c.start("c")
		c.balanced("a", "b", "c")
	})
	t.Run("a member dies: the others take its partitions over", func(t *testing.T) {
		start := time.Now()
		c.crash(b)
		c.balanced("a", "c")
		t.Logf("the dead member's partitions taken over in %v", time.Since(start).Round(10*time.Millisecond))
	})
	t.Run("a member drains: it hands everything over", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if len(a.Owned()) != 0 {
			t.Fatalf("a still owns %v", a.Owned())
		}
		c.balanced("c")
	})
}

func TestLeaseKeysLandInTheirPartition(t *testing.T) {
	for n := 1; n <= 64; n++ {
		for p := range n {
			if got := engine.Partition(shard.LeaseKey("feed", p, n), n); got != p {
				t.Fatalf("lease key of partition %d of %d lands in %d", p, n, got)
			}
		}
	}
}

func TestAssignmentIsBalancedAndStable(t *testing.T) {
	for members := 1; members <= 9; members++ {
		names := make([]string, members)
		for i := range names {
			names[i] = fmt.Sprintf("node-%d", i+1)
		}
		owners, standbys := shard.Assign("feed", 64, names)
		count := map[string]int{}
		for p, o := range owners {
			count[o]++
			if members > 1 && (standbys[p] == o || standbys[p] == "") {
				t.Fatalf("%d members: partition %d owned by %s, standby %q", members, p, o, standbys[p])
			}
		}
		for _, n := range names {
			if count[n] > (64+members-1)/members || count[n] < 64/members-1 {
				t.Errorf("%d members: %s owns %d of 64", members, n, count[n])
			}
		}
		rev := slices.Clone(names)
		slices.Reverse(rev)
		if again, _ := shard.Assign("feed", 64, rev); !slices.Equal(again, owners) {
			t.Fatalf("%d members: the assignment depends on the members' order", members)
		}
		// One more member moves about its share, not everything.
		more, _ := shard.Assign("feed", 64, append(slices.Clone(names), "joiner"))
		moved := 0
		for p := range owners {
			if more[p] != owners[p] {
				moved++
			}
		}
		if share := 64 / (members + 1); moved > 2*share+2 {
			t.Errorf("%d -> %d members moves %d partitions (a share is %d)", members, members+1, moved, share)
		}
	}
}
