// Package auth is Starling's Auth service: accounts, credentials, OAuth 2
// applications and tokens. Its data is consistent (CP): everything lives in
// the partitioned "auth" table, uniqueness comes from the engine's
// compare-and-set, and reads go to each partition's stream leader.
//
// Keys (partitioned by their second token):
//
//	acct.<id>          profile
//	cred.<id>          e-mail and argon2id password hash
//	name.<username>    claim of a lower-cased username -> account id
//	email.<sha256>     claim of a lower-cased e-mail address -> account id
//	app.<client_id>    OAuth application (client secret stored hashed)
//	token.<sha256>     access token (stored hashed) -> grant
//	code.<sha256>      authorization code (hashed, single use, 10 minutes)
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/telemetry"
)

// codeTTL is how long an authorization code can be exchanged.
const codeTTL = 10 * time.Minute

// claimTakeover is how old a username or e-mail claim whose account was
// never written must be before a new sign-up may take it over. It covers a
// sign-up that crashed between claiming and writing the account.
const claimTakeover = time.Minute

// Renderer turns a bio's plain text into safe HTML.
type Renderer func(text string) string

// Service is the local implementation of starling.AuthService.
type Service struct {
	tab     *engine.Table
	ids     *engine.IDs
	nc      *nats.Conn
	tel     *telemetry.Telemetry
	log     *slog.Logger
	render  Renderer
	evictor *evictor
	now     func() time.Time
}

var _ starling.AuthService = (*Service)(nil)

// Config holds the Service's dependencies.
type Config struct {
	Engine    *engine.Engine
	IDs       *engine.IDs
	Telemetry *telemetry.Telemetry
	// RenderNote renders bios; nil escapes them as plain text.
	RenderNote Renderer
}

// New creates the auth table if needed and starts the service's background
// work (the token-cache lease). Close stops it.
func New(ctx context.Context, cfg Config) (*Service, error) {
	tab, err := cfg.Engine.Table(ctx, engine.TableConfig{Name: "auth", MaxValueSize: 16 << 10})
	if err != nil {
		return nil, err
	}
	render := cfg.RenderNote
	if render == nil {
		render = plainHTML
	}
	s := &Service{
		tab: tab, ids: cfg.IDs, nc: cfg.Engine.Conn(), tel: cfg.Telemetry,
		log: cfg.Telemetry.Log.With("service", "auth"), render: render, now: time.Now,
	}
	s.evictor, err = startEvictor(cfg.Engine, s.log)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Close stops the service's background work.
func (s *Service) Close() { s.evictor.close() }

// Records as stored in the engine.
type (
	accountRecord = starling.Account

	credRecord struct {
		Email        string `json:"email"`
		PasswordHash string `json:"password_hash"`
	}
	claimRecord struct {
		AccountID starling.ID `json:"account_id"`
		At        time.Time   `json:"at"`
	}
	appRecord struct {
		starling.App
		SecretHash string `json:"secret_hash"`
	}
	tokenRecord struct {
		AccountID  starling.ID     `json:"account_id,omitempty"`
		AppID      starling.ID     `json:"app_id"`
		ClientID   string          `json:"client_id"`
		AppName    string          `json:"app_name"`
		AppWebsite string          `json:"app_website,omitempty"`
		Scopes     starling.Scopes `json:"scopes"`
		CreatedAt  time.Time       `json:"created_at"`
	}
	codeRecord struct {
		AccountID     starling.ID     `json:"account_id"`
		ClientID      string          `json:"client_id"`
		RedirectURI   string          `json:"redirect_uri"`
		Scopes        starling.Scopes `json:"scopes"`
		Challenge     string          `json:"challenge,omitempty"`
		ChallengeMeth string          `json:"challenge_method,omitempty"`
	}
)

func acctKey(id starling.ID) string  { return "acct." + id.String() }
func credKey(id starling.ID) string  { return "cred." + id.String() }
func nameKey(u string) string        { return "name." + strings.ToLower(u) }
func emailKey(e string) string       { return "email." + hashHex(strings.ToLower(e)) }
func appKey(clientID string) string  { return "app." + clientID }
func tokenKey(tokHash string) string { return "token." + tokHash }
func codeKey(c starling.Secret) string {
	return "code." + hashHex(c.Reveal())
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// newSecret returns 256 random bits as unpadded base64url: a valid HTTP
// token (no '=', '/' or '+'), so it also works as a WebSocket subprotocol.
func newSecret() starling.Secret {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return starling.Secret(base64.RawURLEncoding.EncodeToString(b))
}

func (s *Service) get(ctx context.Context, key string, v any) (uint64, error) {
	ent, err := s.tab.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(ent.Value, v); err != nil {
		return 0, starling.Wrap(starling.Internal, "", fmt.Errorf("decode %s: %w", key, err))
	}
	return ent.Revision, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err)) // records are plain structs
	}
	return b
}

// CreateApp registers an application.
func (s *Service) CreateApp(ctx context.Context, in starling.NewApp) (*starling.AppCredentials, error) {
	ctx, span := s.tel.Tracer.Start(ctx, "auth.CreateApp")
	defer span.End()
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "":
		return nil, &starling.Error{Code: starling.Invalid, Message: "Validation failed: Application name can't be blank"}
	case len(name) > maxAppName:
		return nil, &starling.Error{Code: starling.Invalid, Message: "Validation failed: Application name is too long"}
	case len(in.Website) > maxWebsite:
		return nil, &starling.Error{Code: starling.Invalid, Message: "Validation failed: Website is too long"}
	case len(in.RedirectURIs) == 0:
		return nil, &starling.Error{Code: starling.Invalid, Message: "Validation failed: Redirect URI can't be blank"}
	case len(in.RedirectURIs) > maxRedirectURIs:
		return nil, &starling.Error{Code: starling.Invalid, Message: "Validation failed: too many redirect URIs"}
	}
	for _, u := range in.RedirectURIs {
		if !checkRedirectURI(u) {
			return nil, &starling.Error{Code: starling.Invalid, Message: "Validation failed: Redirect URI must be an absolute URI."}
		}
	}
	scopes := in.Scopes
	if len(scopes) == 0 {
		scopes = starling.Scopes{"read"}
	}
	id, err := s.ids.Next()
	if err != nil {
		return nil, err
	}
	secret := newSecret()
	clientID := strings.TrimRight(newSecret().Reveal(), "-_")[:32]
	rec := appRecord{
		App: starling.App{ID: id, ClientID: clientID, Name: name, Website: in.Website,
			RedirectURIs: in.RedirectURIs, Scopes: scopes, CreatedAt: s.now().UTC()},
		SecretHash: hashHex(secret.Reveal()),
	}
	if _, err := s.tab.Create(ctx, appKey(clientID), mustJSON(rec), 0); err != nil {
		return nil, err
	}
	return &starling.AppCredentials{App: rec.App, ClientSecret: secret}, nil
}

// App returns an application by client ID.
func (s *Service) App(ctx context.Context, clientID string) (*starling.App, error) {
	rec, err := s.app(ctx, clientID)
	if err != nil {
		return nil, err
	}
	return &rec.App, nil
}

func (s *Service) app(ctx context.Context, clientID string) (*appRecord, error) {
	if clientID == "" || len(clientID) > 64 || strings.ContainsAny(clientID, ". *>") {
		return nil, &starling.Error{Code: starling.NotFound, Reason: "invalid_client", Message: "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."}
	}
	var rec appRecord
	if _, err := s.get(ctx, appKey(clientID), &rec); err != nil {
		if starling.IsCode(err, starling.NotFound) {
			return nil, &starling.Error{Code: starling.NotFound, Reason: "invalid_client", Message: "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."}
		}
		return nil, err
	}
	return &rec, nil
}

// client authenticates an OAuth client by ID and secret.
func (s *Service) client(ctx context.Context, clientID string, secret starling.Secret) (*appRecord, error) {
	invalid := &starling.Error{Code: starling.Unauthorized, Reason: "invalid_client",
		Message: "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."}
	rec, err := s.app(ctx, clientID)
	if err != nil {
		if starling.IsCode(err, starling.NotFound) {
			return nil, invalid
		}
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(hashHex(secret.Reveal())), []byte(rec.SecretHash)) != 1 {
		return nil, invalid
	}
	return rec, nil
}

// Authorize signs a user in for an app and issues an authorization code.
func (s *Service) Authorize(ctx context.Context, req starling.AuthorizeRequest) (starling.Secret, error) {
	ctx, span := s.tel.Tracer.Start(ctx, "auth.Authorize")
	defer span.End()
	app, err := s.app(ctx, req.ClientID)
	if err != nil {
		return "", err
	}
	if !containsExact(app.RedirectURIs, req.RedirectURI) {
		return "", &starling.Error{Code: starling.Invalid, Reason: "invalid_redirect_uri", Message: "The redirect uri included is not valid."}
	}
	scopes := req.Scopes
	if len(scopes) == 0 {
		scopes = starling.Scopes{"read"}
	}
	if !scopes.Within(app.Scopes) {
		return "", &starling.Error{Code: starling.Invalid, Reason: "invalid_scope", Message: "The requested scope is invalid, unknown, or malformed."}
	}
	if req.CodeChallenge != "" || req.CodeChallengeMethod != "" {
		if req.CodeChallengeMethod != "S256" {
			return "", &starling.Error{Code: starling.Invalid, Reason: "invalid_request", Message: "Only the S256 code challenge method is supported."}
		}
		if len(req.CodeChallenge) < 43 || len(req.CodeChallenge) > 128 {
			return "", &starling.Error{Code: starling.Invalid, Reason: "invalid_request", Message: "The code challenge is malformed."}
		}
	}
	accountID, err := s.signIn(ctx, req.Login, req.Password)
	if err != nil {
		return "", err
	}
	code := newSecret()
	rec := codeRecord{AccountID: accountID, ClientID: app.ClientID, RedirectURI: req.RedirectURI, Scopes: scopes,
		Challenge: req.CodeChallenge, ChallengeMeth: req.CodeChallengeMethod}
	if _, err := s.tab.Create(ctx, codeKey(code), mustJSON(rec), codeTTL); err != nil {
		return "", err
	}
	return code, nil
}

var errBadLogin = &starling.Error{Code: starling.Unauthorized, Reason: "invalid_grant", Message: "Invalid email or password."}

// errPasswordGrant is RFC 6749's answer to wrong credentials at the token
// endpoint: 400 invalid_grant (401 is for a bad client).
var errPasswordGrant = &starling.Error{Code: starling.Invalid, Reason: "invalid_grant",
	Message: "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."}

// signIn checks a login (username or e-mail) and password.
func (s *Service) signIn(ctx context.Context, login string, pw starling.Secret) (starling.ID, error) {
	login = strings.TrimSpace(login)
	if login == "" || len(login) > maxEmail || pw == "" || len(pw) > maxPassword {
		return 0, errBadLogin
	}
	var key string
	switch {
	case strings.Contains(login, "@"):
		key = emailKey(login)
	case validUsername(login):
		key = nameKey(login)
	default:
		return 0, errBadLogin
	}
	var claim claimRecord
	var cred credRecord
	_, err := s.get(ctx, key, &claim)
	if err == nil {
		_, err = s.get(ctx, credKey(claim.AccountID), &cred)
	}
	if err != nil && !starling.IsCode(err, starling.NotFound) {
		return 0, err
	}
	if err != nil {
		_, _ = checkPassword(dummyHash, pw)
		return 0, errBadLogin
	}
	ok, err := checkPassword(cred.PasswordHash, pw)
	if err != nil {
		return 0, starling.Wrap(starling.Internal, "", err)
	}
	if !ok {
		return 0, errBadLogin
	}
	return claim.AccountID, nil
}

// Token runs an OAuth 2 grant.
func (s *Service) Token(ctx context.Context, req starling.TokenRequest) (*starling.IssuedToken, error) {
	ctx, span := s.tel.Tracer.Start(ctx, "auth.Token")
	defer span.End()
	switch req.GrantType {
	case "authorization_code", "client_credentials", "password":
	case "":
		return nil, &starling.Error{Code: starling.Invalid, Reason: "invalid_request", Message: "The request is missing a required parameter: grant_type."}
	default:
		return nil, &starling.Error{Code: starling.Invalid, Reason: "unsupported_grant_type", Message: "The authorization grant type is not supported by the authorization server."}
	}
	app, err := s.client(ctx, req.ClientID, req.ClientSecret)
	if err != nil {
		return nil, err
	}
	if req.GrantType != "authorization_code" {
		scopes := req.Scopes
		if len(scopes) == 0 {
			scopes = starling.Scopes{"read"}
		}
		if !scopes.Within(app.Scopes) {
			return nil, &starling.Error{Code: starling.Invalid, Reason: "invalid_scope", Message: "The requested scope is invalid, unknown, or malformed."}
		}
		var account starling.ID
		if req.GrantType == "password" {
			// Doorkeeper's resource owner password grant: the same
			// credential check as the sign-in page.
			if account, err = s.signIn(ctx, req.Username, req.Password); err != nil {
				if starling.IsCode(err, starling.Unauthorized) {
					return nil, errPasswordGrant
				}
				return nil, err
			}
		}
		return s.issue(ctx, app, account, scopes)
	}
	invalidGrant := &starling.Error{Code: starling.Invalid, Reason: "invalid_grant",
		Message: "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."}
	if req.Code == "" || len(req.Code) > 256 {
		return nil, invalidGrant
	}
	var code codeRecord
	rev, err := s.get(ctx, codeKey(req.Code), &code)
	if starling.IsCode(err, starling.NotFound) {
		return nil, invalidGrant
	}
	if err != nil {
		return nil, err
	}
	if code.ClientID != app.ClientID || code.RedirectURI != req.RedirectURI {
		return nil, invalidGrant
	}
	if code.Challenge != "" {
		sum := sha256.Sum256([]byte(req.CodeVerifier.Reveal()))
		if req.CodeVerifier == "" || subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(code.Challenge)) != 1 {
			return nil, invalidGrant
		}
	}
	// Consume the code: of two concurrent exchanges only one deletes the
	// revision it read.
	if err := s.tab.Delete(ctx, codeKey(req.Code), rev); err != nil {
		if starling.IsCode(err, starling.Conflict) {
			return nil, invalidGrant
		}
		return nil, err
	}
	return s.issue(ctx, app, code.AccountID, code.Scopes)
}

// issue stores a new token and returns it.
func (s *Service) issue(ctx context.Context, app *appRecord, account starling.ID, scopes starling.Scopes) (*starling.IssuedToken, error) {
	tok := newSecret()
	now := s.now().UTC()
	rec := tokenRecord{AccountID: account, AppID: app.ID, ClientID: app.ClientID, AppName: app.Name,
		AppWebsite: app.Website, Scopes: scopes, CreatedAt: now}
	if _, err := s.tab.Create(ctx, tokenKey(hashHex(tok.Reveal())), mustJSON(rec), 0); err != nil {
		return nil, err
	}
	return &starling.IssuedToken{AccessToken: tok, AccountID: account, Scopes: scopes, CreatedAt: now}, nil
}

// Authenticate returns the grant of a token.
func (s *Service) Authenticate(ctx context.Context, token starling.Secret) (*starling.Grant, error) {
	if token == "" || len(token) > 256 {
		return nil, errBadToken
	}
	h := hashHex(token.Reveal())
	var rec tokenRecord
	if _, err := s.get(ctx, tokenKey(h), &rec); err != nil {
		if starling.IsCode(err, starling.NotFound) {
			return nil, errBadToken
		}
		return nil, err
	}
	return &starling.Grant{TokenID: h[:12], AccountID: rec.AccountID, AppID: rec.AppID, ClientID: rec.ClientID,
		AppName: rec.AppName, AppWebsite: rec.AppWebsite, Scopes: rec.Scopes, CreatedAt: rec.CreatedAt}, nil
}

var errBadToken = &starling.Error{Code: starling.Unauthorized, Reason: "invalid_token", Message: "The access token is invalid"}

// Revoke deletes a token, then makes sure no node's cache still honours it.
func (s *Service) Revoke(ctx context.Context, req starling.RevokeRequest) error {
	ctx, span := s.tel.Tracer.Start(ctx, "auth.Revoke")
	defer span.End()
	app, err := s.client(ctx, req.ClientID, req.ClientSecret)
	if err != nil {
		return err
	}
	if req.Token == "" || len(req.Token) > 256 {
		return nil
	}
	h := hashHex(req.Token.Reveal())
	var rec tokenRecord
	rev, err := s.get(ctx, tokenKey(h), &rec)
	if starling.IsCode(err, starling.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if rec.ClientID != app.ClientID {
		return &starling.Error{Code: starling.Forbidden, Reason: "unauthorized_client", Message: "You are not authorized to revoke this token"}
	}
	if err := s.tab.Delete(ctx, tokenKey(h), rev); err != nil && !starling.IsCode(err, starling.Conflict) {
		return err
	}
	return s.evictor.evict(ctx, h)
}

// SignUp creates an account and returns a token for it.
func (s *Service) SignUp(ctx context.Context, app *starling.Grant, req starling.SignUpRequest) (*starling.IssuedToken, error) {
	ctx, span := s.tel.Tracer.Start(ctx, "auth.SignUp")
	defer span.End()
	if app == nil || app.ClientID == "" {
		return nil, &starling.Error{Code: starling.Unauthorized, Message: "This API requires an app token"}
	}
	if !app.Scopes.Allows("write:accounts") {
		return nil, &starling.Error{Code: starling.Forbidden, Message: "This action is outside the authorized scopes"}
	}
	req.Username = strings.TrimSpace(req.Username)
	req.Email = strings.TrimSpace(req.Email)
	if err := checkSignUp(req); err != nil {
		return nil, err
	}
	appRec, err := s.app(ctx, app.ClientID)
	if err != nil {
		return nil, err
	}
	hash, err := hashPassword(req.Password)
	if err != nil {
		return nil, starling.Wrap(starling.Internal, "", err)
	}
	id, err := s.ids.Next()
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	claim := mustJSON(claimRecord{AccountID: id, At: now})
	nameRev, err := s.claim(ctx, nameKey(req.Username), claim)
	if err != nil {
		if starling.IsCode(err, starling.Conflict) {
			return nil, fieldErrors{"username": {{Error: "ERR_TAKEN", Description: "has already been taken"}}}.err()
		}
		return nil, err
	}
	if _, err := s.claim(ctx, emailKey(req.Email), claim); err != nil {
		// Give the username back; if that fails too, the claim is taken
		// over after claimTakeover since no account was written.
		_ = s.tab.Delete(context.WithoutCancel(ctx), nameKey(req.Username), nameRev)
		if starling.IsCode(err, starling.Conflict) {
			return nil, fieldErrors{"email": {{Error: "ERR_TAKEN", Description: "has already been taken"}}}.err()
		}
		return nil, err
	}
	if _, err := s.tab.Put(ctx, credKey(id), mustJSON(credRecord{Email: req.Email, PasswordHash: hash})); err != nil {
		return nil, err
	}
	acct := accountRecord{ID: id, Username: req.Username, CreatedAt: now, Privacy: starling.Public,
		Discoverable: true, NoteHTML: "", Language: langOf(req.Locale)}
	if _, err := s.tab.Put(ctx, acctKey(id), mustJSON(acct)); err != nil {
		return nil, err
	}
	// The account exists from here on; the token is a convenience. Use the
	// app token's scopes, as Mastodon does.
	return s.issue(ctx, appRec, id, app.Scopes)
}

// claim creates key, taking over a stale claim whose account was never
// written. It returns Conflict if the claim is held.
func (s *Service) claim(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := s.tab.Create(ctx, key, value, 0)
	if err == nil || !starling.IsCode(err, starling.Conflict) {
		return rev, err
	}
	var old claimRecord
	oldRev, gerr := s.get(ctx, key, &old)
	if gerr != nil {
		return 0, err
	}
	if s.now().Sub(old.At) < claimTakeover {
		return 0, err
	}
	if _, aerr := s.tab.Get(ctx, acctKey(old.AccountID)); !starling.IsCode(aerr, starling.NotFound) {
		return 0, err // the account exists (or we cannot tell): the claim holds
	}
	return s.tab.Update(ctx, key, value, oldRev)
}

func langOf(locale string) string {
	if len(locale) >= 2 {
		return strings.ToLower(locale[:2])
	}
	return ""
}

// Account returns a profile.
func (s *Service) Account(ctx context.Context, id starling.ID) (*starling.Account, error) {
	var a accountRecord
	rev, err := s.get(ctx, acctKey(id), &a)
	if err != nil {
		return nil, err
	}
	a.Revision = rev
	return &a, nil
}

// Accounts returns profiles in the order of ids, leaving out unknown ones.
func (s *Service) Accounts(ctx context.Context, ids []starling.ID) ([]*starling.Account, error) {
	if len(ids) > 1000 {
		return nil, starling.Errorf(starling.Invalid, "too many accounts requested")
	}
	out := make([]*starling.Account, 0, len(ids))
	for _, id := range ids {
		a, err := s.Account(ctx, id)
		if starling.IsCode(err, starling.NotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// LookupAccount finds an account by username.
func (s *Service) LookupAccount(ctx context.Context, username string) (*starling.Account, error) {
	username = strings.TrimPrefix(strings.TrimSpace(username), "@")
	if !validUsername(username) {
		return nil, &starling.Error{Code: starling.NotFound, Message: "Record not found"}
	}
	var claim claimRecord
	if _, err := s.get(ctx, nameKey(username), &claim); err != nil {
		return nil, err
	}
	return s.Account(ctx, claim.AccountID)
}

// UpdateAccount changes a profile with a compare-and-set, retrying on a
// concurrent change.
func (s *Service) UpdateAccount(ctx context.Context, id starling.ID, u starling.AccountUpdate) (*starling.Account, error) {
	ctx, span := s.tel.Tracer.Start(ctx, "auth.UpdateAccount")
	defer span.End()
	if u.DisplayName != nil && len([]rune(*u.DisplayName)) > maxDisplayName {
		return nil, &starling.Error{Code: starling.Invalid, Message: "Validation failed: Display name is too long (maximum is 30 characters)"}
	}
	if u.Note != nil && len([]rune(*u.Note)) > maxNote {
		return nil, &starling.Error{Code: starling.Invalid, Message: "Validation failed: Note is too long (maximum is 500 characters)"}
	}
	if u.Privacy != nil && (!u.Privacy.Valid() || *u.Privacy == starling.Direct) {
		return nil, &starling.Error{Code: starling.Invalid, Message: "Validation failed: Privacy is invalid"}
	}
	if u.Language != nil && len(*u.Language) > 8 {
		return nil, &starling.Error{Code: starling.Invalid, Message: "Validation failed: Language is invalid"}
	}
	if err := checkFields(u.Fields); err != nil {
		return nil, err
	}
	for attempt := 0; attempt < 5; attempt++ {
		var a accountRecord
		rev, err := s.get(ctx, acctKey(id), &a)
		if err != nil {
			return nil, err
		}
		applyUpdate(&a, u, s.render)
		nrev, err := s.tab.Update(ctx, acctKey(id), mustJSON(a), rev)
		if starling.IsCode(err, starling.Conflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		a.Revision = nrev
		if err := s.nc.Publish(starling.SubjectAccountChanged+"."+id.String(), nil); err != nil {
			s.log.WarnContext(ctx, "publish account change", "err", err)
		}
		return &a, nil
	}
	return nil, &starling.Error{Code: starling.Conflict, Message: "Conflict during update, please try again"}
}

func applyUpdate(a *starling.Account, u starling.AccountUpdate, render Renderer) {
	if u.DisplayName != nil {
		a.DisplayName = strings.TrimSpace(*u.DisplayName)
	}
	if u.Note != nil {
		a.Note = *u.Note
		a.NoteHTML = render(a.Note)
	}
	if u.Locked != nil {
		a.Locked = *u.Locked
	}
	if u.Bot != nil {
		a.Bot = *u.Bot
	}
	if u.Discoverable != nil {
		a.Discoverable = *u.Discoverable
	}
	if u.Privacy != nil {
		a.Privacy = *u.Privacy
	}
	if u.Sensitive != nil {
		a.Sensitive = *u.Sensitive
	}
	if u.Language != nil {
		a.Language = *u.Language
	}
	if u.Avatar != nil {
		a.Avatar = profileImage(*u.Avatar)
	}
	if u.Header != nil {
		a.Header = profileImage(*u.Header)
	}
	if u.Fields != nil {
		a.Fields = replaceFields(a.Fields, *u.Fields, render)
	}
	if v := u.Verified; v != nil {
		for i, f := range a.Fields {
			if f.Name == v.Name && f.Value == v.Value && f.VerifiedAt == nil {
				at := v.At.UTC()
				a.Fields[i].VerifiedAt = &at
				a.Fields[i].ValueHTML = renderField(f.Value, true, render)
			}
		}
	}
}

// profileImage is the stored form of an image update: nil removes it.
func profileImage(p starling.ProfileImage) *starling.ProfileImage {
	if p.MediaID == 0 {
		return nil
	}
	return &p
}

// checkFields validates profile fields as Mastodon does: at most
// MaxFields (not counting pairs with an empty name and value), names and
// values of at most 255 characters.
func checkFields(fields *[]starling.FieldInput) error {
	if fields == nil {
		return nil
	}
	n := 0
	for _, f := range *fields {
		if strings.TrimSpace(f.Name) == "" && strings.TrimSpace(f.Value) == "" {
			continue
		}
		n++
		if utf8.RuneCountInString(f.Name) > starling.MaxFieldNameChars || utf8.RuneCountInString(f.Value) > starling.MaxFieldValueChars {
			return &starling.Error{Code: starling.Invalid, Message: fmt.Sprintf("Validation failed: Fields are too long (maximum is %d characters each)", starling.MaxFieldValueChars)}
		}
	}
	if n > starling.MaxFields {
		return &starling.Error{Code: starling.Invalid, Message: fmt.Sprintf("Validation failed: Fields too many (maximum is %d)", starling.MaxFields)}
	}
	return nil
}

// replaceFields returns the new fields, rendered; a field whose value was
// already verified keeps its verification, as in Mastodon.
func replaceFields(old []starling.Field, in []starling.FieldInput, render Renderer) []starling.Field {
	var out []starling.Field
	for _, f := range in {
		name, value := strings.TrimSpace(f.Name), strings.TrimSpace(f.Value)
		if name == "" && value == "" {
			continue
		}
		nf := starling.Field{Name: name, Value: value}
		for _, o := range old {
			if o.Value == value && o.VerifiedAt != nil {
				nf.VerifiedAt = o.VerifiedAt
			}
		}
		nf.ValueHTML = renderField(value, nf.VerifiedAt != nil, render)
		out = append(out, nf)
	}
	return out
}

// renderField renders a field's value as one line of HTML, links made
// clickable; a verified value's links carry rel="me".
func renderField(value string, verified bool, render Renderer) string {
	html := render(strings.Join(strings.Fields(value), " "))
	html = strings.TrimSuffix(strings.TrimPrefix(html, "<p>"), "</p>")
	if verified {
		html = strings.ReplaceAll(html, `rel="nofollow noopener"`, `rel="nofollow noopener me"`)
	}
	return html
}

// CountAccounts counts accounts from the auth table's stream state: every
// account has exactly one credentials record, written once when it signs
// up (and never deleted: Starling does not delete accounts).
func (s *Service) CountAccounts(ctx context.Context, since time.Time) (int64, error) {
	return s.tab.CountKeys(ctx, "cred.>", since)
}

func containsExact(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// plainHTML renders text as one escaped paragraph.
func plainHTML(text string) string {
	if text == "" {
		return ""
	}
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;", "\n", "<br />")
	return "<p>" + r.Replace(text) + "</p>"
}
