package feed

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/telemetry"
)

// EventSource delivers the feed table's changes as starling.FeedEvents to
// durable consumer groups: one durable pull consumer per partition and
// group, shared by every member of the group (so the work spreads over
// instances), acknowledged after the handler succeeds. MaxAckPending bounds
// the work in flight: a slow handler slows intake instead of piling up
// messages.
type EventSource struct {
	eng *engine.Engine
	tab *engine.Table
	tel *telemetry.Telemetry
	log *slog.Logger
}

var _ starling.FeedEvents = (*EventSource)(nil)

// NewEventSource returns the event source of the feed table on eng. It
// creates the table if needed.
func NewEventSource(ctx context.Context, eng *engine.Engine, tel *telemetry.Telemetry) (*EventSource, error) {
	tab, err := openTable(ctx, eng)
	if err != nil {
		return nil, err
	}
	return &EventSource{eng: eng, tab: tab, tel: tel, log: tel.Log.With("component", "feed-events")}, nil
}

// Consume runs handler for every event until ctx ends.
func (es *EventSource) Consume(ctx context.Context, group string, handler func(context.Context, starling.FeedEvent) error) error {
	js := es.eng.JetStream()
	var wg sync.WaitGroup
	var ccs []jetstream.ConsumeContext
	var consumers []jetstream.Consumer
	for p := 0; p < es.tab.Partitions(); p++ {
		stream := es.tab.Stream(p)
		cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
			Durable:       group,
			Description:   "feed events for " + group,
			DeliverPolicy: jetstream.DeliverNewPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       30 * time.Second,
			MaxDeliver:    20,
			MaxAckPending: 256,
			FilterSubjects: []string{
				fmt.Sprintf("$KV.%s.%s.>", bucketOf(stream), kindPost),
				fmt.Sprintf("$KV.%s.%s.>", bucketOf(stream), kindFollow),
				fmt.Sprintf("$KV.%s.%s.>", bucketOf(stream), kindFav),
			},
		})
		if err != nil {
			for _, cc := range ccs {
				cc.Stop()
			}
			return fmt.Errorf("feed events consumer %s/%s: %w", stream, group, err)
		}
		consumers = append(consumers, cons)
		cc, err := cons.Consume(func(m jetstream.Msg) {
			ev, ok := decodeEvent(m)
			if !ok {
				_ = m.Term()
				return
			}
			// The handler's work joins the trace that wrote the record.
			hctx := telemetry.Extract(ctx, map[string][]string(m.Headers()))
			hctx, cancel := context.WithTimeout(hctx, 20*time.Second)
			err := handler(hctx, ev)
			cancel()
			if err != nil {
				md, _ := m.Metadata()
				delay := time.Second
				if md != nil {
					delay = min(time.Duration(md.NumDelivered)*time.Second, 15*time.Second)
				}
				es.log.WarnContext(hctx, "feed event handler failed; will retry", "group", group, "kind", ev.Kind, "err", err)
				_ = m.NakWithDelay(delay)
				return
			}
			_ = m.Ack()
		}, jetstream.PullMaxMessages(64))
		if err != nil {
			return fmt.Errorf("feed events consume %s/%s: %w", stream, group, err)
		}
		ccs = append(ccs, cc)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		es.reportLag(ctx, group, consumers)
	}()
	<-ctx.Done()
	for _, cc := range ccs {
		cc.Stop()
	}
	wg.Wait()
	return nil
}

// reportLag publishes the consumers' lag and redeliveries as metrics.
func (es *EventSource) reportLag(ctx context.Context, group string, consumers []jetstream.Consumer) {
	m := es.tel.Metrics
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		var pending, ackPending, redelivered float64
		for _, c := range consumers {
			ictx, cancel := context.WithTimeout(ctx, time.Second)
			info, err := c.Info(ictx)
			cancel()
			if err == nil {
				pending += float64(info.NumPending)
				ackPending += float64(info.NumAckPending)
				redelivered += float64(info.NumRedelivered)
			}
		}
		m.ConsumerPend.WithLabelValues(group).Set(pending)
		m.ConsumerAckP.WithLabelValues(group).Set(ackPending)
		m.ConsumerRedel.WithLabelValues(group).Set(redelivered)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// bucketOf returns the bucket name of a KV stream name ("KV_feed_3" -> "feed_3").
func bucketOf(stream string) string { return stream[len("KV_"):] }

// decodeEvent turns a feed table message into a FeedEvent.
func decodeEvent(m jetstream.Msg) (starling.FeedEvent, bool) {
	key := engine.KeyOf(m.Subject())
	kind, a, b, ok := splitKey(key)
	if !ok {
		return starling.FeedEvent{}, false
	}
	deleted := false
	if h := m.Headers(); h != nil {
		if op := h.Get("KV-Operation"); op == "DEL" || op == "PURGE" || h.Get(jetstream.MarkerReasonHeader) != "" {
			deleted = true
		}
	}
	at := time.Now()
	if md, err := m.Metadata(); err == nil {
		at = md.Timestamp
	}
	ev := starling.FeedEvent{At: at}
	switch kind {
	case kindPost:
		if deleted {
			ev.Kind, ev.StatusID = starling.EventStatusDeleted, a
			return ev, true
		}
		var rec postRecord
		if err := json.Unmarshal(m.Data(), &rec); err != nil {
			return ev, false
		}
		md, _ := m.Metadata()
		var rev uint64
		if md != nil {
			rev = md.Sequence.Stream
		}
		ev.Kind, ev.Status = starling.EventStatus, rec.status(rev)
	case kindFollow:
		ev.Account, ev.Target = a, b
		if deleted {
			ev.Kind = starling.EventFollowDeleted
			return ev, true
		}
		var rec followRecord
		if err := json.Unmarshal(m.Data(), &rec); err != nil {
			return ev, false
		}
		ev.Kind, ev.RecordID, ev.Requested, ev.Authorized = starling.EventFollow, rec.ID, rec.Requested, rec.Authorized
	case kindFav:
		ev.StatusID, ev.Account = a, b
		if deleted {
			ev.Kind = starling.EventFavouriteDelete
			return ev, true
		}
		var rec favRecord
		if err := json.Unmarshal(m.Data(), &rec); err != nil {
			return ev, false
		}
		ev.Kind, ev.RecordID = starling.EventFavourite, rec.ID
	default:
		return ev, false
	}
	return ev, true
}
