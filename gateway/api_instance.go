package gateway

import (
	"net/http"
	"strconv"
	"time"

	"github.com/starling-social/starling"
)

// The small instance endpoints clients call besides /api/v{1,2}/instance.
// Where Starling has nothing to list (it does not federate, has no rules or
// moderated domains, no translation), they answer Mastodon's empty form
// rather than 404, so clients show an empty page instead of an error.

// startedAt dates the extended description: it is the binary's, so it
// changes only when the node restarts.
var startedAt = time.Now().UTC()

// GET /api/v1/instance/activity: the last 12 weeks, the current one
// first. "logins" counts the accounts that posted that week: Starling does
// not record sign-ins.
func (s *Server) handleInstanceActivity(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	weeks, ok := s.stats.activity.get(r.Context())
	if !ok {
		return nil, starling.Unavailablef(5*time.Second, "Statistics are not available yet")
	}
	out := make([]map[string]string, len(weeks))
	for i, wk := range weeks {
		out[i] = map[string]string{
			"week": strconv.FormatInt(wk.start.Unix(), 10), "statuses": strconv.FormatInt(wk.statuses, 10),
			"logins": strconv.FormatInt(wk.posters, 10), "registrations": strconv.FormatInt(wk.registrations, 10),
		}
	}
	return out, nil
}

// GET /api/v1/instance/extended_description
func (s *Server) handleExtendedDescription(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	return map[string]string{"updated_at": apiTime(startedAt), "content": "<p>" + instanceDescription + "</p>"}, nil
}

// GET /api/v1/instance/translation_languages: no translation engine.
func (s *Server) emptyObject(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	return rawJSON("{}"), nil
}
