package remote

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/telemetry"
)

// Wire forms of the Auth service's requests. Secrets travel as plain
// strings here (and only here): starling.Secret refuses to encode itself.
type (
	authApp struct {
		starling.App
		ClientSecret string `json:"client_secret"`
	}
	authAuthorizeReq struct {
		ClientID, RedirectURI, Login, Password, CodeChallenge, CodeChallengeMethod string
		Scopes                                                                     starling.Scopes
	}
	authTokenReq struct {
		GrantType, ClientID, ClientSecret, Code, RedirectURI, CodeVerifier, Username, Password string
		Scopes                                                                                 starling.Scopes
	}
	authToken struct {
		AccessToken string          `json:"access_token"`
		AccountID   starling.ID     `json:"account_id"`
		Scopes      starling.Scopes `json:"scopes"`
		CreatedAt   int64           `json:"created_at_ms"`
	}
	authRevokeReq struct{ ClientID, ClientSecret, Token string }
	authSignUpReq struct {
		App                                       *starling.Grant
		Username, Email, Password, Locale, Reason string
		Agreement                                 bool
	}
	authUpdateReq struct {
		ID     starling.ID
		Update starling.AccountUpdate
	}
	empty struct{}
)

func toWireToken(t *starling.IssuedToken) authToken {
	return authToken{AccessToken: t.AccessToken.Reveal(), AccountID: t.AccountID, Scopes: t.Scopes, CreatedAt: t.CreatedAt.UnixMilli()}
}

func fromWireToken(t authToken) *starling.IssuedToken {
	return &starling.IssuedToken{AccessToken: starling.Secret(t.AccessToken), AccountID: t.AccountID, Scopes: t.Scopes, CreatedAt: msTime(t.CreatedAt)}
}

// ServeAuth exposes svc as the "auth" service on nc.
func ServeAuth(nc *nats.Conn, tel *telemetry.Telemetry, svc starling.AuthService) (*Server, error) {
	s, err := NewServer(nc, tel, "auth")
	if err != nil {
		return nil, err
	}
	Handle(s, "create_app", func(ctx context.Context, in starling.NewApp) (authApp, error) {
		c, err := svc.CreateApp(ctx, in)
		if err != nil {
			return authApp{}, err
		}
		return authApp{App: c.App, ClientSecret: c.ClientSecret.Reveal()}, nil
	})
	Handle(s, "app", svc.App)
	Handle(s, "authorize", func(ctx context.Context, r authAuthorizeReq) (string, error) {
		code, err := svc.Authorize(ctx, starling.AuthorizeRequest{ClientID: r.ClientID, RedirectURI: r.RedirectURI, Scopes: r.Scopes,
			Login: r.Login, Password: starling.Secret(r.Password), CodeChallenge: r.CodeChallenge, CodeChallengeMethod: r.CodeChallengeMethod})
		return code.Reveal(), err
	})
	Handle(s, "token", func(ctx context.Context, r authTokenReq) (authToken, error) {
		t, err := svc.Token(ctx, starling.TokenRequest{GrantType: r.GrantType, ClientID: r.ClientID, ClientSecret: starling.Secret(r.ClientSecret),
			Code: starling.Secret(r.Code), RedirectURI: r.RedirectURI, CodeVerifier: starling.Secret(r.CodeVerifier),
			Username: r.Username, Password: starling.Secret(r.Password), Scopes: r.Scopes})
		if err != nil {
			return authToken{}, err
		}
		return toWireToken(t), nil
	})
	Handle(s, "authenticate", func(ctx context.Context, token string) (*starling.Grant, error) {
		return svc.Authenticate(ctx, starling.Secret(token))
	})
	Handle(s, "revoke", func(ctx context.Context, r authRevokeReq) (empty, error) {
		return empty{}, svc.Revoke(ctx, starling.RevokeRequest{ClientID: r.ClientID, ClientSecret: starling.Secret(r.ClientSecret), Token: starling.Secret(r.Token)})
	})
	Handle(s, "sign_up", func(ctx context.Context, r authSignUpReq) (authToken, error) {
		t, err := svc.SignUp(ctx, r.App, starling.SignUpRequest{Username: r.Username, Email: r.Email, Password: starling.Secret(r.Password),
			Agreement: r.Agreement, Locale: r.Locale, Reason: r.Reason})
		if err != nil {
			return authToken{}, err
		}
		return toWireToken(t), nil
	})
	Handle(s, "account", svc.Account)
	Handle(s, "accounts", svc.Accounts)
	Handle(s, "lookup_account", svc.LookupAccount)
	Handle(s, "update_account", func(ctx context.Context, r authUpdateReq) (*starling.Account, error) {
		return svc.UpdateAccount(ctx, r.ID, r.Update)
	})
	Handle(s, "count_accounts", func(ctx context.Context, since int64) (int64, error) {
		return svc.CountAccounts(ctx, msTime(since))
	})
	return s, nil
}

// AuthClient is a starling.AuthService reached over NATS.
type AuthClient struct{ c *Client }

var _ starling.AuthService = (*AuthClient)(nil)

// NewAuthClient returns a client of the "auth" service.
func NewAuthClient(nc *nats.Conn, tel *telemetry.Telemetry) *AuthClient {
	return &AuthClient{c: NewClient(nc, tel, "auth")}
}

// Breaker returns the client's circuit breaker.
func (a *AuthClient) Breaker() *Breaker { return a.c.breaker }

func (a *AuthClient) CreateApp(ctx context.Context, app starling.NewApp) (*starling.AppCredentials, error) {
	r, err := Call[starling.NewApp, authApp](ctx, a.c, "create_app", app, false)
	if err != nil {
		return nil, err
	}
	return &starling.AppCredentials{App: r.App, ClientSecret: starling.Secret(r.ClientSecret)}, nil
}

func (a *AuthClient) App(ctx context.Context, clientID string) (*starling.App, error) {
	return Call[string, *starling.App](ctx, a.c, "app", clientID, true)
}

func (a *AuthClient) Authorize(ctx context.Context, r starling.AuthorizeRequest) (starling.Secret, error) {
	code, err := Call[authAuthorizeReq, string](ctx, a.c, "authorize", authAuthorizeReq{ClientID: r.ClientID, RedirectURI: r.RedirectURI,
		Login: r.Login, Password: r.Password.Reveal(), CodeChallenge: r.CodeChallenge, CodeChallengeMethod: r.CodeChallengeMethod, Scopes: r.Scopes}, false)
	return starling.Secret(code), err
}

func (a *AuthClient) Token(ctx context.Context, r starling.TokenRequest) (*starling.IssuedToken, error) {
	t, err := Call[authTokenReq, authToken](ctx, a.c, "token", authTokenReq{GrantType: r.GrantType, ClientID: r.ClientID,
		ClientSecret: r.ClientSecret.Reveal(), Code: r.Code.Reveal(), RedirectURI: r.RedirectURI, CodeVerifier: r.CodeVerifier.Reveal(),
		Username: r.Username, Password: r.Password.Reveal(), Scopes: r.Scopes}, false)
	if err != nil {
		return nil, err
	}
	return fromWireToken(t), nil
}

func (a *AuthClient) Authenticate(ctx context.Context, token starling.Secret) (*starling.Grant, error) {
	return Call[string, *starling.Grant](ctx, a.c, "authenticate", token.Reveal(), true)
}

func (a *AuthClient) Revoke(ctx context.Context, r starling.RevokeRequest) error {
	// Revoking is idempotent: a retry of a revoke that already happened
	// succeeds.
	_, err := Call[authRevokeReq, empty](ctx, a.c, "revoke", authRevokeReq{ClientID: r.ClientID, ClientSecret: r.ClientSecret.Reveal(), Token: r.Token.Reveal()}, true)
	return err
}

func (a *AuthClient) SignUp(ctx context.Context, app *starling.Grant, r starling.SignUpRequest) (*starling.IssuedToken, error) {
	t, err := Call[authSignUpReq, authToken](ctx, a.c, "sign_up", authSignUpReq{App: app, Username: r.Username, Email: r.Email,
		Password: r.Password.Reveal(), Locale: r.Locale, Reason: r.Reason, Agreement: r.Agreement}, false)
	if err != nil {
		return nil, err
	}
	return fromWireToken(t), nil
}

func (a *AuthClient) Account(ctx context.Context, id starling.ID) (*starling.Account, error) {
	return Call[starling.ID, *starling.Account](ctx, a.c, "account", id, true)
}

func (a *AuthClient) Accounts(ctx context.Context, ids []starling.ID) ([]*starling.Account, error) {
	return Call[[]starling.ID, []*starling.Account](ctx, a.c, "accounts", ids, true)
}

func (a *AuthClient) LookupAccount(ctx context.Context, username string) (*starling.Account, error) {
	return Call[string, *starling.Account](ctx, a.c, "lookup_account", username, true)
}

func (a *AuthClient) UpdateAccount(ctx context.Context, id starling.ID, u starling.AccountUpdate) (*starling.Account, error) {
	// An update sets fields to values: repeating it is harmless.
	return Call[authUpdateReq, *starling.Account](ctx, a.c, "update_account", authUpdateReq{ID: id, Update: u}, true)
}

func (a *AuthClient) CountAccounts(ctx context.Context, since time.Time) (int64, error) {
	var ms int64
	if !since.IsZero() {
		ms = since.UnixMilli()
	}
	return Call[int64, int64](ctx, a.c, "count_accounts", ms, true)
}
