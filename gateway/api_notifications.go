package gateway

import (
	"net/http"
	"slices"

	"github.com/starling-social/starling"
)

// appendNotification appends a Notification entity.
func (r *renderer) appendNotification(b []byte, n *starling.Notification) []byte {
	b = append(b, `{"id":`...)
	b = appendID(b, n.ID)
	b = append(b, `,"type":`...)
	b = appendString(b, n.Type)
	b = append(b, `,"group_key":"ungrouped-`...)
	b = appendInt(b, int64(n.ID))
	b = append(b, `","created_at":`...)
	b = appendTime(b, n.CreatedAt)
	b = append(b, `,"account":`...)
	b = r.appendAccount(b, n.Account)
	if n.Status != nil {
		b = append(b, `,"status":`...)
		b = r.appendStatus(b, n.Status, false)
	}
	return append(b, '}')
}

func (c *call) notificationTypes(key string) ([]string, error) {
	types := c.p.List(key)
	for _, t := range types {
		if !slices.Contains(starling.NotificationTypes, t) && t != "poll" && t != "admin.sign_up" && t != "admin.report" {
			return nil, badRequest("Unknown notification type %q", truncate(t, 40))
		}
	}
	return types, nil
}

// GET /api/v1/notifications
func (s *Server) handleNotifications(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	var q starling.NotificationQuery
	var err error
	if q.Page, err = c.page(); err != nil {
		return nil, err
	}
	if q.Types, err = c.notificationTypes("types"); err != nil {
		return nil, err
	}
	if q.ExcludeTypes, err = c.notificationTypes("exclude_types"); err != nil {
		return nil, err
	}
	if q.AccountID, err = c.p.ID("account_id"); err != nil {
		return nil, err
	}
	ns, err := s.notify.Notifications(r.Context(), c.viewer(), q)
	if err != nil {
		return nil, err
	}
	if len(ns) > 0 {
		s.setLink(w, r, ns[0].ID, ns[len(ns)-1].ID, "min_id", true)
	}
	b := make([]byte, 0, 2048*len(ns)+2)
	b = append(b, '[')
	for i, n := range ns {
		if i > 0 {
			b = append(b, ',')
		}
		b = s.render.appendNotification(b, n)
	}
	return rawJSON(append(b, ']')), nil
}

// GET /api/v1/notifications/{id}
func (s *Server) handleNotification(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	n, err := s.notify.Notification(r.Context(), c.viewer(), id)
	if err != nil {
		return nil, err
	}
	return rawJSON(s.render.appendNotification(nil, n)), nil
}

// POST /api/v1/notifications/{id}/dismiss
func (s *Server) handleDismiss(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return nil, s.notify.Dismiss(r.Context(), c.viewer(), id)
}

// POST /api/v1/notifications/clear
func (s *Server) handleClear(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	return nil, s.notify.Clear(r.Context(), c.viewer())
}

// GET /api/v1/notifications/unread_count
func (s *Server) handleUnreadCount(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	types, err := c.notificationTypes("types")
	if err != nil {
		return nil, err
	}
	limit, err := c.p.Int("limit", 100)
	if err != nil {
		return nil, err
	}
	n, err := s.notify.UnreadCount(r.Context(), c.viewer(), types, limit)
	if err != nil {
		return nil, err
	}
	return map[string]int{"count": n}, nil
}
