package gateway

import (
	"context"
	"net/http"

	"github.com/starling-social/starling"
)

type relationshipJSON struct {
	ID                  starling.ID `json:"id"`
	Following           bool        `json:"following"`
	ShowingReblogs      bool        `json:"showing_reblogs"`
	Notifying           bool        `json:"notifying"`
	Languages           []string    `json:"languages"`
	FollowedBy          bool        `json:"followed_by"`
	Blocking            bool        `json:"blocking"`
	BlockedBy           bool        `json:"blocked_by"`
	Muting              bool        `json:"muting"`
	MutingNotifications bool        `json:"muting_notifications"`
	MutingExpiresAt     *string     `json:"muting_expires_at"`
	Requested           bool        `json:"requested"`
	RequestedBy         bool        `json:"requested_by"`
	DomainBlocking      bool        `json:"domain_blocking"`
	Endorsed            bool        `json:"endorsed"`
	Note                string      `json:"note"`
}

func relJSON(r *starling.Relationship) relationshipJSON {
	return relationshipJSON{ID: r.ID, Following: r.Following, ShowingReblogs: r.ShowingReblogs, Notifying: r.Notifying,
		Languages: r.Languages, FollowedBy: r.FollowedBy, Requested: r.Requested, RequestedBy: r.RequestedBy}
}

// POST /api/v1/accounts/{id}/follow
func (s *Server) handleFollow(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var o starling.FollowOptions
	if o.Reblogs, err = c.p.OptBool("reblogs"); err != nil {
		return nil, err
	}
	if o.Notify, err = c.p.OptBool("notify"); err != nil {
		return nil, err
	}
	if c.p.Has("languages") {
		o.Languages = c.p.List("languages")
	}
	rel, err := s.feed.Follow(r.Context(), c.viewer(), id, o)
	if err != nil {
		return nil, err
	}
	return relJSON(rel), nil
}

// POST /api/v1/accounts/{id}/unfollow
func (s *Server) handleUnfollow(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	rel, err := s.feed.Unfollow(r.Context(), c.viewer(), id)
	if err != nil {
		return nil, err
	}
	return relJSON(rel), nil
}

// GET /api/v1/accounts/relationships
func (s *Server) handleRelationships(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	ids, err := c.p.IDs("id", 100)
	if err != nil {
		return nil, err
	}
	rels, err := s.feed.Relationships(r.Context(), c.viewer(), ids)
	if err != nil {
		return nil, err
	}
	out := make([]relationshipJSON, len(rels))
	for i, rel := range rels {
		out[i] = relJSON(rel)
	}
	return out, nil
}

// accountList serves a page of a relationship list (followers, following,
// favourited_by, reblogged_by, follow requests) with its Link header.
func (s *Server) accountList(list func(r *http.Request, c *call, p starling.Page) (*starling.AccountPage, error)) apiFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
		p, err := c.page()
		if err != nil {
			return nil, err
		}
		pg, err := list(r, c, p)
		if err != nil {
			return nil, err
		}
		return s.accountPage(w, r, pg, accountsLimit(p))
	}
}

// byID adapts a feed list of the record named by the {id} path parameter
// (s.feed.Followers, for one) to accountList.
func byID(list func(ctx context.Context, viewer, id starling.ID, p starling.Page) (*starling.AccountPage, error)) func(*http.Request, *call, starling.Page) (*starling.AccountPage, error) {
	return func(r *http.Request, c *call, p starling.Page) (*starling.AccountPage, error) {
		id, err := pathID(r, "id")
		if err != nil {
			return nil, err
		}
		return list(r.Context(), c.viewer(), id, p)
	}
}

// POST /api/v1/follow_requests/{id}/authorize and /reject
func (s *Server) handleFollowRequestDecision(accept bool) apiFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
		id, err := pathID(r, "id")
		if err != nil {
			return nil, err
		}
		var rel *starling.Relationship
		if accept {
			rel, err = s.feed.AuthorizeFollowRequest(r.Context(), c.viewer(), id)
		} else {
			rel, err = s.feed.RejectFollowRequest(r.Context(), c.viewer(), id)
		}
		if err != nil {
			return nil, err
		}
		return relJSON(rel), nil
	}
}
