package starling

import (
	"context"
	"strconv"
)

// The Feed service's derived data (home timelines, per-account lists,
// counters, threads) is split into view partitions, the same partitions
// as its tables: an account's lists live in the partition of its ID, a
// status's counters and interactions in the partition of the status's ID,
// a conversation's reply tree in the partition of its first status. Each
// partition is held by one Feed instance at a time. A FeedService call
// made for a viewer runs on the holder of the viewer's partition, which
// asks the holders of other partitions for what it lacks through
// FeedPartitions.

// AuthorQuery asks one partition for statuses of some of its accounts.
type AuthorQuery struct {
	// Authors are accounts of the partition; Reblogs[i] says whether their
	// reblogs are wanted (nil: all are).
	Authors []ID   `json:"authors"`
	Reblogs []bool `json:"reblogs,omitempty"`
	// Viewer is who will see them (0: anonymous): statuses they may not
	// see are left out.
	Viewer ID `json:"viewer,omitempty"`
	// Home says the statuses are for Viewer's home timeline: Viewer
	// follows every one of Authors (so followers-only statuses show), and
	// reblogs of Viewer's own statuses are left out.
	Home bool `json:"home,omitempty"`
	// Follows says that Viewer follows every one of Authors (the caller
	// knows it from the viewer's partition), so their followers-only
	// statuses show.
	Follows bool `json:"follows,omitempty"`
	Page Page `json:"page"`
	// ExcludeReplies leaves out replies to other accounts' statuses;
	// ExcludeReblogs leaves out reblogs.
	ExcludeReplies bool `json:"exclude_replies,omitempty"`
	ExcludeReblogs bool `json:"exclude_reblogs,omitempty"`
}

// AuthorEntry is one status in an account's list.
type AuthorEntry struct {
	ID     ID `json:"id"`
	Author ID `json:"author"`
	// ReblogOf is the reblogged status of a reblog (0 for a post).
	ReblogOf ID `json:"reblog_of,omitempty"`
}

// PartCounts are counters a partition holds: of statuses (replies,
// reblogs, favourites) and of accounts (statuses, followers, following,
// last status).
type PartCounts struct {
	Statuses map[ID]StatusCounts  `json:"statuses,omitempty"`
	Accounts map[ID]AccountCounts `json:"accounts,omitempty"`
}

// AccountCounts are an account's derived counters.
type AccountCounts struct {
	Statuses   int64 `json:"statuses"`
	Followers  int64 `json:"followers"`
	Following  int64 `json:"following"`
	LastStatus ID    `json:"last_status,omitempty"`
}

// ThreadEntry is a reply in a conversation: its ID and the status it
// replies to.
type ThreadEntry struct {
	ID     ID `json:"id"`
	Parent ID `json:"parent"`
}

// Edge is a relationship record in a list: its own ID (the list's order and
// paging cursor) and the account on its other side.
type Edge struct {
	ID      ID `json:"id"`
	Account ID `json:"account"`
}

// Edge lists a partition answers for: of an account of the partition
// (followers, following, follow requests) or of a status of the partition
// (who favourited it, who reblogged it).
const (
	EdgeFollowers   = "followers"
	EdgeFollowing   = "following"
	EdgeRequests    = "requests"
	EdgeFavourites  = "favourites"
	EdgeReblogs     = "reblogs"
	EdgeSubscribers = "subscribers" // followers who asked to be notified of posts
)

// FeedPartitions are the reads one view partition answers, for the holder
// of another partition. Every method takes the partition first; a call
// reaching an instance that does not hold the partition (any more) fails
// with Unavailable and reason ReasonMoved, and is retried against the new
// holder. Safe for concurrent use.
type FeedPartitions interface {
	// AuthorStatuses returns statuses of q.Authors, newest first, merged,
	// following q.Page.
	AuthorStatuses(ctx context.Context, part int, q AuthorQuery) ([]AuthorEntry, error)
	// Counts returns the counters of those of statuses and accounts that
	// the partition holds (statuses, accounts of the partition).
	Counts(ctx context.Context, part int, statuses, accounts []ID) (*PartCounts, error)
	// Thread returns the replies of the conversation started by root.
	Thread(ctx context.Context, part int, root ID) ([]ThreadEntry, error)
	// Timeline returns the newest public statuses of the partition (with
	// tag: those with the hashtag) following p, newest first.
	Timeline(ctx context.Context, part int, tag string, onlyMedia bool, p Page) ([]ID, error)
	// Edges pages the list kind (Edge*) of key, newest first.
	Edges(ctx context.Context, part int, kind string, key ID, p Page) ([]Edge, error)
	// Stats counts the partition's statuses and the activity of periods.
	Stats(ctx context.Context, part int, periods []Period) (*FeedStats, error)
}

// ReasonMoved is the Reason of the Unavailable error a partition's former
// holder answers: the caller retries against the new holder.
const ReasonMoved = "partition moved"

type ownerOnlyKey struct{}

// WithOwnerOnly marks a call as addressed to the holder of its partition:
// an instance that does not hold it answers ReasonMoved instead of
// forwarding the call (which could loop between former holders).
func WithOwnerOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, ownerOnlyKey{}, true)
}

// OwnerOnly reports whether ctx carries WithOwnerOnly.
func OwnerOnly(ctx context.Context) bool {
	v, _ := ctx.Value(ownerOnlyKey{}).(bool)
	return v
}

// PartitionOf returns the partition, among n, of the records and view data
// keyed by id: FNV-1a 32 of its decimal form modulo n, the function of
// NATS subject mapping's partition() that the engine's tables use.
func PartitionOf(id ID, n int) int {
	var buf [24]byte
	return PartitionOfToken(strconv.AppendInt(buf[:0], int64(id), 10), n)
}

// PartitionOfToken returns the partition among n of a key's partition
// token.
func PartitionOfToken[T string | []byte](tok T, n int) int {
	if n <= 1 {
		return 0
	}
	const offset, prime = 2166136261, 16777619
	h := uint32(offset)
	for i := 0; i < len(tok); i++ {
		h ^= uint32(tok[i])
		h *= prime
	}
	return int(h % uint32(n))
}
