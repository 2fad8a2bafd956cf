package gateway

import (
	"strings"
	"time"

	"github.com/starling-social/starling"
)

// Mastodon API entities, converted from domain values in one place.

// apiTime formats datetimes the way Mastodon does (milliseconds, Z).
func apiTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

type accountJSON struct {
	ID              starling.ID `json:"id"`
	Username        string      `json:"username"`
	Acct            string      `json:"acct"`
	DisplayName     string      `json:"display_name"`
	Locked          bool        `json:"locked"`
	Bot             bool        `json:"bot"`
	Discoverable    bool        `json:"discoverable"`
	Indexable       bool        `json:"indexable"`
	Group           bool        `json:"group"`
	CreatedAt       string      `json:"created_at"`
	Note            string      `json:"note"`
	URL             string      `json:"url"`
	URI             string      `json:"uri"`
	Avatar          string      `json:"avatar"`
	AvatarStatic    string      `json:"avatar_static"`
	Header          string      `json:"header"`
	HeaderStatic    string      `json:"header_static"`
	FollowersCount  int64       `json:"followers_count"`
	FollowingCount  int64       `json:"following_count"`
	StatusesCount   int64       `json:"statuses_count"`
	LastStatusAt    *string     `json:"last_status_at"`
	HideCollections *bool       `json:"hide_collections"`
	Noindex         bool        `json:"noindex"`
	Emojis          []struct{}  `json:"emojis"`
	Roles           []struct{}  `json:"roles"`
	Fields          []struct{}  `json:"fields"`
	AvatarDesc      string      `json:"avatar_description"`
	HeaderDesc      string      `json:"header_description"`
}

type credentialAccountJSON struct {
	accountJSON
	Source sourceJSON `json:"source"`
	Role   roleJSON   `json:"role"`
}

type sourceJSON struct {
	Note                string     `json:"note"`
	Fields              []struct{} `json:"fields"`
	Privacy             string     `json:"privacy"`
	Sensitive           bool       `json:"sensitive"`
	Language            string     `json:"language"`
	FollowRequestsCount int64      `json:"follow_requests_count"`
	HideCollections     *bool      `json:"hide_collections"`
	Discoverable        bool       `json:"discoverable"`
	Indexable           bool       `json:"indexable"`
	AttributionDomains  []string   `json:"attribution_domains"`
	QuotePolicy         string     `json:"quote_policy"`
}

type roleJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Color       string `json:"color"`
	Permissions string `json:"permissions"`
	Highlighted bool   `json:"highlighted"`
}

var noStructs = []struct{}{}

func (s *Server) accountJSON(a *starling.Account) accountJSON {
	created := a.CreatedAt.UTC().Truncate(24 * time.Hour)
	j := accountJSON{
		ID: a.ID, Username: a.Username, Acct: a.Username, DisplayName: a.DisplayName,
		Locked: a.Locked, Bot: a.Bot, Discoverable: a.Discoverable, Indexable: false,
		CreatedAt: apiTime(created), Note: a.NoteHTML,
		URL: s.base + "/@" + a.Username, URI: s.base + "/users/" + a.Username,
		Avatar: s.base + defaultAvatarPath, AvatarStatic: s.base + defaultAvatarPath,
		Header: s.base + defaultHeaderPath, HeaderStatic: s.base + defaultHeaderPath,
		FollowersCount: a.FollowersCount, FollowingCount: a.FollowingCount, StatusesCount: a.StatusesCount,
		Emojis: noStructs, Roles: noStructs, Fields: noStructs,
	}
	if a.LastStatusAt != nil {
		d := a.LastStatusAt.UTC().Format("2006-01-02")
		j.LastStatusAt = &d
	}
	return j
}

func (s *Server) credentialAccountJSON(a *starling.Account, followRequests int64) credentialAccountJSON {
	privacy := string(a.Privacy)
	if privacy == "" {
		privacy = string(starling.Public)
	}
	return credentialAccountJSON{
		accountJSON: s.accountJSON(a),
		Source: sourceJSON{Note: a.Note, Fields: noStructs, Privacy: privacy, Sensitive: a.Sensitive, Language: a.Language,
			FollowRequestsCount: followRequests, Discoverable: a.Discoverable, AttributionDomains: []string{}, QuotePolicy: "public"},
		Role: roleJSON{ID: "-99", Name: "", Color: "", Permissions: "0"},
	}
}

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
