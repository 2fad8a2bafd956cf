package feed

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/shard"
)

// hooks are how the lease manager hands partitions to the service.
type hooks struct{ s *Service }

// Acquire loads partition p (its latest snapshot, or nothing), catches it
// up with the streams, then serves it and exposes it to the other nodes.
func (h hooks) Acquire(ctx context.Context, p int, how string) error {
	s := h.s
	pt := s.load(ctx, p)
	s.disp.add(pt)
	if err := s.disp.catchUp(ctx, pt); err != nil {
		s.disp.remove(pt)
		return fmt.Errorf("catch partition %d up: %w", p, err)
	}
	s.serving[p].Store(pt)
	if s.expose != nil {
		withdraw, err := s.expose(p, s, s.Partitions())
		if err != nil {
			s.serving[p].Store(nil)
			s.disp.remove(pt)
			return fmt.Errorf("expose partition %d: %w", p, err)
		}
		s.mu.Lock()
		s.withdraws[p] = withdraw
		s.mu.Unlock()
	}
	return nil
}

// Release stops serving p at once.
func (h hooks) Release(p int) {
	s := h.s
	s.mu.Lock()
	withdraw := s.withdraws[p]
	delete(s.withdraws, p)
	s.mu.Unlock()
	if withdraw != nil {
		withdraw()
	}
	if pt := s.serving[p].Swap(nil); pt != nil {
		s.disp.remove(pt)
	}
	s.log.Info("stopped serving a view partition", "partition", p)
}

// Save writes a snapshot of p.
func (h hooks) Save(ctx context.Context, p int) error {
	pt := h.s.serving[p].Load()
	if pt == nil {
		return nil
	}
	return h.s.save(ctx, pt)
}

func snapName(p, n int) string { return "p" + strconv.Itoa(p) + "-of-" + strconv.Itoa(n) }

// load returns partition p from its latest snapshot, or empty (to be built
// from the streams' whole history) when there is none or it cannot be
// read.
func (s *Service) load(ctx context.Context, p int) *part {
	data, _, err := s.snaps.Get(ctx, snapName(p, s.n))
	if err == nil {
		pt, derr := decodePart(data, s.thresh, s.homeCap)
		if derr == nil && pt.p == p && pt.n == s.n {
			return pt
		}
		s.log.Warn("ignoring an unreadable snapshot: the partition is rebuilt from the streams", "partition", p, "err", derr)
	} else if !starling.IsCode(err, starling.NotFound) {
		s.log.Warn("reading a snapshot failed: the partition is rebuilt from the streams", "partition", p, "err", err)
	}
	return newPart(p, s.n, s.thresh, s.homeCap)
}

// save writes a snapshot of pt, unless nothing changed since the last one.
func (s *Service) save(ctx context.Context, pt *part) error {
	pt.mu.RLock()
	if slices.Equal(pt.applied, pt.saved) {
		pt.mu.RUnlock()
		return nil
	}
	start := time.Now()
	data := pt.encode()
	applied := slices.Clone(pt.applied)
	pt.mu.RUnlock()
	encoded := time.Since(start)
	err := s.snaps.Put(ctx, snapName(pt.p, pt.n), map[string]string{"applied": fmt.Sprint(applied)}, data)
	if err != nil {
		s.tel.Metrics.ViewSnapshots.WithLabelValues("feed", "error").Inc()
		return err
	}
	pt.mu.Lock()
	pt.saved = applied
	pt.mu.Unlock()
	s.tel.Metrics.ViewSnapshots.WithLabelValues("feed", "ok").Inc()
	s.log.Debug("snapshot written", "partition", pt.p, "bytes", len(data), "encode", encoded, "took", time.Since(start))
	return nil
}

// snapshotLoop writes a snapshot of every served partition that changed,
// every snapEv.
func (s *Service) snapshotLoop() {
	defer s.loops.Done()
	if s.snapEv < 0 {
		return
	}
	t := time.NewTicker(s.snapEv)
	defer t.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case <-t.C:
		}
		for p := range s.n {
			pt := s.serving[p].Load()
			if pt == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := s.save(ctx, pt); err != nil {
				s.log.Warn("writing a snapshot failed", "partition", p, "err", err)
			}
			cancel()
		}
	}
}

// reportLoop publishes the size of the partitions served here.
func (s *Service) reportLoop() {
	defer s.loops.Done()
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		s.tel.Metrics.ViewBytes.WithLabelValues("feed").Set(float64(s.ViewBytes()))
		select {
		case <-s.stopped:
			return
		case <-t.C:
		}
	}
}

// Held lists the view partitions this instance owns and stands by for,
// with the owned ones' estimated sizes.
func (s *Service) Held() []shard.Holding {
	return s.owners.Holdings(func(p int) int64 {
		if pt := s.serving[p].Load(); pt != nil {
			return pt.bytes()
		}
		return 0
	})
}

// ViewBytes estimates the memory of the partitions served here.
func (s *Service) ViewBytes() int64 {
	var n int64
	for p := range s.n {
		if pt := s.serving[p].Load(); pt != nil {
			n += pt.bytes()
		}
	}
	return n
}

// publishLive sends streaming events to the users' (and the public and
// hashtag) subjects.
func (s *Service) publishLive(ctx context.Context, evs []liveEvent) {
	nc := s.eng.Conn()
	now := time.Now()
	for _, ev := range evs {
		data, err := json.Marshal(starling.LiveEvent{Event: ev.event, StatusID: ev.status, AuthorID: ev.author, At: now})
		if err != nil {
			continue
		}
		subject := starling.SubjectLivePublic
		switch {
		case ev.user != 0:
			subject = starling.SubjectLiveUser + "." + ev.user.String()
		case ev.tag != "":
			if !validSubjectToken(ev.tag) {
				continue
			}
			subject = starling.SubjectLiveTag + "." + ev.tag
		}
		_ = nc.Publish(subject, data)
	}
}

// validSubjectToken reports whether s can be one token of a NATS subject.
func validSubjectToken(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == '.' || r == '*' || r == '>' || r == 0x7f {
			return false
		}
	}
	return true
}

// countCache keeps counters read from other instances' partitions for a
// short time (they are eventually consistent anyway), so a timeline page
// does not ask for the same counters again and again. Safe for concurrent
// use.
type countCache struct {
	mu       sync.Mutex
	ttl      time.Duration
	max      int
	statuses map[starling.ID]cached[starling.StatusCounts]
	accounts map[starling.ID]cached[starling.AccountCounts]
}

type cached[T any] struct {
	v  T
	at time.Time
}

func newCountCache(max int, ttl time.Duration) *countCache {
	return &countCache{ttl: ttl, max: max, statuses: map[starling.ID]cached[starling.StatusCounts]{},
		accounts: map[starling.ID]cached[starling.AccountCounts]{}}
}

// lookup fills out with the fresh cached counters of statuses and
// accounts and returns those it lacks.
func (c *countCache) lookup(statuses, accounts []starling.ID, out *starling.PartCounts) (missS, missA []starling.ID) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range statuses {
		if e, ok := c.statuses[id]; ok && now.Sub(e.at) < c.ttl {
			out.Statuses[id] = e.v
		} else {
			missS = append(missS, id)
		}
	}
	for _, id := range accounts {
		if e, ok := c.accounts[id]; ok && now.Sub(e.at) < c.ttl {
			out.Accounts[id] = e.v
		} else {
			missA = append(missA, id)
		}
	}
	return missS, missA
}

// store keeps counters read from a holder.
func (c *countCache) store(pc *starling.PartCounts) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.statuses)+len(c.accounts) > c.max {
		clear(c.statuses)
		clear(c.accounts)
	}
	for id, v := range pc.Statuses {
		c.statuses[id] = cached[starling.StatusCounts]{v, now}
	}
	for id, v := range pc.Accounts {
		c.accounts[id] = cached[starling.AccountCounts]{v, now}
	}
}
