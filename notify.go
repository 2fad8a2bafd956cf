package starling

import (
	"context"
	"time"
)

// Notification types Starling creates.
const (
	NotifyMention       = "mention"
	NotifyStatus        = "status"
	NotifyReblog        = "reblog"
	NotifyFollow        = "follow"
	NotifyFollowRequest = "follow_request"
	NotifyFavourite     = "favourite"
	NotifyUpdate        = "update"
)

// NotificationTypes lists every type, for validating filters.
var NotificationTypes = []string{NotifyMention, NotifyStatus, NotifyReblog, NotifyFollow, NotifyFollowRequest, NotifyFavourite, NotifyUpdate}

// Notification tells an account that someone acted on it or on its
// statuses.
type Notification struct {
	ID        ID        `json:"id"`
	Type      string    `json:"type"`
	AccountID ID        `json:"account_id"` // who acted
	StatusID  ID        `json:"status_id"`  // the status concerned, if any
	CreatedAt time.Time `json:"created_at"`

	// Filled when read.
	Account *Account `json:"account,omitempty"`
	Status  *Status  `json:"status,omitempty"`
}

// NotificationQuery filters a notification list.
type NotificationQuery struct {
	Page
	Types        []string `json:"types"`
	ExcludeTypes []string `json:"exclude_types"`
	AccountID    ID       `json:"account_id"`
}

// Marker is a saved reading position in a timeline ("home" or
// "notifications").
type Marker struct {
	Timeline   string    `json:"timeline"`
	LastReadID ID        `json:"last_read_id"`
	Version    int64     `json:"version"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// NotifyService stores notifications and reading markers per account.
// Notifications are derived asynchronously from feed events (at least once,
// idempotently) and are eventually consistent; markers are per-account
// records updated with compare-and-set. Notifications come back hydrated
// (actor account, status as the recipient sees it); one whose status the
// recipient may no longer see is left out.
//
// Errors: NotFound for a notification that does not exist or is not the
// caller's, Conflict when a marker changed concurrently, Invalid for bad
// input, Unavailable when the engine cannot answer. Safe for concurrent use.
type NotifyService interface {
	Notifications(ctx context.Context, account ID, q NotificationQuery) ([]*Notification, error)
	Notification(ctx context.Context, account, id ID) (*Notification, error)
	Dismiss(ctx context.Context, account, id ID) error
	Clear(ctx context.Context, account ID) error
	// UnreadCount counts notifications newer than the notifications
	// marker (of the given types; all when empty), up to limit.
	UnreadCount(ctx context.Context, account ID, types []string, limit int) (int, error)
	// Markers returns the account's markers for the named timelines. A
	// timeline whose marker was never saved comes back with Version 0 and
	// LastReadID 0 (the API leaves it out).
	Markers(ctx context.Context, account ID, timelines []string) ([]Marker, error)
	// SaveMarkers sets last-read positions (timeline -> id).
	SaveMarkers(ctx context.Context, account ID, positions map[string]ID) ([]Marker, error)
}
