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
)

// ServeFeed exposes svc as the "feed" service on nc.
func ServeFeed(nc *nats.Conn, tel *telemetry.Telemetry, svc starling.FeedService) (*Server, error) {
	s, err := NewServer(nc, tel, "feed")
	if err != nil {
		return nil, err
	}
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
	return s, nil
}

// FeedClient is a starling.FeedService reached over NATS.
type FeedClient struct{ c *Client }

var _ starling.FeedService = (*FeedClient)(nil)

// NewFeedClient returns a client of the "feed" service.
func NewFeedClient(nc *nats.Conn, tel *telemetry.Telemetry) *FeedClient {
	return &FeedClient{c: NewClient(nc, tel, "feed")}
}

// Breaker returns the client's circuit breaker.
func (f *FeedClient) Breaker() *Breaker { return f.c.breaker }

// CreateStatus is not idempotent unless the status carries an
// idempotency key; only then may it be retried.
func (f *FeedClient) CreateStatus(ctx context.Context, author starling.ID, s starling.NewStatus) (*starling.Status, error) {
	return Call[feedCreateReq, *starling.Status](ctx, f.c, "create_status", feedCreateReq{author, s}, s.IdempotencyKey != "")
}

func (f *FeedClient) EditStatus(ctx context.Context, author, id starling.ID, e starling.StatusEdit) (*starling.Status, error) {
	return Call[feedEditReq, *starling.Status](ctx, f.c, "edit_status", feedEditReq{author, id, e}, true)
}

func (f *FeedClient) DeleteStatus(ctx context.Context, author, id starling.ID) (*starling.Status, error) {
	return Call[feedIDReq, *starling.Status](ctx, f.c, "delete_status", feedIDReq{author, id}, false)
}

func (f *FeedClient) Status(ctx context.Context, viewer, id starling.ID) (*starling.Status, error) {
	return Call[feedIDReq, *starling.Status](ctx, f.c, "status", feedIDReq{viewer, id}, true)
}

func (f *FeedClient) Statuses(ctx context.Context, viewer starling.ID, ids []starling.ID) ([]*starling.Status, error) {
	return Call[feedIDsReq, []*starling.Status](ctx, f.c, "statuses", feedIDsReq{viewer, ids}, true)
}

func (f *FeedClient) Context(ctx context.Context, viewer, id starling.ID) (*starling.Thread, error) {
	return Call[feedIDReq, *starling.Thread](ctx, f.c, "context", feedIDReq{viewer, id}, true)
}

func (f *FeedClient) Favourite(ctx context.Context, viewer, id starling.ID) (*starling.Status, error) {
	return Call[feedIDReq, *starling.Status](ctx, f.c, "favourite", feedIDReq{viewer, id}, true)
}

func (f *FeedClient) Unfavourite(ctx context.Context, viewer, id starling.ID) (*starling.Status, error) {
	return Call[feedIDReq, *starling.Status](ctx, f.c, "unfavourite", feedIDReq{viewer, id}, true)
}

func (f *FeedClient) Reblog(ctx context.Context, viewer, id starling.ID, vis starling.Visibility) (*starling.Status, error) {
	return Call[feedReblogReq, *starling.Status](ctx, f.c, "reblog", feedReblogReq{viewer, id, vis}, true)
}

func (f *FeedClient) Unreblog(ctx context.Context, viewer, id starling.ID) (*starling.Status, error) {
	return Call[feedIDReq, *starling.Status](ctx, f.c, "unreblog", feedIDReq{viewer, id}, true)
}

func (f *FeedClient) FavouritedBy(ctx context.Context, viewer, id starling.ID, p starling.Page) (*starling.AccountPage, error) {
	return Call[feedPageReq, *starling.AccountPage](ctx, f.c, "favourited_by", feedPageReq{viewer, id, p}, true)
}

func (f *FeedClient) RebloggedBy(ctx context.Context, viewer, id starling.ID, p starling.Page) (*starling.AccountPage, error) {
	return Call[feedPageReq, *starling.AccountPage](ctx, f.c, "reblogged_by", feedPageReq{viewer, id, p}, true)
}

func (f *FeedClient) HomeTimeline(ctx context.Context, viewer starling.ID, p starling.Page) ([]*starling.Status, error) {
	return Call[feedPageReq, []*starling.Status](ctx, f.c, "home", feedPageReq{Viewer: viewer, Page: p}, true)
}

func (f *FeedClient) AccountStatuses(ctx context.Context, viewer, account starling.ID, q starling.AccountStatusesQuery) ([]*starling.Status, error) {
	return Call[feedAccountStatusesReq, []*starling.Status](ctx, f.c, "account_statuses", feedAccountStatusesReq{viewer, account, q}, true)
}

func (f *FeedClient) PublicTimeline(ctx context.Context, viewer starling.ID, q starling.TimelineQuery) ([]*starling.Status, error) {
	return Call[feedTimelineReq, []*starling.Status](ctx, f.c, "public", feedTimelineReq{Viewer: viewer, Query: q}, true)
}

func (f *FeedClient) TagTimeline(ctx context.Context, viewer starling.ID, tag string, q starling.TimelineQuery) ([]*starling.Status, error) {
	return Call[feedTimelineReq, []*starling.Status](ctx, f.c, "tag", feedTimelineReq{viewer, tag, q}, true)
}

func (f *FeedClient) Follow(ctx context.Context, follower, target starling.ID, o starling.FollowOptions) (*starling.Relationship, error) {
	return Call[feedFollowReq, *starling.Relationship](ctx, f.c, "follow", feedFollowReq{follower, target, o}, true)
}

func (f *FeedClient) Unfollow(ctx context.Context, follower, target starling.ID) (*starling.Relationship, error) {
	return Call[feedFollowReq, *starling.Relationship](ctx, f.c, "unfollow", feedFollowReq{Follower: follower, Target: target}, true)
}

func (f *FeedClient) Relationships(ctx context.Context, viewer starling.ID, ids []starling.ID) ([]*starling.Relationship, error) {
	return Call[feedIDsReq, []*starling.Relationship](ctx, f.c, "relationships", feedIDsReq{viewer, ids}, true)
}

func (f *FeedClient) Followers(ctx context.Context, viewer, account starling.ID, p starling.Page) (*starling.AccountPage, error) {
	return Call[feedPageReq, *starling.AccountPage](ctx, f.c, "followers", feedPageReq{viewer, account, p}, true)
}

func (f *FeedClient) Following(ctx context.Context, viewer, account starling.ID, p starling.Page) (*starling.AccountPage, error) {
	return Call[feedPageReq, *starling.AccountPage](ctx, f.c, "following", feedPageReq{viewer, account, p}, true)
}

func (f *FeedClient) FollowRequests(ctx context.Context, viewer starling.ID, p starling.Page) (*starling.AccountPage, error) {
	return Call[feedPageReq, *starling.AccountPage](ctx, f.c, "follow_requests", feedPageReq{Viewer: viewer, Page: p}, true)
}

func (f *FeedClient) AuthorizeFollowRequest(ctx context.Context, viewer, requester starling.ID) (*starling.Relationship, error) {
	return Call[feedIDReq, *starling.Relationship](ctx, f.c, "authorize_follow_request", feedIDReq{viewer, requester}, true)
}

func (f *FeedClient) RejectFollowRequest(ctx context.Context, viewer, requester starling.ID) (*starling.Relationship, error) {
	return Call[feedIDReq, *starling.Relationship](ctx, f.c, "reject_follow_request", feedIDReq{viewer, requester}, true)
}

func (f *FeedClient) Accounts(ctx context.Context, ids []starling.ID) ([]*starling.Account, error) {
	return Call[[]starling.ID, []*starling.Account](ctx, f.c, "accounts", ids, true)
}

func (f *FeedClient) Subscribers(ctx context.Context, account starling.ID) ([]starling.ID, error) {
	return Call[starling.ID, []starling.ID](ctx, f.c, "subscribers", account, true)
}

func (f *FeedClient) Stats(ctx context.Context, periods []starling.Period) (*starling.FeedStats, error) {
	return Call[[]starling.Period, *starling.FeedStats](ctx, f.c, "stats", periods, true)
}
