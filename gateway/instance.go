package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"maps"
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

// instanceBase holds the parts of the instance documents that never change
// while the node runs; the counts are filled in per rendering.
type instanceBase struct {
	v1, v2, nodeInfo map[string]any
}

// instanceDoc is the instance documents rendered for one set of counts.
type instanceDoc struct {
	counts                         *counts
	v1, v2, nodeInfo20, nodeInfo21 []byte
}

// mastodonVersion is the Mastodon API version Starling speaks (clients
// compare it to decide what to call).
const mastodonVersion = "4.3.0"

func (s *Server) buildInstance() {
	statuses := map[string]any{"max_characters": maxStatusChars, "max_media_attachments": s.media.Limits().AttachmentsMax, "characters_reserved_per_url": charactersPerURL}
	ml := s.media.Limits()
	media := map[string]any{"supported_mime_types": ml.SupportedMIMEs, "image_size_limit": ml.ImageBytes, "image_matrix_limit": ml.ImagePixels,
		"video_size_limit": ml.VideoBytes, "video_frame_rate_limit": ml.VideoFrameRate, "video_matrix_limit": ml.VideoPixels,
		"description_limit": ml.DescriptionMax}
	polls := map[string]any{"max_options": 4, "max_characters_per_option": 50, "min_expiration": 300, "max_expiration": 2629746}
	domain := s.cfg.PublicURL.Host
	version := mastodonVersion + " (compatible; Starling " + starling.Version + ")"
	s.instance.v2 = map[string]any{
		"domain": domain, "title": s.cfg.Title, "version": version,
		"source_url": sourceURL, "description": instanceDescription,
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
	s.instance.v1 = map[string]any{
		"uri": domain, "title": s.cfg.Title, "short_description": instanceDescription, "description": instanceDescription, "email": "",
		"version": version, "urls": map[string]any{"streaming_api": s.streamingURL()},
		"thumbnail": s.base + instanceThumbnailPth, "languages": []string{"en"},
		"registrations": true, "approval_required": false, "invites_enabled": false,
		"configuration":   map[string]any{"accounts": map[string]any{"max_featured_tags": 0}, "statuses": statuses, "media_attachments": media, "polls": polls},
		"contact_account": nil, "rules": []any{},
	}
	// NodeInfo names the software truthfully; metadata.upstream says whose
	// client API it speaks, which is how clients that detect the server
	// type (megalodon's detector, behind Whalebird) recognise a
	// Mastodon-compatible server that is not Mastodon.
	s.instance.nodeInfo = map[string]any{
		"software":          map[string]any{"name": "starling", "version": starling.Version},
		"protocols":         []string{},
		"services":          map[string]any{"inbound": []string{}, "outbound": []string{}},
		"openRegistrations": true,
		"metadata": map[string]any{
			"nodeName": s.cfg.Title, "nodeDescription": instanceDescription,
			"upstream": map[string]any{"name": "mastodon", "version": mastodonVersion},
			"features": []string{"mastodon_api", "mastodon_api_streaming"},
		},
	}
}

const (
	instanceDescription = "A distributed social platform that speaks the Mastodon API."
	sourceURL           = "https://github.com/starling-social/starling"
)

var noCounts = &counts{}

// instanceDocs returns the instance documents with the current counts,
// rendering them again only when the counts change.
func (s *Server) instanceDocs(ctx context.Context) *instanceDoc {
	s.instanceOnce.Do(s.buildInstance)
	c, ok := s.stats.counts.get(ctx)
	if !ok {
		c = noCounts // no figure yet: the services did not answer
	}
	if d := s.instanceRendered.Load(); d != nil && d.counts == c {
		return d
	}
	d := &instanceDoc{counts: c}
	v2 := maps.Clone(s.instance.v2)
	v2["usage"] = map[string]any{"users": map[string]any{"active_month": c.activeMonth}}
	v1 := maps.Clone(s.instance.v1)
	v1["stats"] = map[string]any{"user_count": c.users, "status_count": c.statuses, "domain_count": 0}
	ni := maps.Clone(s.instance.nodeInfo)
	ni["usage"] = map[string]any{"users": map[string]any{"total": c.users, "activeMonth": c.activeMonth, "activeHalfyear": c.activeHalfyear},
		"localPosts": c.statuses}
	ni["version"] = "2.0"
	d.nodeInfo20, _ = json.Marshal(ni)
	ni["version"] = "2.1"
	sw := maps.Clone(ni["software"].(map[string]any))
	sw["repository"], sw["homepage"] = sourceURL, sourceURL
	ni["software"] = sw
	d.nodeInfo21, _ = json.Marshal(ni)
	d.v1, _ = json.Marshal(v1)
	d.v2, _ = json.Marshal(v2)
	s.instanceRendered.Store(d)
	return d
}

func (s *Server) handleInstanceV2(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	return rawJSON(s.instanceDocs(r.Context()).v2), nil
}

func (s *Server) handleInstanceV1(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	return rawJSON(s.instanceDocs(r.Context()).v1), nil
}

const (
	nodeInfo20 = "http://nodeinfo.diaspora.software/ns/schema/2.0"
	nodeInfo21 = "http://nodeinfo.diaspora.software/ns/schema/2.1"
)

// GET /.well-known/nodeinfo
func (s *Server) handleNodeInfoIndex(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"links": []any{
		map[string]string{"rel": nodeInfo20, "href": s.base + "/nodeinfo/2.0"},
		map[string]string{"rel": nodeInfo21, "href": s.base + "/nodeinfo/2.1"},
	}})
}

// GET /nodeinfo/2.0 and /nodeinfo/2.1
func (s *Server) handleNodeInfo(version string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d := s.instanceDocs(r.Context())
		body, schema := d.nodeInfo20, nodeInfo20
		if version == "2.1" {
			body, schema = d.nodeInfo21, nodeInfo21
		}
		w.Header().Set("Content-Type", `application/json; profile="`+schema+`#"`)
		w.Header().Set("Cache-Control", "public, max-age=1800")
		_, _ = w.Write(body)
	}
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

// emptyList answers the list endpoints where Starling has nothing to list
// (custom emojis, peers, rules, moderated domains, announcements) and those
// it does not implement yet but clients call at start (filters, lists,
// followed tags).
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
