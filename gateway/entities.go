package gateway

import (
	"strings"
	"time"

	"github.com/starling-social/starling"
)

// Mastodon API entities, converted from domain values in one place.

// apiTime formats datetimes the way Mastodon does (milliseconds, Z).
func apiTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

type applicationJSON struct {
	ID           starling.ID `json:"id"`
	Name         string      `json:"name"`
	Website      *string     `json:"website"`
	Scopes       []string    `json:"scopes"`
	RedirectURIs []string    `json:"redirect_uris"`
	RedirectURI  string      `json:"redirect_uri"`
	VapidKey     string      `json:"vapid_key"`
}

type credentialApplicationJSON struct {
	applicationJSON
	ClientID              string `json:"client_id"`
	ClientSecret          string `json:"client_secret"`
	ClientSecretExpiresAt int    `json:"client_secret_expires_at"`
}

func appJSON(a *starling.App) applicationJSON {
	j := applicationJSON{ID: a.ID, Name: a.Name, Scopes: a.Scopes, RedirectURIs: a.RedirectURIs, RedirectURI: strings.Join(a.RedirectURIs, "\n")}
	if a.Website != "" {
		w := a.Website
		j.Website = &w
	}
	if j.Scopes == nil {
		j.Scopes = []string{}
	}
	return j
}

type tokenJSON struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	Scope       string `json:"scope"`
	CreatedAt   int64  `json:"created_at"`
}

func issuedTokenJSON(t *starling.IssuedToken) tokenJSON {
	return tokenJSON{AccessToken: t.AccessToken.Reveal(), TokenType: "Bearer", Scope: t.Scopes.String(), CreatedAt: t.CreatedAt.Unix()}
}

type markerJSON struct {
	LastReadID starling.ID `json:"last_read_id"`
	Version    int64       `json:"version"`
	UpdatedAt  string      `json:"updated_at"`
}

// markersJSON renders markers by timeline. A marker never saved (version
// 0) is left out, as Mastodon leaves out timelines without a marker.
func markersJSON(ms []starling.Marker) map[string]markerJSON {
	out := map[string]markerJSON{}
	for _, m := range ms {
		if m.Version == 0 {
			continue
		}
		out[m.Timeline] = markerJSON{LastReadID: m.LastReadID, Version: m.Version, UpdatedAt: apiTime(m.UpdatedAt)}
	}
	return out
}
