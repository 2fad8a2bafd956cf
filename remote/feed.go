package remote

import (
	"context"

	"github.com/nats-io/nats.go"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/telemetry"
)

// Request shapes of the Feed service's endpoints.
type (
	feedCreateReq struct {
		Author starling.ID
		Status starling.NewStatus
	}
	feedEditReq struct {
		Author, ID starling.ID
		Edit       starling.StatusEdit
	}
	feedIDReq struct {
		Viewer, ID starling.ID
	}
	feedIDsReq struct {
		Viewer starling.ID
		IDs    []starling.ID
	}
	feedReblogReq struct {
		Viewer, ID starling.ID
		Visibility starling.Visibility
	}
	feedPageReq struct {
		Viewer, ID starling.ID
		Page       starling.Page
	}
	feedAccountStatusesReq struct {
		Viewer, Account starling.ID
		Query           starling.AccountStatusesQuery
	}
	feedTimelineReq struct {
		Viewer starling.ID
		Tag    string
		Query  starling.TimelineQuery
	}
	feedFollowReq struct {
		Follower, Target starling.ID
		Options          starling.FollowOptions
	}

	feedAuthorsReq struct {
		Part  int
		Query starling.AuthorQuery
	}
	feedCountsReq struct {
		Part               int
		Statuses, Accounts []starling.ID
	}
	feedStatsReq struct {
		Part    int
		Periods []starling.Period
	}
	feedPartKeyReq struct {
		Part      int
		Kind, Tag string
		Key       starling.ID
		OnlyMedia bool
		Page      starling.Page
	}
)

// ServeFeed exposes svc as the "feed" service on nc, in a queue group of
// every Feed instance: calls whose partition the caller does not know
// (anonymous reads, counters of several accounts) go to any instance,
// which answers or forwards them.
func ServeFeed(nc *nats.Conn, tel *telemetry.Telemetry, svc starling.FeedService) (*Server, error) {
	s, err := NewServer(nc, tel, "feed")
	if err != nil {
		return nil, err
	}
	feedEndpoints(s, svc)
	return s, nil
}

// ServeFeedPartition exposes the holder of one view partition: the calls
// made for its accounts and the reads other partitions' holders ask of it.
// Stop it when the partition is given up.
func ServeFeedPartition(nc *nats.Conn, tel *telemetry.Telemetry, part int, svc starling.FeedService, parts starling.FeedPartitions) (*Server, error) {
	s, err := NewPartitionServer(nc, tel, "feed", part)
	if err != nil {
		return nil, err
	}
	feedEndpoints(s, svc)
	Handle(s, "author_statuses", func(ctx context.Context, r feedAuthorsReq) ([]starling.AuthorEntry, error) {
		return parts.AuthorStatuses(ctx, r.Part, r.Query)
	})
	Handle(s, "counts", func(ctx context.Context, r feedCountsReq) (*starling.PartCounts, error) {
		return parts.Counts(ctx, r.Part, r.Statuses, r.Accounts)
	})
	Handle(s, "thread", func(ctx context.Context, r feedPartKeyReq) ([]starling.ThreadEntry, error) {
		return parts.Thread(ctx, r.Part, r.Key)
	})
	Handle(s, "timeline", func(ctx context.Context, r feedPartKeyReq) ([]starling.ID, error) {
		return parts.Timeline(ctx, r.Part, r.Tag, r.OnlyMedia, r.Page)
	})
	Handle(s, "edges", func(ctx context.Context, r feedPartKeyReq) ([]starling.Edge, error) {
		return parts.Edges(ctx, r.Part, r.Kind, r.Key, r.Page)
	})
	Handle(s, "part_stats", func(ctx context.Context, r feedStatsReq) (*starling.FeedStats, error) {
		return parts.Stats(ctx, r.Part, r.Periods)
	})
	return s, nil
}

func feedEndpoints(s *Server, svc starling.FeedService) {
	Handle(s, "create_status", func(ctx context.Context, r feedCreateReq) (*starling.Status, error) {
		return svc.CreateStatus(ctx, r.Author, r.Status)
	})
	Handle(s, "edit_status", func(ctx context.Context, r feedEditReq) (*starling.Status, error) {
		return svc.EditStatus(ctx, r.Author, r.ID, r.Edit)
	})
	Handle(s, "delete_status", func(ctx context.Context, r feedIDReq) (*starling.Status, error) {
		return svc.DeleteStatus(ctx, r.Viewer, r.ID)
	})
	Handle(s, "status", func(ctx context.Context, r feedIDReq) (*starling.Status, error) {
		return svc.Status(ctx, r.Viewer, r.ID)
	})
	Handle(s, "statuses", func(ctx context.Context, r feedIDsReq) ([]*starling.Status, error) {
		return svc.Statuses(ctx, r.Viewer, r.IDs)
	})
	Handle(s, "context", func(ctx context.Context, r feedIDReq) (*starling.Thread, error) {
		return svc.Context(ctx, r.Viewer, r.ID)
	})
	Handle(s, "favourite", func(ctx context.Context, r feedIDReq) (*starling.Status, error) {
		return svc.Favourite(ctx, r.Viewer, r.ID)
	})
	Handle(s, "unfavourite", func(ctx context.Context, r feedIDReq) (*starling.Status, error) {
		return svc.Unfavourite(ctx, r.Viewer, r.ID)
	})
	Handle(s, "reblog", func(ctx context.Context, r feedReblogReq) (*starling.Status, error) {
		return svc.Reblog(ctx, r.Viewer, r.ID, r.Visibility)
	})
	Handle(s, "unreblog", func(ctx context.Context, r feedIDReq) (*starling.Status, error) {
		return svc.Unreblog(ctx, r.Viewer, r.ID)
	})
	Handle(s, "favourited_by", func(ctx context.Context, r feedPageReq) (*starling.AccountPage, error) {
		return svc.FavouritedBy(ctx, r.Viewer, r.ID, r.Page)
	})
	Handle(s, "reblogged_by", func(ctx context.Context, r feedPageReq) (*starling.AccountPage, error) {
		return svc.RebloggedBy(ctx, r.Viewer, r.ID, r.Page)
	})
	Handle(s, "home", func(ctx context.Context, r feedPageReq) ([]*starling.Status, error) {
		return svc.HomeTimeline(ctx, r.Viewer, r.Page)
	})
	Handle(s, "account_statuses", func(ctx context.Context, r feedAccountStatusesReq) ([]*starling.Status, error) {
		return svc.AccountStatuses(ctx, r.Viewer, r.Account, r.Query)
	})
	Handle(s, "public", func(ctx context.Context, r feedTimelineReq) ([]*starling.Status, error) {
		return svc.PublicTimeline(ctx, r.Viewer, r.Query)
	})
	Handle(s, "tag", func(ctx context.Context, r feedTimelineReq) ([]*starling.Status, error) {
		return svc.TagTimeline(ctx, r.Viewer, r.Tag, r.Query)
	})
	Handle(s, "follow", func(ctx context.Context, r feedFollowReq) (*starling.Relationship, error) {
		return svc.Follow(ctx, r.Follower, r.Target, r.Options)
	})
	Handle(s, "unfollow", func(ctx context.Context, r feedFollowReq) (*starling.Relationship, error) {
		return svc.Unfollow(ctx, r.Follower, r.Target)
	})
	Handle(s, "relationships", func(ctx context.Context, r feedIDsReq) ([]*starling.Relationship, error) {
		return svc.Relationships(ctx, r.Viewer, r.IDs)
	})
	Handle(s, "followers", func(ctx context.Context, r feedPageReq) (*starling.AccountPage, error) {
		return svc.Followers(ctx, r.Viewer, r.ID, r.Page)
	})
	Handle(s, "following", func(ctx context.Context, r feedPageReq) (*starling.AccountPage, error) {
		return svc.Following(ctx, r.Viewer, r.ID, r.Page)
	})
	Handle(s, "follow_requests", func(ctx context.Context, r feedPageReq) (*starling.AccountPage, error) {
		return svc.FollowRequests(ctx, r.Viewer, r.Page)
	})
	Handle(s, "authorize_follow_request", func(ctx context.Context, r feedIDReq) (*starling.Relationship, error) {
		return svc.AuthorizeFollowRequest(ctx, r.Viewer, r.ID)
	})
	Handle(s, "reject_follow_request", func(ctx context.Context, r feedIDReq) (*starling.Relationship, error) {
		return svc.RejectFollowRequest(ctx, r.Viewer, r.ID)
	})
	Handle(s, "accounts", svc.Accounts)
	Handle(s, "subscribers", svc.Subscribers)
	Handle(s, "stats", svc.Stats)
}

// FeedClient is a starling.FeedService reached over NATS. A call made for
// an account (its viewer or actor) goes to the holder of the account's view
// partition; the others (anonymous reads, counters) to any instance.
type FeedClient struct {
	c *Client
	n int
}

var _ starling.FeedService = (*FeedClient)(nil)

// NewFeedClient returns a client of the "feed" service whose view has
// partitions partitions.
func NewFeedClient(nc *nats.Conn, tel *telemetry.Telemetry, partitions int) *FeedClient {
	return &FeedClient{c: NewClient(nc, tel, "feed"), n: partitions}
}

// Breaker returns the client's circuit breaker (of the calls not addressed
// to a partition).
func (f *FeedClient) Breaker() *Breaker { return f.c.breaker }

// PartBreakers returns the breakers of the calls addressed to partitions
// (one per partition called so far).
func (f *FeedClient) PartBreakers() []*Breaker { return f.c.PartBreakers() }

// feedCall calls endpoint for account: at its partition's holder, or at
// any instance for account 0.
func feedCall[Req, Resp any](ctx context.Context, f *FeedClient, account starling.ID, endpoint string, req Req, idempotent bool) (Resp, error) {
	if account == 0 || f.n == 0 {
		return Call[Req, Resp](ctx, f.c, endpoint, req, idempotent)
	}
	return CallPart[Req, Resp](ctx, f.c, starling.PartitionOf(account, f.n), endpoint, req, idempotent)
}

// CreateStatus is not idempotent unless the status carries an
// idempotency key; only then may it be retried.
func (f *FeedClient) CreateStatus(ctx context.Context, author starling.ID, s starling.NewStatus) (*starling.Status, error) {
	return feedCall[feedCreateReq, *starling.Status](ctx, f, author, "create_status", feedCreateReq{author, s}, s.IdempotencyKey != "")
}

// EditStatus is not retried: an edit applied twice would be two edits.
func (f *FeedClient) EditStatus(ctx context.Context, author, id starling.ID, e starling.StatusEdit) (*starling.Status, error) {
	return feedCall[feedEditReq, *starling.Status](ctx, f, author, "edit_status", feedEditReq{author, id, e}, false)
}

func (f *FeedClient) DeleteStatus(ctx context.Context, author, id starling.ID) (*starling.Status, error) {
	return feedCall[feedIDReq, *starling.Status](ctx, f, author, "delete_status", feedIDReq{author, id}, false)
}

func (f *FeedClient) Status(ctx context.Context, viewer, id starling.ID) (*starling.Status, error) {
	return feedCall[feedIDReq, *starling.Status](ctx, f, viewer, "status", feedIDReq{viewer, id}, true)
}

func (f *FeedClient) Statuses(ctx context.Context, viewer starling.ID, ids []starling.ID) ([]*starling.Status, error) {
	return feedCall[feedIDsReq, []*starling.Status](ctx, f, viewer, "statuses", feedIDsReq{viewer, ids}, true)
}

func (f *FeedClient) Context(ctx context.Context, viewer, id starling.ID) (*starling.Thread, error) {
	return feedCall[feedIDReq, *starling.Thread](ctx, f, viewer, "context", feedIDReq{viewer, id}, true)
}

func (f *FeedClient) Favourite(ctx context.Context, viewer, id starling.ID) (*starling.Status, error) {
	return feedCall[feedIDReq, *starling.Status](ctx, f, viewer, "favourite", feedIDReq{viewer, id}, true)
}

func (f *FeedClient) Unfavourite(ctx context.Context, viewer, id starling.ID) (*starling.Status, error) {
	return feedCall[feedIDReq, *starling.Status](ctx, f, viewer, "unfavourite", feedIDReq{viewer, id}, true)
}

func (f *FeedClient) Reblog(ctx context.Context, viewer, id starling.ID, vis starling.Visibility) (*starling.Status, error) {
	return feedCall[feedReblogReq, *starling.Status](ctx, f, viewer, "reblog", feedReblogReq{viewer, id, vis}, true)
}

func (f *FeedClient) Unreblog(ctx context.Context, viewer, id starling.ID) (*starling.Status, error) {
	return feedCall[feedIDReq, *starling.Status](ctx, f, viewer, "unreblog", feedIDReq{viewer, id}, true)
}

func (f *FeedClient) FavouritedBy(ctx context.Context, viewer, id starling.ID, p starling.Page) (*starling.AccountPage, error) {
	return feedCall[feedPageReq, *starling.AccountPage](ctx, f, viewer, "favourited_by", feedPageReq{viewer, id, p}, true)
}

func (f *FeedClient) RebloggedBy(ctx context.Context, viewer, id starling.ID, p starling.Page) (*starling.AccountPage, error) {
	return feedCall[feedPageReq, *starling.AccountPage](ctx, f, viewer, "reblogged_by", feedPageReq{viewer, id, p}, true)
}

func (f *FeedClient) HomeTimeline(ctx context.Context, viewer starling.ID, p starling.Page) ([]*starling.Status, error) {
	return feedCall[feedPageReq, []*starling.Status](ctx, f, viewer, "home", feedPageReq{Viewer: viewer, Page: p}, true)
}

func (f *FeedClient) AccountStatuses(ctx context.Context, viewer, account starling.ID, q starling.AccountStatusesQuery) ([]*starling.Status, error) {
	return feedCall[feedAccountStatusesReq, []*starling.Status](ctx, f, viewer, "account_statuses", feedAccountStatusesReq{viewer, account, q}, true)
}

func (f *FeedClient) PublicTimeline(ctx context.Context, viewer starling.ID, q starling.TimelineQuery) ([]*starling.Status, error) {
	return feedCall[feedTimelineReq, []*starling.Status](ctx, f, viewer, "public", feedTimelineReq{Viewer: viewer, Query: q}, true)
}

func (f *FeedClient) TagTimeline(ctx context.Context, viewer starling.ID, tag string, q starling.TimelineQuery) ([]*starling.Status, error) {
	return feedCall[feedTimelineReq, []*starling.Status](ctx, f, viewer, "tag", feedTimelineReq{viewer, tag, q}, true)
}

func (f *FeedClient) Follow(ctx context.Context, follower, target starling.ID, o starling.FollowOptions) (*starling.Relationship, error) {
	return feedCall[feedFollowReq, *starling.Relationship](ctx, f, follower, "follow", feedFollowReq{follower, target, o}, true)
}

func (f *FeedClient) Unfollow(ctx context.Context, follower, target starling.ID) (*starling.Relationship, error) {
	return feedCall[feedFollowReq, *starling.Relationship](ctx, f, follower, "unfollow", feedFollowReq{Follower: follower, Target: target}, true)
}

func (f *FeedClient) Relationships(ctx context.Context, viewer starling.ID, ids []starling.ID) ([]*starling.Relationship, error) {
	return feedCall[feedIDsReq, []*starling.Relationship](ctx, f, viewer, "relationships", feedIDsReq{viewer, ids}, true)
}

// Followers, Following and Accounts do not depend on the viewer: any
// instance answers them.
func (f *FeedClient) Followers(ctx context.Context, viewer, account starling.ID, p starling.Page) (*starling.AccountPage, error) {
	return Call[feedPageReq, *starling.AccountPage](ctx, f.c, "followers", feedPageReq{viewer, account, p}, true)
}

func (f *FeedClient) Following(ctx context.Context, viewer, account starling.ID, p starling.Page) (*starling.AccountPage, error) {
	return Call[feedPageReq, *starling.AccountPage](ctx, f.c, "following", feedPageReq{viewer, account, p}, true)
}

func (f *FeedClient) FollowRequests(ctx context.Context, viewer starling.ID, p starling.Page) (*starling.AccountPage, error) {
	return feedCall[feedPageReq, *starling.AccountPage](ctx, f, viewer, "follow_requests", feedPageReq{Viewer: viewer, Page: p}, true)
}

func (f *FeedClient) AuthorizeFollowRequest(ctx context.Context, viewer, requester starling.ID) (*starling.Relationship, error) {
	return feedCall[feedIDReq, *starling.Relationship](ctx, f, viewer, "authorize_follow_request", feedIDReq{viewer, requester}, true)
}

func (f *FeedClient) RejectFollowRequest(ctx context.Context, viewer, requester starling.ID) (*starling.Relationship, error) {
	return feedCall[feedIDReq, *starling.Relationship](ctx, f, viewer, "reject_follow_request", feedIDReq{viewer, requester}, true)
}

func (f *FeedClient) Accounts(ctx context.Context, ids []starling.ID) ([]*starling.Account, error) {
	return Call[[]starling.ID, []*starling.Account](ctx, f.c, "accounts", ids, true)
}

func (f *FeedClient) Subscribers(ctx context.Context, account starling.ID) ([]starling.ID, error) {
	return Call[starling.ID, []starling.ID](ctx, f.c, "subscribers", account, true)
}

// Stats goes to any instance (it gathers every partition).
func (f *FeedClient) Stats(ctx context.Context, periods []starling.Period) (*starling.FeedStats, error) {
	return Call[[]starling.Period, *starling.FeedStats](ctx, f.c, "stats", periods, true)
}

// FeedPartitionsClient asks the holders of view partitions for their data
// (starling.FeedPartitions over NATS).
type FeedPartitionsClient struct{ c *Client }

var _ starling.FeedPartitions = (*FeedPartitionsClient)(nil)

// NewFeedPartitionsClient returns a client of the Feed view partitions'
// holders.
func NewFeedPartitionsClient(nc *nats.Conn, tel *telemetry.Telemetry) *FeedPartitionsClient {
	return &FeedPartitionsClient{c: NewClient(nc, tel, "feed")}
}

func (f *FeedPartitionsClient) AuthorStatuses(ctx context.Context, part int, q starling.AuthorQuery) ([]starling.AuthorEntry, error) {
	return CallPart[feedAuthorsReq, []starling.AuthorEntry](ctx, f.c, part, "author_statuses", feedAuthorsReq{part, q}, true)
}

func (f *FeedPartitionsClient) Counts(ctx context.Context, part int, statuses, accounts []starling.ID) (*starling.PartCounts, error) {
	return CallPart[feedCountsReq, *starling.PartCounts](ctx, f.c, part, "counts", feedCountsReq{part, statuses, accounts}, true)
}

func (f *FeedPartitionsClient) Thread(ctx context.Context, part int, root starling.ID) ([]starling.ThreadEntry, error) {
	return CallPart[feedPartKeyReq, []starling.ThreadEntry](ctx, f.c, part, "thread", feedPartKeyReq{Part: part, Key: root}, true)
}

func (f *FeedPartitionsClient) Timeline(ctx context.Context, part int, tag string, onlyMedia bool, p starling.Page) ([]starling.ID, error) {
	return CallPart[feedPartKeyReq, []starling.ID](ctx, f.c, part, "timeline", feedPartKeyReq{Part: part, Tag: tag, OnlyMedia: onlyMedia, Page: p}, true)
}

func (f *FeedPartitionsClient) Edges(ctx context.Context, part int, kind string, key starling.ID, p starling.Page) ([]starling.Edge, error) {
	return CallPart[feedPartKeyReq, []starling.Edge](ctx, f.c, part, "edges", feedPartKeyReq{Part: part, Kind: kind, Key: key, Page: p}, true)
}

func (f *FeedPartitionsClient) Stats(ctx context.Context, part int, periods []starling.Period) (*starling.FeedStats, error) {
	return CallPart[feedStatsReq, *starling.FeedStats](ctx, f.c, part, "part_stats", feedStatsReq{part, periods}, true)
}
