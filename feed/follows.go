package feed

import (
	"context"
	"slices"

	"github.com/starling-social/starling"
)

// Follow follows target, or requests to when target is locked. Following
// again changes the options (reblogs, notify, languages).
func (s *Service) Follow(ctx context.Context, follower, target starling.ID, o starling.FollowOptions) (*starling.Relationship, error) {
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
		err := s.modifyFollow(ctx, key, func(rec *followRecord) bool {
			before := *rec
			applyOptions(rec, o)
			return before.Reblogs != rec.Reblogs || before.Notify != rec.Notify || !slices.Equal(before.Languages, rec.Languages)
		})
		if !starling.IsCode(err, starling.NotFound) {
			if err != nil {
				return nil, err
			}
			return s.relationship(follower, target), nil
		}
		// Not followed yet: create the record.
		id, err := s.ids.Next()
		if err != nil {
			return nil, err
		}
		rec := followRecord{ID: id, Requested: t.Locked, Reblogs: true, Created: s.now().UTC()}
		applyOptions(&rec, o)
		data := mustJSON(rec)
		rev, err := s.tab.Create(ctx, key, data, 0)
		if starling.IsCode(err, starling.Conflict) {
			continue // a concurrent follow won: change its options
		}
		if err != nil {
			return nil, err
		}
		s.apply(ctx, key, rev, data, false)
		return s.relationship(follower, target), nil
	}
	return nil, errConflict
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
	ctx, span := s.tel.Tracer.Start(ctx, "feed.Unfollow")
	defer span.End()
	if _, err := s.profiles.one(ctx, target); err != nil {
		return nil, err
	}
	if err := s.deleteKey(ctx, followKey(follower, target)); err != nil {
		return nil, err
	}
	return s.relationship(follower, target), nil
}

// AuthorizeFollowRequest accepts requester's pending request to follow viewer.
func (s *Service) AuthorizeFollowRequest(ctx context.Context, viewer, requester starling.ID) (*starling.Relationship, error) {
	err := s.modifyFollow(ctx, followKey(requester, viewer), func(rec *followRecord) bool {
		if !rec.Requested {
			return false
		}
		rec.Requested, rec.Authorized = false, true
		return true
	})
	if err != nil {
		return nil, err
	}
	return s.relationship(viewer, requester), nil
}

// modifyFollow changes an existing follow record with a compare-and-set,
// retrying on a concurrent change. change reports whether it changed rec;
// when it did not, the stored record is applied to this node's view (it
// may have been written through another node) and nothing is written.
func (s *Service) modifyFollow(ctx context.Context, key string, change func(rec *followRecord) bool) error {
	for attempt := 0; attempt < 3; attempt++ {
		rec, ent, err := getRecord[followRecord](ctx, s.tab, key)
		if err != nil {
			return err
		}
		if !change(rec) {
			s.apply(ctx, key, ent.Revision, ent.Value, false)
			return nil
		}
		data := mustJSON(rec)
		rev, err := s.tab.Update(ctx, key, data, ent.Revision)
		if starling.IsCode(err, starling.Conflict) {
			continue
		}
		if err != nil {
			return err
		}
		s.apply(ctx, key, rev, data, false)
		return nil
	}
	return errConflict
}

// RejectFollowRequest refuses requester's pending request.
func (s *Service) RejectFollowRequest(ctx context.Context, viewer, requester starling.ID) (*starling.Relationship, error) {
	key := followKey(requester, viewer)
	rec, ent, err := getRecord[followRecord](ctx, s.tab, key)
	if err != nil {
		return nil, err
	}
	if rec.Requested {
		if err := s.tab.Delete(ctx, key, ent.Revision); err != nil {
			return nil, err
		}
		s.apply(ctx, key, ent.Revision+1, nil, true)
	}
	return s.relationship(viewer, requester), nil
}

// relationship reads viewer's relationship to other from the view.
func (s *Service) relationship(viewer, other starling.ID) *starling.Relationship {
	v := s.v()
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.relationship(viewer, other)
}

func (v *view) relationship(viewer, other starling.ID) *starling.Relationship {
	r := &starling.Relationship{ID: other}
	if e := v.follows[viewer][other]; e != nil {
		if e.Requested {
			r.Requested = true
		} else {
			r.Following = true
			r.ShowingReblogs = e.Reblogs
			r.Notifying = e.Notify
			r.Languages = e.Languages
		}
	}
	if e := v.follows[other][viewer]; e != nil {
		if e.Requested {
			r.RequestedBy = true
		} else {
			r.FollowedBy = true
		}
	}
	return r
}

// Relationships returns viewer's relationships to ids.
func (s *Service) Relationships(ctx context.Context, viewer starling.ID, ids []starling.ID) ([]*starling.Relationship, error) {
	if len(ids) > 1000 {
		return nil, starling.Errorf(starling.Invalid, "too many accounts requested")
	}
	v := s.v()
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]*starling.Relationship, 0, len(ids))
	for _, id := range ids {
		out = append(out, v.relationship(viewer, id))
	}
	return out, nil
}

// Followers lists an account's followers, newest follow first.
func (s *Service) Followers(ctx context.Context, viewer, account starling.ID, p starling.Page) (*starling.AccountPage, error) {
	if _, err := s.profiles.one(ctx, account); err != nil {
		return nil, err
	}
	return s.edgePage(ctx, func(v *view) map[starling.ID]*edgeList { return v.followers }, account, p)
}

// Following lists the accounts an account follows, newest follow first.
func (s *Service) Following(ctx context.Context, viewer, account starling.ID, p starling.Page) (*starling.AccountPage, error) {
	if _, err := s.profiles.one(ctx, account); err != nil {
		return nil, err
	}
	return s.edgePage(ctx, func(v *view) map[starling.ID]*edgeList { return v.following }, account, p)
}

// FollowRequests lists the pending requests to follow viewer.
func (s *Service) FollowRequests(ctx context.Context, viewer starling.ID, p starling.Page) (*starling.AccountPage, error) {
	return s.edgePage(ctx, func(v *view) map[starling.ID]*edgeList { return v.requests }, viewer, p)
}

// Subscribers returns the followers of account with notifications on.
func (s *Service) Subscribers(ctx context.Context, account starling.ID) ([]starling.ID, error) {
	v := s.v()
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []starling.ID
	if fl := v.followers[account]; fl != nil {
		for _, e := range fl.edges {
			if v.follows[e.account][account].Notify {
				out = append(out, e.account)
			}
		}
	}
	return out, nil
}
