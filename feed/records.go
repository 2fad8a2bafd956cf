package feed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
)

// The feed table's keys, partitioned by their second token:
//
//	post.<id>                  a status (source of truth; the post record is also the fan-out event)
//	follow.<follower>.<target> a follow edge or request
//	fav.<status>.<account>     a favourite
//	boost.<status>.<account>   a reblog claim, pointing at the wrapper status
//	idem.<account>.<sha256>    an Idempotency-Key, for an hour
const (
	kindPost   = "post"
	kindFollow = "follow"
	kindFav    = "fav"
	kindBoost  = "boost"
	kindIdem   = "idem"
)

func postKey(id starling.ID) string { return kindPost + "." + id.String() }
func followKey(follower, target starling.ID) string {
	return fmt.Sprintf("%s.%d.%d", kindFollow, follower, target)
}
func favKey(status, account starling.ID) string {
	return fmt.Sprintf("%s.%d.%d", kindFav, status, account)
}
func boostKey(status, account starling.ID) string {
	return fmt.Sprintf("%s.%d.%d", kindBoost, status, account)
}
func idemKey(account starling.ID, key string) string {
	h := sha256.Sum256([]byte(key))
	return fmt.Sprintf("%s.%d.%s", kindIdem, account, hex.EncodeToString(h[:16]))
}

// splitKey returns a key's kind and its ID tokens.
func splitKey(key string) (kind string, a, b starling.ID, ok bool) {
	parts := strings.Split(key, ".")
	if len(parts) < 2 {
		return "", 0, 0, false
	}
	kind = parts[0]
	var err error
	if a, err = starling.ParseID(parts[1]); err != nil {
		return kind, 0, 0, kind == kindIdem
	}
	if len(parts) > 2 {
		if b, err = starling.ParseID(parts[2]); err != nil {
			return kind, a, 0, kind == kindIdem
		}
	}
	return kind, a, b, true
}

// openTable creates the feed table if needed and returns it.
func openTable(ctx context.Context, eng *engine.Engine) (*engine.Table, error) {
	return eng.Table(ctx, engine.TableConfig{Name: "feed", Duplicates: 2 * time.Minute, MaxValueSize: 64 << 10})
}

// getRecord reads the record at key from the table (the leader: it sees
// every acknowledged write) and decodes it. The entry gives its revision
// and stored bytes.
func getRecord[T any](ctx context.Context, tab *engine.Table, key string) (*T, engine.Entry, error) {
	ent, err := tab.Get(ctx, key)
	if err != nil {
		return nil, ent, err
	}
	rec := new(T)
	if err := json.Unmarshal(ent.Value, rec); err != nil {
		return nil, ent, starling.Wrap(starling.Internal, "", err)
	}
	return rec, ent, nil
}

// postRecord is a status as stored.
type postRecord struct {
	ID             starling.ID         `json:"id"`
	Account        starling.ID         `json:"account"`
	Created        time.Time           `json:"created"`
	Edited         *time.Time          `json:"edited,omitempty"`
	Text           string              `json:"text,omitempty"`
	Content        string              `json:"content,omitempty"`
	Spoiler        string              `json:"spoiler,omitempty"`
	Sensitive      bool                `json:"sensitive,omitempty"`
	Visibility     starling.Visibility `json:"visibility"`
	Language       string              `json:"language,omitempty"`
	ReplyTo        starling.ID         `json:"reply_to,omitempty"`
	ReplyToAccount starling.ID         `json:"reply_to_account,omitempty"`
	ReblogOf       starling.ID         `json:"reblog_of,omitempty"`
	// ReblogOfAccount is the author of ReblogOf; Root the first status of
	// the conversation a reply belongs to. Records written before they
	// existed lack them (Root then falls back to ReplyTo).
	ReblogOfAccount starling.ID        `json:"reblog_of_account,omitempty"`
	Root            starling.ID        `json:"root,omitempty"`
	Mentions        []starling.Mention `json:"mentions,omitempty"`
	Tags            []string           `json:"tags,omitempty"`
	Media           []starling.ID      `json:"media,omitempty"`
	AppName         string             `json:"app_name,omitempty"`
	AppWebsite      string             `json:"app_website,omitempty"`
	// Untagged are the hashtags an edited status had and no longer has
	// (all of them, across its edits): the views drop it from their lists.
	Untagged []string `json:"untagged,omitempty"`
	// Deleted marks a deleted status's tombstone: the record stays (with
	// what the views need to forget it) for tombstoneTTL, then expires.
	Deleted bool `json:"deleted,omitempty"`
}

// root returns the conversation a status belongs to: its own ID for a
// status that replies to nothing.
func (r *postRecord) root() starling.ID {
	switch {
	case r.Root != 0:
		return r.Root
	case r.ReplyTo != 0:
		return r.ReplyTo
	}
	return r.ID
}

// tombstone returns what a deleted status's record keeps: what the views
// need to remove it everywhere, not its text.
func (r *postRecord) tombstone() *postRecord {
	return &postRecord{ID: r.ID, Account: r.Account, Created: r.Created, Visibility: r.Visibility,
		ReplyTo: r.ReplyTo, ReplyToAccount: r.ReplyToAccount, ReblogOf: r.ReblogOf, ReblogOfAccount: r.ReblogOfAccount,
		Root: r.Root, Mentions: r.Mentions, Tags: r.Tags, Deleted: true}
}

func (r *postRecord) status(rev uint64) *starling.Status {
	return &starling.Status{
		ID: r.ID, AccountID: r.Account, CreatedAt: r.Created, EditedAt: r.Edited, Text: r.Text, Content: r.Content,
		SpoilerText: r.Spoiler, Sensitive: r.Sensitive, Visibility: r.Visibility, Language: r.Language,
		InReplyToID: r.ReplyTo, InReplyToAccountID: r.ReplyToAccount, ReblogOfID: r.ReblogOf, Root: r.root(),
		Mentions: r.Mentions, Tags: r.Tags, MediaIDs: r.Media, AppName: r.AppName, AppWebsite: r.AppWebsite, Revision: rev,
	}
}

// followRecord is a follow edge: following, or requested of a locked account.
type followRecord struct {
	ID        starling.ID `json:"id"`
	Requested bool        `json:"requested,omitempty"`
	// Authorized is set when a request was accepted (no new-follower
	// notification then: the target accepted it).
	Authorized bool      `json:"authorized,omitempty"`
	Reblogs    bool      `json:"reblogs"`
	Notify     bool      `json:"notify,omitempty"`
	Languages  []string  `json:"languages,omitempty"`
	Created    time.Time `json:"created"`
}

type favRecord struct {
	ID      starling.ID `json:"id"`
	Created time.Time   `json:"created"`
}

type boostRecord struct {
	Wrapper starling.ID `json:"wrapper"`
}

type idemRecord struct {
	Status starling.ID `json:"status"`
}
