package starling

import (
	"context"
	"time"
)

// Mention is an account mentioned in a status.
type Mention struct {
	ID       ID     `json:"id"`
	Username string `json:"username"`
}

// Status is a post, or a reblog wrapper whose Reblog is the original.
type Status struct {
	ID          ID         `json:"id"`
	AccountID   ID         `json:"account_id"`
	CreatedAt   time.Time  `json:"created_at"`
	EditedAt    *time.Time `json:"edited_at,omitempty"`
	Text        string     `json:"text"`    // the source as written
	Content     string     `json:"content"` // rendered, safe HTML
	SpoilerText string     `json:"spoiler_text"`
	Sensitive   bool       `json:"sensitive"`
	Visibility  Visibility `json:"visibility"`
	Language    string     `json:"language"`

	InReplyToID        ID `json:"in_reply_to_id"`
	InReplyToAccountID ID `json:"in_reply_to_account_id"`
	ReblogOfID         ID `json:"reblog_of_id"`
	// Root is the first status of the conversation (the status itself
	// when it replies to nothing).
	Root ID `json:"root,omitempty"`

	Mentions []Mention `json:"mentions"`
	Tags     []string  `json:"tags"` // lower-cased names without '#'
	MediaIDs []ID      `json:"media_ids"`

	AppName    string `json:"app_name,omitempty"`
	AppWebsite string `json:"app_website,omitempty"`

	// Revision changes whenever the stored status changes (edits); caches
	// of the rendered status key on (ID, Revision).
	Revision uint64 `json:"revision"`

	// Filled when a status is read for a viewer.
	Account *Account           `json:"account,omitempty"`
	Reblog  *Status            `json:"reblog,omitempty"`
	Media   []*MediaAttachment `json:"media,omitempty"`
	Counts  StatusCounts       `json:"counts"`
	Viewer  *ViewerFlags       `json:"viewer,omitempty"`
}

// StatusCounts are a status's derived counters (eventually consistent).
type StatusCounts struct {
	Replies    int64 `json:"replies"`
	Reblogs    int64 `json:"reblogs"`
	Favourites int64 `json:"favourites"`
}

// ViewerFlags say how the signed-in viewer relates to a status.
type ViewerFlags struct {
	Favourited bool `json:"favourited"`
	Reblogged  bool `json:"reblogged"`
}

// NewStatus is a status to publish.
type NewStatus struct {
	Text        string     `json:"text"`
	SpoilerText string     `json:"spoiler_text"`
	Sensitive   bool       `json:"sensitive"`
	Visibility  Visibility `json:"visibility"` // empty: the author's default
	Language    string     `json:"language"`
	InReplyToID ID         `json:"in_reply_to_id"`
	MediaIDs    []ID       `json:"media_ids"`
	// IdempotencyKey makes retries of the same post return the first one
	// (per account, for an hour).
	IdempotencyKey string `json:"idempotency_key"`
	AppName        string `json:"app_name"`
	AppWebsite     string `json:"app_website"`
}

// StatusEdit replaces a status's editable fields.
type StatusEdit struct {
	Text        string `json:"text"`
	SpoilerText string `json:"spoiler_text"`
	Sensitive   bool   `json:"sensitive"`
	Language    string `json:"language"`
	MediaIDs    []ID   `json:"media_ids"`
}

// Page selects a window of a list ordered newest first, with Mastodon's
// cursors: MaxID (older than), SinceID (newer than, newest first), MinID
// (immediately newer than, for paging forward without gaps).
type Page struct {
	MaxID   ID  `json:"max_id"`
	SinceID ID  `json:"since_id"`
	MinID   ID  `json:"min_id"`
	Limit   int `json:"limit"`
}

// AccountStatusesQuery filters an account's statuses.
type AccountStatusesQuery struct {
	Page
	OnlyMedia      bool   `json:"only_media"`
	ExcludeReplies bool   `json:"exclude_replies"`
	ExcludeReblogs bool   `json:"exclude_reblogs"`
	Pinned         bool   `json:"pinned"`
	Tagged         string `json:"tagged"`
}

// TimelineQuery filters the public and tag timelines.
type TimelineQuery struct {
	Page
	Local     bool `json:"local"`
	Remote    bool `json:"remote"`
	OnlyMedia bool `json:"only_media"`
}

// AccountPage is a page of accounts from a relationship list (followers,
// favourited_by, ...). Cursors are the IDs of the relationship records, not
// of the accounts: Cursors[i] belongs to Accounts[i].
type AccountPage struct {
	Accounts []*Account `json:"accounts"`
	Cursors  []ID       `json:"cursors"`
}

// Relationship is how the viewer relates to another account.
type Relationship struct {
	ID             ID       `json:"id"`
	Following      bool     `json:"following"`
	ShowingReblogs bool     `json:"showing_reblogs"`
	Notifying      bool     `json:"notifying"`
	Languages      []string `json:"languages"`
	FollowedBy     bool     `json:"followed_by"`
	Requested      bool     `json:"requested"`
	RequestedBy    bool     `json:"requested_by"`
}

// FollowOptions are the options of a follow; nil keeps the current value
// (or the default: reblogs shown, no notifications).
type FollowOptions struct {
	Reblogs   *bool    `json:"reblogs,omitempty"`
	Notify    *bool    `json:"notify,omitempty"`
	Languages []string `json:"languages,omitempty"`
}

// Thread is a status's context.
type Thread struct {
	Ancestors   []*Status `json:"ancestors"`
	Descendants []*Status `json:"descendants"`
}

// Period is a span of time, from From (included) to To (excluded).
type Period struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// PeriodActivity is what was posted in a Period.
type PeriodActivity struct {
	Statuses int64 `json:"statuses"` // statuses created (reblogs included) and not deleted
	Accounts int64 `json:"accounts"` // distinct accounts that created them
}

// FeedStats are the Feed's instance-wide figures, for the instance
// endpoints. They are eventually consistent.
type FeedStats struct {
	// Statuses counts every live status, reblogs included, as Mastodon's
	// statuses counters do.
	Statuses int64 `json:"statuses"`
	// Periods holds the activity of each period asked for, in order.
	Periods []PeriodActivity `json:"periods"`
}

// MaxStatsPeriods bounds the periods of one Stats call.
const MaxStatsPeriods = 32

// FeedService manages statuses, interactions, the follow graph and
// timelines. Statuses, follow edges, favourites and reblogs are source of
// truth, written with compare-and-set where uniqueness matters (CP);
// timelines and counters are derived from them asynchronously and converge
// (AP).
//
// viewer is the signed-in account, or 0 for an anonymous reader. Statuses
// come back hydrated for the viewer (authors, reblogged originals, media,
// counters, viewer flags); a status the viewer may not see is NotFound.
//
// Errors: NotFound, Invalid (validation, with a message for the client),
// Forbidden (e.g. reblogging a direct status), Conflict, Unavailable.
// Implementations are safe for concurrent use.
type FeedService interface {
	CreateStatus(ctx context.Context, author ID, s NewStatus) (*Status, error)
	EditStatus(ctx context.Context, author, id ID, e StatusEdit) (*Status, error)
	// DeleteStatus deletes the author's status and returns it with its
	// source text, for delete-and-redraft.
	DeleteStatus(ctx context.Context, author, id ID) (*Status, error)
	Status(ctx context.Context, viewer, id ID) (*Status, error)
	// Statuses returns the statuses of ids the viewer may see, in order.
	Statuses(ctx context.Context, viewer ID, ids []ID) ([]*Status, error)
	Context(ctx context.Context, viewer, id ID) (*Thread, error)

	Favourite(ctx context.Context, viewer, id ID) (*Status, error)
	Unfavourite(ctx context.Context, viewer, id ID) (*Status, error)
	Reblog(ctx context.Context, viewer, id ID, visibility Visibility) (*Status, error)
	Unreblog(ctx context.Context, viewer, id ID) (*Status, error)
	FavouritedBy(ctx context.Context, viewer, id ID, p Page) (*AccountPage, error)
	RebloggedBy(ctx context.Context, viewer, id ID, p Page) (*AccountPage, error)

	HomeTimeline(ctx context.Context, viewer ID, p Page) ([]*Status, error)
	AccountStatuses(ctx context.Context, viewer, account ID, q AccountStatusesQuery) ([]*Status, error)
	PublicTimeline(ctx context.Context, viewer ID, q TimelineQuery) ([]*Status, error)
	TagTimeline(ctx context.Context, viewer ID, tag string, q TimelineQuery) ([]*Status, error)

	Follow(ctx context.Context, follower, target ID, o FollowOptions) (*Relationship, error)
	Unfollow(ctx context.Context, follower, target ID) (*Relationship, error)
	Relationships(ctx context.Context, viewer ID, ids []ID) ([]*Relationship, error)
	Followers(ctx context.Context, viewer, account ID, p Page) (*AccountPage, error)
	Following(ctx context.Context, viewer, account ID, p Page) (*AccountPage, error)
	FollowRequests(ctx context.Context, viewer ID, p Page) (*AccountPage, error)
	AuthorizeFollowRequest(ctx context.Context, viewer, requester ID) (*Relationship, error)
	RejectFollowRequest(ctx context.Context, viewer, requester ID) (*Relationship, error)

	// Accounts returns accounts with their derived counters, in order,
	// leaving out unknown ones.
	Accounts(ctx context.Context, ids []ID) ([]*Account, error)
	// Subscribers returns the followers of account who asked to be
	// notified of its posts (follow with notify=true).
	Subscribers(ctx context.Context, account ID) ([]ID, error)

	// Stats counts the live statuses and what was posted in each of
	// periods (at most MaxStatsPeriods). It may scan every status: callers
	// cache the answer.
	Stats(ctx context.Context, periods []Period) (*FeedStats, error)
}
