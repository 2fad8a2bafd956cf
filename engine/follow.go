package engine

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"
)

// Follower delivers one partition of a table, in stream order, from a
// given sequence onward, until stopped. It is built on an ordered consumer:
// gap-detecting, recreated by the client after a disconnect or a leader
// change, resuming after the last delivered sequence, so every message from
// the start sequence on is delivered exactly once to apply, in order.
type Follower struct {
	cc      jetstream.ConsumeContext
	cons    jetstream.Consumer
	ch      chan Change
	stop    chan struct{}
	done    chan struct{}
	applied atomic.Uint64
	once    sync.Once
}

// Follow starts delivering partition part of the table from sequence from
// (1 for the whole partition) to apply, in batches of up to batch changes.
// apply runs on one goroutine, never concurrently with itself; a slow apply
// slows the pull (backpressure), it never drops messages. Stop ends it.
func (t *Table) Follow(ctx context.Context, part int, from uint64, batch int, apply func([]Change)) (*Follower, error) {
	if from == 0 {
		from = 1
	}
	if batch <= 0 {
		batch = 512
	}
	f := &Follower{ch: make(chan Change, 4*batch), stop: make(chan struct{}), done: make(chan struct{})}
	f.applied.Store(from - 1)
	cons, err := t.js.OrderedConsumer(ctx, t.streams[part], jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from})
	if err != nil {
		return nil, fmt.Errorf("follow %s from %d: %w", t.streams[part], from, err)
	}
	f.cons = cons
	f.cc, err = cons.Consume(func(m jetstream.Msg) {
		c, ok := changeOf(m)
		if !ok {
			return
		}
		select {
		case f.ch <- c: // blocks while apply lags: backpressure on the pull
		case <-f.stop:
		}
	}, jetstream.PullMaxMessages(2*batch))
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", t.streams[part], err)
	}
	go f.drain(batch, apply)
	return f, nil
}

// changeOf decodes a table message.
func changeOf(m jetstream.Msg) (Change, bool) {
	md, err := m.Metadata()
	if err != nil {
		return Change{}, false
	}
	c := Change{Key: KeyOf(m.Subject()), Value: m.Data(), Seq: md.Sequence.Stream, At: md.Timestamp, Header: m.Headers()}
	if h := m.Headers(); h != nil {
		if op := h.Get("KV-Operation"); op == "DEL" || op == "PURGE" || h.Get(jetstream.MarkerReasonHeader) != "" {
			c.Deleted = true
		}
	}
	return c, true
}

func (f *Follower) drain(size int, apply func([]Change)) {
	defer close(f.done)
	batch := make([]Change, 0, size)
	for {
		select {
		case c := <-f.ch:
			batch = append(batch[:0], c)
		case <-f.stop:
			return
		}
	more:
		for len(batch) < size {
			select {
			case c := <-f.ch:
				batch = append(batch, c)
			default:
				break more
			}
		}
		apply(batch)
		f.applied.Store(batch[len(batch)-1].Seq)
	}
}

// Applied returns the sequence of the last change apply has returned from
// (the start sequence less one before any).
func (f *Follower) Applied() uint64 { return f.applied.Load() }

// Pending returns how many messages the consumer has not yet delivered
// (0 when unknown).
func (f *Follower) Pending(ctx context.Context) uint64 {
	info, err := f.cons.Info(ctx)
	if err != nil {
		return 0
	}
	return info.NumPending + uint64(len(f.ch))
}

// Caught reports whether every message of the partition up to its current
// end has been applied: the consumer has nothing pending and the last
// message it delivered has been through apply. A message stored after the
// check has a higher sequence than any applied so far.
func (f *Follower) Caught(ctx context.Context) bool {
	info, err := f.cons.Info(ctx)
	if err != nil {
		return false
	}
	return info.NumPending == 0 && f.applied.Load() >= info.Delivered.Stream
}

// Stop stops delivering and waits for a running apply to return. It is
// safe to call more than once, and from apply itself (it then does not
// wait).
func (f *Follower) Stop() {
	f.once.Do(func() {
		close(f.stop)
		f.cc.Stop()
	})
}

// Wait waits until the follower has stopped delivering.
func (f *Follower) Wait() { <-f.done }

// LastSeq returns the sequence of the last message in partition part (0 for
// an empty partition).
func (t *Table) LastSeq(ctx context.Context, part int) (uint64, error) {
	if err := t.eng.quorumErr(); err != nil {
		return 0, err
	}
	info, err := t.stores[part].Info(ctx)
	if err != nil {
		return 0, mapErr(err, t.streams[part])
	}
	return info.State.LastSeq, nil
}
