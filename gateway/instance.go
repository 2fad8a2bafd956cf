package gateway

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"

	"github.com/starling-social/starling"
)

// Limits the instance advertises. The status limits are Mastodon's; media
// limits are the media service's.
const (
	maxStatusChars       = 500
	maxMediaAttachments  = 4
	charactersPerURL     = 23
	defaultAvatarPath    = "/avatars/original/missing.png"
	defaultHeaderPath    = "/headers/original/missing.png"
	instanceThumbnailPth = "/instance/thumbnail.png"
)

// streamingURL derives the WebSocket base from the public URL.
func (s *Server) streamingURL() string {
	if strings.HasPrefix(s.base, "https://") {
		return "wss://" + strings.TrimPrefix(s.base, "https://")
	}
	return "ws://" + strings.TrimPrefix(s.base, "http://")
}

func (s *Server) buildInstance() {
	statuses := map[string]any{"max_characters": maxStatusChars, "max_media_attachments": s.media.Limits().AttachmentsMax, "characters_reserved_per_url": charactersPerURL}
	ml := s.media.Limits()
	media := map[string]any{"supported_mime_types": ml.SupportedMIMEs, "image_size_limit": ml.ImageBytes, "image_matrix_limit": ml.ImagePixels,
		"video_size_limit": ml.VideoBytes, "video_frame_rate_limit": ml.VideoFrameRate, "video_matrix_limit": ml.VideoPixels,
		"description_limit": ml.DescriptionMax}
	polls := map[string]any{"max_options": 4, "max_characters_per_option": 50, "min_expiration": 300, "max_expiration": 2629746}
	domain := s.cfg.PublicURL.Host
	desc := "A distributed social platform that speaks the Mastodon API."
	v2 := map[string]any{
		"domain": domain, "title": s.cfg.Title, "version": "4.3.0 (compatible; Starling " + starling.Version + ")",
		"source_url": "https://github.com/starling-social/starling", "description": desc,
		"usage":     map[string]any{"users": map[string]any{"active_month": 0}},
		"thumbnail": map[string]any{"url": s.base + instanceThumbnailPth},
		"icon":      []any{},
		"languages": []string{"en"},
		"configuration": map[string]any{
			"urls":               map[string]any{"streaming": s.streamingURL(), "status": nil, "about": s.base + "/about", "privacy_policy": nil, "terms_of_service": nil},
			"vapid":              map[string]any{"public_key": ""},
			"accounts":           map[string]any{"max_featured_tags": 0, "max_pinned_statuses": 0},
			"statuses":           statuses,
			"media_attachments":  media,
			"polls":              polls,
			"translation":        map[string]any{"enabled": false},
			"limited_federation": false,
		},
		"registrations": map[string]any{"enabled": true, "approval_required": false, "message": nil, "url": nil, "min_age": nil, "reason_required": false},
		"api_versions":  map[string]any{"mastodon": 2},
		"contact":       map[string]any{"email": "", "account": nil},
		"rules":         []any{},
	}
	v1 := map[string]any{
		"uri": domain, "title": s.cfg.Title, "short_description": desc, "description": desc, "email": "",
		"version": v2["version"], "urls": map[string]any{"streaming_api": s.streamingURL()},
		"stats":     map[string]any{"user_count": 0, "status_count": 0, "domain_count": 0},
		"thumbnail": s.base + instanceThumbnailPth, "languages": []string{"en"},
		"registrations": true, "approval_required": false, "invites_enabled": false,
		"configuration":   map[string]any{"accounts": map[string]any{"max_featured_tags": 0}, "statuses": statuses, "media_attachments": media, "polls": polls},
		"contact_account": nil, "rules": []any{},
	}
	s.instanceV1, _ = json.Marshal(v1)
	s.instanceV2, _ = json.Marshal(v2)
}

func (s *Server) handleInstanceV2(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	s.instanceOnce.Do(s.buildInstance)
	return rawJSON(s.instanceV2), nil
}

func (s *Server) handleInstanceV1(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	s.instanceOnce.Do(s.buildInstance)
	return rawJSON(s.instanceV1), nil
}

// GET /.well-known/nodeinfo and /nodeinfo/2.0
func (s *Server) handleNodeInfoIndex(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"links": []any{map[string]string{
		"rel": "http://nodeinfo.diaspora.software/ns/schema/2.0", "href": s.base + "/nodeinfo/2.0"}}})
}

func (s *Server) handleNodeInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"version":           "2.0",
		"software":          map[string]string{"name": "starling", "version": starling.Version},
		"protocols":         []string{},
		"services":          map[string]any{"inbound": []string{}, "outbound": []string{}},
		"openRegistrations": true,
		"usage":             map[string]any{"users": map[string]int{"total": 0}, "localPosts": 0},
		"metadata":          map[string]any{"nodeName": s.cfg.Title},
	})
}

// GET /api/v1/preferences
func (s *Server) handlePreferences(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	a, err := s.auth.Account(r.Context(), c.viewer())
	if err != nil {
		return nil, err
	}
	var lang any
	if a.Language != "" {
		lang = a.Language
	}
	privacy := a.Privacy
	if privacy == "" {
		privacy = starling.Public
	}
	return map[string]any{
		"posting:default:visibility": privacy, "posting:default:sensitive": a.Sensitive, "posting:default:language": lang,
		"reading:expand:media": "default", "reading:expand:spoilers": false,
	}, nil
}

// emptyList answers the endpoints Starling does not implement yet but
// clients call: custom emojis, filters, lists, announcements, followed tags.
func (s *Server) emptyList(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	return rawJSON("[]"), nil
}

// placeholderPNG is the image served for missing avatars and headers.
func placeholderPNG(w, h int, c color.RGBA) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
}

var (
	avatarPNG = placeholderPNG(120, 120, color.RGBA{0x9d, 0x90, 0xff, 0xff})
	headerPNG = placeholderPNG(300, 100, color.RGBA{0x5b, 0x4b, 0xd1, 0xff})
)

func servePNG(b []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "image/png")
		h.Set("Cache-Control", "public, max-age=86400")
		_, _ = w.Write(b)
	}
}
