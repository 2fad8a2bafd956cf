package feed

import (
	"context"
	"encoding/json"
	"time"

	"github.com/starling-social/starling"
)

// Live events. The node that writes a status publishes its live events
// (once, whichever nodes hold sockets): an "update", "status.update" or
// "delete" to the user subject of everyone whose home timeline it reaches,
// and for public statuses to the public and tag subjects. Core NATS: best
// effort, like the streaming API itself (clients re-fetch on reconnect).

// audience returns who gets st in their home timeline: its author and the
// followers it is fanned out to (for a big account, every follower: the
// read-time merge shows it to them too). Under the view's read lock.
func (v *view) audience(st *starling.Status) []starling.ID {
	out := []starling.ID{st.AccountID}
	switch st.Visibility {
	case starling.Direct:
		for _, m := range st.Mentions {
			if v.isFollowing(m.ID, st.AccountID) {
				out = append(out, m.ID)
			}
		}
	default:
		if fl := v.followers[st.AccountID]; fl != nil {
			for _, e := range fl.edges {
				if st.ReblogOfID != 0 && !v.follows[e.account][st.AccountID].Reblogs {
					continue
				}
				if v.homeAccepts(e.account, st) {
					out = append(out, e.account)
				}
			}
		}
	}
	return out
}

// publishLive sends event about st to its audience and, when public, to
// the public and tag subjects.
func (s *Service) publishLive(ctx context.Context, event string, st *starling.Status, audience []starling.ID) {
	nc := s.eng.Conn()
	data, err := json.Marshal(starling.LiveEvent{Event: event, StatusID: st.ID, AuthorID: st.AccountID, At: time.Now()})
	if err != nil {
		return
	}
	for _, id := range audience {
		_ = nc.Publish(starling.SubjectLiveUser+"."+id.String(), data)
	}
	if st.Visibility == starling.Public && st.ReblogOfID == 0 {
		if st.InReplyToID == 0 || st.InReplyToAccountID == st.AccountID {
			_ = nc.Publish(starling.SubjectLivePublic, data)
		}
		for _, t := range st.Tags {
			if validSubjectToken(t) {
				_ = nc.Publish(starling.SubjectLiveTag+"."+t, data)
			}
		}
	}
}

// validSubjectToken reports whether s can be one token of a NATS subject.
func validSubjectToken(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == '.' || r == '*' || r == '>' || r == 0x7f {
			return false
		}
	}
	return true
}

// audienceOf computes a status's audience under the read lock.
func (s *Service) audienceOf(st *starling.Status) []starling.ID {
	v := s.v()
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.audience(st)
}
