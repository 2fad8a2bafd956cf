package feed

import (
	"context"
	"slices"

	"github.com/starling-social/starling"
)

// Follow follows target, or requests to when target is locked. Following
// again changes the options (reblogs, notify, languages). It runs where the
// follower's partition is served: the follow record lives in it.
func (s *Service) Follow(ctx context.Context, follower, target starling.ID, o starling.FollowOptions) (*starling.Relationship, error) {
	pt, err := s.route(ctx, follower)
	if pt == nil {
		if err != nil {
			return nil, err
		}
		return s.remote.Follow(ctx, follower, target, o)
	}
	ctx, span := s.tel.Tracer.Start(ctx, "feed.Follow")
	defer span.End()
	if follower == target {
		return nil, errForbidden
	}
	if len(o.Languages) > 16 {
		return nil, starling.Errorf(starling.Invalid, "Validation failed: too many languages")
	}
	t, err := s.profiles.one(ctx, target)
	if err != nil {
		return nil, err
	}
	key := followKey(follower, target)
	for attempt := 0; attempt < 3; attempt++ {
		// Followed (or requested) already: change the options.
		rec, applied, err := s.modifyFollow(ctx, key, func(rec *followRecord) bool {
			before := *rec
			applyOptions(rec, o)
			return before.Reblogs != rec.Reblogs || before.Notify != rec.Notify || !slices.Equal(before.Languages, rec.Languages)
		})
		if !starling.IsCode(err, starling.NotFound) {
			if err != nil {
				return nil, err
			}
			return following(pt.relationship(follower, target), rec, applied), nil
		}
		// Not followed yet: create the record.
		id, err := s.ids.Next()
		if err != nil {
			return nil, err
		}
		created := &followRecord{ID: id, Requested: t.Locked, Reblogs: true, Created: s.now().UTC()}
		applyOptions(created, o)
		rev, err := s.tab.Create(ctx, key, mustJSON(created), 0)
		if starling.IsCode(err, starling.Conflict) {
			continue // a concurrent follow won: change its options
		}
		if err != nil {
			return nil, err
		}
		applied = s.wrote(ctx, key, rev)
		return following(pt.relationship(follower, target), created, applied), nil
	}
	return nil, errConflict
}

// following returns r, with the follower's side set from the stored follow
// record when this node's view has not applied it yet (rec nil: deleted).
func following(r *starling.Relationship, rec *followRecord, applied bool) *starling.Relationship {
	if applied {
		return r
	}
	r.Following, r.Requested, r.ShowingReblogs, r.Notifying = false, false, false, false
	switch {
	case rec == nil:
	case rec.Requested:
		r.Requested = true
	default:
		r.Following, r.ShowingReblogs, r.Notifying = true, rec.Reblogs, rec.Notify
	}
	return r
}

func applyOptions(rec *followRecord, o starling.FollowOptions) {
	if o.Reblogs != nil {
		rec.Reblogs = *o.Reblogs
	}
	if o.Notify != nil {
		rec.Notify = *o.Notify
	}
	if o.Languages != nil {
		rec.Languages = o.Languages
	}
}

// Unfollow removes a follow or a pending request; repeating it is harmless.
func (s *Service) Unfollow(ctx context.Context, follower, target starling.ID) (*starling.Relationship, error) {
	pt, err := s.route(ctx, follower)
	if pt == nil {
		if err != nil {
			return nil, err
		}
		return s.remote.Unfollow(ctx, follower, target)
	}
	ctx, span := s.tel.Tracer.Start(ctx, "feed.Unfollow")
	defer span.End()
	if _, err := s.profiles.one(ctx, target); err != nil {
		return nil, err
	}
	applied, err := s.deleteKey(ctx, followKey(follower, target))
	if err != nil {
		return nil, err
	}
	return following(pt.relationship(follower, target), nil, applied), nil
}

// AuthorizeFollowRequest accepts requester's pending request to follow
// viewer. It runs where the viewer's partition is served (the request list
// lives there) and waits until the change reaches it.
func (s *Service) AuthorizeFollowRequest(ctx context.Context, viewer, requester starling.ID) (*starling.Relationship, error) {
	pt, err := s.route(ctx, viewer)
	if pt == nil {
		if err != nil {
			return nil, err
		}
		return s.remote.AuthorizeFollowRequest(ctx, viewer, requester)
	}
	rec, applied, err := s.modifyFollow(ctx, followKey(requester, viewer), func(rec *followRecord) bool {
		if !rec.Requested {
			return false
		}
		rec.Requested, rec.Authorized = false, true
		return true
	})
	if err != nil {
		return nil, err
	}
	r := pt.relationship(viewer, requester)
	if !applied {
		r.FollowedBy, r.RequestedBy = !rec.Requested, rec.Requested
	}
	return r, nil
}

// modifyFollow changes an existing follow record with a compare-and-set,
// retrying on a concurrent change. change reports whether it changed rec.
// Either way it returns the record as stored, once this node's view has it
// (applied false: it did not get it in time, see wrote).
func (s *Service) modifyFollow(ctx context.Context, key string, change func(rec *followRecord) bool) (*followRecord, bool, error) {
	for attempt := 0; attempt < 3; attempt++ {
		rec, ent, err := getRecord[followRecord](ctx, s.tab, key)
		if err != nil {
			return nil, false, err
		}
		if !change(rec) {
			return rec, s.wrote(ctx, key, ent.Revision), nil
		}
		rev, err := s.tab.Update(ctx, key, mustJSON(rec), ent.Revision)
		if starling.IsCode(err, starling.Conflict) {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		return rec, s.wrote(ctx, key, rev), nil
	}
	return nil, false, errConflict
}

// RejectFollowRequest refuses requester's pending request.
func (s *Service) RejectFollowRequest(ctx context.Context, viewer, requester starling.ID) (*starling.Relationship, error) {
	pt, err := s.route(ctx, viewer)
	if pt == nil {
		if err != nil {
			return nil, err
		}
		return s.remote.RejectFollowRequest(ctx, viewer, requester)
	}
	key := followKey(requester, viewer)
	rec, ent, err := getRecord[followRecord](ctx, s.tab, key)
	if err != nil {
		return nil, err
	}
	applied := true
	if rec.Requested {
		drev, err := s.tab.DeleteAt(ctx, key, ent.Revision)
		if err != nil {
			return nil, err
		}
		applied = s.wrote(ctx, key, drev)
	}
	r := pt.relationship(viewer, requester)
	if !applied {
		r.RequestedBy = false
	}
	return r, nil
}

// Relationships returns viewer's relationships to ids, all from the
// viewer's partition (its follows, followers and requests are there).
func (s *Service) Relationships(ctx context.Context, viewer starling.ID, ids []starling.ID) ([]*starling.Relationship, error) {
	if len(ids) > 1000 {
		return nil, starling.Errorf(starling.Invalid, "too many accounts requested")
	}
	pt, err := s.route(ctx, viewer)
	if pt == nil {
		if err != nil {
			return nil, err
		}
		return s.remote.Relationships(ctx, viewer, ids)
	}
	pt.mu.RLock()
	defer pt.mu.RUnlock()
	out := make([]*starling.Relationship, 0, len(ids))
	for _, id := range ids {
		out = append(out, pt.relationshipLocked(viewer, id))
	}
	return out, nil
}

// Followers lists an account's followers, newest follow first.
func (s *Service) Followers(ctx context.Context, viewer, account starling.ID, p starling.Page) (*starling.AccountPage, error) {
	if _, err := s.profiles.one(ctx, account); err != nil {
		return nil, err
	}
	return s.edgePage(ctx, starling.EdgeFollowers, account, p)
}

// Following lists the accounts an account follows, newest follow first.
func (s *Service) Following(ctx context.Context, viewer, account starling.ID, p starling.Page) (*starling.AccountPage, error) {
	if _, err := s.profiles.one(ctx, account); err != nil {
		return nil, err
	}
	return s.edgePage(ctx, starling.EdgeFollowing, account, p)
}

// FollowRequests lists the pending requests to follow viewer.
func (s *Service) FollowRequests(ctx context.Context, viewer starling.ID, p starling.Page) (*starling.AccountPage, error) {
	return s.edgePage(ctx, starling.EdgeRequests, viewer, p)
}

// Subscribers returns the followers of account with notifications on.
func (s *Service) Subscribers(ctx context.Context, account starling.ID) ([]starling.ID, error) {
	var out []starling.ID
	var page starling.Page
	for range 100 {
		page.Limit = maxAuthorPage
		es, err := s.parts.Edges(ctx, partOf(account, s.n), starling.EdgeSubscribers, account, page)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			out = append(out, e.Account)
		}
		if len(es) < maxAuthorPage {
			break
		}
		page.MaxID = es[len(es)-1].ID
	}
	return out, nil
}
