package feed

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/telemetry"
)

// dispatcher feeds the feed table's changes to the partitions this node
// holds. It follows each of the table's partition streams once per node
// (not once per view partition): every change is decoded once, written
// into the body cache, and applied to each held partition that is live on
// that stream. A partition that was just acquired catches up from its
// snapshot's positions with followers of its own, then joins the live
// ones (catchUp). Safe for concurrent use.
type dispatcher struct {
	tab     *engine.Table
	n       int
	log     *slog.Logger
	tel     *telemetry.Telemetry
	bodies  *bodies
	publish func(context.Context, []liveEvent)

	streams []*liveStream

	mu    sync.RWMutex
	parts map[*part]bool
}

// liveStream is the node's follower of one table partition stream.
type liveStream struct {
	i int
	f *engine.Follower
	// mu is held while a batch is applied to the live partitions, so a
	// partition joining them (catchUp) sees a stable position.
	mu        sync.Mutex
	delivered uint64 // last sequence applied to the live partitions
	progress  chan struct{}
}

// event is one decoded change of the feed table.
type event struct {
	seq     uint64
	at      time.Time
	kind    string
	a, b    starling.ID
	deleted bool
	post    *postRecord
	follow  *followRecord
	fav     *favRecord
	boost   *boostRecord
	header  nats.Header
}

// newDispatcher starts following every stream of the table from its
// current end.
func newDispatcher(ctx context.Context, tab *engine.Table, b *bodies, tel *telemetry.Telemetry, log *slog.Logger,
	publish func(context.Context, []liveEvent)) (*dispatcher, error) {
	d := &dispatcher{tab: tab, n: tab.Partitions(), log: log, tel: tel, bodies: b, publish: publish, parts: map[*part]bool{}}
	for i := 0; i < d.n; i++ {
		last, err := tab.LastSeq(ctx, i)
		if err != nil {
			d.stop()
			return nil, fmt.Errorf("feed stream %d: %w", i, err)
		}
		ls := &liveStream{i: i, delivered: last, progress: make(chan struct{})}
		ls.f, err = tab.Follow(ctx, i, last+1, 512, func(batch []engine.Change) { d.applyLive(ls, batch) })
		if err != nil {
			d.stop()
			return nil, err
		}
		d.streams = append(d.streams, ls)
	}
	return d, nil
}

func (d *dispatcher) stop() {
	for _, ls := range d.streams {
		ls.f.Stop()
	}
	for _, ls := range d.streams {
		ls.f.Wait()
	}
}

// add makes pt one of the partitions fed (not live on any stream until
// its catch-up joins it). Two copies of one partition may be fed at once
// (a rebuild).
func (d *dispatcher) add(pt *part) {
	d.mu.Lock()
	d.parts[pt] = true
	d.mu.Unlock()
}

// remove stops feeding pt.
func (d *dispatcher) remove(pt *part) {
	d.mu.Lock()
	delete(d.parts, pt)
	d.mu.Unlock()
}

func (d *dispatcher) held() []*part {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]*part, 0, len(d.parts))
	for pt := range d.parts {
		out = append(out, pt)
	}
	return out
}

// applyLive applies one batch of stream ls to every live partition.
func (d *dispatcher) applyLive(ls *liveStream, batch []engine.Change) {
	evs := d.decode(batch)
	d.bodies.apply(evs)
	parts := d.held()
	var live []liveEvent
	ls.mu.Lock()
	for _, pt := range parts {
		live = pt.applyBatch(ls.i, evs, true, true, live)
	}
	ls.delivered = batch[len(batch)-1].Seq
	close(ls.progress)
	ls.progress = make(chan struct{})
	ls.mu.Unlock()
	d.observe(evs)
	if len(live) > 0 {
		d.publish(context.Background(), live)
	}
	d.tel.Metrics.ViewApplied.WithLabelValues("feed").Add(float64(len(batch)))
}

// observe records the fan-out lag of new statuses and links their
// application to the trace of the request that wrote them.
func (d *dispatcher) observe(evs []event) {
	for i := range evs {
		ev := &evs[i]
		if ev.post == nil || ev.post.Deleted || ev.post.Edited != nil {
			continue
		}
		d.tel.Metrics.FanoutLag.Observe(time.Since(ev.post.Created).Seconds())
		if len(ev.header) > 0 {
			ctx := telemetry.Extract(context.Background(), map[string][]string(ev.header))
			if trace.SpanContextFromContext(ctx).IsValid() {
				_, span := d.tel.Tracer.Start(ctx, "feed.fanout", trace.WithAttributes(attribute.String("starling.key", postKey(ev.post.ID))))
				span.End()
			}
		}
	}
}

// applyBatch applies the events of stream i to the partition: when live
// is set only if the partition is live on the stream (the node's live
// followers), otherwise only while it is not (its catch-up). Events it has
// applied already are skipped. Live events are appended when publish is
// set and the event is recent.
func (pt *part) applyBatch(i int, evs []event, live, publish bool, out []liveEvent) []liveEvent {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.live[i] != live {
		return out
	}
	pt.scanning = !live && pt.loaded
	defer func() { pt.scanning = false }()
	for k := range evs {
		ev := &evs[k]
		if ev.seq <= pt.applied[i] {
			continue
		}
		pt.applied[i] = ev.seq
		fresh := publish && !pt.quiet && time.Since(ev.at) < freshness
		switch ev.kind {
		case kindPost:
			out = pt.applyPost(ev.post, fresh, out)
		case kindFollow:
			pt.applyFollow(ev.a, ev.b, ev.follow)
		case kindFav:
			pt.applyFav(ev.a, ev.b, ev.fav)
		case kindBoost:
			pt.applyBoost(ev.a, ev.b, ev.boost)
		}
	}
	return out
}

// speak lets a quiet copy of a partition publish live events.
func (pt *part) speak() {
	pt.mu.Lock()
	pt.quiet = false
	pt.mu.Unlock()
}

// freshness: events older than this are not pushed to streaming clients
// (a node catching up after an outage does not replay minutes of them).
const freshness = time.Minute

// decode turns a batch of changes into events, skipping what the view
// does not use.
func (d *dispatcher) decode(batch []engine.Change) []event {
	out := make([]event, 0, len(batch))
	for _, c := range batch {
		kind, a, b, ok := splitKey(c.Key)
		if !ok {
			continue
		}
		if !viewKinds[kind] {
			continue // kept in the table, not in the view
		}
		ev := event{seq: c.Seq, at: c.At, kind: kind, a: a, b: b, deleted: c.Deleted, header: c.Header}
		if !d.decodeValue(&ev, c) {
			d.log.Error("undecodable feed record", "key", c.Key)
			continue
		}
		out = append(out, ev)
	}
	return out
}

func (d *dispatcher) decodeValue(ev *event, c engine.Change) bool {
	var err error
	switch ev.kind {
	case kindPost:
		if c.Deleted { // a delete marker (written before tombstones existed)
			ev.post = &postRecord{ID: ev.a, Deleted: true}
		} else {
			ev.post = new(postRecord)
			err = json.Unmarshal(c.Value, ev.post)
		}
	case kindFollow:
		if !c.Deleted {
			ev.follow = new(followRecord)
			err = json.Unmarshal(c.Value, ev.follow)
		}
	case kindFav:
		if !c.Deleted {
			ev.fav = new(favRecord)
			err = json.Unmarshal(c.Value, ev.fav)
		}
	case kindBoost:
		if !c.Deleted {
			ev.boost = new(boostRecord)
			err = json.Unmarshal(c.Value, ev.boost)
		}
	}
	return err == nil
}

// viewKinds are the record kinds the view is built from.
var viewKinds = map[string]bool{kindPost: true, kindFollow: true, kindFav: true, kindBoost: true}

// catchUp brings pt from its applied positions to the live followers'
// on every stream and makes it live there. It returns once pt is live on
// all streams, or with ctx's error.
func (d *dispatcher) catchUp(ctx context.Context, pt *part) error {
	errs := make(chan error, d.n)
	for _, ls := range d.streams {
		go func() { errs <- d.catchUpStream(ctx, pt, ls) }()
	}
	var first error
	for range d.streams {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// catchUpStream catches pt up on one stream.
func (d *dispatcher) catchUpStream(ctx context.Context, pt *part, ls *liveStream) error {
	if d.join(pt, ls, nil) {
		return nil
	}
	pt.mu.RLock()
	from := pt.applied[ls.i] + 1
	pt.mu.RUnlock()
	joined := make(chan struct{})
	var once sync.Once
	var f *engine.Follower
	f, err := d.tab.Follow(ctx, ls.i, from, 1024, func(batch []engine.Change) {
		pt.applyBatch(ls.i, d.decode(batch), false, false, nil)
		if d.join(pt, ls, nil) {
			once.Do(func() { close(joined) })
		}
	})
	if err != nil {
		return err
	}
	defer func() { f.Stop(); f.Wait() }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-joined:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			// Nothing more to catch (the stream is idle, or the messages
			// up to the live position were replaced): join if everything
			// stored has been applied.
			if d.join(pt, ls, f) {
				return nil
			}
		}
	}
}

// join makes pt live on ls if it has applied everything the live
// followers have: its position has reached theirs, or (f given) its
// catch-up follower has applied every message stored. It reports whether
// pt is live on ls.
func (d *dispatcher) join(pt *part, ls *liveStream, f *engine.Follower) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.live[ls.i] {
		return true
	}
	if pt.applied[ls.i] < ls.delivered {
		if f == nil {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		caught := f.Caught(ctx)
		cancel()
		if !caught {
			return false
		}
		pt.applied[ls.i] = ls.delivered
	}
	pt.live[ls.i] = true
	return true
}

// waitApplied waits until stream i's live followers have applied seq (a
// write this node just made), so that the writer reads its own write. It
// reports false when they did not within two seconds (a consumer
// recovering from a leader change or a lost connection).
func (d *dispatcher) waitApplied(ctx context.Context, i int, seq uint64) bool {
	ls := d.streams[i]
	deadline := time.NewTimer(2 * time.Second)
	defer deadline.Stop()
	for {
		ls.mu.Lock()
		done, ch := ls.delivered >= seq, ls.progress
		ls.mu.Unlock()
		if done {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		case <-deadline.C:
			d.log.Warn("a write did not come back from its stream in time", "stream", i, "seq", seq)
			return false
		}
	}
}

// lag returns how many messages the live followers have not yet applied.
func (d *dispatcher) lag(ctx context.Context) uint64 {
	var n uint64
	for _, ls := range d.streams {
		n += ls.f.Pending(ctx)
	}
	return n
}
