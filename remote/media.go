package remote

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/telemetry"
)

// MediaBackend is what ServeMedia needs besides the service interface: an
// upload's bytes do not travel in a request; the client puts them in the
// engine's blob store under a reserved ID and asks the service to register
// them (the service checks them itself), and delivery reads files from the
// blob store once the service has located them.
type MediaBackend interface {
	starling.MediaService
	Reserve(ctx context.Context) (starling.ID, error)
	Register(ctx context.Context, account, id starling.ID, info engine.BlobInfo, description, focus, purpose string, wait time.Duration) (*starling.MediaAttachment, error)
	Locate(ctx context.Context, id starling.ID, name string) (engine.BlobRef, error)
}

type (
	mediaRegisterReq struct {
		Account, ID        starling.ID
		Info               engine.BlobInfo
		Description, Focus string
		Purpose            string
		WaitMs             int64
	}
	mediaIDReq struct {
		Account, ID starling.ID
	}
	mediaUpdateReq struct {
		Account, ID starling.ID
		Update      starling.MediaUpdate
	}
	mediaAttachReq struct {
		Account, Status starling.ID
		IDs             []starling.ID
	}
	mediaLocateReq struct {
		ID   starling.ID
		Name string
	}
)

// ServeMedia exposes svc as the "media" service on nc.
func ServeMedia(nc *nats.Conn, tel *telemetry.Telemetry, svc MediaBackend) (*Server, error) {
	s, err := NewServer(nc, tel, "media")
	if err != nil {
		return nil, err
	}
	Handle(s, "reserve", func(ctx context.Context, _ empty) (starling.ID, error) { return svc.Reserve(ctx) })
	Handle(s, "register", func(ctx context.Context, r mediaRegisterReq) (*starling.MediaAttachment, error) {
		return svc.Register(ctx, r.Account, r.ID, r.Info, r.Description, r.Focus, r.Purpose, time.Duration(r.WaitMs)*time.Millisecond)
	})
	Handle(s, "media", func(ctx context.Context, r mediaIDReq) (*starling.MediaAttachment, error) {
		return svc.Media(ctx, r.Account, r.ID)
	})
	Handle(s, "update", func(ctx context.Context, r mediaUpdateReq) (*starling.MediaAttachment, error) {
		return svc.UpdateMedia(ctx, r.Account, r.ID, r.Update)
	})
	Handle(s, "delete", func(ctx context.Context, r mediaIDReq) (empty, error) {
		return empty{}, svc.DeleteMedia(ctx, r.Account, r.ID)
	})
	Handle(s, "attach", func(ctx context.Context, r mediaAttachReq) (empty, error) {
		return empty{}, svc.Attach(ctx, r.Account, r.Status, r.IDs)
	})
	Handle(s, "attachments", svc.Attachments)
	Handle(s, "delete_attached", func(ctx context.Context, r mediaAttachReq) (empty, error) {
		return empty{}, svc.DeleteAttached(ctx, r.Account, r.Status, r.IDs)
	})
	Handle(s, "locate", func(ctx context.Context, r mediaLocateReq) (engine.BlobRef, error) {
		return svc.Locate(ctx, r.ID, r.Name)
	})
	Handle(s, "limits", func(ctx context.Context, _ empty) (starling.MediaLimits, error) { return svc.Limits(), nil })
	return s, nil
}

// MediaClient is a starling.MediaService reached over NATS, with direct
// access to the blob store for file bytes.
type MediaClient struct {
	c      *Client
	blobs  *engine.Blobs
	limits starling.MediaLimits
}

var _ starling.MediaService = (*MediaClient)(nil)

// NewMediaClient returns a client of the "media" service. limits are what
// the instance advertises (the service enforces its own).
func NewMediaClient(nc *nats.Conn, tel *telemetry.Telemetry, blobs *engine.Blobs, limits starling.MediaLimits) *MediaClient {
	return &MediaClient{c: NewClient(nc, tel, "media"), blobs: blobs, limits: limits}
}

// Breaker returns the client's circuit breaker.
func (m *MediaClient) Breaker() *Breaker { return m.c.breaker }

// Upload puts the bytes in the blob store under a reserved ID, then has the
// service register them.
func (m *MediaClient) Upload(ctx context.Context, account starling.ID, u starling.MediaUpload) (*starling.MediaAttachment, error) {
	id, err := Call[empty, starling.ID](ctx, m.c, "reserve", empty{}, true)
	if err != nil {
		return nil, err
	}
	max := max(m.limits.ImageBytes, m.limits.VideoBytes)
	info, err := m.blobs.Put(ctx, id.String()+"-original", u.Body, max)
	if err != nil {
		return nil, err
	}
	return Call[mediaRegisterReq, *starling.MediaAttachment](ctx, m.c, "register", mediaRegisterReq{Account: account, ID: id, Info: info,
		Description: u.Description, Focus: u.Focus, Purpose: u.Purpose, WaitMs: u.Wait.Milliseconds()}, false)
}

func (m *MediaClient) Media(ctx context.Context, account, id starling.ID) (*starling.MediaAttachment, error) {
	return Call[mediaIDReq, *starling.MediaAttachment](ctx, m.c, "media", mediaIDReq{account, id}, true)
}

func (m *MediaClient) UpdateMedia(ctx context.Context, account, id starling.ID, u starling.MediaUpdate) (*starling.MediaAttachment, error) {
	return Call[mediaUpdateReq, *starling.MediaAttachment](ctx, m.c, "update", mediaUpdateReq{account, id, u}, true)
}

func (m *MediaClient) DeleteMedia(ctx context.Context, account, id starling.ID) error {
	_, err := Call[mediaIDReq, empty](ctx, m.c, "delete", mediaIDReq{account, id}, false)
	return err
}

func (m *MediaClient) Attach(ctx context.Context, account, status starling.ID, ids []starling.ID) error {
	_, err := Call[mediaAttachReq, empty](ctx, m.c, "attach", mediaAttachReq{account, status, ids}, true)
	return err
}

func (m *MediaClient) Attachments(ctx context.Context, ids []starling.ID) ([]*starling.MediaAttachment, error) {
	return Call[[]starling.ID, []*starling.MediaAttachment](ctx, m.c, "attachments", ids, true)
}

func (m *MediaClient) DeleteAttached(ctx context.Context, account, status starling.ID, ids []starling.ID) error {
	_, err := Call[mediaAttachReq, empty](ctx, m.c, "delete_attached", mediaAttachReq{account, status, ids}, true)
	return err
}

// Open locates the file through the service and reads it from the blob
// store directly.
func (m *MediaClient) Open(ctx context.Context, id starling.ID, name string) (*starling.MediaFile, error) {
	ref, err := Call[mediaLocateReq, engine.BlobRef](ctx, m.c, "locate", mediaLocateReq{id, name}, true)
	if err != nil {
		return nil, err
	}
	return m.blobs.Open(ctx, ref), nil
}

// Limits returns the advertised limits.
func (m *MediaClient) Limits() starling.MediaLimits { return m.limits }
