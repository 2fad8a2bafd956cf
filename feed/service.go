// Package feed is Starling's Feed service: statuses, favourites, reblogs,
// the follow graph and timelines.
//
// Source of truth lives in the partitioned "feed" table (records.go lists
// its keys). Everything else — home, account, public and tag timelines,
// reply trees, counters — is derived, and split into view partitions, the
// table's partitions: an account's lists live in the partition of its ID
// (part.go). Each Feed instance serves the partitions whose leases it holds
// (package shard), loads one from its latest snapshot plus the streams'
// tail (snapshot.go), and keeps it current by following every stream of
// the table once per node (dispatch.go): a post's record is its fan-out
// event, and each partition delivers it to its own accounts' homes. A call
// made for an account runs where its partition is served (route.go);
// status bodies come from a bounded per-node cache (bodies.go). Accounts
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

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/content"
	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/shard"
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
	// tombstoneTTL is how long a deleted status's tombstone stays in the
	// table: far longer than any snapshot a view restarts from is old.
	tombstoneTTL = 7 * 24 * time.Hour
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
	// Member names this instance among the Feed instances (the node's
	// name: unique, stable across restarts).
	Member string
	// Remote carries calls for accounts whose partition another instance
	// serves; Peers asks other instances for their partitions' data. Nil
	// when this is the only instance (every call is answered here).
	Remote starling.FeedService
	Peers  starling.FeedPartitions
	// Expose makes a partition this instance serves reachable by the
	// others (the transport's per-partition endpoints, answering for svc
	// and parts); it returns the function that withdraws it. Nil: nothing
	// to expose.
	Expose func(p int, svc starling.FeedService, parts starling.FeedPartitions) (withdraw func(), err error)
	// BodyCache bounds the status body cache in bytes (default 256 MiB);
	// ProfileCache the profile cache (default 64 MiB).
	BodyCache    int64
	ProfileCache int64
	// SnapshotEvery is how often each served partition's view is written
	// to the engine when it changed (default 30s; negative: never).
	SnapshotEvery time.Duration
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
	n        int
	homeCap  int
	thresh   int
	profiles *profiles
	bodies   *bodies
	disp     *dispatcher
	snaps    *engine.Snapshots
	owners   *shard.Manager
	remote   starling.FeedService
	peers    starling.FeedPartitions
	parts    partitions
	expose   func(int, starling.FeedService, starling.FeedPartitions) (func(), error)
	counts   *countCache
	snapEv   time.Duration

	serving   [64]atomic.Pointer[part]
	mu        sync.Mutex
	withdraws map[int]func()
	stopped   chan struct{}
	loops     sync.WaitGroup
	now       func() time.Time
}

var _ starling.FeedService = (*Service)(nil)

// New starts the Feed service: it creates the feed table if needed, starts
// following its streams and starts taking part in the partitions' leases.
// The service answers once WaitReady returns. Close stops it.
func New(ctx context.Context, cfg Config) (*Service, error) {
	tab, err := openTable(ctx, cfg.Engine)
	if err != nil {
		return nil, err
	}
	if tab.Partitions() > len((&Service{}).serving) {
		return nil, fmt.Errorf("feed: at most %d partitions", len((&Service{}).serving))
	}
	s := &Service{
		eng: cfg.Engine, tab: tab, ids: cfg.IDs, media: cfg.Media, tel: cfg.Telemetry,
		log:  cfg.Telemetry.Log.With("service", "feed"),
		base: strings.TrimRight(cfg.PublicURL.String(), "/"), host: cfg.PublicURL.Host,
		n: tab.Partitions(), homeCap: cmp0(cfg.HomeCap, defaultHomeCap), thresh: threshold(cfg.FanoutThreshold),
		remote: cfg.Remote, peers: cfg.Peers, expose: cfg.Expose, counts: newCountCache(100_000, 2*time.Second),
		snapEv: cfg.SnapshotEvery, withdraws: map[int]func(){}, stopped: make(chan struct{}), now: time.Now,
	}
	s.parts = partitions{s: s}
	if s.snapEv == 0 {
		s.snapEv = 30 * time.Second
	}
	if s.profiles, err = newProfiles(cfg.Engine, cfg.Auth, cmp0(cfg.ProfileCache, 64<<20)); err != nil {
		return nil, err
	}
	s.bodies = newBodies(tab, cfg.BodyCache)
	if s.snaps, err = cfg.Engine.Snapshots(ctx, "feed"); err != nil {
		s.profiles.close()
		return nil, err
	}
	if s.disp, err = newDispatcher(ctx, tab, s.bodies, s.tel, s.log, s.publishLive); err != nil {
		s.profiles.close()
		return nil, err
	}
	member := cfg.Member
	if member == "" {
		member = cfg.Engine.NodeName()
	}
	s.owners, err = shard.Start(ctx, shard.Config{Engine: cfg.Engine, Service: "feed", Partitions: s.n, Member: member,
		Hooks: hooks{s}, Telemetry: cfg.Telemetry})
	if err != nil {
		s.disp.stop()
		s.profiles.close()
		return nil, err
	}
	for _, r := range []string{"ok", "error"} {
		s.tel.Metrics.ViewSnapshots.WithLabelValues("feed", r) // exported from the start, at 0
	}
	s.loops.Add(2)
	go s.snapshotLoop()
	go s.reportLoop()
	return s, nil
}

func cmp0[T int | int64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

func threshold(t int) int {
	switch {
	case t == 0:
		return DefaultThreshold
	case t < 0:
		return 0
	}
	return t
}

// WaitReady waits until this instance serves the partitions assigned to it
// that nobody served when it started (on a single node: all of them).
func (s *Service) WaitReady(ctx context.Context) error { return s.owners.WaitReady(ctx) }

// Ready reports whether WaitReady would return at once.
func (s *Service) Ready() bool { return s.owners.Ready() }

// Close hands the partitions this instance serves over to the others
// (after a last snapshot) and stops.
func (s *Service) Close() {
	select {
	case <-s.stopped:
		return
	default:
	}
	close(s.stopped)
	s.loops.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s.owners.Close(ctx)
	s.disp.stop()
	s.profiles.close()
}

// Drain hands every partition over to the other instances and waits until
// this one serves none.
func (s *Service) Drain(ctx context.Context) error { return s.owners.Drain(ctx) }

// ViewLag returns how many messages of the feed table this node's
// followers have not yet applied: the backlog of the asynchronous fan-out.
func (s *Service) ViewLag(ctx context.Context) uint64 { return s.disp.lag(ctx) }

// --- writing ---

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err))
	}
	return b
}

// wrote waits until this node's view has applied a write to key at rev, so
// the writer reads its own write. It reports false when the view did not
// get it in time (its stream's consumer is recovering from a failure):
// the caller then answers from what it wrote.
func (s *Service) wrote(ctx context.Context, key string, rev uint64) bool {
	return s.disp.waitApplied(ctx, s.tab.Partition(key), rev)
}

// CreateStatus validates, renders and stores a status. The stored record is
// the fan-out event; it returns once this node's view has applied it.
func (s *Service) CreateStatus(ctx context.Context, author starling.ID, in starling.NewStatus) (*starling.Status, error) {
	if pt, err := s.route(ctx, author); pt == nil {
		if err != nil {
			return nil, err
		}
		return s.remote.CreateStatus(ctx, author, in)
	}
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

// storePost writes a new post record (and attaches its media) and returns
// it hydrated for its author.
func (s *Service) storePost(ctx context.Context, author starling.ID, rec *postRecord, attach bool) (*starling.Status, error) {
	if attach && len(rec.Media) > 0 {
		if err := s.media.Attach(ctx, author, rec.ID, rec.Media); err != nil {
			return nil, err
		}
	}
	if rec.Root == 0 {
		rec.Root = rec.root()
	}
	rev, err := s.tab.Create(ctx, postKey(rec.ID), mustJSON(rec), 0)
	if err != nil {
		return nil, err
	}
	s.wrote(ctx, postKey(rec.ID), rev)
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
		rec.ReplyTo, rec.ReplyToAccount, rec.Root = parent.ID, parent.AccountID, parent.Root
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

// readPost reads a live post record and its revision from the table.
func (s *Service) readPost(ctx context.Context, id starling.ID) (*postRecord, uint64, error) {
	rec, ent, err := getRecord[postRecord](ctx, s.tab, postKey(id))
	if err == nil && rec.Deleted {
		return nil, 0, errNotFound
	}
	return rec, ent.Revision, err
}

// EditStatus replaces a status's text, content warning, sensitivity,
// language and media.
func (s *Service) EditStatus(ctx context.Context, author, id starling.ID, e starling.StatusEdit) (*starling.Status, error) {
	if pt, err := s.route(ctx, author); pt == nil {
		if err != nil {
			return nil, err
		}
		return s.remote.EditStatus(ctx, author, id, e)
	}
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
		if newMedia := without(upd.Media, rec.Media); len(newMedia) > 0 {
			if err := s.media.Attach(ctx, author, id, newMedia); err != nil {
				return nil, err
			}
		}
		edited := s.now().UTC()
		upd.ID, upd.Created, upd.Edited = rec.ID, rec.Created, &edited
		upd.ReplyTo, upd.ReplyToAccount, upd.Root, upd.AppName, upd.AppWebsite = rec.ReplyTo, rec.ReplyToAccount, rec.Root, rec.AppName, rec.AppWebsite
		for _, t := range append(rec.Untagged, rec.Tags...) {
			if !slices.Contains(upd.Tags, t) && !slices.Contains(upd.Untagged, t) {
				upd.Untagged = append(upd.Untagged, t)
			}
		}
		if e.Language == "" {
			upd.Language = rec.Language
		}
		nrev, err := s.tab.Update(ctx, postKey(id), mustJSON(upd), rev)
		if starling.IsCode(err, starling.Conflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.wrote(ctx, postKey(id), nrev)
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
// The status's record becomes a tombstone (what the views need to remove
// it everywhere), which expires after tombstoneTTL.
func (s *Service) DeleteStatus(ctx context.Context, author, id starling.ID) (*starling.Status, error) {
	if pt, err := s.route(ctx, author); pt == nil {
		if err != nil {
			return nil, err
		}
		return s.remote.DeleteStatus(ctx, author, id)
	}
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
	if err := s.bury(ctx, rec, rev); err != nil {
		return nil, err
	}
	if st.ReblogOfID != 0 {
		if _, err := s.deleteKey(ctx, boostKey(st.ReblogOfID, author)); err != nil {
			s.log.WarnContext(ctx, "delete reblog claim", "status", id, "err", err)
		}
	}
	s.cleanUpAfter(ctx, id)
	src := *st
	src.Text = rec.Text
	return &src, nil
}

// bury replaces a post record at rev with its tombstone.
func (s *Service) bury(ctx context.Context, rec *postRecord, rev uint64) error {
	nrev, _, err := s.tab.PutWith(ctx, postKey(rec.ID), mustJSON(rec.tombstone()), engine.PutOptions{ExpectRevision: &rev, TTL: tombstoneTTL})
	if err != nil {
		return err
	}
	s.wrote(ctx, postKey(rec.ID), nrev)
	return nil
}

// cleanUpAfter deletes the records that hang off a deleted status: its
// favourites, reblog claims and reblog wrappers. It is best effort: the
// views already ignore them, and a failure leaves only unreachable records.
func (s *Service) cleanUpAfter(ctx context.Context, id starling.ID) {
	ctx = context.WithoutCancel(ctx)
	p := partOf(id, s.n)
	for _, kind := range []string{starling.EdgeFavourites, starling.EdgeReblogs} {
		var page starling.Page
		for range 50 {
			es, err := s.parts.Edges(ctx, p, kind, id, starling.Page{MaxID: page.MaxID, Limit: accountsLimit * 2})
			if err != nil {
				s.log.WarnContext(ctx, "list interactions of a deleted status", "status", id, "err", err)
				break
			}
			for _, e := range es {
				s.cleanUpEdge(ctx, id, kind, e)
			}
			if len(es) < accountsLimit*2 {
				break
			}
			page.MaxID = es[len(es)-1].ID
		}
	}
}

func (s *Service) cleanUpEdge(ctx context.Context, id starling.ID, kind string, e starling.Edge) {
	if kind == starling.EdgeFavourites {
		if _, err := s.deleteKey(ctx, favKey(id, e.Account)); err != nil {
			s.log.WarnContext(ctx, "delete favourite of deleted status", "status", id, "err", err)
		}
		return
	}
	if rec, rev, err := s.readPost(ctx, e.ID); err == nil {
		if err := s.bury(ctx, rec, rev); err != nil {
			s.log.WarnContext(ctx, "delete reblog of deleted status", "status", id, "err", err)
		}
	}
	if _, err := s.deleteKey(ctx, boostKey(id, e.Account)); err != nil {
		s.log.WarnContext(ctx, "delete reblog claim of deleted status", "status", id, "err", err)
	}
}

// deleteKey deletes a record at the revision it has now. A missing record
// is not an error. It reports whether this node's view has applied the
// deletion (see wrote).
func (s *Service) deleteKey(ctx context.Context, key string) (applied bool, err error) {
	for attempt := 0; attempt < 3; attempt++ {
		ent, err := s.tab.Get(ctx, key)
		if starling.IsCode(err, starling.NotFound) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		drev, err := s.tab.DeleteAt(ctx, key, ent.Revision)
		if starling.IsCode(err, starling.Conflict) {
			continue
		}
		if err != nil {
			return false, err
		}
		return s.wrote(ctx, key, drev), nil
	}
	return false, errConflict
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

// Favourite favourites a status the viewer may see; repeating it is harmless.
func (s *Service) Favourite(ctx context.Context, viewer, id starling.ID) (*starling.Status, error) {
	if pt, err := s.route(ctx, viewer); pt == nil {
		if err != nil {
			return nil, err
		}
		return s.remote.Favourite(ctx, viewer, id)
	}
	ctx, span := s.tel.Tracer.Start(ctx, "feed.Favourite")
	defer span.End()
	orig, err := s.original(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	fid, err := s.ids.Next()
	if err != nil {
		return nil, err
	}
	key := favKey(orig.ID, viewer)
	rev, err := s.tab.Create(ctx, key, mustJSON(favRecord{ID: fid, Created: s.now().UTC()}), 0)
	switch {
	case err == nil:
	case starling.IsCode(err, starling.Conflict):
		// Favourited already (a retry, or through another node): wait for
		// the stored record, so the answer shows the favourite.
		ent, gerr := s.tab.Get(ctx, key)
		if gerr != nil {
			return nil, gerr
		}
		rev = ent.Revision
	default:
		return nil, err
	}
	applied := s.wrote(ctx, key, rev)
	st, err := s.Status(ctx, viewer, orig.ID)
	if err == nil && !applied && st.Viewer != nil {
		st.Viewer.Favourited = true // stored; this node's view has not caught up yet
	}
	return st, err
}

// Unfavourite removes a favourite; repeating it is harmless.
func (s *Service) Unfavourite(ctx context.Context, viewer, id starling.ID) (*starling.Status, error) {
	if pt, err := s.route(ctx, viewer); pt == nil {
		if err != nil {
			return nil, err
		}
		return s.remote.Unfavourite(ctx, viewer, id)
	}
	ctx, span := s.tel.Tracer.Start(ctx, "feed.Unfavourite")
	defer span.End()
	orig, err := s.original(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	applied, err := s.deleteKey(ctx, favKey(orig.ID, viewer))
	if err != nil {
		return nil, err
	}
	st, err := s.Status(ctx, viewer, orig.ID)
	if err == nil && !applied && st.Viewer != nil {
		st.Viewer.Favourited = false
	}
	return st, err
}

// Reblog boosts a status: a new wrapper status whose reblog is the original.
// Direct statuses cannot be reblogged, private ones only by their author.
// Reblogging twice returns the existing wrapper.
func (s *Service) Reblog(ctx context.Context, viewer, id starling.ID, vis starling.Visibility) (*starling.Status, error) {
	if pt, err := s.route(ctx, viewer); pt == nil {
		if err != nil {
			return nil, err
		}
		return s.remote.Reblog(ctx, viewer, id, vis)
	}
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
	claimKey := boostKey(orig.ID, viewer)
	crev, err := s.tab.Create(ctx, claimKey, mustJSON(boostRecord{Wrapper: wid}), 0)
	var st *starling.Status
	if starling.IsCode(err, starling.Conflict) {
		// Already reblogged (or a concurrent retry): make sure the
		// wrapper exists, then return it.
		b, ent, err := getRecord[boostRecord](ctx, s.tab, claimKey)
		if err != nil {
			return nil, err
		}
		crev, wid = ent.Revision, b.Wrapper
		st, _ = s.Status(ctx, viewer, wid)
	} else if err != nil {
		return nil, err
	}
	applied := s.wrote(ctx, claimKey, crev)
	if st == nil {
		rec := &postRecord{ID: wid, Account: viewer, Created: s.now().UTC(), Visibility: vis, ReblogOf: orig.ID, ReblogOfAccount: orig.AccountID}
		st, err = s.storePost(ctx, viewer, rec, false)
		if starling.IsCode(err, starling.Conflict) {
			st, err = s.Status(ctx, viewer, wid)
		}
		if err != nil {
			return nil, err
		}
	}
	if !applied && st.Viewer != nil {
		st.Viewer.Reblogged = true // stored; this node's view has not caught up yet
	}
	return st, nil
}

// Unreblog removes the viewer's reblog of a status and returns the original.
func (s *Service) Unreblog(ctx context.Context, viewer, id starling.ID) (*starling.Status, error) {
	if pt, err := s.route(ctx, viewer); pt == nil {
		if err != nil {
			return nil, err
		}
		return s.remote.Unreblog(ctx, viewer, id)
	}
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
	if rec, rev, err := s.readPost(ctx, b.Wrapper); err == nil {
		if err := s.bury(ctx, rec, rev); err != nil {
			return nil, err
		}
	} else if !starling.IsCode(err, starling.NotFound) {
		return nil, err
	}
	if _, err := s.deleteKey(ctx, boostKey(orig.ID, viewer)); err != nil {
		return nil, err
	}
	return s.Status(ctx, viewer, orig.ID)
}

// Rebuild recomputes every partition this node serves from the feed table
// (its whole history, not a snapshot) into a fresh copy, then swaps it in.
// Reads keep using the old copy until the new one is ready, so a rebuild
// costs no downtime. It returns how long it took.
func (s *Service) Rebuild(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	for _, p := range s.owners.Owned() {
		old := s.holding(p)
		if old == nil {
			continue
		}
		fresh := newPart(p, s.n, s.thresh, s.homeCap)
		fresh.quiet = true
		s.disp.add(fresh) // fed beside old, which keeps answering meanwhile
		if err := s.disp.catchUp(ctx, fresh); err != nil {
			s.disp.remove(fresh)
			return 0, fmt.Errorf("rebuild partition %d: %w", p, err)
		}
		if s.serving[p].CompareAndSwap(old, fresh) {
			s.disp.remove(old)
			fresh.speak()
		} else {
			s.disp.remove(fresh) // released meanwhile
		}
	}
	took := time.Since(start)
	s.log.InfoContext(ctx, "feed view rebuilt", "took", took, "partitions", s.owners.Owned())
	return took, nil
}
