package feed

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
)

// event is one change of the feed table, decoded.
type event struct {
	key     string
	deleted bool
	seq     uint64
	at      time.Time
	data    []byte
}

// replayer feeds the view from the table's partition streams: it replays
// every partition from its first message, then keeps consuming. Each
// partition has an ordered consumer (in-order, gap-detecting: after a
// disconnect it resumes from the last applied sequence), so the view sees
// every change at least once; applying is idempotent.
type replayer struct {
	s        *Service
	parts    []*partitionFeed
	caughtUp chan struct{}
}

type partitionFeed struct {
	stream  string
	cons    jetstream.Consumer
	target  uint64 // last sequence at start: replay is done once applied
	applied atomic.Uint64
	cc      jetstream.ConsumeContext
	ch      chan event
	done    chan struct{}
}

// startReplay starts consuming every partition; caughtUp closes when the
// initial replay has been applied and the view is live.
func (s *Service) startReplay(ctx context.Context) (*replayer, error) {
	r := &replayer{s: s, caughtUp: make(chan struct{})}
	js := s.eng.JetStream()
	for p := 0; p < s.tab.Partitions(); p++ {
		name := s.tab.Stream(p)
		st, err := js.Stream(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("feed stream %s: %w", name, err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("feed stream %s: %w", name, err)
		}
		pf := &partitionFeed{stream: name, target: info.State.LastSeq, ch: make(chan event, 4096), done: make(chan struct{})}
		cons, err := js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
		if err != nil {
			return nil, fmt.Errorf("feed consumer %s: %w", name, err)
		}
		pf.cons = cons
		pf.cc, err = cons.Consume(func(m jetstream.Msg) {
			md, err := m.Metadata()
			if err != nil {
				return
			}
			ev := event{key: engine.KeyOf(m.Subject()), seq: md.Sequence.Stream, at: md.Timestamp, data: m.Data()}
			if h := m.Headers(); h != nil {
				if op := h.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
					ev.deleted = true
				} else if h.Get(jetstream.MarkerReasonHeader) != "" {
					ev.deleted = true
				}
			}
			pf.ch <- ev // blocks when the applier lags: backpressure on the pull
		}, jetstream.PullMaxMessages(2048))
		if err != nil {
			return nil, fmt.Errorf("feed consume %s: %w", name, err)
		}
		r.parts = append(r.parts, pf)
		go r.apply(pf)
	}
	go r.waitCaughtUp()
	return r, nil
}

// apply drains one partition's events in batches, each under one
// acquisition of the view's write lock.
func (r *replayer) apply(pf *partitionFeed) {
	defer close(pf.done)
	batch := make([]event, 0, 512)
	for ev := range pf.ch {
		batch = append(batch[:0], ev)
	drain:
		for len(batch) < cap(batch) {
			select {
			case ev, ok := <-pf.ch:
				if !ok {
					break drain
				}
				batch = append(batch, ev)
			default:
				break drain
			}
		}
		r.s.applyBatch(batch)
		pf.applied.Store(batch[len(batch)-1].seq)
	}
}

func (r *replayer) waitCaughtUp() {
	for {
		done := true
		for _, pf := range r.parts {
			if !pf.caughtUp() {
				done = false
			}
		}
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	v := r.s.view
	v.mu.Lock()
	v.rebuildAllHomes()
	v.live = true
	v.mu.Unlock()
	close(r.caughtUp)
}

// caughtUp reports whether the partition's initial replay is applied:
// everything up to the sequence that was last at start, or (when that
// message has since been removed) everything the consumer has delivered
// with nothing pending.
func (pf *partitionFeed) caughtUp() bool {
	if pf.applied.Load() >= pf.target {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	info, err := pf.cons.Info(ctx)
	if err != nil {
		return false
	}
	return info.NumPending == 0 && len(pf.ch) == 0 && pf.applied.Load() >= info.Delivered.Stream
}

func (r *replayer) stop() {
	for _, pf := range r.parts {
		pf.cc.Stop()
	}
}

// applyBatch applies decoded events to the view.
func (s *Service) applyBatch(batch []event) {
	v := s.view
	var delivered []*starling.Status
	v.mu.Lock()
	live := v.live
	for _, ev := range batch {
		if st := s.applyEvent(ev); st != nil && live {
			delivered = append(delivered, st)
		}
	}
	v.mu.Unlock()
	s.tel.Metrics.ViewApplied.WithLabelValues("feed").Add(float64(len(batch)))
	for _, st := range delivered {
		s.tel.Metrics.FanoutLag.Observe(time.Since(st.CreatedAt).Seconds())
	}
}

// applyEvent applies one event under the view's lock. It returns the
// status when the event created a new one. An event older than one already
// applied to its key is skipped: this node's writes are applied before the
// stream delivers them back, and a late old message must not undo them.
func (s *Service) applyEvent(ev event) *starling.Status {
	v := s.view
	kind, a, b, ok := splitKey(ev.key)
	if !ok {
		s.log.Warn("feed event with a malformed key", "key", ev.key)
		return nil
	}
	if kind == kindIdem {
		return nil
	}
	if !v.advance(ev.key, ev.seq, ev.deleted) {
		return nil
	}
	switch kind {
	case kindPost:
		if ev.deleted {
			v.deletePost(a)
			return nil
		}
		var rec postRecord
		if err := json.Unmarshal(ev.data, &rec); err != nil {
			s.log.Error("undecodable post record", "key", ev.key, "err", err)
			return nil
		}
		isNew := v.posts[rec.ID] == nil
		st := rec.status(ev.seq)
		v.applyPost(st)
		if isNew && v.posts[rec.ID] == st {
			return st
		}
	case kindFollow:
		if ev.deleted {
			v.deleteFollow(a, b)
			return nil
		}
		var rec followRecord
		if err := json.Unmarshal(ev.data, &rec); err != nil {
			s.log.Error("undecodable follow record", "key", ev.key, "err", err)
			return nil
		}
		v.applyFollow(a, b, &rec)
	case kindFav:
		if ev.deleted {
			v.deleteFav(a, b)
			return nil
		}
		var rec favRecord
		if err := json.Unmarshal(ev.data, &rec); err == nil {
			v.applyFav(a, b, rec.ID)
		}
	case kindBoost:
		if ev.deleted {
			v.deleteBoost(a, b)
			return nil
		}
		var rec boostRecord
		if err := json.Unmarshal(ev.data, &rec); err == nil {
			v.applyBoost(a, b, rec.Wrapper)
		}
	}
	return nil
}
