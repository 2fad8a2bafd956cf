package gateway

import (
	"context"
	"mime/multipart"
	"net/http"
	"time"

	"github.com/starling-social/starling"
)

// profileImageWait bounds how long a profile update waits for its avatar
// or header to be processed (within the request's deadline).
const profileImageWait = 8 * time.Second

// PATCH /api/v1/accounts/update_credentials
func (s *Server) handleUpdateCredentials(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	u, err := profileUpdate(c.p)
	if err != nil {
		return nil, err
	}
	ctx, viewer := r.Context(), c.viewer()
	before, err := s.auth.Account(ctx, viewer)
	if err != nil {
		return nil, err
	}
	// Images first: a refused image changes nothing.
	var uploaded []starling.ID
	for _, purpose := range []string{starling.MediaAvatar, starling.MediaHeader} {
		fh := c.p.File(purpose)
		if fh == nil {
			continue
		}
		img, err := s.uploadProfileImage(ctx, viewer, fh, purpose)
		if err != nil {
			s.dropImages(ctx, viewer, uploaded)
			return nil, err
		}
		uploaded = append(uploaded, img.MediaID)
		if purpose == starling.MediaAvatar {
			u.Avatar = img
		} else {
			u.Header = img
		}
	}
	updated, err := s.auth.UpdateAccount(ctx, viewer, u)
	if err != nil {
		s.dropImages(ctx, viewer, uploaded)
		return nil, err
	}
	s.dropReplaced(ctx, viewer, before, updated)
	s.links.check(updated)
	return s.credentialAfterUpdate(r, updated)
}

// profileUpdate reads the profile parameters of update_credentials.
func profileUpdate(p *params) (starling.AccountUpdate, error) {
	var u starling.AccountUpdate
	var err error
	u.DisplayName = p.OptString("display_name")
	u.Note = p.OptString("note")
	if u.Locked, err = p.OptBool("locked"); err != nil {
		return u, err
	}
	if u.Bot, err = p.OptBool("bot"); err != nil {
		return u, err
	}
	if u.Discoverable, err = p.OptBool("discoverable"); err != nil {
		return u, err
	}
	if v := p.OptString("source[privacy]"); v != nil {
		vis := starling.Visibility(*v)
		u.Privacy = &vis
	}
	if u.Sensitive, err = p.OptBool("source[sensitive]"); err != nil {
		return u, err
	}
	u.Language = p.OptString("source[language]")
	// fields_attributes[i][name] and [value], from forms or JSON.
	objs, err := p.Objects("fields_attributes", 16)
	if err != nil {
		return u, err
	}
	if len(objs) > 0 || p.Has("fields_attributes") {
		fields := make([]starling.FieldInput, 0, len(objs))
		for _, o := range objs {
			fields = append(fields, starling.FieldInput{Name: o["name"], Value: o["value"]})
		}
		u.Fields = &fields
	}
	return u, nil
}

// uploadProfileImage stores an avatar or header through the media
// pipeline (type from content, metadata stripped, cropped and resized,
// blurhash) and keeps it attached to the account.
func (s *Server) uploadProfileImage(ctx context.Context, account starling.ID, fh *multipart.FileHeader, purpose string) (*starling.ProfileImage, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, badRequest("Unreadable upload")
	}
	defer f.Close()
	a, err := s.media.Upload(ctx, account, starling.MediaUpload{Body: f, Purpose: purpose, Wait: profileImageWait})
	if err != nil {
		return nil, err
	}
	if !a.Processed {
		_ = s.media.DeleteMedia(context.WithoutCancel(ctx), account, a.ID)
		return nil, starling.Unavailablef(2*time.Second, "The image could not be processed in time, please try again")
	}
	if err := s.media.Attach(ctx, account, account, []starling.ID{a.ID}); err != nil {
		_ = s.media.DeleteMedia(context.WithoutCancel(ctx), account, a.ID)
		return nil, err
	}
	return &starling.ProfileImage{MediaID: a.ID, URL: a.URL, StaticURL: a.URL}, nil
}

// dropImages deletes profile images uploaded for an update that failed.
func (s *Server) dropImages(ctx context.Context, account starling.ID, ids []starling.ID) {
	if len(ids) == 0 {
		return
	}
	if err := s.media.DeleteAttached(context.WithoutCancel(ctx), account, account, ids); err != nil {
		s.log.WarnContext(ctx, "delete unused profile images", "account", account, "err", err)
	}
}

// dropReplaced deletes the images the update replaced or removed.
func (s *Server) dropReplaced(ctx context.Context, account starling.ID, before, after *starling.Account) {
	var old []starling.ID
	if before.Avatar != nil && (after.Avatar == nil || after.Avatar.MediaID != before.Avatar.MediaID) {
		old = append(old, before.Avatar.MediaID)
	}
	if before.Header != nil && (after.Header == nil || after.Header.MediaID != before.Header.MediaID) {
		old = append(old, before.Header.MediaID)
	}
	s.dropImages(ctx, account, old)
}

// credentialAfterUpdate answers with the profile just written (caches
// elsewhere catch up asynchronously) and the current counters.
func (s *Server) credentialAfterUpdate(r *http.Request, updated *starling.Account) (any, error) {
	a, err := s.account(r, updated.ID)
	if err != nil {
		return nil, err
	}
	p := *updated
	p.StatusesCount, p.FollowersCount, p.FollowingCount, p.LastStatusAt = a.StatusesCount, a.FollowersCount, a.FollowingCount, a.LastStatusAt
	return rawJSON(s.render.appendCredentialAccount(nil, &p, 0)), nil
}

// DELETE /api/v1/profile/avatar and /api/v1/profile/header (Mastodon 4.2):
// remove the image and show the placeholder again.
func (s *Server) handleDeleteProfileImage(purpose string) apiFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
		ctx, viewer := r.Context(), c.viewer()
		before, err := s.auth.Account(ctx, viewer)
		if err != nil {
			return nil, err
		}
		var u starling.AccountUpdate
		if purpose == starling.MediaAvatar {
			u.Avatar = &starling.ProfileImage{}
		} else {
			u.Header = &starling.ProfileImage{}
		}
		updated, err := s.auth.UpdateAccount(ctx, viewer, u)
		if err != nil {
			return nil, err
		}
		s.dropReplaced(ctx, viewer, before, updated)
		return s.credentialAfterUpdate(r, updated)
	}
}
