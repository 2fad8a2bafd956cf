package feed

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
)

// profiles caches account profiles from the Auth service, bounded in
// bytes (CLOCK eviction: a second chance for entries read since the hand
// last passed). A profile change publishes an event that evicts the entry
// on every node; when the connection to the engine drops (events may have
// been missed) the whole cache is emptied. Entries are immutable snapshots.
// Safe for concurrent use.
type profiles struct {
	auth  starling.AuthService
	limit int64
	sub   *nats.Subscription

	mu     sync.RWMutex
	byID   map[starling.ID]*profileEntry
	byName map[string]starling.ID // lower-cased username
	ring   []starling.ID
	hand   int
	size   int64
}

type profileEntry struct {
	a    *starling.Account
	size int64
	ref  atomic.Bool
}

func newProfiles(eng *engine.Engine, auth starling.AuthService, limit int64) (*profiles, error) {
	p := &profiles{auth: auth, limit: limit, byID: map[starling.ID]*profileEntry{}, byName: map[string]starling.ID{}}
	sub, err := eng.Conn().Subscribe(starling.SubjectAccountChanged+".*", func(m *nats.Msg) {
		id, err := starling.ParseID(m.Subject[len(starling.SubjectAccountChanged)+1:])
		if err == nil {
			p.evict(id)
		}
	})
	if err != nil {
		return nil, err
	}
	p.sub = sub
	eng.OnConnectionChange(func(bool) { p.clear() })
	return p, nil
}

func (p *profiles) close() { _ = p.sub.Unsubscribe() }

func (p *profiles) evict(id starling.ID) {
	p.mu.Lock()
	p.drop(id)
	p.mu.Unlock()
}

// drop removes id's entry. Under p.mu.
func (p *profiles) drop(id starling.ID) {
	if e := p.byID[id]; e != nil {
		delete(p.byName, strings.ToLower(e.a.Username))
		p.size -= e.size
		delete(p.byID, id)
	}
}

func (p *profiles) clear() {
	p.mu.Lock()
	clear(p.byID)
	clear(p.byName)
	p.ring, p.hand, p.size = nil, 0, 0
	p.mu.Unlock()
}

// cached returns a cached profile, or nil.
func (p *profiles) cached(id starling.ID) *starling.Account {
	p.mu.RLock()
	e := p.byID[id]
	p.mu.RUnlock()
	if e == nil {
		return nil
	}
	if !e.ref.Load() {
		e.ref.Store(true)
	}
	return e.a
}

func (p *profiles) store(as []*starling.Account) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range as {
		p.drop(a.ID)
		e := &profileEntry{a: a, size: profileSize(a)}
		p.byID[a.ID] = e
		p.byName[strings.ToLower(a.Username)] = a.ID
		p.ring = append(p.ring, a.ID)
		p.size += e.size
		for p.size > p.limit && len(p.byID) > 1 {
			p.evictOne()
		}
	}
}

// evictOne drops the next entry the clock hand finds unread. Under p.mu.
func (p *profiles) evictOne() {
	for {
		if p.hand >= len(p.ring) {
			p.hand = 0
			kept := p.ring[:0]
			for _, id := range p.ring {
				if p.byID[id] != nil {
					kept = append(kept, id)
				}
			}
			p.ring = kept
		}
		id := p.ring[p.hand]
		p.hand++
		e := p.byID[id]
		if e == nil {
			continue
		}
		if e.ref.Load() {
			e.ref.Store(false)
			continue
		}
		p.drop(id)
		return
	}
}

// profileSize estimates a cached profile's memory.
func profileSize(a *starling.Account) int64 {
	return int64(400 + 2*len(a.Username) + len(a.DisplayName) + len(a.Note) + len(a.NoteHTML) + len(a.Language))
}

// get returns the profiles of ids that exist (missing ones are left out).
func (p *profiles) get(ctx context.Context, ids []starling.ID) (map[starling.ID]*starling.Account, error) {
	out := make(map[starling.ID]*starling.Account, len(ids))
	var miss []starling.ID
	for _, id := range ids {
		if a := p.cached(id); a != nil {
			out[id] = a
		} else if id != 0 {
			miss = append(miss, id)
		}
	}
	if len(miss) == 0 {
		return out, nil
	}
	got, err := p.auth.Accounts(ctx, miss)
	if err != nil {
		return nil, err
	}
	p.store(got)
	for _, a := range got {
		out[a.ID] = a
	}
	return out, nil
}

// aligned returns the profiles of ids in the same order, nil where an
// account does not exist.
func (p *profiles) aligned(ctx context.Context, ids []starling.ID) ([]*starling.Account, error) {
	out := make([]*starling.Account, len(ids))
	var miss []starling.ID
	for i, id := range ids {
		if out[i] = p.cached(id); out[i] == nil && id != 0 {
			miss = append(miss, id)
		}
	}
	if len(miss) == 0 {
		return out, nil
	}
	got, err := p.get(ctx, miss)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		if out[i] == nil {
			out[i] = got[id]
		}
	}
	return out, nil
}

// one returns a single profile.
func (p *profiles) one(ctx context.Context, id starling.ID) (*starling.Account, error) {
	m, err := p.get(ctx, []starling.ID{id})
	if err != nil {
		return nil, err
	}
	if a := m[id]; a != nil {
		return a, nil
	}
	return nil, errNotFound
}

// lookup finds a profile by username.
func (p *profiles) lookup(ctx context.Context, username string) (*starling.Account, error) {
	p.mu.RLock()
	id, ok := p.byName[strings.ToLower(username)]
	p.mu.RUnlock()
	if a := p.cached(id); ok && a != nil {
		return a, nil
	}
	a, err := p.auth.LookupAccount(ctx, username)
	if err != nil {
		return nil, err
	}
	p.store([]*starling.Account{a})
	return a, nil
}
