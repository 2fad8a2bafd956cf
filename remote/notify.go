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

// ServeNotify exposes svc as the "notify" service on nc, in a queue group
// of every Notify instance (each answers or forwards to the holder of the
// account's partition).
func ServeNotify(nc *nats.Conn, tel *telemetry.Telemetry, svc starling.NotifyService) (*Server, error) {
	s, err := NewServer(nc, tel, "notify")
	if err != nil {
		return nil, err
	}
	notifyEndpoints(s, svc)
	return s, nil
}

// ServeNotifyPartition exposes the holder of one notify partition. Stop it
// when the partition is given up.
func ServeNotifyPartition(nc *nats.Conn, tel *telemetry.Telemetry, part int, svc starling.NotifyService) (*Server, error) {
	s, err := NewPartitionServer(nc, tel, "notify", part)
	if err != nil {
		return nil, err
	}
	notifyEndpoints(s, svc)
	return s, nil
}

func notifyEndpoints(s *Server, svc starling.NotifyService) {
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
}

// NotifyClient is a starling.NotifyService reached over NATS: every call
// goes to the holder of the account's partition.
type NotifyClient struct {
	c *Client
	n int
}

var _ starling.NotifyService = (*NotifyClient)(nil)

// NewNotifyClient returns a client of the "notify" service whose view has
// partitions partitions.
func NewNotifyClient(nc *nats.Conn, tel *telemetry.Telemetry, partitions int) *NotifyClient {
	return &NotifyClient{c: NewClient(nc, tel, "notify"), n: partitions}
}

// Breaker returns the client's circuit breaker.
func (n *NotifyClient) Breaker() *Breaker { return n.c.breaker }

// PartBreakers returns the breakers of the partitions called so far.
func (n *NotifyClient) PartBreakers() []*Breaker { return n.c.PartBreakers() }

func notifyCall[Req, Resp any](ctx context.Context, n *NotifyClient, account starling.ID, endpoint string, req Req, idempotent bool) (Resp, error) {
	if n.n == 0 {
		return Call[Req, Resp](ctx, n.c, endpoint, req, idempotent)
	}
	return CallPart[Req, Resp](ctx, n.c, starling.PartitionOf(account, n.n), endpoint, req, idempotent)
}

func (n *NotifyClient) Notifications(ctx context.Context, account starling.ID, q starling.NotificationQuery) ([]*starling.Notification, error) {
	return notifyCall[notifyListReq, []*starling.Notification](ctx, n, account, "notifications", notifyListReq{account, q}, true)
}

func (n *NotifyClient) Notification(ctx context.Context, account, id starling.ID) (*starling.Notification, error) {
	return notifyCall[notifyIDReq, *starling.Notification](ctx, n, account, "notification", notifyIDReq{account, id}, true)
}

func (n *NotifyClient) Dismiss(ctx context.Context, account, id starling.ID) error {
	_, err := notifyCall[notifyIDReq, empty](ctx, n, account, "dismiss", notifyIDReq{account, id}, false)
	return err
}

func (n *NotifyClient) Clear(ctx context.Context, account starling.ID) error {
	_, err := notifyCall[starling.ID, empty](ctx, n, account, "clear", account, true)
	return err
}

func (n *NotifyClient) UnreadCount(ctx context.Context, account starling.ID, types []string, limit int) (int, error) {
	return notifyCall[notifyUnreadReq, int](ctx, n, account, "unread_count", notifyUnreadReq{account, types, limit}, true)
}

func (n *NotifyClient) Markers(ctx context.Context, account starling.ID, timelines []string) ([]starling.Marker, error) {
	return notifyCall[notifyMarkersReq, []starling.Marker](ctx, n, account, "markers", notifyMarkersReq{account, timelines}, true)
}

func (n *NotifyClient) SaveMarkers(ctx context.Context, account starling.ID, positions map[string]starling.ID) ([]starling.Marker, error) {
	return notifyCall[notifySaveMarkersReq, []starling.Marker](ctx, n, account, "save_markers", notifySaveMarkersReq{account, positions}, false)
}
