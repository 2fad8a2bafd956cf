package starling

import (
	"context"
	"time"
)

// Visibility says who may see a status.
type Visibility string

// The four visibilities, as in Mastodon.
const (
	Public   Visibility = "public"   // everyone, on public timelines too
	Unlisted Visibility = "unlisted" // everyone, but not on public or tag timelines
	Private  Visibility = "private"  // followers and mentioned accounts only
	Direct   Visibility = "direct"   // mentioned accounts only
)

// Valid reports whether v is one of the four visibilities.
func (v Visibility) Valid() bool {
	switch v {
	case Public, Unlisted, Private, Direct:
		return true
	}
	return false
}

// Account is a user as others see it. The profile comes from the Auth
// service; the counters are derived by the Feed service and are zero on an
// Account that comes straight from Auth.
type Account struct {
	ID           ID        `json:"id"`
	Username     string    `json:"username"`
	DisplayName  string    `json:"display_name"`
	Note         string    `json:"note"`      // the bio as the user wrote it (plain text)
	NoteHTML     string    `json:"note_html"` // the bio rendered to safe HTML
	Locked       bool      `json:"locked"`
	Bot          bool      `json:"bot"`
	Discoverable bool      `json:"discoverable"`
	CreatedAt    time.Time `json:"created_at"`

	// Fields are the profile's name/value pairs (at most MaxFields).
	Fields []Field `json:"fields,omitempty"`
	// Avatar and Header are the profile's images; nil shows a placeholder.
	Avatar *ProfileImage `json:"avatar,omitempty"`
	Header *ProfileImage `json:"header,omitempty"`

	// Posting defaults (Mastodon's "source" of a CredentialAccount).
	Privacy   Visibility `json:"privacy"`
	Sensitive bool       `json:"sensitive"`
	Language  string     `json:"language"`

	// Derived counters, eventually consistent.
	StatusesCount  int64      `json:"statuses_count"`
	FollowersCount int64      `json:"followers_count"`
	FollowingCount int64      `json:"following_count"`
	LastStatusAt   *time.Time `json:"last_status_at,omitempty"`

	// Revision is the profile's version in the engine; caches key on it.
	Revision uint64 `json:"revision"`
}

// Limits of profile fields, Mastodon's.
const (
	MaxFields          = 4
	MaxFieldNameChars  = 255
	MaxFieldValueChars = 255
)

// Field is one of a profile's name/value pairs. Value is the text as the
// user wrote it, ValueHTML its rendering (links made clickable; a verified
// link carries rel="me"). VerifiedAt is set once the page the value links
// to was found to link back to the profile (rel="me"), and cleared when the
// value changes.
type Field struct {
	Name       string     `json:"name"`
	Value      string     `json:"value"`
	ValueHTML  string     `json:"value_html"`
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
}

// ProfileImage is an avatar or a header: a media attachment processed for
// that purpose and kept for as long as the profile shows it. URL is the
// image's path below the public URL; StaticURL that of a still version.
type ProfileImage struct {
	MediaID   ID     `json:"media_id"`
	URL       string `json:"url"`
	StaticURL string `json:"static_url"`
}

// FieldInput is a field as a client sends it.
type FieldInput struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// FieldVerification records that a field's link was verified at At. It
// applies only if the profile still has a field with exactly this name and
// value.
type FieldVerification struct {
	Name  string    `json:"name"`
	Value string    `json:"value"`
	At    time.Time `json:"at"`
}

// AccountUpdate changes a profile; nil fields stay as they are.
type AccountUpdate struct {
	DisplayName  *string     `json:"display_name,omitempty"`
	Note         *string     `json:"note,omitempty"`
	Locked       *bool       `json:"locked,omitempty"`
	Bot          *bool       `json:"bot,omitempty"`
	Discoverable *bool       `json:"discoverable,omitempty"`
	Privacy      *Visibility `json:"privacy,omitempty"`
	Sensitive    *bool       `json:"sensitive,omitempty"`
	Language     *string     `json:"language,omitempty"`
	// Fields replaces every field (pairs with an empty name and value are
	// dropped); a field whose value is unchanged keeps its verification.
	Fields *[]FieldInput `json:"fields,omitempty"`
	// Avatar and Header replace an image; a zero ProfileImage removes it.
	Avatar *ProfileImage `json:"avatar,omitempty"`
	Header *ProfileImage `json:"header,omitempty"`
	// Verified marks a field verified (link verification sets it, not
	// clients).
	Verified *FieldVerification `json:"verified,omitempty"`
}

// App is an OAuth 2 client application.
type App struct {
	ID           ID        `json:"id"`
	ClientID     string    `json:"client_id"`
	Name         string    `json:"name"`
	Website      string    `json:"website"`
	RedirectURIs []string  `json:"redirect_uris"`
	Scopes       Scopes    `json:"scopes"`
	CreatedAt    time.Time `json:"created_at"`
}

// NewApp registers an application.
type NewApp struct {
	Name         string
	Website      string
	RedirectURIs []string
	Scopes       Scopes
}

// AppCredentials is a newly registered App with its secret, shown once.
type AppCredentials struct {
	App
	ClientSecret Secret
}

// Grant is what a valid access token entitles its bearer to.
type Grant struct {
	// TokenID is a short, non-secret identifier of the token (for logs
	// and rate limits).
	TokenID    string    `json:"token_id"`
	AccountID  ID        `json:"account_id"` // zero for an app-only token
	AppID      ID        `json:"app_id"`
	ClientID   string    `json:"client_id"`
	AppName    string    `json:"app_name"`
	AppWebsite string    `json:"app_website"`
	Scopes     Scopes    `json:"scopes"`
	CreatedAt  time.Time `json:"created_at"`
}

// IsUser reports whether the token acts for a user (not only an app).
func (g *Grant) IsUser() bool { return g != nil && g.AccountID != 0 }

// IssuedToken is a new access token, shown once.
type IssuedToken struct {
	AccessToken Secret
	AccountID   ID
	Scopes      Scopes
	CreatedAt   time.Time
}

// AuthorizeRequest is a user's sign-in and consent on the authorization
// page.
type AuthorizeRequest struct {
	ClientID            string
	RedirectURI         string
	Scopes              Scopes
	Login               string // username or e-mail address
	Password            Secret
	CodeChallenge       string
	CodeChallengeMethod string
}

// TokenRequest is a call to the OAuth 2 token endpoint.
type TokenRequest struct {
	// GrantType is "authorization_code", "client_credentials" or
	// "password" (the resource owner's password grant command-line
	// clients sign in with).
	GrantType    string
	ClientID     string
	ClientSecret Secret
	Code         Secret
	RedirectURI  string
	CodeVerifier Secret
	// Username (a username or an e-mail address) and Password are the
	// credentials of the password grant.
	Username string
	Password Secret
	Scopes   Scopes // for client_credentials and password; nil means "read"
}

// RevokeRequest revokes a token on behalf of the client that holds it.
type RevokeRequest struct {
	ClientID     string
	ClientSecret Secret
	Token        Secret
}

// SignUpRequest creates an account through the API.
type SignUpRequest struct {
	Username  string
	Email     string
	Password  Secret
	Agreement bool
	Locale    string
	Reason    string
}

// AuthService manages accounts, OAuth 2 applications and tokens. Its data is
// consistent (CP): a write returns only once the engine has committed it to a
// quorum, usernames and e-mail addresses are unique under concurrency, and a
// revoked token is refused on every node once Revoke returns.
//
// Errors: Invalid for bad input (with Details per field, and Reason set to
// the OAuth error where an OAuth endpoint needs one), Unauthorized for wrong
// credentials or unknown tokens, Forbidden for an action outside a grant,
// NotFound for unknown accounts and apps, Unavailable when the engine cannot
// commit. Implementations are safe for concurrent use.
type AuthService interface {
	// CreateApp registers an OAuth application and returns its secret.
	CreateApp(ctx context.Context, app NewApp) (*AppCredentials, error)
	// App returns the application with the given client ID.
	App(ctx context.Context, clientID string) (*App, error)
	// Authorize checks a user's credentials and consent and returns a
	// single-use authorization code valid for ten minutes.
	Authorize(ctx context.Context, req AuthorizeRequest) (Secret, error)
	// Token runs a grant of the token endpoint.
	Token(ctx context.Context, req TokenRequest) (*IssuedToken, error)
	// Authenticate returns the grant of an access token.
	Authenticate(ctx context.Context, token Secret) (*Grant, error)
	// Revoke revokes a token. Revoking an unknown token succeeds.
	Revoke(ctx context.Context, req RevokeRequest) error
	// SignUp creates an account for an app (whose grant must allow
	// write:accounts) and returns a user token for it.
	SignUp(ctx context.Context, app *Grant, req SignUpRequest) (*IssuedToken, error)
	// Account returns one account's profile.
	Account(ctx context.Context, id ID) (*Account, error)
	// Accounts returns the profiles of ids, in order; unknown ids are left
	// out.
	Accounts(ctx context.Context, ids []ID) ([]*Account, error)
	// LookupAccount finds an account by username (case-insensitive).
	LookupAccount(ctx context.Context, username string) (*Account, error)
	// UpdateAccount changes a profile and returns it.
	UpdateAccount(ctx context.Context, id ID, u AccountUpdate) (*Account, error)
	// CountAccounts counts the accounts created at or after since (all of
	// them for the zero time), for the instance's statistics.
	CountAccounts(ctx context.Context, since time.Time) (int64, error)
}
