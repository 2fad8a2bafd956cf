package gateway

import (
	"net/http"
	"strings"

	"github.com/starling-social/starling"
)

// POST /api/v1/apps
func (s *Server) handleCreateApp(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	uris := c.p.List("redirect_uris")
	if len(uris) == 1 {
		uris = strings.FieldsFunc(uris[0], func(r rune) bool { return r == '\n' || r == ' ' || r == '\r' || r == '\t' })
	}
	scopes, err := starling.ParseScopes(c.p.Get("scopes"))
	if err != nil {
		return nil, err
	}
	if c.p.Get("client_name") == "" {
		return nil, &starling.Error{Code: starling.Invalid, Message: "Validation failed: Application name can't be blank"}
	}
	app, err := s.auth.CreateApp(r.Context(), starling.NewApp{Name: c.p.Get("client_name"), Website: c.p.Get("website"), RedirectURIs: uris, Scopes: scopes})
	if err != nil {
		return nil, err
	}
	return credentialApplicationJSON{applicationJSON: appJSON(&app.App), ClientID: app.ClientID, ClientSecret: app.ClientSecret.Reveal()}, nil
}

// GET /api/v1/apps/verify_credentials
func (s *Server) handleVerifyApp(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	app, err := s.auth.App(r.Context(), c.grant.ClientID)
	if err != nil {
		return nil, err
	}
	j := appJSON(app)
	j.Scopes = c.grant.Scopes
	return j, nil
}

// POST /api/v1/accounts
func (s *Server) handleSignUp(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	agreement, err := c.p.Bool("agreement", false)
	if err != nil {
		return nil, err
	}
	tok, err := s.auth.SignUp(r.Context(), c.grant, starling.SignUpRequest{
		Username: c.p.Get("username"), Email: c.p.Get("email"), Password: starling.Secret(c.p.Get("password")),
		Agreement: agreement, Locale: c.p.Get("locale"), Reason: c.p.Get("reason"),
	})
	if err != nil {
		return nil, err
	}
	return issuedTokenJSON(tok), nil
}

// GET /api/v1/accounts/verify_credentials
func (s *Server) handleVerifyCredentials(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	return s.credentialAccount(r, c.viewer())
}

// credentialAccount renders the signed-in account with its source and the
// number of pending follow requests.
func (s *Server) credentialAccount(r *http.Request, id starling.ID) (any, error) {
	a, err := s.account(r, id)
	if err != nil {
		return nil, err
	}
	reqs, err := s.feed.FollowRequests(r.Context(), id, starling.Page{Limit: 80})
	if err != nil {
		return nil, err
	}
	return rawJSON(s.render.appendCredentialAccount(nil, a, int64(len(reqs.Accounts)))), nil
}

// GET /api/v1/accounts/{id}
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	a, err := s.account(r, id)
	if err != nil {
		return nil, err
	}
	return rawJSON(s.render.appendAccount(nil, a)), nil
}

// GET /api/v1/accounts/lookup
func (s *Server) handleLookup(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	acct := c.p.Get("acct")
	if acct == "" {
		return nil, badRequest("Missing parameter: acct")
	}
	// Local accounts only: "user" or "user@<this host>".
	if name, domain, ok := strings.Cut(strings.TrimPrefix(acct, "@"), "@"); ok {
		if domain != s.cfg.PublicURL.Hostname() && domain != s.host {
			return nil, errNotFound
		}
		acct = name
	}
	a, err := s.auth.LookupAccount(r.Context(), acct)
	if err != nil {
		return nil, err
	}
	a, err = s.account(r, a.ID)
	if err != nil {
		return nil, err
	}
	return rawJSON(s.render.appendAccount(nil, a)), nil
}

// account loads a profile with its counters.
func (s *Server) account(r *http.Request, id starling.ID) (*starling.Account, error) {
	as, err := s.feed.Accounts(r.Context(), []starling.ID{id})
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, errNotFound
	}
	return as[0], nil
}

// pathID parses an ID path parameter; a malformed one is a 404, as an
// unknown record would be.
func pathID(r *http.Request, name string) (starling.ID, error) {
	id, err := starling.ParseID(r.PathValue(name))
	if err != nil {
		return 0, errNotFound
	}
	return id, nil
}

// GET/POST /api/v1/markers
func (s *Server) handleGetMarkers(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	timelines := c.p.List("timeline")
	if len(timelines) == 0 {
		timelines = []string{"home", "notifications"}
	}
	ms, err := s.notify.Markers(r.Context(), c.viewer(), timelines)
	if err != nil {
		return nil, err
	}
	return markersJSON(ms), nil
}

func (s *Server) handleSaveMarkers(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	pos := map[string]starling.ID{}
	for _, tl := range []string{"home", "notifications"} {
		v := c.p.Get(tl + "[last_read_id]")
		if v == "" {
			continue
		}
		id, err := starling.ParseID(v)
		if err != nil {
			return nil, badRequest("Invalid last_read_id for %s", tl)
		}
		pos[tl] = id
	}
	if len(pos) == 0 {
		return nil, badRequest("Missing parameter: home[last_read_id] or notifications[last_read_id]")
	}
	ms, err := s.notify.SaveMarkers(r.Context(), c.viewer(), pos)
	if err != nil {
		return nil, err
	}
	return markersJSON(ms), nil
}
