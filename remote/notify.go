package remote

import (
	"context"

	"github.com/nats-io/nats.go"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/telemetry"
)

type (
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

func (n *NotifyClient) Markers(ctx context.Context, account starling.ID, timelines []string) ([]starling.Marker, error) {
	return Call[notifyMarkersReq, []starling.Marker](ctx, n.c, "markers", notifyMarkersReq{account, timelines}, true)
}

func (n *NotifyClient) SaveMarkers(ctx context.Context, account starling.ID, positions map[string]starling.ID) ([]starling.Marker, error) {
	return Call[notifySaveMarkersReq, []starling.Marker](ctx, n.c, "save_markers", notifySaveMarkersReq{account, positions}, false)
}
