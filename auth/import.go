package auth

import (
	"context"
	"strings"
	"time"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
)

// Importer writes accounts, an application and tokens straight into the
// auth table, in the records' stored form: for importing data sets and for
// generating large ones (starling bench generate). It checks nothing and
// claims nothing with compare-and-set: the caller guarantees that IDs,
// usernames and e-mail addresses are unique and valid, and that no node
// writes the table meanwhile. Use from one goroutine.
type Importer struct {
	l   *engine.Loader
	app appRecord
}

// NewImporter opens the auth table on eng (creating it if needed).
func NewImporter(ctx context.Context, eng *engine.Engine) (*Importer, error) {
	tab, err := eng.Table(ctx, engine.TableConfig{Name: "auth", MaxValueSize: 16 << 10})
	if err != nil {
		return nil, err
	}
	return &Importer{l: tab.Loader(2048)}, nil
}

// App registers the application the imported tokens belong to.
func (im *Importer) App(ctx context.Context, id starling.ID, name string, scopes starling.Scopes, at time.Time) (*starling.AppCredentials, error) {
	secret := newSecret()
	im.app = appRecord{
		App: starling.App{ID: id, ClientID: strings.TrimRight(newSecret().Reveal(), "-_")[:32], Name: name,
			RedirectURIs: []string{"urn:ietf:wg:oauth:2.0:oob"}, Scopes: scopes, CreatedAt: at.UTC()},
		SecretHash: hashHex(secret.Reveal()),
	}
	if err := im.l.Put(ctx, appKey(im.app.ClientID), mustJSON(im.app)); err != nil {
		return nil, err
	}
	return &starling.AppCredentials{App: im.app.App, ClientSecret: secret}, nil
}

// Account writes an account: its profile, credentials (passwordHash from
// HashPassword) and its username and e-mail claims.
func (im *Importer) Account(ctx context.Context, a *starling.Account, email, passwordHash string) error {
	claim := mustJSON(claimRecord{AccountID: a.ID, At: a.CreatedAt})
	for _, kv := range []struct {
		key   string
		value []byte
	}{
		{nameKey(a.Username), claim},
		{emailKey(email), claim},
		{credKey(a.ID), mustJSON(credRecord{Email: email, PasswordHash: passwordHash})},
		{acctKey(a.ID), mustJSON(a)},
	} {
		if err := im.l.Put(ctx, kv.key, kv.value); err != nil {
			return err
		}
	}
	return nil
}

// Token issues a token of the imported application for account.
func (im *Importer) Token(ctx context.Context, account starling.ID, scopes starling.Scopes, at time.Time) (starling.Secret, error) {
	tok := newSecret()
	rec := tokenRecord{AccountID: account, AppID: im.app.ID, ClientID: im.app.ClientID, AppName: im.app.Name,
		Scopes: scopes, CreatedAt: at.UTC()}
	return tok, im.l.Put(ctx, tokenKey(hashHex(tok.Reveal())), mustJSON(rec))
}

// Flush waits until everything written is stored.
func (im *Importer) Flush(ctx context.Context) error { return im.l.Flush(ctx) }

// HashPassword hashes a password as sign-up does (argon2id).
func HashPassword(pw starling.Secret) (string, error) { return hashPassword(pw) }
