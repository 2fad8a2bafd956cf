package starling

import (
	"context"
	"time"
)

// Subjects of the events services publish on core NATS for others to
// react to. They are best-effort: a subscriber that loses its connection
// must assume it missed some (and drop what it cached).
const (
	// SubjectAccountChanged + "." + account ID: a profile change committed.
	SubjectAccountChanged = "starling.events.account"
	// SubjectMediaChanged + "." + media ID: an attachment changed or was
	// deleted.
	SubjectMediaChanged = "starling.events.media"

	// Live events for streaming. Each node subscribes only to the
	// subjects its open sockets need.
	SubjectLiveUser   = "starling.live.user"   // + "." + account ID: home timeline and notifications
	SubjectLivePublic = "starling.live.public" // public statuses
	SubjectLiveTag    = "starling.live.tag"    // + "." + lower-cased tag
)

// LiveEvent is the payload of a live subject. Statuses travel by ID: each
// node renders an event once for all its sockets.
type LiveEvent struct {
	Event    string `json:"event"` // update, delete, status.update, notification
	StatusID ID     `json:"status_id,omitempty"`
	// AuthorID lets a node read the status as its author (who can see
	// it), whatever its visibility.
	AuthorID ID `json:"author_id,omitempty"`
	// Notification is set for "notification" events.
	Notification *Notification `json:"notification,omitempty"`
	// At is when the event happened (for latency metrics).
	At time.Time `json:"at"`
}

// Kinds of feed events.
const (
	EventStatus          = "status"
	EventStatusDeleted   = "status.deleted"
	EventFollow          = "follow"
	EventFollowDeleted   = "follow.deleted"
	EventFavourite       = "favourite"
	EventFavouriteDelete = "favourite.deleted"
)

// FeedEvent is a change of the feed's source of truth, as asynchronous
// consumers (notifications) see it.
type FeedEvent struct {
	Kind string `json:"kind"`
	// Status is the stored status of status events (not hydrated).
	Status *Status `json:"status,omitempty"`
	// StatusID is set for deletions of statuses and for favourites.
	StatusID ID `json:"status_id,omitempty"`
	// Account acted: the follower, the account that favourited.
	Account ID `json:"account,omitempty"`
	// Target is the followed account.
	Target ID `json:"target,omitempty"`
	// RecordID is the follow or favourite record's ID.
	RecordID ID `json:"record_id,omitempty"`
	// Follow details.
	Requested  bool      `json:"requested,omitempty"`
	Authorized bool      `json:"authorized,omitempty"`
	At         time.Time `json:"at"`
}

// FeedEvents delivers feed events to a named, durable consumer group: each
// event reaches one member of the group at least once, in order per
// partition. handler's error makes the event come back later. Consume
// returns when ctx ends.
type FeedEvents interface {
	Consume(ctx context.Context, group string, handler func(context.Context, FeedEvent) error) error
}
