package engine

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Change is one message of a table's stream: a key's new value, or its
// deletion.
type Change struct {
	Key     string
	Value   []byte
	Seq     uint64 // stream sequence: newer changes of a key have higher ones
	At      time.Time
	Deleted bool
	// Header is the message's header (trace context), if any.
	Header nats.Header
}

// Replayer feeds a table's changes to a function: every partition is
// replayed from its first message, then followed as it grows. Each
// partition has an ordered consumer (in order, gap-detecting: after a
// disconnect it resumes after the last delivered sequence), so every change
// is delivered at least once; the receiver must apply changes idempotently.
type Replayer struct {
	parts    []*replayPart
	caughtUp chan struct{}
	stop     chan struct{}
}

type replayPart struct {
	cons    jetstream.Consumer
	cc      jetstream.ConsumeContext
	target  uint64 // last sequence at start
	applied atomic.Uint64
	ch      chan Change
}

// Replay starts replaying the table into apply. apply receives batches of
// one partition's changes, in stream order; batches of different
// partitions may be applied concurrently. CaughtUp closes once everything
// that was in the table at start has been applied.
func (t *Table) Replay(ctx context.Context, apply func([]Change)) (*Replayer, error) {
	r := &Replayer{caughtUp: make(chan struct{}), stop: make(chan struct{})}
	for i, name := range t.streams {
		info, err := t.stores[i].Info(ctx)
		if err != nil {
			r.Stop()
			return nil, fmt.Errorf("replay %s: %w", name, err)
		}
		rp := &replayPart{target: info.State.LastSeq, ch: make(chan Change, 4096)}
		rp.cons, err = t.js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
		if err != nil {
			r.Stop()
			return nil, fmt.Errorf("replay %s: %w", name, err)
		}
		rp.cc, err = rp.cons.Consume(func(m jetstream.Msg) {
			md, err := m.Metadata()
			if err != nil {
				return
			}
			c := Change{Key: KeyOf(m.Subject()), Value: m.Data(), Seq: md.Sequence.Stream, At: md.Timestamp, Header: m.Headers()}
			if h := m.Headers(); h != nil {
				if op := h.Get("KV-Operation"); op == "DEL" || op == "PURGE" || h.Get(jetstream.MarkerReasonHeader) != "" {
					c.Deleted = true
				}
			}
			select {
			case rp.ch <- c: // blocks while the receiver lags: backpressure on the pull
			case <-r.stop:
			}
		}, jetstream.PullMaxMessages(2048))
		if err != nil {
			r.Stop()
			return nil, fmt.Errorf("replay %s: %w", name, err)
		}
		r.parts = append(r.parts, rp)
		go r.drain(rp, apply)
	}
	go r.waitCaughtUp()
	return r, nil
}

// drain applies one partition's changes in batches.
func (r *Replayer) drain(rp *replayPart, apply func([]Change)) {
	batch := make([]Change, 0, 512)
	for {
		var c Change
		select {
		case c = <-rp.ch:
		case <-r.stop:
			return
		}
		batch = append(batch[:0], c)
	more:
		for len(batch) < cap(batch) {
			select {
			case c := <-rp.ch:
				batch = append(batch, c)
			default:
				break more
			}
		}
		apply(batch)
		rp.applied.Store(batch[len(batch)-1].Seq)
	}
}

func (r *Replayer) waitCaughtUp() {
	for {
		done := true
		for _, rp := range r.parts {
			if !rp.caughtUp() {
				done = false
			}
		}
		if done {
			close(r.caughtUp)
			return
		}
		select {
		case <-r.stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// caughtUp reports whether the partition's initial replay is applied:
// everything up to the sequence that was last at start, or (when that
// message has since been removed) everything the consumer has delivered
// with nothing pending.
func (rp *replayPart) caughtUp() bool {
	if rp.applied.Load() >= rp.target {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	info, err := rp.cons.Info(ctx)
	if err != nil {
		return false
	}
	return info.NumPending == 0 && len(rp.ch) == 0 && rp.applied.Load() >= info.Delivered.Stream
}

// CaughtUp closes once the initial replay has been applied.
func (r *Replayer) CaughtUp() <-chan struct{} { return r.caughtUp }

// Lag returns how many messages the partitions' consumers have not yet
// delivered (0 when unknown).
func (r *Replayer) Lag(ctx context.Context) uint64 {
	var n uint64
	for _, rp := range r.parts {
		if info, err := rp.cons.Info(ctx); err == nil {
			n += info.NumPending
		}
	}
	return n
}

// Stop stops consuming. Batches being applied finish.
func (r *Replayer) Stop() {
	select {
	case <-r.stop:
		return
	default:
	}
	close(r.stop)
	for _, rp := range r.parts {
		if rp.cc != nil {
			rp.cc.Stop()
		}
	}
}
