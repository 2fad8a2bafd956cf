// Package notify is Starling's Notification service: notifications stored
// per account, derived asynchronously from domain events, and reading
// markers.
//
// Keys of the partitioned "notify" table (partitioned by account):
//
//	marker.<account>.<timeline>   last-read position, updated with compare-and-set
package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/telemetry"
)

// Service is the local implementation of starling.NotifyService.
type Service struct {
	tab *engine.Table
	tel *telemetry.Telemetry
	now func() time.Time
}

var _ starling.NotifyService = (*Service)(nil)

// Config holds the Service's dependencies.
type Config struct {
	Engine    *engine.Engine
	Telemetry *telemetry.Telemetry
}

// New creates the notify table if needed.
func New(ctx context.Context, cfg Config) (*Service, error) {
	tab, err := cfg.Engine.Table(ctx, engine.TableConfig{Name: "notify"})
	if err != nil {
		return nil, err
	}
	return &Service{tab: tab, tel: cfg.Telemetry, now: time.Now}, nil
}

// Close stops the service's background work.
func (s *Service) Close() {}

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
		b, _ := json.Marshal(m)
		if rev == 0 {
			_, err = s.tab.Create(ctx, markerKey(account, tl), b, 0)
		} else {
			_, err = s.tab.Update(ctx, markerKey(account, tl), b, rev)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
