package feed

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"encoding/json"
	"github.com/starling-social/starling/telemetry"
	"time"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
)

// startReplay replays the feed table into v; ready closes once the initial
// replay is applied, every home timeline built and v live.
func (s *Service) startReplay(ctx context.Context, v *view) (*engine.Replayer, chan struct{}, error) {
	r, err := s.tab.Replay(ctx, func(batch []engine.Change) { s.applyTo(v, batch) })
	if err != nil {
		return nil, nil, err
	}
	ready := make(chan struct{})
	go func() {
		select {
		case <-r.CaughtUp():
		case <-s.stopped:
			return
		}
		v.mu.Lock()
		v.rebuildAllHomes()
		v.live = true
		v.mu.Unlock()
		close(ready)
	}()
	return r, ready, nil
}

// applyTo applies decoded events to v. A post that arrives with
// the trace context of the request that wrote it gets a "feed.fanout" span
// in that trace, so a post's trace shows its fan-out on every node.
func (s *Service) applyTo(v *view, batch []engine.Change) {
	var delivered []*starling.Status
	v.mu.Lock()
	live := v.live
	for _, ev := range batch {
		var span trace.Span
		if live && len(ev.Header) > 0 && strings.HasPrefix(ev.Key, kindPost+".") {
			ctx := telemetry.Extract(context.Background(), map[string][]string(ev.Header))
			_, span = s.tel.Tracer.Start(ctx, "feed.fanout", trace.WithAttributes(attribute.String("starling.key", ev.Key)))
		}
		if st := s.applyEvent(v, ev); st != nil && live {
			delivered = append(delivered, st)
		}
		if span != nil {
			span.End()
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
func (s *Service) applyEvent(v *view, ev engine.Change) *starling.Status {
	kind, a, b, ok := splitKey(ev.Key)
	if !ok {
		s.log.Warn("feed event with a malformed key", "key", ev.Key)
		return nil
	}
	if kind == kindIdem {
		return nil
	}
	if !v.advance(ev.Key, ev.Seq, ev.Deleted) {
		return nil
	}
	switch kind {
	case kindPost:
		if ev.Deleted {
			v.deletePost(a)
			return nil
		}
		var rec postRecord
		if err := json.Unmarshal(ev.Value, &rec); err != nil {
			s.log.Error("undecodable post record", "key", ev.Key, "err", err)
			return nil
		}
		isNew := v.posts[rec.ID] == nil
		st := rec.status(ev.Seq)
		v.applyPost(st)
		if isNew && v.posts[rec.ID] == st {
			return st
		}
	case kindFollow:
		if ev.Deleted {
			v.deleteFollow(a, b)
			return nil
		}
		var rec followRecord
		if err := json.Unmarshal(ev.Value, &rec); err != nil {
			s.log.Error("undecodable follow record", "key", ev.Key, "err", err)
			return nil
		}
		v.applyFollow(a, b, &rec)
	case kindFav:
		if ev.Deleted {
			v.deleteFav(a, b)
			return nil
		}
		var rec favRecord
		if err := json.Unmarshal(ev.Value, &rec); err == nil {
			v.applyFav(a, b, rec.ID)
		}
	case kindBoost:
		if ev.Deleted {
			v.deleteBoost(a, b)
			return nil
		}
		var rec boostRecord
		if err := json.Unmarshal(ev.Value, &rec); err == nil {
			v.applyBoost(a, b, rec.Wrapper)
		}
	}
	return nil
}
