package gateway

import (
	"context"
	"io/fs"
	"net/http"
	"sync"
	"time"

	"github.com/starling-social/starling"
)

// Scopes per kind of endpoint: a token must hold the parent scope or one of
// these granular ones.
var (
	readAccounts  = []string{"read:accounts", "profile"}
	writeAccounts = []string{"write:accounts"}
	readStatuses  = []string{"read:statuses"}
	writeStatuses = []string{"write:statuses"}
	readFollows   = []string{"read:follows"}
	writeFollows  = []string{"write:follows"}
	writeFavs     = []string{"write:favourites"}
	readNotifs    = []string{"read:notifications"}
	writeNotifs   = []string{"write:notifications"}
	writeMedia    = []string{"write:media"}
)

// routes lists the whole HTTP surface of a node.
func (s *Server) routes(mux *http.ServeMux) {
	read := func(scopes []string) access { return access{user: true, scopes: scopes} }
	write := func(scopes []string) access { return access{user: true, scopes: scopes, class: "write"} }
	public := access{}
	optional := func(scopes []string) access { return access{scopes: scopes} }

	// Operations.
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /livez", s.handleHealth)
	mux.HandleFunc("GET /health", plainOK) // Mastodon's
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.Handle("GET /metrics", s.tel.Metrics.Handler())

	// OAuth 2.
	mux.Handle("GET /oauth/authorize", s.shedOnly("auth", s.handleAuthorizeForm))
	mux.Handle("POST /oauth/authorize", s.shedOnly("auth", s.handleAuthorizeSubmit))
	mux.Handle("POST /oauth/token", s.shedOnly("auth", s.handleToken))
	mux.Handle("POST /oauth/revoke", s.shedOnly("auth", s.handleRevoke))
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.handleOAuthMetadata)
	mux.Handle("GET /oauth/style.css", staticFile("assets/oauth.css", "text/css; charset=utf-8"))

	// Apps and accounts.
	mux.Handle("POST /api/v1/apps", s.api(access{class: "auth"}, s.handleCreateApp))
	mux.Handle("GET /api/v1/apps/verify_credentials", s.api(access{token: true}, s.handleVerifyApp))
	mux.Handle("POST /api/v1/accounts", s.api(access{token: true, scopes: writeAccounts, class: "auth", limit: "signup"}, s.handleSignUp))
	mux.Handle("GET /api/v1/accounts/verify_credentials", s.api(read(readAccounts), s.handleVerifyCredentials))
	profile := access{user: true, scopes: writeAccounts, class: "write", upload: 2*s.media.Limits().ImageBytes + 1<<20}
	mux.Handle("PATCH /api/v1/accounts/update_credentials", s.api(profile, s.handleUpdateCredentials))
	mux.Handle("DELETE /api/v1/profile/avatar", s.api(write(writeAccounts), s.handleDeleteProfileImage(starling.MediaAvatar)))
	mux.Handle("DELETE /api/v1/profile/header", s.api(write(writeAccounts), s.handleDeleteProfileImage(starling.MediaHeader)))
	mux.Handle("GET /api/v1/accounts/lookup", s.api(optional(readAccounts), s.handleLookup))
	mux.Handle("GET /api/v1/accounts/{id}", s.api(optional(readAccounts), s.handleAccount))
	mux.Handle("GET /api/v1/accounts/{id}/statuses", s.api(optional(readStatuses), s.handleAccountStatuses))
	mux.Handle("GET /api/v1/accounts/{id}/followers", s.api(optional(readAccounts), s.accountList(byID(s.feed.Followers))))
	mux.Handle("GET /api/v1/accounts/{id}/following", s.api(optional(readAccounts), s.accountList(byID(s.feed.Following))))
	mux.Handle("POST /api/v1/accounts/{id}/follow", s.api(write(writeFollows), s.handleFollow))
	mux.Handle("POST /api/v1/accounts/{id}/unfollow", s.api(write(writeFollows), s.handleUnfollow))
	mux.Handle("GET /api/v1/accounts/relationships", s.api(read(readFollows), s.handleRelationships))
	mux.Handle("GET /api/v1/follow_requests", s.api(read(readFollows), s.accountList(func(r *http.Request, c *call, p starling.Page) (*starling.AccountPage, error) {
		return s.feed.FollowRequests(r.Context(), c.viewer(), p)
	})))
	mux.Handle("POST /api/v1/follow_requests/{id}/authorize", s.api(write(writeFollows), s.handleFollowRequestDecision(true)))
	mux.Handle("POST /api/v1/follow_requests/{id}/reject", s.api(write(writeFollows), s.handleFollowRequestDecision(false)))

	// Statuses and timelines.
	mux.Handle("POST /api/v1/statuses", s.api(write(writeStatuses), s.handleCreateStatus))
	mux.Handle("GET /api/v1/statuses/{id}", s.api(optional(readStatuses), s.statusAction(s.feed.Status)))
	mux.Handle("PUT /api/v1/statuses/{id}", s.api(write(writeStatuses), s.handleEditStatus))
	mux.Handle("DELETE /api/v1/statuses/{id}", s.api(access{user: true, scopes: writeStatuses, class: "write", limit: "delete"}, s.handleDeleteStatus))
	mux.Handle("GET /api/v1/statuses/{id}/context", s.api(optional(readStatuses), s.handleContext))
	mux.Handle("POST /api/v1/statuses/{id}/favourite", s.api(write(writeFavs), s.statusAction(s.feed.Favourite)))
	mux.Handle("POST /api/v1/statuses/{id}/unfavourite", s.api(write(writeFavs), s.statusAction(s.feed.Unfavourite)))
	mux.Handle("POST /api/v1/statuses/{id}/reblog", s.api(write(writeStatuses), s.handleReblog))
	mux.Handle("POST /api/v1/statuses/{id}/unreblog", s.api(access{user: true, scopes: writeStatuses, class: "write", limit: "delete"}, s.statusAction(s.feed.Unreblog)))
	mux.Handle("GET /api/v1/statuses/{id}/favourited_by", s.api(optional(readAccounts), s.accountList(byID(s.feed.FavouritedBy))))
	mux.Handle("GET /api/v1/statuses/{id}/reblogged_by", s.api(optional(readAccounts), s.accountList(byID(s.feed.RebloggedBy))))
	mux.Handle("GET /api/v1/timelines/home", s.api(read(readStatuses), s.handleHome))
	mux.Handle("GET /api/v1/timelines/public", s.api(optional(readStatuses), s.handlePublic))
	mux.Handle("GET /api/v1/timelines/tag/{hashtag}", s.api(optional(readStatuses), s.handleTag))

	// Notifications and streaming.
	mux.Handle("GET /api/v1/notifications", s.api(read(readNotifs), s.handleNotifications))
	mux.Handle("GET /api/v1/notifications/unread_count", s.api(read(readNotifs), s.handleUnreadCount))
	mux.Handle("POST /api/v1/notifications/clear", s.api(write(writeNotifs), s.handleClear))
	mux.Handle("GET /api/v1/notifications/{id}", s.api(read(readNotifs), s.handleNotification))
	mux.Handle("POST /api/v1/notifications/{id}/dismiss", s.api(write(writeNotifs), s.handleDismiss))
	mux.Handle("GET /api/v1/streaming", s.shedOnly("read", s.handleStreaming))
	mux.Handle("GET /api/v1/streaming/{channel...}", s.shedOnly("read", s.handleSSE))
	mux.HandleFunc("GET /api/v1/streaming/health", plainOK)

	// Media.
	upload := access{user: true, scopes: writeMedia, class: "media", limit: "media", upload: s.uploadLimit()}
	mux.Handle("POST /api/v1/media", s.api(upload, s.handleUpload(uploadWaitV1)))
	mux.Handle("POST /api/v2/media", s.api(upload, s.handleUpload(uploadWaitV2)))
	mux.Handle("GET /api/v1/media/{id}", s.api(read(writeMedia), s.handleGetMedia))
	mux.Handle("PUT /api/v1/media/{id}", s.api(write(writeMedia), s.handleUpdateMedia))
	mux.Handle("DELETE /api/v1/media/{id}", s.api(write(writeMedia), s.handleDeleteMedia))
	mux.HandleFunc("GET /media/{id}/{name}", s.handleMediaFile)

	// Markers.
	mux.Handle("GET /api/v1/markers", s.api(read(readStatuses), s.handleGetMarkers))
	mux.Handle("POST /api/v1/markers", s.api(write(writeStatuses), s.handleSaveMarkers))

	// Instance and client bootstrap.
	mux.Handle("GET /api/v1/instance", s.api(public, s.handleInstanceV1))
	mux.Handle("GET /api/v2/instance", s.api(public, s.handleInstanceV2))
	mux.Handle("GET /api/v1/instance/activity", s.api(public, s.handleInstanceActivity))
	mux.Handle("GET /api/v1/instance/extended_description", s.api(public, s.handleExtendedDescription))
	mux.Handle("GET /api/v1/instance/translation_languages", s.api(public, s.emptyObject))
	mux.Handle("GET /api/v1/instance/peers", s.api(public, s.emptyList))
	mux.Handle("GET /api/v1/instance/rules", s.api(public, s.emptyList))
	mux.Handle("GET /api/v1/instance/domain_blocks", s.api(public, s.emptyList))
	mux.HandleFunc("GET /.well-known/nodeinfo", s.handleNodeInfoIndex)
	mux.HandleFunc("GET /nodeinfo/2.0", s.handleNodeInfo("2.0"))
	mux.HandleFunc("GET /nodeinfo/2.1", s.handleNodeInfo("2.1"))
	mux.Handle("GET /api/v1/preferences", s.api(read(readAccounts), s.handlePreferences))
	mux.Handle("GET /api/v1/custom_emojis", s.api(public, s.emptyList))
	mux.Handle("GET /api/v1/filters", s.api(read([]string{"read:filters"}), s.emptyList))
	mux.Handle("GET /api/v2/filters", s.api(read([]string{"read:filters"}), s.emptyList))
	mux.Handle("GET /api/v1/lists", s.api(read([]string{"read:lists"}), s.emptyList))
	mux.Handle("GET /api/v1/announcements", s.api(read(readAccounts), s.emptyList))
	mux.Handle("GET /api/v1/followed_tags", s.api(read(readFollows), s.emptyList))
	mux.HandleFunc("GET "+defaultAvatarPath, servePNG(avatarPNG))
	mux.HandleFunc("GET "+defaultHeaderPath, servePNG(headerPNG))
	mux.HandleFunc("GET "+instanceThumbnailPth, servePNG(headerPNG))

	// The web client.
	s.routesWeb(mux)

	// Anything else under /api is an unknown record.
	mux.Handle("/api/", s.api(public, func(http.ResponseWriter, *http.Request, *call) (any, error) {
		return nil, errNotFound
	}))
}

// uploadLimit is the largest multipart body an upload may send.
func (s *Server) uploadLimit() int64 {
	l := s.media.Limits()
	return max(l.ImageBytes, l.VideoBytes) + 1<<20
}

// plainOK answers Mastodon's health checks (/health and
// /api/v1/streaming/health): "OK" while the process is alive.
func plainOK(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("OK"))
}

// handleHealth answers while the process is alive (GET /healthz, and
// GET /livez, the name liveness probes expect): always 200, also while the
// node is unready or draining, so that a liveness probe never kills a node
// that is only waiting for the cluster.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeRaw(w, http.StatusOK, []byte(`{"status":"ok"}`))
}

// handleReady answers 200 when the engine and every service answer.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready == nil {
		writeRaw(w, http.StatusOK, []byte(`{"status":"ready"}`))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.cfg.Ready(ctx); err != nil {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
		return
	}
	writeRaw(w, http.StatusOK, []byte(`{"status":"ready"}`))
}

// shedOnly applies a route class's in-flight cap to a plain handler. A
// request that upgrades the connection (streaming) holds its slot only until
// the upgrade: the socket itself is bounded by the streaming limits.
func (s *Server) shedOnly(class string, h http.HandlerFunc) http.Handler {
	ic := s.shed[class]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ic.acquire(w) {
			return
		}
		release := sync.OnceFunc(ic.release)
		defer release()
		onHijack(w, release)
		h(w, r)
	})
}

func staticFile(name, contentType string) http.Handler {
	b, err := fs.ReadFile(assets, name)
	if err != nil {
		panic(err) // embedded at build time
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(b)
	})
}
