package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/starling-social/starling"
)

// handle turns one feed event into notifications (or removes the ones an
// undone action caused). Returning an error makes the event come back.
func (s *Service) handle(ctx context.Context, ev starling.FeedEvent) error {
	ctx, span := s.tel.Tracer.Start(ctx, "notify.handle "+ev.Kind)
	defer span.End()
	switch ev.Kind {
	case starling.EventStatus:
		return s.onStatus(ctx, ev.Status)
	case starling.EventStatusDeleted:
		return s.onStatusDeleted(ctx, ev.StatusID)
	case starling.EventFollow:
		if ev.Authorized {
			return nil // the target accepted the request: nothing new for them
		}
		typ := starling.NotifyFollow
		if ev.Requested {
			typ = starling.NotifyFollowRequest
		}
		return s.notify(ctx, ev.Target, typ, ev.Account, 0, fmt.Sprintf("%s-%d", typ, ev.Account))
	case starling.EventFollowDeleted:
		for _, typ := range []string{starling.NotifyFollow, starling.NotifyFollowRequest} {
			if err := s.tab.Delete(ctx, notifKey(ev.Target, fmt.Sprintf("%s-%d", typ, ev.Account)), 0); err != nil {
				return err
			}
		}
	case starling.EventFavourite, starling.EventFavouriteDelete:
		st, err := s.feed.Status(ctx, ev.Account, ev.StatusID)
		if starling.IsCode(err, starling.NotFound) {
			return nil // gone, or never visible to them: nothing to say
		}
		if err != nil {
			return err
		}
		key := fmt.Sprintf("favourite-%d-%d", ev.StatusID, ev.Account)
		if ev.Kind == starling.EventFavouriteDelete {
			return s.tab.Delete(ctx, notifKey(st.AccountID, key), 0)
		}
		return s.notify(ctx, st.AccountID, starling.NotifyFavourite, ev.Account, ev.StatusID, key)
	}
	return nil
}

// onStatus notifies about a new or edited status.
func (s *Service) onStatus(ctx context.Context, st *starling.Status) error {
	if st.ReblogOfID != 0 {
		orig, err := s.feed.Status(ctx, st.AccountID, st.ReblogOfID)
		if starling.IsCode(err, starling.NotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return s.notify(ctx, orig.AccountID, starling.NotifyReblog, st.AccountID, orig.ID, fmt.Sprintf("reblog-%d", st.ID))
	}
	if st.EditedAt != nil {
		// Tell those who reblogged it.
		var page starling.Page
		for range 25 {
			p, err := s.feed.RebloggedBy(ctx, st.AccountID, st.ID, starling.Page{MaxID: page.MaxID, Limit: 80})
			if starling.IsCode(err, starling.NotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			for _, a := range p.Accounts {
				if err := s.notify(ctx, a.ID, starling.NotifyUpdate, st.AccountID, st.ID, fmt.Sprintf("update-%d-%d", st.ID, st.EditedAt.UnixMilli())); err != nil {
					return err
				}
			}
			if len(p.Cursors) < 80 {
				break
			}
			page.MaxID = p.Cursors[len(p.Cursors)-1]
		}
		return nil
	}
	// Mentions. As in Mastodon, replying alone is no mention: a reply
	// whose text leaves out its parent's author does not notify them.
	mentioned := []starling.ID{}
	for _, m := range st.Mentions {
		mentioned = append(mentioned, m.ID)
	}
	for _, r := range mentioned {
		if err := s.notifyIfVisible(ctx, r, starling.NotifyMention, st, fmt.Sprintf("mention-%d", st.ID)); err != nil {
			return err
		}
	}
	// Followers who asked to hear of every post.
	subs, err := s.feed.Subscribers(ctx, st.AccountID)
	if err != nil {
		return err
	}
	for _, r := range subs {
		if slices.Contains(mentioned, r) {
			continue // a mention says it already
		}
		if err := s.notifyIfVisible(ctx, r, starling.NotifyStatus, st, fmt.Sprintf("status-%d", st.ID)); err != nil {
			return err
		}
	}
	return nil
}

// notifyIfVisible notifies recipient of st only if they may see it.
func (s *Service) notifyIfVisible(ctx context.Context, recipient starling.ID, typ string, st *starling.Status, key string) error {
	if recipient == st.AccountID {
		return nil
	}
	if _, err := s.feed.Status(ctx, recipient, st.ID); err != nil {
		if starling.IsCode(err, starling.NotFound) {
			return nil
		}
		return err
	}
	return s.notify(ctx, recipient, typ, st.AccountID, st.ID, key)
}

// onStatusDeleted asks the instances serving the notifications' partitions
// to delete the notifications about a deleted status (best effort: ones
// missed are hidden when read, since their status no longer exists, and
// expire).
func (s *Service) onStatusDeleted(ctx context.Context, id starling.ID) error {
	return s.eng.Conn().Publish(subjectForget, []byte(id.String()))
}

// notify stores a notification once (its key is deterministic) and, the
// first time, pushes it to the recipient's live streams.
func (s *Service) notify(ctx context.Context, recipient starling.ID, typ string, actor, status starling.ID, key string) error {
	if recipient == actor || recipient == 0 {
		return nil
	}
	id, err := s.ids.Next()
	if err != nil {
		return err
	}
	r := record{ID: id, Type: typ, Account: actor, Status: status, Created: s.now().UTC()}
	_, err = s.tab.Create(ctx, notifKey(recipient, key), mustJSON(r), s.cfg.TTL)
	if starling.IsCode(err, starling.Conflict) {
		return nil // done before: this is a redelivery
	}
	if err != nil {
		return err
	}
	s.tel.Metrics.Notifications.WithLabelValues(typ).Inc()
	n, err := s.hydrate(ctx, recipient, []*entry{{key: key, id: id, typ: typ, account: actor, status: status, createdMs: r.Created.UnixMilli()}})
	if err == nil && len(n) == 1 {
		if b, err := json.Marshal(starling.LiveEvent{Event: "notification", Notification: n[0], At: s.now()}); err == nil {
			_ = s.eng.Conn().Publish(starling.SubjectLiveUser+"."+recipient.String(), b)
		}
	}
	return nil
}
