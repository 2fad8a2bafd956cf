// Package shard decides which node holds which partition of a sharded view
// (the Feed and Notify services' derived data), with leases kept in the
// engine: a partition's lease is a key written with compare-and-set, so at
// most one member holds it at a time, renewed twice a second by its holder
// and taken over by another member when it stops changing.
//
// The lease of partition p lives in partition p of the "lease" table (a
// replicated, in-memory stream per partition, its own Raft group), so the
// loss of one stream leader stalls only the leases of its partition, and a
// holder moves the leadership of its lease's stream to another node, so
// that the node that dies with a partition is never also the one whose
// lease must be taken over through a new election.
//
// Members announce themselves over core NATS; every member computes the
// same balanced assignment of partitions (owner and standby) from the
// members it hears (assign.go). A member acquires the unowned partitions
// assigned to it, hands over those assigned elsewhere (snapshot first, so
// the next owner replays a short tail) and takes over those whose lease has
// not changed for Steal. See docs/architecture.md, "Sharded views".
package shard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/telemetry"
)

// Hooks are how a Manager hands partitions to the service holding their
// views. The Manager calls them from its own goroutines; a service's hooks
// must be safe for concurrent use across partitions.
type Hooks interface {
	// Acquire loads partition p's view (snapshot and stream tail) and starts
	// answering for it, returning once it answers. how says why: "start",
	// "takeover" (its owner stopped renewing) or "handoff" (its owner gave
	// it up). ctx ends if the lease is lost meanwhile; on error the hook has
	// freed whatever it loaded and the lease is given back.
	Acquire(ctx context.Context, p int, how string) error
	// Release stops answering for p at once and frees its view.
	Release(p int)
	// Save writes a snapshot of p, so that its next owner replays little.
	Save(ctx context.Context, p int) error
}

// Config configures a Manager. Zero durations take the defaults.
type Config struct {
	Engine     *engine.Engine
	Service    string // "feed", "notify": leases are per service
	Partitions int
	// Member names this member; unique among the service's members and
	// stable across restarts (the node name).
	Member    string
	Hooks     Hooks
	Telemetry *telemetry.Telemetry
	// Tick is how often leases are renewed and observed (default 500ms).
	Tick time.Duration
	// Steal is how long another member's lease must stay unchanged, as
	// observed by successful reads, before it is taken over (default 2.5s).
	Steal time.Duration
	// SelfStop: a holder that could not renew for this long stops serving
	// even in the majority (default 12s, above the engine's longest Raft
	// election, during which nobody can take the lease either).
	SelfStop time.Duration
	// Settle is how long a starting member listens for the others before
	// acquiring unowned partitions (default 1.5s; 0 with NoSettle).
	Settle   time.Duration
	NoSettle bool
}

func (c *Config) defaults() {
	if !c.Engine.Clustered() && c.Engine.Server() != nil {
		c.NoSettle = true // an embedded single node: nobody to wait for
	}
	if c.Tick == 0 {
		c.Tick = 500 * time.Millisecond
	}
	if c.Steal == 0 {
		c.Steal = 2500 * time.Millisecond
	}
	if c.SelfStop == 0 {
		c.SelfStop = 12 * time.Second
	}
	if c.Settle == 0 && !c.NoSettle {
		c.Settle = 1500 * time.Millisecond
	}
}

// Lease states of a held partition.
const (
	stateLoading = "loading"
	stateServing = "serving"
)

// held is a partition whose lease this member holds.
type held struct {
	rev     uint64
	okAt    time.Time // when the last successful write was sent
	state   string
	cancel  context.CancelFunc
	release bool // being handed over
}

// seen is another member's lease as last observed.
type seen struct {
	owner string
	rev   uint64
	since time.Time // when rev was first observed (zero: reads failed since)
}

// leaseValue is what a lease key holds.
type leaseValue struct {
	Owner string `json:"owner"`
}

// memberBeat is a member's heartbeat.
type memberBeat struct {
	Member   string `json:"member"`
	Draining bool   `json:"draining,omitempty"`
}

// Manager holds this member's leases. It is safe for concurrent use.
type Manager struct {
	cfg  Config
	tab  *engine.Table
	keys []string
	log  *slog.Logger
	sub  *nats.Subscription
	tel  *telemetry.Telemetry

	mu       sync.Mutex
	heard    map[string]time.Time // member -> last heartbeat
	drainers map[string]bool
	held     map[int]*held
	seen     map[int]seen
	owners   []string // the last assignment
	standbys []string
	draining bool
	started  time.Time
	ready    chan struct{}
	wg       sync.WaitGroup

	ticks int

	stop chan struct{}
	done chan struct{}
}

// memberTTL: a member not heard from for this long is left out of the
// assignment.
const memberTTL = 2 * time.Second

// leaseTTL makes the engine forget leases nobody renews (a service that is
// no longer deployed); takeover does not wait for it.
const leaseTTL = 30 * time.Second

// Start creates the lease table if needed and starts holding leases.
// Close stops it.
func Start(ctx context.Context, cfg Config) (*Manager, error) {
	cfg.defaults()
	if cfg.Partitions < 1 || cfg.Member == "" || cfg.Service == "" || cfg.Hooks == nil {
		return nil, errors.New("shard: partitions, member, service and hooks are required")
	}
	tab, err := cfg.Engine.Table(ctx, engine.TableConfig{Name: "lease", Partitions: cfg.Partitions, Memory: true,
		Duplicates: 30 * time.Second, MaxValueSize: 1024, PinLeaders: true})
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, tab: tab, tel: cfg.Telemetry, log: cfg.Telemetry.Log.With("component", "shard", "service", cfg.Service),
		heard: map[string]time.Time{}, drainers: map[string]bool{}, held: map[int]*held{}, seen: map[int]seen{},
		started: time.Now(), ready: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	for p := 0; p < cfg.Partitions; p++ {
		m.keys = append(m.keys, leaseKey(cfg.Service, p, cfg.Partitions))
	}
	m.sub, err = cfg.Engine.Conn().Subscribe(m.beatSubject(), m.onBeat)
	if err != nil {
		return nil, fmt.Errorf("shard: subscribe: %w", err)
	}
	go m.loop()
	return m, nil
}

// leaseKey returns the lease key of partition p: "v.<token>" with a token
// that the table's partition function puts in partition p.
func leaseKey(service string, p, n int) string {
	for k := 0; ; k++ {
		key := fmt.Sprintf("v.%s-%d-%d", service, p, k)
		if engine.Partition(key, n) == p {
			return key
		}
	}
}

func (m *Manager) beatSubject() string { return "starling.shard." + m.cfg.Service + ".member" }

func (m *Manager) onBeat(msg *nats.Msg) {
	var b memberBeat
	if json.Unmarshal(msg.Data, &b) != nil || b.Member == "" {
		return
	}
	m.mu.Lock()
	m.heard[b.Member] = time.Now()
	m.drainers[b.Member] = b.Draining
	m.mu.Unlock()
}

// WaitReady waits until this member has loaded every partition that was
// unowned and assigned to it when it started (on a single node: all of
// them). Partitions other members hold are handed over later.
func (m *Manager) WaitReady(ctx context.Context) error {
	select {
	case <-m.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s view partitions not loaded: %w", m.cfg.Service, ctx.Err())
	}
}

// Ready reports whether WaitReady would return at once.
func (m *Manager) Ready() bool {
	select {
	case <-m.ready:
		return true
	default:
		return false
	}
}

// Owns reports whether this member serves partition p now: it holds the
// lease, has loaded the partition, and is not cut off from the engine's
// majority. Reads must check it before answering.
func (m *Manager) Owns(p int) bool {
	m.mu.Lock()
	h := m.held[p]
	ok := h != nil && h.state == stateServing
	m.mu.Unlock()
	return ok && !m.cfg.Engine.InMinority()
}

// Owned returns the partitions this member serves, ascending.
func (m *Manager) Owned() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int
	for p, h := range m.held {
		if h.state == stateServing {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// Standby returns the partitions this member is assigned to take over
// when their owner goes, ascending.
func (m *Manager) Standby() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int
	for p, s := range m.standbys {
		if s == m.cfg.Member && m.held[p] == nil {
			out = append(out, p)
		}
	}
	return out
}

// Holding describes a view partition a member holds.
type Holding struct {
	Partition int    `json:"partition"`
	Role      string `json:"role"` // "owner" or "standby"
	// Bytes is the estimated memory of an owned partition's view.
	Bytes int64 `json:"bytes,omitempty"`
}

// Holdings lists the partitions this member owns and stands by for; size
// gives an owned partition's bytes.
func (m *Manager) Holdings(size func(p int) int64) []Holding {
	var out []Holding
	for _, p := range m.Owned() {
		out = append(out, Holding{Partition: p, Role: "owner", Bytes: size(p)})
	}
	for _, p := range m.Standby() {
		out = append(out, Holding{Partition: p, Role: "standby"})
	}
	return out
}

// Owners returns the owner of each partition as last observed ("" when
// none).
func (m *Manager) Owners() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, m.cfg.Partitions)
	for p := range out {
		if h := m.held[p]; h != nil {
			if h.state == stateServing {
				out[p] = m.cfg.Member
			}
		} else if s, ok := m.seen[p]; ok {
			out[p] = s.owner
		}
	}
	return out
}

// Drain hands every partition over to the other members and waits until
// this member holds none (or ctx ends). With no other member to hand them
// to (they are all draining too), it returns at once: Close gives the
// leases back.
func (m *Manager) Drain(ctx context.Context) error {
	m.mu.Lock()
	m.draining = true
	m.mu.Unlock()
	m.beat()
	for {
		owners, _ := m.assignment()
		m.mu.Lock()
		n := len(m.held)
		m.mu.Unlock()
		if n == 0 || owners[0] == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s partitions still held: %w", m.cfg.Service, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close stops renewing. Partitions still held are saved, released and their
// leases given back (until ctx ends), so that other members take them over
// at once instead of after Steal.
func (m *Manager) Close(ctx context.Context) {
	select {
	case <-m.stop:
		return
	default:
	}
	close(m.stop)
	<-m.done
	_ = m.sub.Unsubscribe()
	m.wg.Wait() // acquisitions in progress end (their contexts were cancelled)
	m.mu.Lock()
	parts := make([]int, 0, len(m.held))
	for p := range m.held {
		parts = append(parts, p)
	}
	m.mu.Unlock()
	for _, p := range parts {
		m.handOver(ctx, p)
	}
}

func (m *Manager) loop() {
	defer close(m.done)
	for {
		m.tick()
		d := m.cfg.Tick + time.Duration(rand.Int64N(int64(m.cfg.Tick)/5)) // jitter
		select {
		case <-m.stop:
			m.mu.Lock()
			for _, h := range m.held {
				if h.cancel != nil {
					h.cancel()
				}
			}
			m.mu.Unlock()
			return
		case <-time.After(d):
		}
	}
}

// tick renews, announces, reassigns and acts on every partition once.
func (m *Manager) tick() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*m.cfg.Tick)
	defer cancel()
	m.beat()
	owners, standbys := m.assignment()
	for p := 0; p < m.cfg.Partitions; p++ {
		if m.holds(p) {
			m.renew(ctx, p, owners[p])
		} else {
			m.observe(ctx, p, owners[p])
		}
	}
	m.steerLeaders(ctx, standbys)
	m.report(owners, standbys)
	m.checkReady(owners)
}

func (m *Manager) beat() {
	m.mu.Lock()
	b := memberBeat{Member: m.cfg.Member, Draining: m.draining}
	m.heard[m.cfg.Member] = time.Now()
	m.drainers[m.cfg.Member] = m.draining
	m.mu.Unlock()
	data, _ := json.Marshal(b)
	_ = m.cfg.Engine.Conn().Publish(m.beatSubject(), data)
}

// assignment computes owners and standbys from the members heard lately
// (draining ones left out).
func (m *Manager) assignment() (owners, standbys []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var live []string
	now := time.Now()
	for name, at := range m.heard {
		if now.Sub(at) > memberTTL {
			delete(m.heard, name)
			delete(m.drainers, name)
			continue
		}
		if !m.drainers[name] {
			live = append(live, name)
		}
	}
	m.owners, m.standbys = assign(m.cfg.Service, m.cfg.Partitions, live)
	return m.owners, m.standbys
}

func (m *Manager) holds(p int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held[p] != nil
}

// renew extends a held lease, and hands the partition over when the
// assignment gives it to another member.
func (m *Manager) renew(ctx context.Context, p int, target string) {
	m.mu.Lock()
	h := m.held[p]
	if h == nil {
		m.mu.Unlock()
		return
	}
	rev := h.rev
	m.mu.Unlock()
	sent := time.Now()
	nrev, err := m.put(ctx, p, &rev)
	m.mu.Lock()
	if m.held[p] != h {
		m.mu.Unlock()
		return
	}
	switch {
	case err == nil:
		h.rev, h.okAt = nrev, sent
	case starling.IsCode(err, starling.Conflict), starling.IsCode(err, starling.NotFound):
		m.mu.Unlock()
		m.log.Warn("lease lost: another member took the partition", "partition", p)
		m.lose(p, h)
		return
	case m.cfg.Engine.InMinority() || time.Since(h.okAt) > m.cfg.SelfStop:
		m.mu.Unlock()
		m.log.Warn("lease not renewed: stop serving the partition", "partition", p, "since", time.Since(h.okAt).Round(time.Millisecond), "err", err)
		m.lose(p, h)
		return
	}
	handOver := !h.release && h.state == stateServing && target != "" && target != m.cfg.Member && m.live(target)
	if handOver {
		h.release = true
	}
	m.mu.Unlock()
	if handOver {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			hctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			m.log.Info("handing partition over", "partition", p, "to", target)
			m.handOver(hctx, p)
		}()
	}
}

// live reports whether member was heard lately. Under m.mu.
func (m *Manager) live(member string) bool {
	at, ok := m.heard[member]
	return ok && time.Since(at) <= memberTTL
}

// lose drops a partition whose lease is gone.
func (m *Manager) lose(p int, h *held) {
	m.mu.Lock()
	if m.held[p] != h {
		m.mu.Unlock()
		return
	}
	delete(m.held, p)
	serving := h.state == stateServing
	if h.cancel != nil {
		h.cancel()
	}
	m.mu.Unlock()
	if serving {
		m.cfg.Hooks.Release(p)
	}
}

// handOver saves, releases and gives back partition p's lease.
func (m *Manager) handOver(ctx context.Context, p int) {
	m.mu.Lock()
	h := m.held[p]
	m.mu.Unlock()
	if h == nil {
		return
	}
	if h.state == stateServing {
		if err := m.cfg.Hooks.Save(ctx, p); err != nil {
			m.log.Warn("snapshot before handing over failed", "partition", p, "err", err)
		}
	}
	m.mu.Lock()
	if m.held[p] != h {
		m.mu.Unlock()
		return
	}
	delete(m.held, p)
	serving, rev := h.state == stateServing, h.rev
	if h.cancel != nil {
		h.cancel()
	}
	m.mu.Unlock()
	if serving {
		m.cfg.Hooks.Release(p)
	}
	if err := m.tab.Delete(ctx, m.keys[p], rev); err != nil && !starling.IsCode(err, starling.Conflict) {
		m.log.Warn("giving the lease back failed (it will be taken over)", "partition", p, "err", err)
	}
}

// observe looks at a lease this member does not hold and acquires or takes
// it over when the assignment gives it to this member.
func (m *Manager) observe(ctx context.Context, p int, target string) {
	ent, err := m.tab.Get(ctx, m.keys[p])
	m.mu.Lock()
	if err != nil && !starling.IsCode(err, starling.NotFound) {
		s := m.seen[p]
		s.since = time.Time{} // nothing learned: the owner may not reach the leader either
		m.seen[p] = s
		m.mu.Unlock()
		return
	}
	mine := target == m.cfg.Member && !m.draining
	settled := time.Since(m.started) >= m.cfg.Settle
	if starling.IsCode(err, starling.NotFound) {
		delete(m.seen, p)
		m.mu.Unlock()
		if mine && settled {
			m.acquire(ctx, p, nil, "start", "")
		}
		return
	}
	var v leaseValue
	_ = json.Unmarshal(ent.Value, &v)
	s := m.seen[p]
	now := time.Now()
	if s.rev != ent.Revision || s.owner != v.Owner || s.since.IsZero() {
		s = seen{owner: v.Owner, rev: ent.Revision, since: now}
		m.seen[p] = s
	}
	stale := now.Sub(s.since) >= m.cfg.Steal
	m.mu.Unlock()
	rev := ent.Revision
	switch {
	case v.Owner == m.cfg.Member && !m.draining:
		// Left by this member's previous life (a restart): it is ours.
		m.acquire(ctx, p, &rev, "start", "")
	case mine && stale:
		m.acquire(ctx, p, &rev, "takeover", v.Owner)
	}
}

// acquire writes the lease (creating it, or over revision rev) and loads
// the partition in the background.
func (m *Manager) acquire(ctx context.Context, p int, rev *uint64, how, from string) {
	sent := time.Now()
	nrev, err := m.put(ctx, p, rev)
	if err != nil {
		if !starling.IsCode(err, starling.Conflict) {
			m.log.Debug("acquiring a partition failed", "partition", p, "err", err)
		}
		return
	}
	lctx, cancel := context.WithCancel(context.Background())
	h := &held{rev: nrev, okAt: sent, state: stateLoading, cancel: cancel}
	m.mu.Lock()
	if m.held[p] != nil { // cannot happen: one loop acquires
		m.mu.Unlock()
		cancel()
		return
	}
	m.held[p] = h
	delete(m.seen, p)
	m.mu.Unlock()
	if how == "takeover" {
		m.log.Warn("taking over a partition whose owner stopped renewing", "partition", p, "from", from)
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		start := time.Now()
		err := m.cfg.Hooks.Acquire(lctx, p, how)
		m.mu.Lock()
		current := m.held[p] == h
		if current && err == nil {
			h.state = stateServing
		}
		m.mu.Unlock()
		switch {
		case err == nil && current:
			took := time.Since(start)
			m.tel.Metrics.ViewLoad.WithLabelValues(m.cfg.Service, how).Observe(took.Seconds())
			m.log.Info("serving a view partition", "partition", p, "how", how, "load", took.Round(time.Millisecond))
		case err == nil:
			m.cfg.Hooks.Release(p) // lost while loading
		default:
			m.log.Warn("loading a partition failed; giving its lease back", "partition", p, "err", err)
			m.mu.Lock()
			if m.held[p] == h {
				delete(m.held, p)
			}
			m.mu.Unlock()
			dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = m.tab.Delete(dctx, m.keys[p], h.rev)
			dcancel()
		}
	}()
}

// put writes this member's lease value for p: created when rev is nil,
// else only over revision *rev.
func (m *Manager) put(ctx context.Context, p int, rev *uint64) (uint64, error) {
	data, _ := json.Marshal(leaseValue{Owner: m.cfg.Member})
	zero := uint64(0)
	if rev == nil {
		rev = &zero
	}
	nrev, _, err := m.tab.PutWith(ctx, m.keys[p], data, engine.PutOptions{TTL: leaseTTL, ExpectRevision: rev})
	if err != nil && rev == &zero && starling.IsCode(err, starling.Conflict) {
		// A deleted lease leaves a marker: create over it.
		nrev, err = m.tab.Create(ctx, m.keys[p], data, leaseTTL)
	}
	return nrev, err
}

// steerLeaders moves the leadership of the lease streams of the
// partitions this member serves to their standby: the node that dies with
// a partition must not also be the leader of its lease's Raft group, or the
// takeover would wait for an election.
func (m *Manager) steerLeaders(ctx context.Context, standbys []string) {
	eng := m.cfg.Engine
	m.ticks++
	if m.ticks%4 != 0 || !eng.Clustered() || eng.InMinority() {
		return
	}
	for _, p := range m.Owned() {
		leader, err := m.tab.Leader(ctx, p)
		if err != nil || leader != eng.ServerName() {
			continue
		}
		to := ""
		if p < len(standbys) && standbys[p] != m.cfg.Member {
			to = standbys[p]
		}
		if err := eng.StepDownStream(ctx, m.tab.Stream(p), to); err != nil {
			m.log.Debug("moving a lease stream's leadership failed", "partition", p, "err", err)
		}
	}
}

// report publishes the partition counts by role.
func (m *Manager) report(owners, standbys []string) {
	owned := len(m.Owned())
	standby := 0
	m.mu.Lock()
	for p, s := range standbys {
		if s == m.cfg.Member && m.held[p] == nil {
			standby++
		}
	}
	m.mu.Unlock()
	m.tel.Metrics.ViewParts.WithLabelValues(m.cfg.Service, "owner").Set(float64(owned))
	m.tel.Metrics.ViewParts.WithLabelValues(m.cfg.Service, "standby").Set(float64(standby))
}

// checkReady closes ready once the settle time has passed and no
// partition assigned to this member is unowned or still loading here.
func (m *Manager) checkReady(owners []string) {
	if m.Ready() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.started) < m.cfg.Settle {
		return
	}
	for p, o := range owners {
		h := m.held[p]
		if h != nil && h.state == stateLoading {
			return
		}
		if o == m.cfg.Member && h == nil {
			if _, owned := m.seen[p]; !owned {
				return // unowned and ours: acquiring it next
			}
		}
	}
	close(m.ready)
}
