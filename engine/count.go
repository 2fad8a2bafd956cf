package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// CountKeys counts, across every partition, the keys matching filter (a
// subject filter over keys, such as "acct.>") whose newest revision was
// written at or after since (every such key for the zero time). It reads
// the streams' state, not their data: per partition, one short-lived
// consumer reports how many messages it would deliver, and each key has
// exactly one (the table keeps one revision). A deleted key still counts,
// since its delete marker is its newest revision: count only kinds of keys
// that are never deleted. The count is exact for the moment each
// partition answers.
func (t *Table) CountKeys(ctx context.Context, filter string, since time.Time) (int64, error) {
	ctx, span := t.span(ctx, "count", filter)
	defer span.End()
	var total int64
	for p, st := range t.stores {
		cfg := jetstream.ConsumerConfig{
			FilterSubject:     fmt.Sprintf("$KV.%s_%d.%s", t.name, p, filter),
			AckPolicy:         jetstream.AckNonePolicy,
			DeliverPolicy:     jetstream.DeliverAllPolicy,
			MemoryStorage:     true,
			Replicas:          1,
			InactiveThreshold: 30 * time.Second, // removed by the server if the delete below is lost
		}
		if !since.IsZero() {
			cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
		}
		c, err := st.CreateConsumer(ctx, cfg)
		if err != nil {
			return 0, mapErr(err, filter)
		}
		info := c.CachedInfo()
		total += int64(info.NumPending)
		_ = st.DeleteConsumer(ctx, info.Name) // if lost, the inactivity threshold removes it
	}
	return total, nil
}
