package gateway

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/starling-social/starling"
)

// page reads Mastodon's cursor parameters.
func (c *call) page() (starling.Page, error) {
	var p starling.Page
	var err error
	if p.MaxID, err = c.cursor("max_id"); err != nil {
		return p, err
	}
	if p.SinceID, err = c.cursor("since_id"); err != nil {
		return p, err
	}
	if p.MinID, err = c.cursor("min_id"); err != nil {
		return p, err
	}
	if p.Limit, err = c.p.Int("limit", 0); err != nil {
		return p, err
	}
	if p.Limit < 0 {
		return p, badRequest("limit must not be negative")
	}
	return p, nil
}

// cursor parses a cursor; an unparseable one is ignored, as Mastodon does.
func (c *call) cursor(name string) (starling.ID, error) {
	v := c.p.Get(name)
	if v == "" {
		return 0, nil
	}
	id, err := starling.ParseID(v)
	if err != nil {
		return 0, nil
	}
	return id, nil
}

// setLink sets the Link header of a page: next pages back from the oldest
// item (max_id), prev pages forward from the newest (prevParam: min_id for
// statuses, since_id for account lists). The request's other parameters are
// carried over. Nothing is set for an empty page; next is left out when
// hasNext is false.
func (s *Server) setLink(w http.ResponseWriter, r *http.Request, newest, oldest starling.ID, prevParam string, hasNext bool) {
	if newest == 0 && oldest == 0 {
		return
	}
	q := r.URL.Query()
	for _, k := range []string{"max_id", "min_id", "since_id", "access_token"} {
		q.Del(k)
	}
	build := func(param string, id starling.ID) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set(param, id.String())
		return "<" + s.base + r.URL.Path + "?" + strings.ReplaceAll(v.Encode(), ",", "%2C") + ">"
	}
	var parts []string
	if hasNext {
		parts = append(parts, build("max_id", oldest)+`; rel="next"`)
	}
	parts = append(parts, build(prevParam, newest)+`; rel="prev"`)
	w.Header().Set("Link", strings.Join(parts, ", "))
}

// statusPage writes a list of statuses with its Link header.
func (s *Server) statusPage(w http.ResponseWriter, r *http.Request, sts []*starling.Status) (any, error) {
	if len(sts) > 0 {
		s.setLink(w, r, sts[0].ID, sts[len(sts)-1].ID, "min_id", true)
	}
	return s.render.statusListPooled(sts), nil
}

// accountPage writes a page of a relationship list with its Link header.
func (s *Server) accountPage(w http.ResponseWriter, r *http.Request, pg *starling.AccountPage, limit int) (any, error) {
	if n := len(pg.Cursors); n > 0 {
		s.setLink(w, r, pg.Cursors[0], pg.Cursors[n-1], "since_id", n >= limit)
	}
	return rawJSON(s.render.accountList(pg.Accounts)), nil
}

// accountsLimit is the clamped page size of account lists.
func accountsLimit(p starling.Page) int {
	l := p.Limit
	if l == 0 {
		return 40
	}
	return min(l, 80)
}
