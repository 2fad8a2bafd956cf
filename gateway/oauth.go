package gateway

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"slices"

	"github.com/starling-social/starling"
)

//go:embed assets
var assets embed.FS

var authorizePage = template.Must(template.ParseFS(assets, "assets/authorize.html"))

// oob is the redirect URI that asks for the code to be shown.
const oob = "urn:ietf:wg:oauth:2.0:oob"

const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'"

type authorizeView struct {
	Title, AppName, Error, Fatal, Code              string
	ClientID, RedirectURI, Scope, State             string
	CodeChallenge, CodeChallengeMethod, CSRF, Login string
	Scopes                                          []string
}

func (s *Server) renderAuthorize(w http.ResponseWriter, status int, v authorizeView) {
	v.Title = s.cfg.Title
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = authorizePage.Execute(w, v)
}

const csrfCookie = "starling_csrf"

// GET /oauth/authorize: the sign-in and consent page.
func (s *Server) handleAuthorizeForm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v, ok := s.checkAuthorize(w, r, q)
	if !ok {
		return
	}
	token := make([]byte, 24)
	_, _ = rand.Read(token)
	v.CSRF = base64.RawURLEncoding.EncodeToString(token)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v.CSRF, Path: "/oauth", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.cfg.PublicURL.Scheme == "https"})
	s.renderAuthorize(w, http.StatusOK, v)
}

// checkAuthorize validates the request's client, redirect URI and scopes.
// Problems that make redirecting unsafe are shown on the page itself.
func (s *Server) checkAuthorize(w http.ResponseWriter, r *http.Request, q url.Values) (authorizeView, bool) {
	v := authorizeView{ClientID: q.Get("client_id"), RedirectURI: q.Get("redirect_uri"), Scope: q.Get("scope"), State: q.Get("state"),
		CodeChallenge: q.Get("code_challenge"), CodeChallengeMethod: q.Get("code_challenge_method"), Login: truncate(q.Get("login_hint"), 320)}
	if rt := q.Get("response_type"); rt != "" && rt != "code" {
		v.Fatal = "The authorization server does not support this response type."
		s.renderAuthorize(w, http.StatusBadRequest, v)
		return v, false
	}
	app, err := s.auth.App(r.Context(), v.ClientID)
	if err != nil {
		v.Fatal = "Client authentication failed due to unknown client."
		if starling.ErrorCode(err) != starling.NotFound {
			v.Fatal = starling.ErrorMessage(err)
		}
		s.renderAuthorize(w, httpStatus(starling.ErrorCode(err)), v)
		return v, false
	}
	v.AppName = app.Name
	if v.RedirectURI == "" && len(app.RedirectURIs) == 1 {
		v.RedirectURI = app.RedirectURIs[0]
	}
	if !slices.Contains(app.RedirectURIs, v.RedirectURI) {
		v.Fatal = "The redirect uri included is not valid."
		s.renderAuthorize(w, http.StatusBadRequest, v)
		return v, false
	}
	scopes, err := starling.ParseScopes(v.Scope)
	if err != nil || !scopes.Within(app.Scopes) {
		v.Fatal = "The requested scope is invalid, unknown, or malformed."
		s.renderAuthorize(w, http.StatusBadRequest, v)
		return v, false
	}
	v.Scopes = scopes
	if v.CodeChallenge != "" && v.CodeChallengeMethod != "S256" {
		v.Fatal = "Only the S256 code challenge method is supported."
		s.renderAuthorize(w, http.StatusBadRequest, v)
		return v, false
	}
	return v, true
}

// POST /oauth/authorize: the form's submission.
func (s *Server) handleAuthorizeSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderAuthorize(w, http.StatusBadRequest, authorizeView{Fatal: "Malformed form."})
		return
	}
	f := r.PostForm
	v, ok := s.checkAuthorize(w, r, f)
	if !ok {
		return
	}
	cookie, err := r.Cookie(csrfCookie)
	if err != nil || f.Get("csrf") == "" || subtle.ConstantTimeCompare([]byte(cookie.Value), []byte(f.Get("csrf"))) != 1 {
		v.Fatal = "Your session expired. Go back to the app and try again."
		s.renderAuthorize(w, http.StatusForbidden, v)
		return
	}
	v.CSRF = cookie.Value
	if f.Get("decision") == "deny" {
		s.redirectWith(w, r, v.RedirectURI, url.Values{"error": {"access_denied"}, "error_description": {"The resource owner or authorization server denied the request."}}, v.State)
		return
	}
	if err := s.rateLimit(w, r, access{limit: "signin"}, nil); err != nil {
		v.Error = "Too many attempts. Please wait and try again."
		s.renderAuthorize(w, http.StatusTooManyRequests, v)
		return
	}
	v.Login = f.Get("login")
	scopes, _ := starling.ParseScopes(v.Scope)
	code, err := s.auth.Authorize(r.Context(), starling.AuthorizeRequest{ClientID: v.ClientID, RedirectURI: v.RedirectURI, Scopes: scopes,
		Login: v.Login, Password: starling.Secret(f.Get("password")), CodeChallenge: v.CodeChallenge, CodeChallengeMethod: v.CodeChallengeMethod})
	if err != nil {
		status := httpStatus(starling.ErrorCode(err))
		v.Error = starling.ErrorMessage(err)
		if starling.ErrorCode(err) == starling.Internal {
			s.log.ErrorContext(r.Context(), "authorize", "err", err)
		}
		s.renderAuthorize(w, status, v)
		return
	}
	if v.RedirectURI == oob {
		s.renderAuthorize(w, http.StatusOK, authorizeView{AppName: v.AppName, Code: code.Reveal()})
		return
	}
	s.redirectWith(w, r, v.RedirectURI, url.Values{"code": {code.Reveal()}}, v.State)
}

func (s *Server) redirectWith(w http.ResponseWriter, r *http.Request, redirectURI string, q url.Values, state string) {
	if redirectURI == oob {
		s.renderAuthorize(w, http.StatusForbidden, authorizeView{Fatal: "Authorization was denied."})
		return
	}
	if state != "" {
		q.Set("state", state)
	}
	u, err := url.Parse(redirectURI)
	if err != nil {
		s.renderAuthorize(w, http.StatusBadRequest, authorizeView{Fatal: "The redirect uri included is not valid."})
		return
	}
	existing := u.Query()
	for k, vs := range q {
		existing[k] = vs
	}
	u.RawQuery = existing.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// POST /oauth/token
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	p, err := parseParams(w, r, 0)
	if err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	if err := s.rateLimit(w, r, access{limit: "signin"}, nil); err != nil {
		s.writeError(w, r, err)
		return
	}
	clientID, secret := p.Get("client_id"), p.Get("client_secret")
	if u, pw, ok := r.BasicAuth(); ok {
		clientID, secret = u, pw
	}
	var scopes starling.Scopes
	if sc := p.Get("scope"); sc != "" {
		if scopes, err = starling.ParseScopes(sc); err != nil {
			s.writeOAuthError(w, r, err)
			return
		}
	}
	tok, err := s.auth.Token(r.Context(), starling.TokenRequest{GrantType: p.Get("grant_type"), ClientID: clientID, ClientSecret: starling.Secret(secret),
		Code: starling.Secret(p.Get("code")), RedirectURI: p.Get("redirect_uri"), CodeVerifier: starling.Secret(p.Get("code_verifier")),
		Username: p.Get("username"), Password: starling.Secret(p.Get("password")), Scopes: scopes})
	if err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, issuedTokenJSON(tok))
}

// POST /oauth/revoke
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	p, err := parseParams(w, r, 0)
	if err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	clientID, secret := p.Get("client_id"), p.Get("client_secret")
	if u, pw, ok := r.BasicAuth(); ok {
		clientID, secret = u, pw
	}
	if p.Get("token") == "" {
		s.writeOAuthError(w, r, &starling.Error{Code: starling.Invalid, Reason: "invalid_request", Message: "The request is missing a required parameter: token."})
		return
	}
	err = s.auth.Revoke(r.Context(), starling.RevokeRequest{ClientID: clientID, ClientSecret: starling.Secret(secret), Token: starling.Secret(p.Get("token"))})
	if err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	writeRaw(w, http.StatusOK, []byte("{}"))
}

// GET /.well-known/oauth-authorization-server (RFC 8414)
func (s *Server) handleOAuthMetadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.base + "/",
		"authorization_endpoint":                s.base + "/oauth/authorize",
		"token_endpoint":                        s.base + "/oauth/token",
		"revocation_endpoint":                   s.base + "/oauth/revoke",
		"app_registration_endpoint":             s.base + "/api/v1/apps",
		"scopes_supported":                      allScopes(),
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{"authorization_code", "password", "client_credentials"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":      []string{"S256"},
		"service_documentation":                 "https://docs.joinmastodon.org/",
	})
}

func allScopes() []string {
	out := []string{"read", "write", "follow", "push", "profile"}
	for _, k := range []string{"accounts", "blocks", "bookmarks", "favourites", "filters", "follows", "lists", "mutes", "notifications", "search", "statuses"} {
		out = append(out, "read:"+k)
	}
	for _, k := range []string{"accounts", "blocks", "bookmarks", "conversations", "favourites", "filters", "follows", "lists", "media", "mutes", "notifications", "reports", "statuses"} {
		out = append(out, "write:"+k)
	}
	return out
}
