package notify

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
)

// subjectForget carries the IDs of deleted statuses to every Notify
// instance, which deletes the notifications about them in the partitions
// it serves.
const subjectForget = "starling.notify.forget"

// errMoved is what an instance answers for a partition it does not serve.
func errMoved(p int) error {
	return &starling.Error{Code: starling.Unavailable, Message: "Service temporarily unavailable", Reason: starling.ReasonMoved,
		RetryAfter: time.Second, Err: fmt.Errorf("notify partition %d is not served here", p)}
}

// route returns the partition of account when this instance serves it; nil
// and no error when the call must be forwarded; ReasonMoved when it must
// not be (addressed to this instance as the holder, or nowhere to forward).
func (s *Service) route(ctx context.Context, account starling.ID) (*view, error) {
	p := starling.PartitionOf(account, s.n)
	if v := s.serving[p].Load(); v != nil && !s.eng.InMinority() {
		return v, nil
	}
	if starling.OwnerOnly(ctx) || s.cfg.Remote == nil {
		return nil, errMoved(p)
	}
	return nil, nil
}

// wrote waits until v has applied seq (a write made here), so that the
// writer reads its own write.
func (s *Service) wrote(ctx context.Context, v *view, seq uint64) {
	deadline := time.NewTimer(2 * time.Second)
	defer deadline.Stop()
	for {
		applied, progress := v.appliedState()
		if applied >= seq {
			return
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		}
	}
}

// hooks are how the lease manager hands partitions to the service.
type hooks struct{ s *Service }

func snapName(p, n int) string { return "p" + strconv.Itoa(p) + "-of-" + strconv.Itoa(n) }

// Acquire loads partition p from its snapshot (or from nothing) and follows
// its stream; it serves it once everything stored is applied.
func (h hooks) Acquire(ctx context.Context, p int, how string) error {
	s := h.s
	v := s.load(ctx, p)
	f, err := s.tab.Follow(ctx, p, v.applied+1, 1024, func(batch []engine.Change) {
		s.tel.Metrics.ViewApplied.WithLabelValues("notify").Add(float64(len(batch)))
		if over := v.apply(batch); len(over) > 0 && s.serving[p].Load() == v {
			go s.trim(v, over)
		}
	})
	if err != nil {
		return err
	}
	v.follower = f
	for !f.Caught(ctx) {
		select {
		case <-ctx.Done():
			f.Stop()
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.serving[p].Store(v)
	if s.cfg.Expose != nil {
		withdraw, err := s.cfg.Expose(p, s)
		if err != nil {
			s.serving[p].Store(nil)
			f.Stop()
			return err
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
	if v := s.serving[p].Swap(nil); v != nil && v.follower != nil {
		v.follower.Stop()
	}
}

// Save writes a snapshot of p.
func (h hooks) Save(ctx context.Context, p int) error {
	if v := h.s.serving[p].Load(); v != nil {
		return h.s.save(ctx, v)
	}
	return nil
}

// load returns partition p from its latest snapshot, or empty.
func (s *Service) load(ctx context.Context, p int) *view {
	data, _, err := s.snaps.Get(ctx, snapName(p, s.n))
	if err == nil {
		if v, derr := decodeView(data, s.cfg.Capacity); derr == nil && v.p == p {
			return v
		}
		s.log.Warn("ignoring an unreadable snapshot: the partition is rebuilt from its stream", "partition", p)
	} else if !starling.IsCode(err, starling.NotFound) {
		s.log.Warn("reading a snapshot failed: the partition is rebuilt from its stream", "partition", p, "err", err)
	}
	return newView(p, s.cfg.Capacity)
}

// save writes a snapshot of v unless nothing changed since the last one.
func (s *Service) save(ctx context.Context, v *view) error {
	data, applied := v.encode()
	v.mu.RLock()
	unchanged := applied == v.saved
	v.mu.RUnlock()
	if unchanged {
		return nil
	}
	if err := s.snaps.Put(ctx, snapName(v.p, s.n), map[string]string{"applied": strconv.FormatUint(applied, 10)}, data); err != nil {
		s.tel.Metrics.ViewSnapshots.WithLabelValues("notify", "error").Inc()
		return err
	}
	v.mu.Lock()
	v.saved = applied
	v.mu.Unlock()
	s.tel.Metrics.ViewSnapshots.WithLabelValues("notify", "ok").Inc()
	return nil
}

// snapshotLoop writes a snapshot of every served partition that changed.
func (s *Service) snapshotLoop() {
	defer s.loops.Done()
	if s.cfg.SnapshotEvery < 0 {
		return
	}
	t := time.NewTicker(s.cfg.SnapshotEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case <-t.C:
		}
		s.tel.Metrics.ViewBytes.WithLabelValues("notify").Set(float64(s.ViewBytes()))
		for p := range s.n {
			if v := s.serving[p].Load(); v != nil {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				if err := s.save(ctx, v); err != nil {
					s.log.Warn("writing a snapshot failed", "partition", p, "err", err)
				}
				cancel()
			}
		}
	}
}

// trim deletes the oldest notifications of accounts beyond the capacity
// (on the instance serving their partition).
func (s *Service) trim(v *view, accounts []starling.ID) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, a := range accounts {
		for _, k := range v.oldest(a) {
			if err := s.tab.Delete(ctx, k, 0); err != nil {
				s.log.Warn("trim notifications", "err", err)
				return
			}
		}
	}
}

// onForget deletes the notifications about a deleted status in the
// partitions served here.
func (s *Service) onForget(m *nats.Msg) {
	id, err := starling.ParseID(string(m.Data))
	if err != nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for p := range s.n {
			v := s.serving[p].Load()
			if v == nil {
				continue
			}
			for _, k := range v.about(id) {
				if err := s.tab.Delete(ctx, k, 0); err != nil {
					s.log.Warn("delete notifications of a deleted status", "status", id, "err", err)
					return
				}
			}
		}
	}()
}
