// Package notify is Starling's Notification service: notifications stored
// per account and reading markers.
//
// Notifications are derived from feed events by a worker that consumes
// them through a durable consumer group (at least once; every notification
// has a deterministic key, created with compare-and-set, so a redelivered
// event never makes a second one). The notifications of an account live in
// the notify table's partition of its ID; each partition's view is held by
// one Notify instance at a time (package shard), loaded from its latest
// snapshot plus its stream's tail, and answers that partition's reads
// (view.go). A call for an account is answered where its partition is
// served, and forwarded there otherwise.
//
// Keys of the partitioned "notify" table (partitioned by account):
//
//	notif.<recipient>.<type>-<cause...>  a notification (expires after the TTL)
//	cleared.<recipient>                  notifications up to an ID were cleared
//	marker.<account>.<timeline>          last-read position, compare-and-set
package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/shard"
	"github.com/starling-social/starling/telemetry"
)

// Defaults.
const (
	DefaultCapacity = 5000                // notifications kept per account
	DefaultTTL      = 90 * 24 * time.Hour // older ones expire
	listLimit       = 40                  // default page size (max 80)
)

// Service is the local implementation of starling.NotifyService.
type Service struct {
	cfg     Config
	eng     *engine.Engine
	tab     *engine.Table
	ids     *engine.IDs
	feed    starling.FeedService
	tel     *telemetry.Telemetry
	log     *slog.Logger
	n       int
	snaps   *engine.Snapshots
	owners  *shard.Manager
	forget  *nats.Subscription
	serving [64]atomic.Pointer[view]
	cancel  context.CancelFunc
	done    chan struct{}
	stopped chan struct{}
	loops   sync.WaitGroup
	now     func() time.Time

	mu        sync.Mutex
	withdraws map[int]func()
}

var _ starling.NotifyService = (*Service)(nil)

// Config holds the Service's dependencies and settings.
type Config struct {
	Engine    *engine.Engine
	IDs       *engine.IDs
	Feed      starling.FeedService
	Events    starling.FeedEvents // nil: no worker (reads and markers only)
	Telemetry *telemetry.Telemetry
	Capacity  int           // notifications kept per account (default 5000)
	TTL       time.Duration // notification lifetime (default 90 days)
	// Member names this instance among the Notify instances (the node's
	// name); Remote carries calls for accounts whose partition another
	// instance serves (nil: this is the only instance); Expose makes a
	// partition served here reachable by the others.
	Member string
	Remote starling.NotifyService
	Expose func(p int, svc starling.NotifyService) (withdraw func(), err error)
	// SnapshotEvery is how often each served partition is written to the
	// engine when it changed (default 30s; negative: never).
	SnapshotEvery time.Duration
}

// New creates the notify table if needed, takes part in the partitions'
// leases, and starts the worker that turns feed events into notifications.
// The service answers once WaitReady returns. Close stops it.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Capacity == 0 {
		cfg.Capacity = DefaultCapacity
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.SnapshotEvery == 0 {
		cfg.SnapshotEvery = 30 * time.Second
	}
	tab, err := cfg.Engine.Table(ctx, engine.TableConfig{Name: "notify"})
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, eng: cfg.Engine, tab: tab, ids: cfg.IDs, feed: cfg.Feed, tel: cfg.Telemetry, n: tab.Partitions(),
		log: cfg.Telemetry.Log.With("service", "notify"), done: make(chan struct{}), stopped: make(chan struct{}),
		now: time.Now, withdraws: map[int]func(){}}
	if s.n > len(s.serving) {
		return nil, fmt.Errorf("notify: at most %d partitions", len(s.serving))
	}
	if s.snaps, err = cfg.Engine.Snapshots(ctx, "notify"); err != nil {
		return nil, err
	}
	if s.forget, err = cfg.Engine.Conn().Subscribe(subjectForget, s.onForget); err != nil {
		return nil, err
	}
	member := cfg.Member
	if member == "" {
		member = cfg.Engine.NodeName()
	}
	if s.owners, err = shard.Start(ctx, shard.Config{Engine: cfg.Engine, Service: "notify", Partitions: s.n, Member: member,
		Hooks: hooks{s}, Telemetry: cfg.Telemetry}); err != nil {
		_ = s.forget.Unsubscribe()
		return nil, err
	}
	for _, r := range []string{"ok", "error"} {
		s.tel.Metrics.ViewSnapshots.WithLabelValues("notify", r)
	}
	wctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		if cfg.Events == nil {
			return
		}
		if err := cfg.Events.Consume(wctx, "notify", s.handle); err != nil {
			s.log.Error("notification worker stopped", "err", err)
		}
	}()
	s.loops.Add(1)
	go s.snapshotLoop()
	return s, nil
}

// WaitReady waits until this instance serves the partitions assigned to it
// that nobody served when it started.
func (s *Service) WaitReady(ctx context.Context) error { return s.owners.WaitReady(ctx) }

// ViewLag returns how many messages of the notify table the followers of
// the partitions served here have not yet applied (0 when unknown).
func (s *Service) ViewLag(ctx context.Context) uint64 {
	var n uint64
	for p := range s.n {
		if v := s.serving[p].Load(); v != nil && v.follower != nil {
			n += v.follower.Pending(ctx)
		}
	}
	return n
}

// Close stops the worker, hands the partitions over (after a snapshot) and
// stops.
func (s *Service) Close() {
	select {
	case <-s.stopped:
		return
	default:
	}
	close(s.stopped)
	s.cancel()
	<-s.done
	s.loops.Wait()
	_ = s.forget.Unsubscribe()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s.owners.Close(ctx)
}

// Drain hands every partition over to the other instances.
func (s *Service) Drain(ctx context.Context) error { return s.owners.Drain(ctx) }

// Held lists the partitions this instance owns and stands by for, with
// the owned ones' estimated sizes.
func (s *Service) Held() []shard.Holding {
	return s.owners.Holdings(func(p int) int64 {
		if v := s.serving[p].Load(); v != nil {
			return v.bytes()
		}
		return 0
	})
}

// ViewBytes estimates the memory of the partitions served here.
func (s *Service) ViewBytes() int64 {
	var n int64
	for p := range s.n {
		if v := s.serving[p].Load(); v != nil {
			n += v.bytes()
		}
	}
	return n
}

// record is a notification as stored.
type record struct {
	ID      starling.ID `json:"id"`
	Type    string      `json:"type"`
	Account starling.ID `json:"account"`
	Status  starling.ID `json:"status,omitempty"`
	Created time.Time   `json:"created"`
}

type clearedRecord struct {
	Before starling.ID `json:"before"`
}

func notifKey(recipient starling.ID, k string) string {
	return fmt.Sprintf("notif.%d.%s", recipient, k)
}

func wanted(q starling.NotificationQuery, e *entry) bool {
	if len(q.Types) > 0 && !slices.Contains(q.Types, e.typ) {
		return false
	}
	if slices.Contains(q.ExcludeTypes, e.typ) {
		return false
	}
	return q.AccountID == 0 || e.account == q.AccountID
}

// Notifications returns a page of the account's notifications, newest first.
func (s *Service) Notifications(ctx context.Context, account starling.ID, q starling.NotificationQuery) ([]*starling.Notification, error) {
	v, err := s.route(ctx, account)
	if v == nil {
		if err != nil {
			return nil, err
		}
		return s.cfg.Remote.Notifications(ctx, account, q)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = listLimit
	}
	limit = min(limit, 2*listLimit)
	return s.hydrate(ctx, account, v.page(account, q, limit))
}

// pageEntries applies Mastodon's cursors and the query's filters.
func pageEntries(list []*entry, q starling.NotificationQuery, limit int) []*entry {
	out := make([]*entry, 0, limit)
	if q.MinID != 0 {
		i, found := slices.BinarySearchFunc(list, q.MinID, cmpEntry)
		if found {
			i++
		}
		for ; i < len(list) && len(out) < limit; i++ {
			e := list[i]
			if q.MaxID != 0 && e.id >= q.MaxID {
				break
			}
			if wanted(q, e) {
				out = append(out, e)
			}
		}
		slices.Reverse(out)
		return out
	}
	end := len(list)
	if q.MaxID != 0 {
		end, _ = slices.BinarySearchFunc(list, q.MaxID, cmpEntry)
	}
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		e := list[i]
		if q.SinceID != 0 && e.id <= q.SinceID {
			break
		}
		if wanted(q, e) {
			out = append(out, e)
		}
	}
	return out
}

// hydrate fills actors and statuses. A notification about a status the
// recipient may not see (any more) is left out.
func (s *Service) hydrate(ctx context.Context, recipient starling.ID, es []*entry) ([]*starling.Notification, error) {
	out := make([]*starling.Notification, 0, len(es))
	if len(es) == 0 {
		return out, nil
	}
	var accountIDs, statusIDs []starling.ID
	for _, e := range es {
		accountIDs = append(accountIDs, e.account)
		if e.status != 0 {
			statusIDs = append(statusIDs, e.status)
		}
	}
	accts, err := s.feed.Accounts(ctx, accountIDs)
	if err != nil {
		return nil, err
	}
	byAcct := make(map[starling.ID]*starling.Account, len(accts))
	for _, a := range accts {
		byAcct[a.ID] = a
	}
	byStatus := map[starling.ID]*starling.Status{}
	if len(statusIDs) > 0 {
		sts, err := s.feed.Statuses(ctx, recipient, statusIDs)
		if err != nil {
			return nil, err
		}
		for _, st := range sts {
			byStatus[st.ID] = st
		}
	}
	for _, e := range es {
		n := &starling.Notification{ID: e.id, Type: e.typ, AccountID: e.account, StatusID: e.status,
			CreatedAt: time.UnixMilli(e.createdMs).UTC(), Account: byAcct[e.account]}
		if n.Account == nil {
			continue
		}
		if e.status != 0 {
			if n.Status = byStatus[e.status]; n.Status == nil {
				continue
			}
		}
		out = append(out, n)
	}
	return out, nil
}

// Notification returns one of the account's notifications.
func (s *Service) Notification(ctx context.Context, account, id starling.ID) (*starling.Notification, error) {
	v, err := s.route(ctx, account)
	if v == nil {
		if err != nil {
			return nil, err
		}
		return s.cfg.Remote.Notification(ctx, account, id)
	}
	e := v.find(account, id)
	if e == nil {
		return nil, &starling.Error{Code: starling.NotFound, Message: "Record not found"}
	}
	ns, err := s.hydrate(ctx, account, []*entry{e})
	if err != nil {
		return nil, err
	}
	if len(ns) == 0 {
		return nil, &starling.Error{Code: starling.NotFound, Message: "Record not found"}
	}
	return ns[0], nil
}

// Dismiss deletes one notification.
func (s *Service) Dismiss(ctx context.Context, account, id starling.ID) error {
	v, err := s.route(ctx, account)
	if v == nil {
		if err != nil {
			return err
		}
		return s.cfg.Remote.Dismiss(ctx, account, id)
	}
	e := v.find(account, id)
	if e == nil {
		return &starling.Error{Code: starling.NotFound, Message: "Record not found"}
	}
	key := notifKey(account, e.key)
	ent, err := s.tab.Get(ctx, key)
	if starling.IsCode(err, starling.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	seq, err := s.tab.DeleteAt(ctx, key, ent.Revision)
	if err != nil && !starling.IsCode(err, starling.Conflict) {
		return err
	}
	s.wrote(ctx, v, seq)
	return nil
}

// Clear deletes all of the account's notifications: one purge of their
// subjects, and a marker record so that the view drops them.
func (s *Service) Clear(ctx context.Context, account starling.ID) error {
	v, err := s.route(ctx, account)
	if v == nil {
		if err != nil {
			return err
		}
		return s.cfg.Remote.Clear(ctx, account)
	}
	before := v.newestID(account)
	if before == 0 {
		return nil
	}
	rev, err := s.tab.Put(ctx, fmt.Sprintf("cleared.%d", account), mustJSON(clearedRecord{Before: before}))
	if err != nil {
		return err
	}
	s.wrote(ctx, v, rev)
	return s.tab.PurgeSubjects(ctx, fmt.Sprintf("notif.%d.>", account))
}

// UnreadCount counts notifications newer than the notifications marker.
func (s *Service) UnreadCount(ctx context.Context, account starling.ID, types []string, limit int) (int, error) {
	v, err := s.route(ctx, account)
	if v == nil {
		if err != nil {
			return 0, err
		}
		return s.cfg.Remote.UnreadCount(ctx, account, types, limit)
	}
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	m, _, err := s.marker(ctx, account, "notifications")
	if err != nil {
		return 0, err
	}
	return v.unread(account, m.LastReadID, types, limit), nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err))
	}
	return b
}

var markerTimelines = map[string]bool{"home": true, "notifications": true}

func markerKey(account starling.ID, timeline string) string {
	return fmt.Sprintf("marker.%d.%s", account, timeline)
}

// Markers returns the account's markers; a marker never saved comes back
// with last_read_id 0. Markers are read from the table's leader (they are
// compare-and-set records), on the instance serving the account's
// partition like its notifications.
func (s *Service) Markers(ctx context.Context, account starling.ID, timelines []string) ([]starling.Marker, error) {
	if v, err := s.route(ctx, account); v == nil {
		if err != nil {
			return nil, err
		}
		return s.cfg.Remote.Markers(ctx, account, timelines)
	}
	var out []starling.Marker
	seen := map[string]bool{}
	for _, tl := range timelines {
		if !markerTimelines[tl] || seen[tl] {
			continue
		}
		seen[tl] = true
		m, _, err := s.marker(ctx, account, tl)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func (s *Service) marker(ctx context.Context, account starling.ID, tl string) (starling.Marker, uint64, error) {
	ent, err := s.tab.Get(ctx, markerKey(account, tl))
	if starling.IsCode(err, starling.NotFound) {
		return starling.Marker{Timeline: tl, UpdatedAt: s.now().UTC()}, 0, nil
	}
	if err != nil {
		return starling.Marker{}, 0, err
	}
	var m starling.Marker
	if err := json.Unmarshal(ent.Value, &m); err != nil {
		return starling.Marker{}, 0, starling.Wrap(starling.Internal, "", err)
	}
	return m, ent.Revision, nil
}

// SaveMarkers sets positions with compare-and-set; a concurrent save of the
// same marker yields Conflict, as Mastodon's 409.
func (s *Service) SaveMarkers(ctx context.Context, account starling.ID, positions map[string]starling.ID) ([]starling.Marker, error) {
	if v, err := s.route(ctx, account); v == nil {
		if err != nil {
			return nil, err
		}
		return s.cfg.Remote.SaveMarkers(ctx, account, positions)
	}
	var out []starling.Marker
	for tl, id := range positions {
		if !markerTimelines[tl] {
			return nil, starling.Errorf(starling.Invalid, "unknown timeline %q", tl)
		}
		m, rev, err := s.marker(ctx, account, tl)
		if err != nil {
			return nil, err
		}
		m.LastReadID, m.Version, m.UpdatedAt = id, m.Version+1, s.now().UTC()
		if rev == 0 {
			_, err = s.tab.Create(ctx, markerKey(account, tl), mustJSON(m), 0)
		} else {
			_, err = s.tab.Update(ctx, markerKey(account, tl), mustJSON(m), rev)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
