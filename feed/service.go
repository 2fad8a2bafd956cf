// Package feed is Starling's Feed service: statuses, favourites, reblogs,
// the follow graph and timelines.
//
// Source of truth lives in the partitioned "feed" table (see records.go for
// its keys). Everything else — home, account, public and tag timelines,
// reply trees, counters — is derived: each Feed instance replays the table's
// streams into an in-memory view at start and keeps consuming them, so a
// post's record is also its fan-out event, fan-out is asynchronous and
// idempotent, and any instance can answer any read from memory. Accounts
// with more followers than a threshold are merged into home timelines at
// read time instead of being fanned out.
package feed

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/content"
	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/telemetry"
)

// Limits of statuses, as the instance endpoint advertises them.
const (
	MaxChars          = 500
	MaxMedia          = 4
	maxSpoilerRunes   = 1000
	maxLanguageLen    = 8
	idempotencyTTL    = time.Hour
	defaultHomeCap    = 800
	DefaultThreshold  = 10_000
	maxIdempotencyKey = 256
)

// The errors the service returns as Mastodon words them.
var (
	errNotFound  = &starling.Error{Code: starling.NotFound, Message: "Record not found"}
	errConflict  = &starling.Error{Code: starling.Conflict, Message: "Conflict during update, please try again"}
	errForbidden = &starling.Error{Code: starling.Forbidden, Message: "This action is not allowed"}
)

// MediaAttacher checks and attaches media to statuses. The Media service
// implements it; without one, statuses cannot carry media.
type MediaAttacher interface {
	// Attach validates that ids belong to account and are processed, and
	// marks them attached to status. Errors are Invalid with a client
	// message.
	Attach(ctx context.Context, account, status starling.ID, ids []starling.ID) error
	// Attachments returns the media of ids, in order (missing ones left out).
	Attachments(ctx context.Context, ids []starling.ID) ([]*starling.MediaAttachment, error)
}

// Config holds the Service's dependencies and settings.
type Config struct {
	Engine    *engine.Engine
	IDs       *engine.IDs
	Auth      starling.AuthService
	Media     MediaAttacher
	Telemetry *telemetry.Telemetry
	// PublicURL is the base of links in rendered statuses.
	PublicURL *url.URL
	// FanoutThreshold: accounts with more followers are merged at read
	// time (0 takes DefaultThreshold; negative fans out everything).
	FanoutThreshold int
	// HomeCap is the length of a home timeline (default 800).
	HomeCap int
}

// Service is the local implementation of starling.FeedService.
type Service struct {
	eng      *engine.Engine
	tab      *engine.Table
	ids      *engine.IDs
	media    MediaAttacher
	tel      *telemetry.Telemetry
	log      *slog.Logger
	base     string
	host     string
	current  atomic.Pointer[view]
	profiles *profiles
	replayMu sync.Mutex
	replay   *engine.Replayer
	ready    chan struct{}
	stopped  chan struct{}
	now      func() time.Time
}

var _ starling.FeedService = (*Service)(nil)

// New creates the feed table if needed and starts replaying it into the
// view. The service answers once WaitReady returns. Close stops it.
func New(ctx context.Context, cfg Config) (*Service, error) {
	tab, err := openTable(ctx, cfg.Engine)
	if err != nil {
		return nil, err
	}
	threshold := cfg.FanoutThreshold
	switch {
	case threshold == 0:
		threshold = DefaultThreshold
	case threshold < 0:
		threshold = 0
	}
	homeCap := cfg.HomeCap
	if homeCap == 0 {
		homeCap = defaultHomeCap
	}
	s := &Service{
		eng: cfg.Engine, tab: tab, ids: cfg.IDs, media: cfg.Media, tel: cfg.Telemetry,
		log:  cfg.Telemetry.Log.With("service", "feed"),
		base: strings.TrimRight(cfg.PublicURL.String(), "/"), host: cfg.PublicURL.Host,
		now: time.Now, stopped: make(chan struct{}),
	}
	s.current.Store(newView(threshold, homeCap))
	if s.profiles, err = newProfiles(cfg.Engine, cfg.Auth, 500_000); err != nil {
		return nil, err
	}
	if s.replay, s.ready, err = s.startReplay(ctx, s.v()); err != nil {
		s.profiles.close()
		return nil, err
	}
	return s, nil
}

// v returns the view reads and writes use now.
func (s *Service) v() *view { return s.current.Load() }

// WaitReady waits until the initial replay is applied and the view is live.
func (s *Service) WaitReady(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("feed view not caught up: %w", ctx.Err())
	}
}

// Close stops consuming.
func (s *Service) Close() {
	close(s.stopped)
	s.replayMu.Lock()
	s.replay.Stop()
	s.replayMu.Unlock()
	s.profiles.close()
}

// Ready reports whether the view is live.
func (s *Service) Ready() bool {
	select {
	case <-s.ready:
		return true
	default:
		return false
	}
}

// --- writing ---

// apply applies this node's own write to its view at once (the stream
// delivers it again later; applying is idempotent). The write's trace
// context travels with it, so its fan-out appears in the request's trace.
func (s *Service) apply(ctx context.Context, key string, rev uint64, data []byte, deleted bool) {
	var h nats.Header
	if trace.SpanContextFromContext(ctx).IsValid() {
		h = nats.Header{}
		telemetry.Inject(ctx, map[string][]string(h))
	}
	s.applyTo(s.v(), []engine.Change{{Key: key, Seq: rev, At: s.now(), Value: data, Deleted: deleted, Header: h}})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err))
	}
	return b
}

// CreateStatus validates, renders and stores a status. The stored record is
// the fan-out event; this node's view applies it at once, so the author
// sees it on this node's timelines immediately.
func (s *Service) CreateStatus(ctx context.Context, author starling.ID, in starling.NewStatus) (*starling.Status, error) {
	ctx, span := s.tel.Tracer.Start(ctx, "feed.CreateStatus")
	defer span.End()
	if len(in.IdempotencyKey) > maxIdempotencyKey {
		return nil, starling.Errorf(starling.Invalid, "Idempotency-Key is too long")
	}
	acct, err := s.profiles.one(ctx, author)
	if err != nil {
		return nil, err
	}
	rec, err := s.buildPost(ctx, acct, in)
	if err != nil {
		return nil, err
	}
	if in.IdempotencyKey != "" {
		return s.createIdempotent(ctx, author, in.IdempotencyKey, rec)
	}
	if rec.ID, err = s.ids.Next(); err != nil {
		return nil, err
	}
	return s.storePost(ctx, author, rec, true)
}

// storePost writes a new post record (and attaches its media), applies it
// locally and returns it hydrated for its author.
func (s *Service) storePost(ctx context.Context, author starling.ID, rec *postRecord, attach bool) (*starling.Status, error) {
	if attach && len(rec.Media) > 0 {
		if err := s.media.Attach(ctx, author, rec.ID, rec.Media); err != nil {
			return nil, err
		}
	}
	data := mustJSON(rec)
	rev, err := s.tab.Create(ctx, postKey(rec.ID), data, 0)
	if err != nil {
		return nil, err
	}
	s.apply(ctx, postKey(rec.ID), rev, data, false)
	st := rec.status(rev)
	s.publishLive(ctx, "update", st, s.audienceOf(st))
	return s.Status(ctx, author, rec.ID)
}

// createIdempotent stores rec unless the author already posted with key in
// the last hour; then it returns that first post. Two racing retries agree
// through a compare-and-set on the key.
func (s *Service) createIdempotent(ctx context.Context, author starling.ID, key string, rec *postRecord) (*starling.Status, error) {
	id, err := s.ids.Next()
	if err != nil {
		return nil, err
	}
	k := idemKey(author, key)
	_, err = s.tab.Create(ctx, k, mustJSON(idemRecord{Status: id}), idempotencyTTL)
	if err == nil {
		rec.ID = id
		return s.storePost(ctx, author, rec, true)
	}
	if !starling.IsCode(err, starling.Conflict) {
		return nil, err
	}
	// Someone claimed the key first: return their post once it exists.
	idem, _, err := getRecord[idemRecord](ctx, s.tab, k)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		st, err := s.Status(ctx, author, idem.Status)
		if err == nil {
			return st, nil
		}
		if !starling.IsCode(err, starling.NotFound) {
			return nil, err
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	// The first attempt claimed the key but never stored its post (it
	// crashed or failed): store ours under the claimed ID. Create makes
	// a late first attempt and us agree on one record.
	rec.ID = idem.Status
	st, err := s.storePost(ctx, author, rec, true)
	if starling.IsCode(err, starling.Conflict) {
		return s.Status(ctx, author, idem.Status)
	}
	return st, err
}

// buildPost validates a new status and renders its content.
func (s *Service) buildPost(ctx context.Context, author *starling.Account, in starling.NewStatus) (*postRecord, error) {
	text := strings.ToValidUTF8(in.Text, "\uFFFD")
	spoiler := strings.ToValidUTF8(in.SpoilerText, "\uFFFD")
	if strings.TrimSpace(text) == "" && len(in.MediaIDs) == 0 {
		return nil, starling.Errorf(starling.Invalid, "Validation failed: Text can't be blank")
	}
	if n := content.Length(text) + utf8.RuneCountInString(spoiler); n > MaxChars {
		return nil, starling.Errorf(starling.Invalid, "Validation failed: Text character limit of %d exceeded", MaxChars)
	}
	if len(in.MediaIDs) > MaxMedia {
		return nil, starling.Errorf(starling.Invalid, "Validation failed: Media attachments limit of %d exceeded", MaxMedia)
	}
	if len(in.MediaIDs) > 0 && s.media == nil {
		return nil, starling.Errorf(starling.Invalid, "Validation failed: media attachments are not supported here")
	}
	if len(in.Language) > maxLanguageLen {
		return nil, starling.Errorf(starling.Invalid, "Validation failed: Language is not a valid ISO 639 code")
	}
	vis := in.Visibility
	if vis == "" {
		vis = author.Privacy
		if vis == "" {
			vis = starling.Public
		}
	}
	if !vis.Valid() {
		return nil, starling.Errorf(starling.Invalid, "Validation failed: Visibility is not included in the list")
	}
	rec := &postRecord{
		Account: author.ID, Created: s.now().UTC(), Text: text, Spoiler: spoiler, Sensitive: in.Sensitive || spoiler != "",
		Visibility: vis, Language: in.Language, Media: in.MediaIDs, AppName: in.AppName, AppWebsite: in.AppWebsite,
	}
	if rec.Language == "" {
		rec.Language = author.Language
	}
	if in.InReplyToID != 0 {
		parent, err := s.Status(ctx, author.ID, in.InReplyToID)
		if err != nil {
			return nil, err
		}
		if parent.ReblogOfID != 0 {
			return nil, starling.Errorf(starling.Invalid, "Validation failed: cannot reply to a reblog")
		}
		rec.ReplyTo, rec.ReplyToAccount = parent.ID, parent.AccountID
	}
	if err := s.render(ctx, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// render resolves mentions and renders the text to HTML.
func (s *Service) render(ctx context.Context, rec *postRecord) error {
	names, _, _ := content.Scan(rec.Text, s.host)
	resolved := map[string]*starling.Account{}
	for i, n := range names {
		if i >= 50 {
			break // Mastodon caps mentions per status too
		}
		a, err := s.profiles.lookup(ctx, n)
		if err == nil {
			resolved[strings.ToLower(n)] = a
		} else if !starling.IsCode(err, starling.NotFound) {
			return err
		}
	}
	r := content.Render(rec.Text, content.Options{BaseURL: s.base, Host: s.host, ResolveMention: func(u string) (string, bool) {
		a := resolved[strings.ToLower(u)]
		if a == nil {
			return "", false
		}
		return a.Username, true
	}})
	rec.Content, rec.Tags, rec.Mentions = r.HTML, r.Tags, nil
	for _, n := range r.Mentions {
		if a := resolved[strings.ToLower(n)]; a != nil {
			rec.Mentions = append(rec.Mentions, starling.Mention{ID: a.ID, Username: a.Username})
		}
	}
	return nil
}

// readPost reads a post record and its revision from the table.
func (s *Service) readPost(ctx context.Context, id starling.ID) (*postRecord, uint64, error) {
	rec, ent, err := getRecord[postRecord](ctx, s.tab, postKey(id))
	return rec, ent.Revision, err
}

// EditStatus replaces a status's text, content warning, sensitivity,
// language and media.
func (s *Service) EditStatus(ctx context.Context, author, id starling.ID, e starling.StatusEdit) (*starling.Status, error) {
	ctx, span := s.tel.Tracer.Start(ctx, "feed.EditStatus")
	defer span.End()
	for attempt := 0; attempt < 3; attempt++ {
		rec, rev, err := s.readPost(ctx, id)
		if err != nil {
			return nil, err
		}
		if rec.Account != author || rec.ReblogOf != 0 {
			return nil, errNotFound
		}
		acct, err := s.profiles.one(ctx, author)
		if err != nil {
			return nil, err
		}
		upd, err := s.buildPost(ctx, acct, starling.NewStatus{Text: e.Text, SpoilerText: e.SpoilerText, Sensitive: e.Sensitive,
			Visibility: rec.Visibility, Language: e.Language, MediaIDs: e.MediaIDs})
		if err != nil {
			return nil, err
		}
		newMedia := without(upd.Media, rec.Media)
		if len(newMedia) > 0 {
			if err := s.media.Attach(ctx, author, id, newMedia); err != nil {
				return nil, err
			}
		}
		edited := s.now().UTC()
		upd.ID, upd.Created, upd.Edited = rec.ID, rec.Created, &edited
		upd.ReplyTo, upd.ReplyToAccount, upd.AppName, upd.AppWebsite = rec.ReplyTo, rec.ReplyToAccount, rec.AppName, rec.AppWebsite
		if e.Language == "" {
			upd.Language = rec.Language
		}
		data := mustJSON(upd)
		nrev, err := s.tab.Update(ctx, postKey(id), data, rev)
		if starling.IsCode(err, starling.Conflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.apply(ctx, postKey(id), nrev, data, false)
		st := upd.status(nrev)
		s.publishLive(ctx, "status.update", st, s.audienceOf(st))
		return s.Status(ctx, author, id)
	}
	return nil, errConflict
}

// without returns the IDs of ids that are not in remove.
func without(ids, remove []starling.ID) []starling.ID {
	var out []starling.ID
	for _, id := range ids {
		if !slices.Contains(remove, id) {
			out = append(out, id)
		}
	}
	return out
}

// DeleteStatus deletes a status, its reblogs, favourites and reblog claims.
func (s *Service) DeleteStatus(ctx context.Context, author, id starling.ID) (*starling.Status, error) {
	ctx, span := s.tel.Tracer.Start(ctx, "feed.DeleteStatus")
	defer span.End()
	st, err := s.Status(ctx, author, id)
	if err != nil {
		return nil, err
	}
	if st.AccountID != author {
		return nil, errNotFound
	}
	rec, rev, err := s.readPost(ctx, id)
	if err != nil {
		return nil, err
	}
	audience := s.audienceOf(rec.status(rev))
	if err := s.tab.Delete(ctx, postKey(id), rev); err != nil {
		return nil, err
	}
	s.apply(ctx, postKey(id), rev+1, nil, true)
	s.publishLive(ctx, "delete", rec.status(rev), audience)
	if st.ReblogOfID != 0 {
		if err := s.deleteKey(ctx, boostKey(st.ReblogOfID, author)); err != nil {
			s.log.WarnContext(ctx, "delete reblog claim", "status", id, "err", err)
		}
	}
	s.cleanUpAfter(ctx, id)
	return st, nil
}

// cleanUpAfter deletes the records that hang off a deleted status: its
// favourites, reblog claims and reblog wrappers. It is best effort: the view
// already ignores them, and a failure leaves only unreachable records.
func (s *Service) cleanUpAfter(ctx context.Context, id starling.ID) {
	v := s.v()
	v.mu.RLock()
	var favs, boosts []edge
	if l := v.favs[id]; l != nil {
		favs = append(favs, l.edges...)
	}
	if l := v.boosts[id]; l != nil {
		boosts = append(boosts, l.edges...)
	}
	v.mu.RUnlock()
	ctx = context.WithoutCancel(ctx)
	for _, e := range favs {
		if err := s.deleteKey(ctx, favKey(id, e.account)); err != nil {
			s.log.WarnContext(ctx, "delete favourite of deleted status", "status", id, "err", err)
		}
	}
	for _, e := range boosts {
		if err := s.deleteKey(ctx, postKey(e.id)); err != nil {
			s.log.WarnContext(ctx, "delete reblog of deleted status", "status", id, "err", err)
		}
		if err := s.deleteKey(ctx, boostKey(id, e.account)); err != nil {
			s.log.WarnContext(ctx, "delete reblog claim of deleted status", "status", id, "err", err)
		}
	}
}

// deleteKey deletes a record at the revision it has now and applies the
// deletion to this node's view. A missing record is not an error.
func (s *Service) deleteKey(ctx context.Context, key string) error {
	for attempt := 0; attempt < 3; attempt++ {
		ent, err := s.tab.Get(ctx, key)
		if starling.IsCode(err, starling.NotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		err = s.tab.Delete(ctx, key, ent.Revision)
		if starling.IsCode(err, starling.Conflict) {
			continue
		}
		if err != nil {
			return err
		}
		s.apply(ctx, key, ent.Revision+1, nil, true)
		return nil
	}
	return errConflict
}

// original returns the status an interaction with id acts on: the status,
// or for a reblog the original. The viewer must be able to see it.
func (s *Service) original(ctx context.Context, viewer, id starling.ID) (*starling.Status, error) {
	st, err := s.Status(ctx, viewer, id)
	if err != nil || st.ReblogOfID == 0 {
		return st, err
	}
	return s.Status(ctx, viewer, st.ReblogOfID)
}

// target is original's ID.
func (s *Service) target(ctx context.Context, viewer, id starling.ID) (starling.ID, error) {
	st, err := s.original(ctx, viewer, id)
	if err != nil {
		return 0, err
	}
	return st.ID, nil
}

// Favourite favourites a status the viewer may see; repeating it is harmless.
func (s *Service) Favourite(ctx context.Context, viewer, id starling.ID) (*starling.Status, error) {
	ctx, span := s.tel.Tracer.Start(ctx, "feed.Favourite")
	defer span.End()
	target, err := s.target(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	fid, err := s.ids.Next()
	if err != nil {
		return nil, err
	}
	data := mustJSON(favRecord{ID: fid, Created: s.now().UTC()})
	rev, err := s.tab.Create(ctx, favKey(target, viewer), data, 0)
	switch {
	case err == nil:
		s.apply(ctx, favKey(target, viewer), rev, data, false)
	case starling.IsCode(err, starling.Conflict):
		// Favourited already, maybe through another node whose write this
		// node's view has not received yet: apply the stored record, so
		// the answer shows the favourite.
		if ent, gerr := s.tab.Get(ctx, favKey(target, viewer)); gerr == nil {
			s.apply(ctx, favKey(target, viewer), ent.Revision, ent.Value, false)
		}
	default:
		return nil, err
	}
	return s.Status(ctx, viewer, target)
}

// Unfavourite removes a favourite; repeating it is harmless.
func (s *Service) Unfavourite(ctx context.Context, viewer, id starling.ID) (*starling.Status, error) {
	ctx, span := s.tel.Tracer.Start(ctx, "feed.Unfavourite")
	defer span.End()
	target, err := s.target(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	if err := s.deleteKey(ctx, favKey(target, viewer)); err != nil {
		return nil, err
	}
	return s.Status(ctx, viewer, target)
}

// Reblog boosts a status: a new wrapper status whose reblog is the original.
// Direct statuses cannot be reblogged, private ones only by their author.
// Reblogging twice returns the existing wrapper.
func (s *Service) Reblog(ctx context.Context, viewer, id starling.ID, vis starling.Visibility) (*starling.Status, error) {
	ctx, span := s.tel.Tracer.Start(ctx, "feed.Reblog")
	defer span.End()
	orig, err := s.original(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	if orig.Visibility == starling.Direct || orig.Visibility == starling.Private && orig.AccountID != viewer {
		return nil, errForbidden
	}
	if vis == "" {
		vis = starling.Public
	}
	if vis == starling.Direct || !vis.Valid() {
		return nil, starling.Errorf(starling.Invalid, "Validation failed: Visibility is not included in the list")
	}
	if orig.Visibility == starling.Private {
		vis = starling.Private
	}
	wid, err := s.ids.Next()
	if err != nil {
		return nil, err
	}
	claim := mustJSON(boostRecord{Wrapper: wid})
	crev, err := s.tab.Create(ctx, boostKey(orig.ID, viewer), claim, 0)
	if starling.IsCode(err, starling.Conflict) {
		// Already reblogged (or a concurrent retry): make sure the
		// wrapper exists, then return it.
		b, _, err := getRecord[boostRecord](ctx, s.tab, boostKey(orig.ID, viewer))
		if err != nil {
			return nil, err
		}
		if st, err := s.Status(ctx, viewer, b.Wrapper); err == nil {
			return st, nil
		}
		wid = b.Wrapper
	} else if err != nil {
		return nil, err
	} else {
		s.apply(ctx, boostKey(orig.ID, viewer), crev, claim, false)
	}
	rec := &postRecord{ID: wid, Account: viewer, Created: s.now().UTC(), Visibility: vis, ReblogOf: orig.ID}
	st, err := s.storePost(ctx, viewer, rec, false)
	if starling.IsCode(err, starling.Conflict) {
		return s.Status(ctx, viewer, wid)
	}
	return st, err
}

// Unreblog removes the viewer's reblog of a status and returns the original.
func (s *Service) Unreblog(ctx context.Context, viewer, id starling.ID) (*starling.Status, error) {
	ctx, span := s.tel.Tracer.Start(ctx, "feed.Unreblog")
	defer span.End()
	orig, err := s.original(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	b, _, err := getRecord[boostRecord](ctx, s.tab, boostKey(orig.ID, viewer))
	if starling.IsCode(err, starling.NotFound) {
		return orig, nil
	}
	if err != nil {
		return nil, err
	}
	var wrapper *starling.Status
	var audience []starling.ID
	v := s.v()
	v.mu.RLock()
	if w := v.posts[b.Wrapper]; w != nil {
		wrapper, audience = w, v.audience(w)
	}
	v.mu.RUnlock()
	if err := s.deleteKey(ctx, postKey(b.Wrapper)); err != nil {
		return nil, err
	}
	if wrapper != nil {
		s.publishLive(ctx, "delete", wrapper, audience)
	}
	if err := s.deleteKey(ctx, boostKey(orig.ID, viewer)); err != nil {
		return nil, err
	}
	return s.Status(ctx, viewer, orig.ID)
}

// Rebuild recomputes every derived structure (home timelines, counters,
// per-author and tag lists) from the feed table into a fresh view, then
// swaps it in. Reads keep using the old view until the new one is ready,
// so a rebuild costs no downtime. It returns how long the replay took.
func (s *Service) Rebuild(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	old := s.v()
	nv := newView(old.threshold, old.homeCap)
	r, ready, err := s.startReplay(ctx, nv)
	if err != nil {
		return 0, err
	}
	select {
	case <-ready:
	case <-ctx.Done():
		r.Stop()
		return 0, fmt.Errorf("rebuild: %w", ctx.Err())
	}
	s.replayMu.Lock()
	prev := s.replay
	s.replay = r
	s.current.Store(nv)
	s.replayMu.Unlock()
	prev.Stop()
	took := time.Since(start)
	s.log.InfoContext(ctx, "feed view rebuilt", "took", took, "statuses", nv.size())
	return took, nil
}

// size returns how many statuses the view holds.
func (v *view) size() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.posts)
}
