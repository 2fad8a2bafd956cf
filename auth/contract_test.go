package auth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/auth"
	"github.com/starling-social/starling/internal/startest"
	"github.com/starling-social/starling/remote"
)

// implementations returns the Auth service as a local value and as a NATS
// client of a served instance: the contract holds for both.
func implementations(t *testing.T) map[string]func(t *testing.T) starling.AuthService {
	return map[string]func(t *testing.T) starling.AuthService{
		"local": func(t *testing.T) starling.AuthService {
			svc, _ := newLocal(t)
			return svc
		},
		"remote": func(t *testing.T) starling.AuthService {
			svc, eng := newLocal(t)
			tel := startest.Telemetry(t)
			srv, err := remote.ServeAuth(eng.Conn(), tel, svc)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Stop() })
			nc, err := nats.Connect(eng.ClientURL())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nc.Close)
			return remote.NewAuthClient(nc, tel)
		},
	}
}

func newLocal(t *testing.T) (*auth.Service, interface {
	Conn() *nats.Conn
	ClientURL() string
}) {
	t.Helper()
	eng := startest.Engine(t)
	svc, err := auth.New(context.Background(), auth.Config{Engine: eng, IDs: startest.IDs(t, eng), Telemetry: startest.Telemetry(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc, eng
}

func TestContract(t *testing.T) {
	for name, make := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			svc := make(t)
			for _, tc := range contract {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, svc) })
			}
		})
	}
}

var contract = []struct {
	name string
	run  func(t *testing.T, svc starling.AuthService)
}{
	{"app registration and lookup", testApps},
	{"sign up and authenticate", testSignUp},
	{"sign-up validation", testSignUpValidation},
	{"authorization code flow", testAuthorizationCode},
	{"password grant", testPasswordGrant},
	{"account counts", testCountAccounts},
	{"profile fields and images", testProfileFields},
	{"revocation", testRevoke},
	{"profile update", testUpdate},
	{"concurrent sign-ups of one username", testConcurrentSignUp},
}

const redirect = "https://app.example/callback"

func newApp(t *testing.T, svc starling.AuthService, scopes string) *starling.AppCredentials {
	t.Helper()
	sc, err := starling.ParseScopes(scopes)
	if err != nil {
		t.Fatal(err)
	}
	app, err := svc.CreateApp(context.Background(), starling.NewApp{Name: "Test app", Website: "https://app.example", RedirectURIs: []string{redirect, auth.OOB}, Scopes: sc})
	if err != nil {
		t.Fatalf("CreateApp: %v", err)
	}
	return app
}

func appGrant(t *testing.T, svc starling.AuthService, app *starling.AppCredentials, scopes string) *starling.Grant {
	t.Helper()
	sc, _ := starling.ParseScopes(scopes)
	tok, err := svc.Token(context.Background(), starling.TokenRequest{GrantType: "client_credentials", ClientID: app.ClientID, ClientSecret: app.ClientSecret, Scopes: sc})
	if err != nil {
		t.Fatalf("client_credentials: %v", err)
	}
	g, err := svc.Authenticate(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatalf("authenticate app token: %v", err)
	}
	return g
}

var userSeq atomic.Int64

func signUp(t *testing.T, svc starling.AuthService, app *starling.AppCredentials) (string, *starling.IssuedToken) {
	t.Helper()
	name := fmt.Sprintf("user%d", userSeq.Add(1))
	tok, err := svc.SignUp(context.Background(), appGrant(t, svc, app, "read write follow"), starling.SignUpRequest{
		Username: name, Email: name + "@example.com", Password: "correct horse battery", Agreement: true, Locale: "en"})
	if err != nil {
		t.Fatalf("SignUp %s: %v", name, err)
	}
	return name, tok
}

func wantCode(t *testing.T, err error, code starling.Code) *starling.Error {
	t.Helper()
	if got := starling.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
	return starling.AsError(err)
}

func testApps(t *testing.T, svc starling.AuthService) {
	ctx := context.Background()
	app := newApp(t, svc, "read write")
	if app.ClientID == "" || app.ClientSecret == "" {
		t.Fatal("app has no credentials")
	}
	got, err := svc.App(ctx, app.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Test app" || got.Scopes.String() != "read write" || len(got.RedirectURIs) != 2 {
		t.Fatalf("App = %+v", got)
	}
	_, err = svc.App(ctx, "nope")
	wantCode(t, err, starling.NotFound)
	_, err = svc.CreateApp(ctx, starling.NewApp{Name: "x", RedirectURIs: []string{"javascript:alert(1)"}})
	wantCode(t, err, starling.Invalid)
	_, err = svc.Token(ctx, starling.TokenRequest{GrantType: "client_credentials", ClientID: app.ClientID, ClientSecret: "wrong"})
	if e := wantCode(t, err, starling.Unauthorized); e.Reason != "invalid_client" {
		t.Fatalf("reason = %q", e.Reason)
	}
	_, err = svc.Token(ctx, starling.TokenRequest{GrantType: "implicit", ClientID: app.ClientID, ClientSecret: app.ClientSecret})
	if e := wantCode(t, err, starling.Invalid); e.Reason != "unsupported_grant_type" {
		t.Fatalf("reason = %q", e.Reason)
	}
	g := appGrant(t, svc, app, "read")
	if g.IsUser() || g.AppName != "Test app" || !g.Scopes.Allows("read:statuses") || g.Scopes.Allows("write") {
		t.Fatalf("app grant = %+v", g)
	}
	_, err = svc.Token(ctx, starling.TokenRequest{GrantType: "client_credentials", ClientID: app.ClientID, ClientSecret: app.ClientSecret, Scopes: starling.Scopes{"push"}})
	if e := wantCode(t, err, starling.Invalid); e.Reason != "invalid_scope" {
		t.Fatalf("reason = %q", e.Reason)
	}
}

func testSignUp(t *testing.T, svc starling.AuthService) {
	ctx := context.Background()
	app := newApp(t, svc, "read write follow")
	name, tok := signUp(t, svc, app)
	g, err := svc.Authenticate(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if !g.IsUser() || g.AccountID != tok.AccountID || !g.Scopes.Allows("write:statuses") {
		t.Fatalf("grant = %+v", g)
	}
	acct, err := svc.Account(ctx, g.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	if acct.Username != name || acct.Privacy != starling.Public {
		t.Fatalf("account = %+v", acct)
	}
	byName, err := svc.LookupAccount(ctx, "@"+upper(name))
	if err != nil || byName.ID != acct.ID {
		t.Fatalf("LookupAccount = %+v, %v", byName, err)
	}
	accts, err := svc.Accounts(ctx, []starling.ID{acct.ID, 12345, acct.ID})
	if err != nil || len(accts) != 2 {
		t.Fatalf("Accounts = %d, %v", len(accts), err)
	}
	// A read-only app token may not create accounts.
	_, err = svc.SignUp(ctx, appGrant(t, svc, app, "read"), starling.SignUpRequest{Username: "readonly", Email: "ro@example.com", Password: "correct horse battery", Agreement: true})
	wantCode(t, err, starling.Forbidden)
	_, err = svc.Authenticate(ctx, "not-a-token")
	wantCode(t, err, starling.Unauthorized)
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

func testSignUpValidation(t *testing.T, svc starling.AuthService) {
	app := newApp(t, svc, "write")
	grant := appGrant(t, svc, app, "write")
	taken, _ := signUp(t, svc, newApp(t, svc, "read write follow"))
	tests := []struct {
		name  string
		req   starling.SignUpRequest
		field string
		code  string
	}{
		{"blank username", starling.SignUpRequest{Email: "a@example.com", Password: "correct horse", Agreement: true}, "username", "ERR_BLANK"},
		{"bad username", starling.SignUpRequest{Username: "a.b", Email: "a@example.com", Password: "correct horse", Agreement: true}, "username", "ERR_INVALID"},
		{"reserved username", starling.SignUpRequest{Username: "Admin", Email: "a@example.com", Password: "correct horse", Agreement: true}, "username", "ERR_RESERVED"},
		{"taken username, other case", starling.SignUpRequest{Username: upper(taken), Email: "fresh@example.com", Password: "correct horse", Agreement: true}, "username", "ERR_TAKEN"},
		{"taken email", starling.SignUpRequest{Username: "freshname", Email: upper(taken) + "@EXAMPLE.com", Password: "correct horse", Agreement: true}, "email", "ERR_TAKEN"},
		{"bad email", starling.SignUpRequest{Username: "x1", Email: "nope", Password: "correct horse", Agreement: true}, "email", "ERR_INVALID"},
		{"short password", starling.SignUpRequest{Username: "x2", Email: "x2@example.com", Password: "short", Agreement: true}, "password", "ERR_TOO_SHORT"},
		{"common password", starling.SignUpRequest{Username: "x3", Email: "x3@example.com", Password: "Password123", Agreement: true}, "password", "ERR_INVALID"},
		{"no agreement", starling.SignUpRequest{Username: "x4", Email: "x4@example.com", Password: "correct horse"}, "agreement", "ERR_ACCEPTED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.SignUp(context.Background(), grant, tc.req)
			e := wantCode(t, err, starling.Invalid)
			if len(e.Details[tc.field]) == 0 || e.Details[tc.field][0].Error != tc.code {
				t.Fatalf("details = %+v, want %s %s", e.Details, tc.field, tc.code)
			}
		})
	}
	// A failed e-mail claim gives the username back.
	_, err := svc.SignUp(context.Background(), grant, starling.SignUpRequest{Username: "freshname", Email: "fresh2@example.com", Password: "correct horse", Agreement: true})
	if err != nil {
		t.Fatalf("username was not released after the e-mail conflict: %v", err)
	}
}

func testAuthorizationCode(t *testing.T, svc starling.AuthService) {
	ctx := context.Background()
	app := newApp(t, svc, "read write follow push")
	name, _ := signUp(t, svc, newApp(t, svc, "read write follow"))
	verifier := starling.Secret("a-verifier-that-is-long-enough-to-be-valid-for-pkce-0123456789")
	sum := sha256.Sum256([]byte(verifier.Reveal()))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	authorize := func(pkce bool, login string, pw starling.Secret) (starling.Secret, error) {
		req := starling.AuthorizeRequest{ClientID: app.ClientID, RedirectURI: redirect, Scopes: starling.Scopes{"read", "write"}, Login: login, Password: pw}
		if pkce {
			req.CodeChallenge, req.CodeChallengeMethod = challenge, "S256"
		}
		return svc.Authorize(ctx, req)
	}
	exchange := func(code, v starling.Secret, redir string) (*starling.IssuedToken, error) {
		return svc.Token(ctx, starling.TokenRequest{GrantType: "authorization_code", ClientID: app.ClientID, ClientSecret: app.ClientSecret,
			Code: code, RedirectURI: redir, CodeVerifier: v})
	}
	t.Run("without PKCE, by username", func(t *testing.T) {
		code, err := authorize(false, name, "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		tok, err := exchange(code, "", redirect)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Scopes.String() != "read write" {
			t.Fatalf("scopes = %v", tok.Scopes)
		}
		_, err = exchange(code, "", redirect)
		if e := wantCode(t, err, starling.Invalid); e.Reason != "invalid_grant" {
			t.Fatalf("second use: reason %q", e.Reason)
		}
	})
	t.Run("with PKCE, by e-mail", func(t *testing.T) {
		code, err := authorize(true, name+"@example.com", "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		_, err = exchange(code, "wrong-verifier-wrong-verifier-wrong-verifier-wrong", redirect)
		wantCode(t, err, starling.Invalid)
		if _, err := exchange(code, verifier, redirect); err != nil {
			t.Fatalf("exchange with the right verifier after a wrong one: %v", err)
		}
	})
	t.Run("redirect mismatch", func(t *testing.T) {
		code, err := authorize(false, name, "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		_, err = exchange(code, "", "https://evil.example/")
		wantCode(t, err, starling.Invalid)
	})
	t.Run("wrong password", func(t *testing.T) {
		_, err := authorize(false, name, "not the password")
		wantCode(t, err, starling.Unauthorized)
		_, err = authorize(false, "nobody-here", "not the password")
		wantCode(t, err, starling.Unauthorized)
	})
	t.Run("plain PKCE refused", func(t *testing.T) {
		_, err := svc.Authorize(ctx, starling.AuthorizeRequest{ClientID: app.ClientID, RedirectURI: redirect, Login: name,
			Password: "correct horse battery", CodeChallenge: challenge, CodeChallengeMethod: "plain"})
		wantCode(t, err, starling.Invalid)
	})
	t.Run("scope outside the app", func(t *testing.T) {
		narrow := newApp(t, svc, "read")
		_, err := svc.Authorize(ctx, starling.AuthorizeRequest{ClientID: narrow.ClientID, RedirectURI: redirect, Scopes: starling.Scopes{"write"},
			Login: name, Password: "correct horse battery"})
		if e := wantCode(t, err, starling.Invalid); e.Reason != "invalid_scope" {
			t.Fatalf("reason %q", e.Reason)
		}
	})
}

func testPasswordGrant(t *testing.T, svc starling.AuthService) {
	ctx := context.Background()
	app := newApp(t, svc, "read write")
	name, _ := signUp(t, svc, newApp(t, svc, "read write follow"))
	grant := func(login string, pw starling.Secret, scopes starling.Scopes, secret starling.Secret) (*starling.IssuedToken, error) {
		return svc.Token(ctx, starling.TokenRequest{GrantType: "password", ClientID: app.ClientID, ClientSecret: secret,
			Username: login, Password: pw, Scopes: scopes})
	}
	for _, login := range []string{name, name + "@example.com"} {
		tok, err := grant(login, "correct horse battery", starling.Scopes{"read", "write"}, app.ClientSecret)
		if err != nil {
			t.Fatalf("password grant as %s: %v", login, err)
		}
		g, err := svc.Authenticate(ctx, tok.AccessToken)
		if err != nil || !g.IsUser() || g.ClientID != app.ClientID || g.Scopes.String() != "read write" {
			t.Fatalf("grant of %s = %+v, %v", login, g, err)
		}
	}
	tok, err := grant(name, "correct horse battery", nil, app.ClientSecret)
	if err != nil || tok.Scopes.String() != "read" {
		t.Fatalf("default scope: %v %v", tok, err)
	}
	for _, tc := range []struct {
		name, login string
		pw, secret  starling.Secret
		scopes      starling.Scopes
		code        starling.Code
		reason      string
	}{
		{"wrong password", name, "not the password", app.ClientSecret, nil, starling.Invalid, "invalid_grant"},
		{"unknown user", "nobody_here", "correct horse battery", app.ClientSecret, nil, starling.Invalid, "invalid_grant"},
		{"no credentials", "", "", app.ClientSecret, nil, starling.Invalid, "invalid_grant"},
		{"wrong client secret", name, "correct horse battery", "wrong", nil, starling.Unauthorized, "invalid_client"},
		{"scope outside the app", name, "correct horse battery", app.ClientSecret, starling.Scopes{"follow"}, starling.Invalid, "invalid_scope"},
	} {
		_, err := grant(tc.login, tc.pw, tc.scopes, tc.secret)
		if e := wantCode(t, err, tc.code); e.Reason != tc.reason {
			t.Fatalf("%s: reason %q, want %q", tc.name, e.Reason, tc.reason)
		}
	}
}

func testCountAccounts(t *testing.T, svc starling.AuthService) {
	ctx := context.Background()
	before, err := svc.CountAccounts(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	time.Sleep(5 * time.Millisecond)
	app := newApp(t, svc, "read write follow")
	for range 3 {
		signUp(t, svc, app)
	}
	if _, err := svc.UpdateAccount(ctx, mustSignUp(t, svc, app), starling.AccountUpdate{DisplayName: new("renamed")}); err != nil {
		t.Fatal(err)
	}
	total, err := svc.CountAccounts(ctx, time.Time{})
	if err != nil || total != before+4 {
		t.Fatalf("total = %d, %v; want %d", total, err, before+4)
	}
	recent, err := svc.CountAccounts(ctx, start)
	if err != nil || recent != 4 {
		t.Fatalf("created since the start = %d, %v; want 4", recent, err)
	}
	if n, err := svc.CountAccounts(ctx, time.Now().Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("created in the future = %d, %v", n, err)
	}
}

func testProfileFields(t *testing.T, svc starling.AuthService) {
	ctx := context.Background()
	id := mustSignUp(t, svc, newApp(t, svc, "read write follow"))
	set := func(fields ...starling.FieldInput) (*starling.Account, error) {
		return svc.UpdateAccount(ctx, id, starling.AccountUpdate{Fields: &fields})
	}
	a, err := set(starling.FieldInput{Name: "Site", Value: "https://ada.example"}, starling.FieldInput{}, starling.FieldInput{Name: " Pronouns ", Value: "she/her"})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Fields) != 2 || a.Fields[1].Name != "Pronouns" || a.Fields[0].VerifiedAt != nil || !strings.Contains(a.Fields[0].ValueHTML, "ada.example") {
		t.Fatalf("fields = %+v", a.Fields)
	}
	at := time.Now().Truncate(time.Millisecond)
	verify := func(name, value string) *starling.Account {
		t.Helper()
		a, err := svc.UpdateAccount(ctx, id, starling.AccountUpdate{Verified: &starling.FieldVerification{Name: name, Value: value, At: at}})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	if a = verify("Site", "https://elsewhere.example"); a.Fields[0].VerifiedAt != nil {
		t.Fatal("a verification of another value applied")
	}
	if a = verify("Site", "https://ada.example"); a.Fields[0].VerifiedAt == nil || !a.Fields[0].VerifiedAt.Equal(at) || a.Fields[1].VerifiedAt != nil {
		t.Fatalf("after verification: %+v", a.Fields)
	}
	// Renamed but the same value: still verified. New value: not.
	a, err = set(starling.FieldInput{Name: "Home", Value: "https://ada.example"}, starling.FieldInput{Name: "Blog", Value: "https://blog.example"})
	if err != nil || a.Fields[0].VerifiedAt == nil || a.Fields[1].VerifiedAt != nil {
		t.Fatalf("after replacing: %+v, %v", a.Fields, err)
	}
	five := make([]starling.FieldInput, 5)
	for i := range five {
		five[i] = starling.FieldInput{Name: fmt.Sprint("f", i), Value: "v"}
	}
	_, err = set(five...)
	wantCode(t, err, starling.Invalid)
	_, err = set(starling.FieldInput{Name: "x", Value: strings.Repeat("é", 256)})
	wantCode(t, err, starling.Invalid)

	img := &starling.ProfileImage{MediaID: 42, URL: "/media/42/original-x.jpg", StaticURL: "/media/42/original-x.jpg"}
	if a, err = svc.UpdateAccount(ctx, id, starling.AccountUpdate{Avatar: img}); err != nil || a.Avatar == nil || *a.Avatar != *img || a.Header != nil {
		t.Fatalf("avatar set: %+v, %v", a.Avatar, err)
	}
	if a, err = svc.UpdateAccount(ctx, id, starling.AccountUpdate{Avatar: &starling.ProfileImage{}}); err != nil || a.Avatar != nil || len(a.Fields) != 2 {
		t.Fatalf("avatar removed: %+v, %v", a, err)
	}
}

func mustSignUp(t *testing.T, svc starling.AuthService, app *starling.AppCredentials) starling.ID {
	t.Helper()
	_, tok := signUp(t, svc, app)
	return tok.AccountID
}

func testRevoke(t *testing.T, svc starling.AuthService) {
	ctx := context.Background()
	app := newApp(t, svc, "read write follow")
	_, tok := signUp(t, svc, app)
	other := newApp(t, svc, "read")
	err := svc.Revoke(ctx, starling.RevokeRequest{ClientID: other.ClientID, ClientSecret: other.ClientSecret, Token: tok.AccessToken})
	wantCode(t, err, starling.Forbidden)
	if err := svc.Revoke(ctx, starling.RevokeRequest{ClientID: app.ClientID, ClientSecret: app.ClientSecret, Token: tok.AccessToken}); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Authenticate(ctx, tok.AccessToken)
	wantCode(t, err, starling.Unauthorized)
	if err := svc.Revoke(ctx, starling.RevokeRequest{ClientID: app.ClientID, ClientSecret: app.ClientSecret, Token: tok.AccessToken}); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
}

func testUpdate(t *testing.T, svc starling.AuthService) {
	ctx := context.Background()
	_, tok := signUp(t, svc, newApp(t, svc, "read write follow"))
	name, note, locked, priv := "Ada", "Hello <b>world</b>", true, starling.Private
	a, err := svc.UpdateAccount(ctx, tok.AccountID, starling.AccountUpdate{DisplayName: &name, Note: &note, Locked: &locked, Privacy: &priv})
	if err != nil {
		t.Fatal(err)
	}
	if a.DisplayName != "Ada" || !a.Locked || a.Note != note || a.Privacy != starling.Private {
		t.Fatalf("updated = %+v", a)
	}
	if a.NoteHTML == "" || strings.Contains(a.NoteHTML, "<b>") {
		t.Fatalf("note HTML not escaped: %q", a.NoteHTML)
	}
	again, _ := svc.Account(ctx, tok.AccountID)
	if again.DisplayName != "Ada" || again.Revision != a.Revision {
		t.Fatalf("re-read = %+v", again)
	}
	long := "this display name is far longer than thirty characters"
	_, err = svc.UpdateAccount(ctx, tok.AccountID, starling.AccountUpdate{DisplayName: &long})
	wantCode(t, err, starling.Invalid)
	_, err = svc.UpdateAccount(ctx, 42, starling.AccountUpdate{DisplayName: &name})
	wantCode(t, err, starling.NotFound)
}

func testConcurrentSignUp(t *testing.T, svc starling.AuthService) {
	grant := appGrant(t, svc, newApp(t, svc, "write"), "write")
	const n = 50
	var wg sync.WaitGroup
	var ok, taken atomic.Int32
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := svc.SignUp(context.Background(), grant, starling.SignUpRequest{Username: "Racer", Email: fmt.Sprintf("racer%d@example.com", i),
				Password: "correct horse battery", Agreement: true})
			switch {
			case err == nil:
				ok.Add(1)
			case starling.AsError(err) != nil && len(starling.AsError(err).Details["username"]) > 0:
				taken.Add(1)
			default:
				t.Errorf("sign-up %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	if ok.Load() != 1 || taken.Load() != n-1 {
		t.Fatalf("%d sign-ups succeeded and %d were refused as taken; want 1 and %d", ok.Load(), taken.Load(), n-1)
	}
}
