// Package notify is Starling's Notification service: notifications stored
// per account and reading markers.
//
// Notifications are derived from feed events by a worker that consumes
// them through a durable consumer group (at least once; every notification
// has a deterministic key, created with compare-and-set, so a redelivered
// event never makes a second one). Each instance replays the notify table
// into an in-memory view and answers reads from it.
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
	"strings"
	"time"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
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
	cfg    Config
	eng    *engine.Engine
	tab    *engine.Table
	ids    *engine.IDs
	feed   starling.FeedService
	tel    *telemetry.Telemetry
	log    *slog.Logger
	view   *view
	replay *engine.Replayer
	cancel context.CancelFunc
	done   chan struct{}
	now    func() time.Time
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
}

// New creates the notify table if needed, replays it, and starts the worker
// that turns feed events into notifications. Close stops it.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Capacity == 0 {
		cfg.Capacity = DefaultCapacity
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	tab, err := cfg.Engine.Table(ctx, engine.TableConfig{Name: "notify"})
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, eng: cfg.Engine, tab: tab, ids: cfg.IDs, feed: cfg.Feed, tel: cfg.Telemetry,
		log: cfg.Telemetry.Log.With("service", "notify"), view: newView(cfg.Capacity), done: make(chan struct{}), now: time.Now}
	if s.replay, err = tab.Replay(ctx, s.applyBatch); err != nil {
		return nil, err
	}
	select {
	case <-s.replay.CaughtUp():
	case <-ctx.Done():
		s.replay.Stop()
		return nil, fmt.Errorf("notify view not caught up: %w", ctx.Err())
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
	return s, nil
}

// ViewLag returns how many messages of the notify table the view's
// consumers have not yet delivered (0 when unknown).
func (s *Service) ViewLag(ctx context.Context) uint64 { return s.replay.Lag(ctx) }

// Close stops the worker and the view.
func (s *Service) Close() {
	s.cancel()
	<-s.done
	s.replay.Stop()
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

// applyBatch applies changes of the notify table to the view.
func (s *Service) applyBatch(batch []engine.Change) {
	v := s.view
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, c := range batch {
		if c.Seq <= v.seqs[c.Key] {
			continue
		}
		v.seqs[c.Key] = c.Seq
		parts := strings.SplitN(c.Key, ".", 3)
		if len(parts) < 2 {
			continue
		}
		recipient, err := starling.ParseID(parts[1])
		if err != nil {
			continue
		}
		switch parts[0] {
		case "notif":
			if len(parts) != 3 {
				continue
			}
			if c.Deleted {
				v.remove(recipient, parts[2])
				delete(v.seqs, c.Key)
				continue
			}
			var r record
			if json.Unmarshal(c.Value, &r) != nil {
				continue
			}
			v.put(recipient, &entry{key: parts[2], id: r.ID, typ: r.Type, account: r.Account, status: r.Status, createdMs: r.Created.UnixMilli()})
		case "cleared":
			var r clearedRecord
			if !c.Deleted && json.Unmarshal(c.Value, &r) == nil {
				v.clearBefore(recipient, r.Before)
			}
		}
	}
	s.tel.Metrics.ViewApplied.WithLabelValues("notify").Add(float64(len(batch)))
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
	limit := q.Limit
	if limit <= 0 {
		limit = listLimit
	}
	limit = min(limit, 2*listLimit)
	v := s.view
	v.mu.RLock()
	picked := pageEntries(v.newest(account), q, limit)
	v.mu.RUnlock()
	return s.hydrate(ctx, account, picked)
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
	e := s.find(account, id)
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

func (s *Service) find(account, id starling.ID) *entry {
	v := s.view
	v.mu.RLock()
	defer v.mu.RUnlock()
	u := v.users[account]
	if u == nil {
		return nil
	}
	if i, found := slices.BinarySearchFunc(u.list, id, cmpEntry); found {
		return u.list[i]
	}
	return nil
}

// Dismiss deletes one notification.
func (s *Service) Dismiss(ctx context.Context, account, id starling.ID) error {
	e := s.find(account, id)
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
	if err := s.tab.Delete(ctx, key, ent.Revision); err != nil && !starling.IsCode(err, starling.Conflict) {
		return err
	}
	s.applyBatch([]engine.Change{{Key: key, Seq: ent.Revision + 1, Deleted: true}})
	return nil
}

// Clear deletes all of the account's notifications: one purge of their
// subjects, and a marker record so that every view drops them.
func (s *Service) Clear(ctx context.Context, account starling.ID) error {
	v := s.view
	v.mu.RLock()
	var before starling.ID
	if u := v.users[account]; u != nil && len(u.list) > 0 {
		before = u.list[len(u.list)-1].id
	}
	v.mu.RUnlock()
	if before == 0 {
		return nil
	}
	key, data := fmt.Sprintf("cleared.%d", account), mustJSON(clearedRecord{Before: before})
	rev, err := s.tab.Put(ctx, key, data)
	if err != nil {
		return err
	}
	s.applyBatch([]engine.Change{{Key: key, Seq: rev, Value: data}})
	return s.tab.PurgeSubjects(ctx, fmt.Sprintf("notif.%d.>", account))
}

// UnreadCount counts notifications newer than the notifications marker.
func (s *Service) UnreadCount(ctx context.Context, account starling.ID, types []string, limit int) (int, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	ms, err := s.Markers(ctx, account, []string{"notifications"})
	if err != nil {
		return 0, err
	}
	last := ms[0].LastReadID
	v := s.view
	v.mu.RLock()
	defer v.mu.RUnlock()
	list := v.newest(account)
	n := 0
	for i := len(list) - 1; i >= 0 && n < limit; i-- {
		e := list[i]
		if e.id <= last {
			break
		}
		if len(types) == 0 || slices.Contains(types, e.typ) {
			n++
		}
	}
	return n, nil
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
// with last_read_id 0.
func (s *Service) Markers(ctx context.Context, account starling.ID, timelines []string) ([]starling.Marker, error) {
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
