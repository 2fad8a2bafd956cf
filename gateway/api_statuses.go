package gateway

import (
	"context"
	"net/http"
	"strings"

	"github.com/starling-social/starling"
)

// POST /api/v1/statuses
func (s *Server) handleCreateStatus(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	if c.p.Get("scheduled_at") != "" {
		return nil, starling.Errorf(starling.Invalid, "Validation failed: scheduled statuses are not supported")
	}
	if c.p.Has("poll[options]") {
		return nil, starling.Errorf(starling.Invalid, "Validation failed: polls are not supported")
	}
	in := starling.NewStatus{
		Text: c.p.Get("status"), SpoilerText: c.p.Get("spoiler_text"), Visibility: starling.Visibility(c.p.Get("visibility")),
		Language: c.p.Get("language"), IdempotencyKey: r.Header.Get("Idempotency-Key"),
		AppName: c.grant.AppName, AppWebsite: c.grant.AppWebsite,
	}
	var err error
	if in.Sensitive, err = c.p.Bool("sensitive", false); err != nil {
		return nil, err
	}
	if in.InReplyToID, err = c.p.ID("in_reply_to_id"); err != nil {
		return nil, err
	}
	if in.MediaIDs, err = c.p.IDs("media_ids", maxMediaAttachments); err != nil {
		return nil, err
	}
	st, err := s.feed.CreateStatus(r.Context(), c.viewer(), in)
	if err != nil {
		return nil, err
	}
	return rawJSON(s.render.appendStatus(nil, st, false)), nil
}

// PUT /api/v1/statuses/{id}
func (s *Server) handleEditStatus(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	e := starling.StatusEdit{Text: c.p.Get("status"), SpoilerText: c.p.Get("spoiler_text"), Language: c.p.Get("language")}
	if e.Sensitive, err = c.p.Bool("sensitive", false); err != nil {
		return nil, err
	}
	if e.MediaIDs, err = c.p.IDs("media_ids", maxMediaAttachments); err != nil {
		return nil, err
	}
	st, err := s.feed.EditStatus(r.Context(), c.viewer(), id, e)
	if err != nil {
		return nil, err
	}
	return rawJSON(s.render.appendStatus(nil, st, false)), nil
}

// DELETE /api/v1/statuses/{id}
func (s *Server) handleDeleteStatus(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	deleteMedia, err := c.p.Bool("delete_media", false)
	if err != nil {
		return nil, err
	}
	st, err := s.feed.DeleteStatus(r.Context(), c.viewer(), id)
	if err != nil {
		return nil, err
	}
	if deleteMedia && len(st.MediaIDs) > 0 {
		if err := s.media.DeleteAttached(r.Context(), c.viewer(), id, st.MediaIDs); err != nil {
			s.log.WarnContext(r.Context(), "delete media of deleted status", "status", id, "err", err)
		}
	}
	return rawJSON(s.render.appendStatus(nil, st, true)), nil
}

// GET /api/v1/statuses/{id}/context
func (s *Server) handleContext(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	th, err := s.feed.Context(r.Context(), c.viewer(), id)
	if err != nil {
		return nil, err
	}
	b := append([]byte(nil), `{"ancestors":`...)
	b = append(b, s.render.statusList(th.Ancestors)...)
	b = append(b, `,"descendants":`...)
	b = append(b, s.render.statusList(th.Descendants)...)
	return rawJSON(append(b, '}')), nil
}

// statusAction adapts a feed operation on the status named by the {id}
// path parameter (s.feed.Status, s.feed.Favourite, ...) to a handler that
// answers with the status.
func (s *Server) statusAction(op func(ctx context.Context, viewer, id starling.ID) (*starling.Status, error)) apiFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
		id, err := pathID(r, "id")
		if err != nil {
			return nil, err
		}
		st, err := op(r.Context(), c.viewer(), id)
		if err != nil {
			return nil, err
		}
		return rawJSON(s.render.appendStatus(nil, st, false)), nil
	}
}

// POST /api/v1/statuses/{id}/reblog
func (s *Server) handleReblog(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	return s.statusAction(func(ctx context.Context, viewer, id starling.ID) (*starling.Status, error) {
		return s.feed.Reblog(ctx, viewer, id, starling.Visibility(c.p.Get("visibility")))
	})(w, r, c)
}

// GET /api/v1/timelines/home
func (s *Server) handleHome(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	p, err := c.page()
	if err != nil {
		return nil, err
	}
	sts, err := s.feed.HomeTimeline(r.Context(), c.viewer(), p)
	if err != nil {
		return nil, err
	}
	return s.statusPage(w, r, sts)
}

func (c *call) timelineQuery() (starling.TimelineQuery, error) {
	var q starling.TimelineQuery
	var err error
	if q.Page, err = c.page(); err != nil {
		return q, err
	}
	if q.Local, err = c.p.Bool("local", false); err != nil {
		return q, err
	}
	if q.Remote, err = c.p.Bool("remote", false); err != nil {
		return q, err
	}
	if q.OnlyMedia, err = c.p.Bool("only_media", false); err != nil {
		return q, err
	}
	return q, nil
}

// GET /api/v1/timelines/public
func (s *Server) handlePublic(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	q, err := c.timelineQuery()
	if err != nil {
		return nil, err
	}
	sts, err := s.feed.PublicTimeline(r.Context(), c.viewer(), q)
	if err != nil {
		return nil, err
	}
	return s.statusPage(w, r, sts)
}

// GET /api/v1/timelines/tag/{hashtag}
func (s *Server) handleTag(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	q, err := c.timelineQuery()
	if err != nil {
		return nil, err
	}
	tag := strings.TrimSpace(r.PathValue("hashtag"))
	if tag == "" || len(tag) > 200 {
		return nil, errNotFound
	}
	sts, err := s.feed.TagTimeline(r.Context(), c.viewer(), tag, q)
	if err != nil {
		return nil, err
	}
	return s.statusPage(w, r, sts)
}

// GET /api/v1/accounts/{id}/statuses
func (s *Server) handleAccountStatuses(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var q starling.AccountStatusesQuery
	if q.Page, err = c.page(); err != nil {
		return nil, err
	}
	for name, dst := range map[string]*bool{"only_media": &q.OnlyMedia, "exclude_replies": &q.ExcludeReplies, "exclude_reblogs": &q.ExcludeReblogs, "pinned": &q.Pinned} {
		if *dst, err = c.p.Bool(name, false); err != nil {
			return nil, err
		}
	}
	q.Tagged = c.p.Get("tagged")
	sts, err := s.feed.AccountStatuses(r.Context(), c.viewer(), id, q)
	if err != nil {
		return nil, err
	}
	return s.statusPage(w, r, sts)
}
