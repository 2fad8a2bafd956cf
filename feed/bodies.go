package feed

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
)

// bodies is the node's cache of status bodies (the stored status, without
// its source text, counters or anything hydrated), bounded in bytes. The
// view holds IDs; a read fills in bodies from here, and from the table on a
// miss. Every change of a status passes through the node's dispatcher,
// which writes it here (new statuses are what timelines read next) and
// leaves a tombstone for a deleted one, so the cache is as current as the
// view. Eviction is CLOCK (a second chance for recently read entries) per
// shard, so hits take only a read lock. Bodies are immutable once cached:
// callers copy before changing. Safe for concurrent use.
type bodies struct {
	tab    *engine.Table
	shards [bodyShards]bodyShard
	limit  int64 // bytes per shard
}

const bodyShards = 32

type bodyShard struct {
	mu      sync.RWMutex
	entries map[starling.ID]*bodyEntry
	ring    []starling.ID // insertion order, for the clock hand
	hand    int
	size    int64
}

type bodyEntry struct {
	st   *starling.Status // nil: deleted
	rev  uint64
	size int64
	ref  atomic.Bool
}

// DefaultBodyCache is the body cache's default size.
const DefaultBodyCache = 256 << 20

func newBodies(tab *engine.Table, limit int64) *bodies {
	if limit <= 0 {
		limit = DefaultBodyCache
	}
	b := &bodies{tab: tab, limit: limit / bodyShards}
	for i := range b.shards {
		b.shards[i].entries = map[starling.ID]*bodyEntry{}
	}
	return b
}

func (b *bodies) shard(id starling.ID) *bodyShard {
	x := uint64(id)
	x ^= x >> 29
	x *= 0xbf58476d1ce4e5b9
	return &b.shards[(x>>32)%bodyShards]
}

// cached returns a cached body: (st, true) when cached (st nil: deleted),
// (nil, false) when not.
func (b *bodies) cached(id starling.ID) (*starling.Status, bool) {
	sh := b.shard(id)
	sh.mu.RLock()
	e := sh.entries[id]
	sh.mu.RUnlock()
	if e == nil {
		return nil, false
	}
	if !e.ref.Load() {
		e.ref.Store(true)
	}
	return e.st, true
}

// get returns the body of status id, reading the table on a miss. A
// deleted or missing status is NotFound.
func (b *bodies) get(ctx context.Context, id starling.ID) (*starling.Status, error) {
	if st, ok := b.cached(id); ok {
		if st == nil {
			return nil, errNotFound
		}
		return st, nil
	}
	rec, ent, err := getRecord[postRecord](ctx, b.tab, postKey(id))
	if starling.IsCode(err, starling.NotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	if rec.Deleted {
		b.put(id, nil, ent.Revision)
		return nil, errNotFound
	}
	st := rec.status(ent.Revision)
	st.Text = ""
	b.put(id, st, ent.Revision)
	return st, nil
}

// getMany returns the bodies of ids that exist, by ID. Misses are read
// from the table concurrently.
func (b *bodies) getMany(ctx context.Context, ids []starling.ID) (map[starling.ID]*starling.Status, error) {
	out := make(map[starling.ID]*starling.Status, len(ids))
	var miss []starling.ID
	for _, id := range ids {
		if st, ok := b.cached(id); ok {
			if st != nil {
				out[id] = st
			}
		} else if id != 0 {
			miss = append(miss, id)
		}
	}
	if len(miss) == 0 {
		return out, nil
	}
	type res struct {
		id  starling.ID
		st  *starling.Status
		err error
	}
	results := make(chan res, len(miss))
	sem := make(chan struct{}, 16)
	for _, id := range miss {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			st, err := b.get(ctx, id)
			results <- res{id, st, err}
		}()
	}
	var first error
	for range miss {
		r := <-results
		switch {
		case r.err == nil:
			out[r.id] = r.st
		case !starling.IsCode(r.err, starling.NotFound) && first == nil:
			first = r.err
		}
	}
	return out, first
}

// apply writes the statuses of a batch of changes into the cache.
func (b *bodies) apply(evs []event) {
	for i := range evs {
		ev := &evs[i]
		if ev.kind != kindPost {
			continue
		}
		if ev.post.Deleted {
			b.put(ev.post.ID, nil, ev.seq)
			continue
		}
		st := ev.post.status(ev.seq)
		st.Text = ""
		b.put(st.ID, st, ev.seq)
	}
}

// put caches a body (nil: deleted) at revision rev, unless a newer
// revision is cached.
func (b *bodies) put(id starling.ID, st *starling.Status, rev uint64) {
	e := &bodyEntry{st: st, rev: rev, size: bodySize(st)}
	sh := b.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old := sh.entries[id]; old != nil {
		if old.rev >= rev {
			return
		}
		sh.size -= old.size
	} else {
		sh.ring = append(sh.ring, id)
	}
	sh.entries[id] = e
	sh.size += e.size
	for sh.size > b.limit && len(sh.entries) > 1 {
		sh.evictOne()
	}
}

// evictOne advances the clock hand to an entry not read since the hand
// last passed it and drops it. Under the shard's lock.
func (sh *bodyShard) evictOne() {
	for {
		if sh.hand >= len(sh.ring) {
			sh.hand = 0
			sh.compact()
		}
		id := sh.ring[sh.hand]
		e := sh.entries[id]
		if e == nil {
			sh.ring[sh.hand] = 0
			sh.hand++
			continue
		}
		if e.ref.Load() {
			e.ref.Store(false)
			sh.hand++
			continue
		}
		delete(sh.entries, id)
		sh.size -= e.size
		sh.ring[sh.hand] = 0
		sh.hand++
		return
	}
}

// compact drops evicted slots from the ring when it has many.
func (sh *bodyShard) compact() {
	if len(sh.ring) < 2*len(sh.entries)+64 {
		return
	}
	kept := sh.ring[:0]
	for _, id := range sh.ring {
		if id != 0 && sh.entries[id] != nil {
			kept = append(kept, id)
		}
	}
	sh.ring = kept
}

// bytes returns the cache's size.
func (b *bodies) bytes() int64 {
	var n int64
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.RLock()
		n += sh.size
		sh.mu.RUnlock()
	}
	return n
}

// bodySize estimates the memory a cached body holds.
func bodySize(st *starling.Status) int64 {
	const entry = 96 // map slot, entry, ring slot
	if st == nil {
		return entry
	}
	n := entry + 400 + len(st.Content) + len(st.SpoilerText) + len(st.Language) + len(st.AppName) + len(st.AppWebsite) +
		8*len(st.MediaIDs)
	for _, m := range st.Mentions {
		n += 40 + len(m.Username)
	}
	for _, t := range st.Tags {
		n += 16 + len(t)
	}
	return int64(n)
}

// decodePost decodes a stored post record.
func decodePost(data []byte) (*postRecord, error) {
	var r postRecord
	err := json.Unmarshal(data, &r)
	return &r, err
}
