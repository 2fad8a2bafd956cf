package starling

import (
	"context"
	"time"
)

// Marker is a saved reading position in a timeline ("home" or
// "notifications").
type Marker struct {
	Timeline   string    `json:"timeline"`
	LastReadID ID        `json:"last_read_id"`
	Version    int64     `json:"version"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// NotifyService stores notifications and reading markers per account.
// Notifications are derived from domain events and eventually consistent;
// markers are per-account records updated with compare-and-set.
//
// Errors: NotFound for a notification that does not exist or is not the
// caller's, Conflict when a marker changed concurrently, Invalid for bad
// input, Unavailable when the engine cannot answer. Safe for concurrent use.
type NotifyService interface {
	// Markers returns the account's markers for the named timelines. The
	// "notifications" marker is always present (zero when never saved) when
	// asked for.
	Markers(ctx context.Context, account ID, timelines []string) ([]Marker, error)
	// SaveMarkers sets last-read positions (timeline -> id).
	SaveMarkers(ctx context.Context, account ID, positions map[string]ID) ([]Marker, error)
}
