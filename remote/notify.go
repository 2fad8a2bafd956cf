package remote

import (
	"context"

	"github.com/nats-io/nats.go"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/telemetry"
)

type (
	notifyListReq struct {
		Account starling.ID
		Query   starling.NotificationQuery
	}
	notifyIDReq struct {
		Account, ID starling.ID
	}
	notifyUnreadReq struct {
		Account starling.ID
		Types   []string
		Limit   int
	}
	notifyMarkersReq struct {
		Account   starling.ID
		Timelines []string
	}
	notifySaveMarkersReq struct {
		Account   starling.ID
		Positions map[string]starling.ID
	}
)

// ServeNotify exposes svc as the "notify" service on nc.
func ServeNotify(nc *nats.Conn, tel *telemetry.Telemetry, svc starling.NotifyService) (*Server, error) {
	s, err := NewServer(nc, tel, "notify")
	if err != nil {
		return nil, err
	}
	Handle(s, "notifications", func(ctx context.Context, r notifyListReq) ([]*starling.Notification, error) {
		return svc.Notifications(ctx, r.Account, r.Query)
	})
	Handle(s, "notification", func(ctx context.Context, r notifyIDReq) (*starling.Notification, error) {
		return svc.Notification(ctx, r.Account, r.ID)
	})
	Handle(s, "dismiss", func(ctx context.Context, r notifyIDReq) (empty, error) {
		return empty{}, svc.Dismiss(ctx, r.Account, r.ID)
	})
	Handle(s, "clear", func(ctx context.Context, account starling.ID) (empty, error) { return empty{}, svc.Clear(ctx, account) })
	Handle(s, "unread_count", func(ctx context.Context, r notifyUnreadReq) (int, error) {
		return svc.UnreadCount(ctx, r.Account, r.Types, r.Limit)
	})
	Handle(s, "markers", func(ctx context.Context, r notifyMarkersReq) ([]starling.Marker, error) {
		return svc.Markers(ctx, r.Account, r.Timelines)
	})
	Handle(s, "save_markers", func(ctx context.Context, r notifySaveMarkersReq) ([]starling.Marker, error) {
		return svc.SaveMarkers(ctx, r.Account, r.Positions)
	})
	return s, nil
}

// NotifyClient is a starling.NotifyService reached over NATS.
type NotifyClient struct{ c *Client }

var _ starling.NotifyService = (*NotifyClient)(nil)

// NewNotifyClient returns a client of the "notify" service.
func NewNotifyClient(nc *nats.Conn, tel *telemetry.Telemetry) *NotifyClient {
	return &NotifyClient{c: NewClient(nc, tel, "notify")}
}

// Breaker returns the client's circuit breaker.
func (n *NotifyClient) Breaker() *Breaker { return n.c.breaker }

func (n *NotifyClient) Notifications(ctx context.Context, account starling.ID, q starling.NotificationQuery) ([]*starling.Notification, error) {
	return Call[notifyListReq, []*starling.Notification](ctx, n.c, "notifications", notifyListReq{account, q}, true)
}

func (n *NotifyClient) Notification(ctx context.Context, account, id starling.ID) (*starling.Notification, error) {
	return Call[notifyIDReq, *starling.Notification](ctx, n.c, "notification", notifyIDReq{account, id}, true)
}

func (n *NotifyClient) Dismiss(ctx context.Context, account, id starling.ID) error {
	_, err := Call[notifyIDReq, empty](ctx, n.c, "dismiss", notifyIDReq{account, id}, false)
	return err
}

func (n *NotifyClient) Clear(ctx context.Context, account starling.ID) error {
	_, err := Call[starling.ID, empty](ctx, n.c, "clear", account, true)
	return err
}

func (n *NotifyClient) UnreadCount(ctx context.Context, account starling.ID, types []string, limit int) (int, error) {
	return Call[notifyUnreadReq, int](ctx, n.c, "unread_count", notifyUnreadReq{account, types, limit}, true)
}

func (n *NotifyClient) Markers(ctx context.Context, account starling.ID, timelines []string) ([]starling.Marker, error) {
	return Call[notifyMarkersReq, []starling.Marker](ctx, n.c, "markers", notifyMarkersReq{account, timelines}, true)
}

func (n *NotifyClient) SaveMarkers(ctx context.Context, account starling.ID, positions map[string]starling.ID) ([]starling.Marker, error) {
	return Call[notifySaveMarkersReq, []starling.Marker](ctx, n.c, "save_markers", notifySaveMarkersReq{account, positions}, false)
}
