package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
)

// Token caches and revocation.
//
// Every node keeps verified tokens in memory so that authenticating a
// request costs no engine round trip. Revocation must still take effect on
// every node before Revoke returns. Three rules make that hold:
//
//  1. Eviction with acknowledgement. Revoke deletes the token (quorum write),
//     then publishes an eviction on subjectEvict and waits until every cache
//     it knows of (caches announce themselves on subjectHello) has
//     acknowledged it.
//  2. Leases. A cache honours entries only while it hears lease heartbeats
//     from an auth instance that can reach the engine's quorum (every
//     leaseEvery, valid for leaseTTL). A cache cut off from the auth
//     instances, or on the minority side of a partition, stops answering from
//     memory within leaseTTL; so a Revoke that gets no acknowledgement from a
//     cache waits evictWait (> leaseTTL) and then returns.
//  3. No missed invalidations. A cache empties itself whenever its
//     connection drops or it falls behind (slow consumer), and a fill that
//     raced with any eviction is discarded.
const (
	subjectEvict = "starling.auth.evict"
	subjectHello = "starling.auth.cache.hello"
	subjectLease = "starling.auth.lease"
	leaseEvery   = time.Second
	leaseProbe   = 5 * time.Second // a busy engine may answer slowly; that is not a lost quorum
	leaseTTL     = 10 * time.Second
	evictWait    = leaseTTL + time.Second
	helloTTL     = 3 * time.Second
)

// evictor runs in every auth instance: it tracks live caches, publishes
// lease heartbeats while the engine is healthy, and evicts tokens.
type evictor struct {
	eng  *engine.Engine
	nc   *nats.Conn
	log  *slog.Logger
	sub  *nats.Subscription
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	caches map[string]time.Time // cache id -> last hello
}

func startEvictor(eng *engine.Engine, log *slog.Logger) (*evictor, error) {
	ev := &evictor{eng: eng, nc: eng.Conn(), log: log, caches: map[string]time.Time{},
		stop: make(chan struct{}), done: make(chan struct{})}
	sub, err := ev.nc.Subscribe(subjectHello, func(m *nats.Msg) {
		ev.mu.Lock()
		ev.caches[string(m.Data)] = time.Now()
		ev.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	ev.sub = sub
	go ev.leaseLoop()
	return ev, nil
}

func (ev *evictor) leaseLoop() {
	defer close(ev.done)
	t := time.NewTicker(leaseEvery)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), leaseProbe)
		err := ev.eng.Healthy(ctx)
		cancel()
		if err == nil {
			_ = ev.nc.Publish(subjectLease, nil)
		}
		select {
		case <-ev.stop:
			return
		case <-t.C:
		}
	}
}

func (ev *evictor) close() {
	close(ev.stop)
	<-ev.done
	_ = ev.sub.Unsubscribe()
}

// evict removes tokenHash ("*" for every token) from every cache and waits
// as described above.
func (ev *evictor) evict(ctx context.Context, tokenHash string) error {
	now := time.Now()
	ev.mu.Lock()
	expect := map[string]bool{}
	for id, seen := range ev.caches {
		if now.Sub(seen) < helloTTL {
			expect[id] = true
		} else {
			delete(ev.caches, id)
		}
	}
	ev.mu.Unlock()
	inbox := ev.nc.NewRespInbox()
	acks := make(chan string, 64)
	sub, err := ev.nc.Subscribe(inbox, func(m *nats.Msg) {
		select {
		case acks <- string(m.Data):
		default:
		}
	})
	if err != nil {
		return starling.Wrap(starling.Unavailable, "Service temporarily unavailable", err)
	}
	defer sub.Unsubscribe()
	if err := ev.nc.PublishRequest(subjectEvict, inbox, []byte(tokenHash)); err != nil {
		return starling.Wrap(starling.Unavailable, "Service temporarily unavailable", err)
	}
	timer := time.NewTimer(evictWait)
	defer timer.Stop()
	for len(expect) > 0 {
		select {
		case id := <-acks:
			delete(expect, id)
		case <-timer.C:
			// The silent caches have lost their leases by now.
			ev.log.WarnContext(ctx, "token eviction unacknowledged; waited out the lease", "caches", len(expect))
			return nil
		case <-ctx.Done():
			// The token is deleted; caches that did not answer lose their
			// lease within leaseTTL.
			return nil
		}
	}
	return nil
}

// TokenCache is a starling.AuthService whose Authenticate answers from
// memory, following the rules above; every other method goes to the
// wrapped service. It is safe for concurrent use.
type TokenCache struct {
	starling.AuthService

	id       string
	nc       *nats.Conn
	eng      *engine.Engine
	subs     []*nats.Subscription
	stop     chan struct{}
	maxSize  int
	leaseEnd atomic.Int64 // unix nanos
	gen      atomic.Uint64

	mu      sync.RWMutex
	entries map[string]*starling.Grant // token hash -> grant
}

// NewTokenCache wraps svc with a token cache of at most maxSize entries.
// Close stops it.
func NewTokenCache(eng *engine.Engine, svc starling.AuthService, maxSize int) (*TokenCache, error) {
	c := &TokenCache{AuthService: svc, id: eng.NodeName() + "-" + newSecret().Reveal()[:8], nc: eng.Conn(), eng: eng,
		stop: make(chan struct{}), maxSize: maxSize, entries: map[string]*starling.Grant{}}
	evict, err := c.nc.Subscribe(subjectEvict, func(m *nats.Msg) {
		c.evict(string(m.Data))
		if m.Reply != "" {
			_ = m.Respond([]byte(c.id))
		}
	})
	if err != nil {
		return nil, err
	}
	lease, err := c.nc.Subscribe(subjectLease, func(*nats.Msg) {
		c.leaseEnd.Store(time.Now().Add(leaseTTL).UnixNano())
	})
	if err != nil {
		_ = evict.Unsubscribe()
		return nil, err
	}
	c.subs = []*nats.Subscription{evict, lease}
	eng.OnConnectionChange(func(bool) { c.evict("*") })
	go c.helloLoop()
	return c, nil
}

func (c *TokenCache) helloLoop() {
	t := time.NewTicker(leaseEvery)
	defer t.Stop()
	for {
		_ = c.nc.Publish(subjectHello, []byte(c.id))
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
	}
}

// Close stops the cache.
func (c *TokenCache) Close() {
	close(c.stop)
	for _, s := range c.subs {
		_ = s.Unsubscribe()
	}
}

func (c *TokenCache) evict(tokenHash string) {
	c.gen.Add(1)
	c.mu.Lock()
	if tokenHash == "*" {
		clear(c.entries)
	} else {
		delete(c.entries, tokenHash)
	}
	c.mu.Unlock()
}

// Authenticate returns the token's grant from memory while the lease holds,
// and from the Auth service otherwise.
func (c *TokenCache) Authenticate(ctx context.Context, token starling.Secret) (*starling.Grant, error) {
	if token == "" || len(token) > 256 {
		return nil, errBadToken
	}
	sum := sha256.Sum256([]byte(token.Reveal()))
	h := hex.EncodeToString(sum[:])
	// A node that knows it is cut off from the cluster's majority (or was
	// just paused) cannot hear evictions: it stops honouring entries at
	// once rather than when its lease runs out, so that a Revoke on the
	// majority (which waits evictWait for silent caches) is honoured.
	leased := time.Now().UnixNano() < c.leaseEnd.Load() && !c.eng.InMinority()
	if leased {
		c.mu.RLock()
		g := c.entries[h]
		c.mu.RUnlock()
		if g != nil {
			return g, nil
		}
	}
	gen := c.gen.Load()
	g, err := c.AuthService.Authenticate(ctx, token)
	if err != nil || !leased {
		return g, err
	}
	c.mu.Lock()
	if c.gen.Load() == gen {
		if len(c.entries) >= c.maxSize {
			for k := range c.entries { // drop an arbitrary entry
				delete(c.entries, k)
				break
			}
		}
		c.entries[h] = g
	}
	c.mu.Unlock()
	return g, nil
}

// ensure TokenCache satisfies the interface.
var _ starling.AuthService = (*TokenCache)(nil)
