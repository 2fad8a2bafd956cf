package feed

import (
	"context"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
)

// profiles caches account profiles from the Auth service. A profile change
// publishes an event that evicts the entry on every node; when the
// connection to the engine drops (events may have been missed) the whole
// cache is emptied. Entries are immutable snapshots. Safe for concurrent use.
type profiles struct {
	auth    starling.AuthService
	maxSize int
	sub     *nats.Subscription

	mu     sync.RWMutex
	byID   map[starling.ID]*starling.Account
	byName map[string]starling.ID // lower-cased username
}

func newProfiles(eng *engine.Engine, auth starling.AuthService, maxSize int) (*profiles, error) {
	p := &profiles{auth: auth, maxSize: maxSize, byID: map[starling.ID]*starling.Account{}, byName: map[string]starling.ID{}}
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
	if a := p.byID[id]; a != nil {
		delete(p.byName, strings.ToLower(a.Username))
	}
	delete(p.byID, id)
	p.mu.Unlock()
}

func (p *profiles) clear() {
	p.mu.Lock()
	clear(p.byID)
	clear(p.byName)
	p.mu.Unlock()
}

func (p *profiles) store(as []*starling.Account) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range as {
		if len(p.byID) >= p.maxSize {
			for id, old := range p.byID { // drop an arbitrary entry
				delete(p.byID, id)
				delete(p.byName, strings.ToLower(old.Username))
				break
			}
		}
		p.byID[a.ID] = a
		p.byName[strings.ToLower(a.Username)] = a.ID
	}
}

// get returns the profiles of ids that exist (missing ones are left out).
func (p *profiles) get(ctx context.Context, ids []starling.ID) (map[starling.ID]*starling.Account, error) {
	out := make(map[starling.ID]*starling.Account, len(ids))
	var miss []starling.ID
	p.mu.RLock()
	for _, id := range ids {
		if a := p.byID[id]; a != nil {
			out[id] = a
		} else if id != 0 {
			miss = append(miss, id)
		}
	}
	p.mu.RUnlock()
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
	p.mu.RLock()
	for i, id := range ids {
		if out[i] = p.byID[id]; out[i] == nil && id != 0 {
			miss = append(miss, id)
		}
	}
	p.mu.RUnlock()
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
	a := p.byID[id]
	p.mu.RUnlock()
	if ok && a != nil {
		return a, nil
	}
	a, err := p.auth.LookupAccount(ctx, username)
	if err != nil {
		return nil, err
	}
	p.store([]*starling.Account{a})
	return a, nil
}
