package feed

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/content"
	"github.com/starling-social/starling/engine"
)

// Importer writes statuses, follows, favourites and reblogs straight into
// the feed table, in the records' stored form: for importing data sets and
// for generating large ones (starling bench generate). It checks nothing
// and claims nothing with compare-and-set: the caller guarantees unique IDs
// (time-ordered, as the ID generator makes them), existing accounts and
// statuses, and that no node writes the table meanwhile. The views are
// built from what it wrote when the nodes start. Use from one goroutine.
type Importer struct {
	l    *engine.Loader
	base string
	host string
}

// NewImporter opens the feed table on eng (creating it if needed); links
// in rendered statuses start with publicURL.
func NewImporter(ctx context.Context, eng *engine.Engine, publicURL *url.URL) (*Importer, error) {
	tab, err := openTable(ctx, eng)
	if err != nil {
		return nil, err
	}
	return &Importer{l: tab.Loader(2048), base: strings.TrimRight(publicURL.String(), "/"), host: publicURL.Host}, nil
}

// ImportStatus is a status to import: a post (its text is rendered as a
// posted one is, mentions resolved from Mentions) or, with ReblogOf, a
// reblog.
type ImportStatus struct {
	ID, Account     starling.ID
	Created         time.Time
	Text            string
	Visibility      starling.Visibility
	Language        string
	ReplyTo         starling.ID
	ReplyToAccount  starling.ID
	Root            starling.ID
	ReblogOf        starling.ID
	ReblogOfAccount starling.ID
	Mentions        []starling.Mention
}

// Status writes a status; a reblog also needs its claim (Reblog).
func (im *Importer) Status(ctx context.Context, in ImportStatus) error {
	rec := &postRecord{ID: in.ID, Account: in.Account, Created: in.Created.UTC(), Text: in.Text, Visibility: in.Visibility,
		Language: in.Language, ReplyTo: in.ReplyTo, ReplyToAccount: in.ReplyToAccount, Root: in.Root,
		ReblogOf: in.ReblogOf, ReblogOfAccount: in.ReblogOfAccount, AppName: "import"}
	if in.ReblogOf == 0 {
		byName := map[string]starling.Mention{}
		for _, m := range in.Mentions {
			byName[strings.ToLower(m.Username)] = m
		}
		r := content.Render(in.Text, content.Options{BaseURL: im.base, Host: im.host, ResolveMention: func(u string) (string, bool) {
			m, ok := byName[strings.ToLower(u)]
			return m.Username, ok
		}})
		rec.Content, rec.Tags = r.HTML, r.Tags
		for _, n := range r.Mentions {
			if m, ok := byName[strings.ToLower(n)]; ok {
				rec.Mentions = append(rec.Mentions, m)
			}
		}
	}
	if rec.Root == 0 {
		rec.Root = rec.root()
	}
	return im.l.Put(ctx, postKey(in.ID), mustJSON(rec))
}

// Follow writes that follower follows target.
func (im *Importer) Follow(ctx context.Context, follower, target, id starling.ID, at time.Time) error {
	return im.l.Put(ctx, followKey(follower, target), mustJSON(followRecord{ID: id, Reblogs: true, Created: at.UTC()}))
}

// Favourite writes that account favourited status.
func (im *Importer) Favourite(ctx context.Context, status, account, id starling.ID, at time.Time) error {
	return im.l.Put(ctx, favKey(status, account), mustJSON(favRecord{ID: id, Created: at.UTC()}))
}

// Reblog writes the claim that account reblogged status as wrapper (whose
// status the caller writes with Status).
func (im *Importer) Reblog(ctx context.Context, status, account, wrapper starling.ID) error {
	return im.l.Put(ctx, boostKey(status, account), mustJSON(boostRecord{Wrapper: wrapper}))
}

// Flush waits until everything written is stored.
func (im *Importer) Flush(ctx context.Context) error { return im.l.Flush(ctx) }

// Written returns how many records were written.
func (im *Importer) Written() int { return im.l.Count() }
