package feed

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/starling-social/starling"
)

// Default and maximum page sizes (Mastodon: statuses 20/40, accounts 40/80).
const (
	statusesLimit = 20
	accountsLimit = 40
	contextLimit  = 4096
)

// --- hydration ---

// hydrate returns the statuses of ids that viewer may see, in order, filled
// in for the viewer: authors (profiles and counters), reblogged originals,
// media, counters and the viewer's flags. pt is the viewer's partition
// (nil for an anonymous viewer). Deleted statuses are left out.
func (s *Service) hydrate(ctx context.Context, pt *part, viewer starling.ID, ids []starling.ID) ([]*starling.Status, error) {
	if len(ids) == 0 {
		return []*starling.Status{}, nil
	}
	bodies, err := s.bodies.getMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	var origs []starling.ID
	for _, id := range ids {
		if b := bodies[id]; b != nil && b.ReblogOfID != 0 && bodies[b.ReblogOfID] == nil {
			origs = append(origs, b.ReblogOfID)
		}
	}
	if len(origs) > 0 {
		ob, err := s.bodies.getMany(ctx, origs)
		if err != nil {
			return nil, err
		}
		for id, b := range ob {
			bodies[id] = b
		}
	}
	kept := s.visibleOf(pt, viewer, ids, bodies)
	var statusIDs, accountIDs []starling.ID
	for _, b := range kept {
		statusIDs, accountIDs = append(statusIDs, b.ID), appendNew(accountIDs, b.AccountID)
		if o := bodies[b.ReblogOfID]; b.ReblogOfID != 0 {
			statusIDs, accountIDs = append(statusIDs, o.ID), appendNew(accountIDs, o.AccountID)
		}
	}
	counts, err := s.countsOf(ctx, statusIDs, accountIDs)
	if err != nil {
		return nil, err
	}
	accounts, err := s.accountsWith(ctx, accountIDs, counts)
	if err != nil {
		return nil, err
	}
	b := newBuilder(len(kept), pt, viewer, counts, accounts)
	out := make([]*starling.Status, 0, len(kept))
	if pt != nil {
		pt.mu.RLock()
	}
	for _, body := range kept {
		st := b.status(body)
		if body.ReblogOfID != 0 {
			st.Reblog = b.status(bodies[body.ReblogOfID])
			if st.Reblog.Account == nil {
				continue
			}
			st.Viewer = st.Reblog.Viewer // Mastodon shows the original's flags on the wrapper
		}
		if st.Account != nil {
			out = append(out, st)
		}
	}
	if pt != nil {
		pt.mu.RUnlock()
	}
	if err := s.attachMedia(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// visibleOf returns, in order, the bodies of ids the viewer may see (for a
// reblog, the original too).
func (s *Service) visibleOf(pt *part, viewer starling.ID, ids []starling.ID, bodies map[starling.ID]*starling.Status) []*starling.Status {
	if pt != nil {
		pt.mu.RLock()
		defer pt.mu.RUnlock()
	}
	kept := make([]*starling.Status, 0, len(ids))
	for _, id := range ids {
		b := bodies[id]
		if b == nil || !pt.canSee(viewer, b) {
			continue
		}
		if b.ReblogOfID != 0 {
			if o := bodies[b.ReblogOfID]; o == nil || !pt.canSee(viewer, o) {
				continue
			}
		}
		kept = append(kept, b)
	}
	return kept
}

func appendNew(ids []starling.ID, id starling.ID) []starling.ID {
	if slices.Contains(ids, id) {
		return ids
	}
	return append(ids, id)
}

// builder copies bodies into a page's statuses from slabs sized for the
// page, so a page costs a handful of allocations, not several per status.
type builder struct {
	pt       *part
	viewer   starling.ID
	counts   *starling.PartCounts
	accounts map[starling.ID]*starling.Account
	store    []starling.Status
	flags    []starling.ViewerFlags
}

func newBuilder(n int, pt *part, viewer starling.ID, counts *starling.PartCounts, accounts map[starling.ID]*starling.Account) *builder {
	b := &builder{pt: pt, viewer: viewer, counts: counts, accounts: accounts, store: make([]starling.Status, 0, 2*n)}
	if pt != nil && viewer != 0 {
		b.flags = make([]starling.ViewerFlags, 0, 2*n)
	}
	return b
}

// status copies body with its counters, the viewer's flags and its author.
// Under the viewer partition's read lock.
func (b *builder) status(body *starling.Status) *starling.Status {
	st := slot(&b.store)
	*st = *body
	st.Counts = b.counts.Statuses[body.ID]
	st.Account = b.accounts[body.AccountID]
	if b.flags != nil {
		st.Viewer = slot(&b.flags)
		*st.Viewer = b.pt.viewerFlags(b.viewer, body)
	}
	return st
}

// slot returns a pointer to a fresh element of *store, allocating a new
// backing chunk when it is full. Earlier pointers stay valid: a full chunk
// is never reallocated, only replaced.
func slot[T any](store *[]T) *T {
	if len(*store) == cap(*store) {
		*store = make([]T, 0, max(4, cap(*store)/2))
	}
	*store = (*store)[:len(*store)+1]
	return &(*store)[len(*store)-1]
}

// countsOf returns the counters of statuses and accounts: from the
// partitions served here directly, from others' holders (briefly cached).
func (s *Service) countsOf(ctx context.Context, statuses, accounts []starling.ID) (*starling.PartCounts, error) {
	out := &starling.PartCounts{Statuses: make(map[starling.ID]starling.StatusCounts, len(statuses)),
		Accounts: make(map[starling.ID]starling.AccountCounts, len(accounts))}
	var remoteS, remoteA []starling.ID
	for p, ids := range s.byPartition(statuses) {
		if pt := s.holding(p); pt != nil {
			pt.counts(ids, nil, out)
		} else {
			remoteS = append(remoteS, ids...)
		}
	}
	for p, ids := range s.byPartition(accounts) {
		if pt := s.holding(p); pt != nil {
			pt.counts(nil, ids, out)
		} else {
			remoteA = append(remoteA, ids...)
		}
	}
	if len(remoteS)+len(remoteA) == 0 {
		return out, nil
	}
	remoteS, remoteA = s.counts.lookup(remoteS, remoteA, out)
	need := map[int][2][]starling.ID{}
	for p, ids := range s.byPartition(remoteS) {
		e := need[p]
		e[0] = ids
		need[p] = e
	}
	for p, ids := range s.byPartition(remoteA) {
		e := need[p]
		e[1] = ids
		need[p] = e
	}
	results := make(map[int]*starling.PartCounts, len(need))
	var mu sync.Mutex
	err := gather(keys(need), func(p int) error {
		pc, err := s.parts.Counts(ctx, p, need[p][0], need[p][1])
		if err != nil {
			return err
		}
		mu.Lock()
		results[p] = pc
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, pc := range results {
		s.counts.store(pc)
		for id, c := range pc.Statuses {
			out.Statuses[id] = c
		}
		for id, c := range pc.Accounts {
			out.Accounts[id] = c
		}
	}
	return out, nil
}

// accountsWith returns the profiles of ids with their counters, by ID
// (accounts that do not exist are left out).
func (s *Service) accountsWith(ctx context.Context, ids []starling.ID, counts *starling.PartCounts) (map[starling.ID]*starling.Account, error) {
	profiles, err := s.profiles.aligned(ctx, ids)
	if err != nil {
		return nil, err
	}
	slab := make([]starling.Account, len(ids))
	out := make(map[starling.ID]*starling.Account, len(ids))
	for i, p := range profiles {
		if p == nil {
			continue
		}
		a := &slab[i]
		*a = *p
		c := counts.Accounts[p.ID]
		a.StatusesCount, a.FollowersCount, a.FollowingCount = c.Statuses, c.Followers, c.Following
		if c.LastStatus != 0 {
			t := c.LastStatus.Time()
			a.LastStatusAt = &t
		}
		out[p.ID] = a
	}
	return out, nil
}

// attachMedia fills the Media of statuses that have media IDs.
func (s *Service) attachMedia(ctx context.Context, sts []*starling.Status) error {
	if s.media == nil {
		return nil
	}
	var ids []starling.ID
	for _, st := range sts {
		ids = append(ids, st.MediaIDs...)
		if st.Reblog != nil {
			ids = append(ids, st.Reblog.MediaIDs...)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	ms, err := s.media.Attachments(ctx, ids)
	if err != nil {
		return err
	}
	byID := make(map[starling.ID]*starling.MediaAttachment, len(ms))
	for _, m := range ms {
		byID[m.ID] = m
	}
	fill := func(st *starling.Status) {
		for _, id := range st.MediaIDs {
			if m := byID[id]; m != nil {
				st.Media = append(st.Media, m)
			}
		}
	}
	for _, st := range sts {
		fill(st)
		if st.Reblog != nil {
			fill(st.Reblog)
		}
	}
	return nil
}

// --- statuses ---

// Status returns one status the viewer may see.
func (s *Service) Status(ctx context.Context, viewer, id starling.ID) (*starling.Status, error) {
	pt, ok, err := s.viewerPart(ctx, viewer)
	if !ok {
		if err != nil {
			return nil, err
		}
		return s.remote.Status(ctx, viewer, id)
	}
	sts, err := s.hydrate(ctx, pt, viewer, []starling.ID{id})
	if err != nil {
		return nil, err
	}
	if len(sts) == 0 {
		return nil, errNotFound
	}
	return sts[0], nil
}

// Statuses returns the statuses of ids the viewer may see, in order.
func (s *Service) Statuses(ctx context.Context, viewer starling.ID, ids []starling.ID) ([]*starling.Status, error) {
	if len(ids) > 1000 {
		return nil, starling.Errorf(starling.Invalid, "too many statuses requested")
	}
	pt, ok, err := s.viewerPart(ctx, viewer)
	if !ok {
		if err != nil {
			return nil, err
		}
		return s.remote.Statuses(ctx, viewer, ids)
	}
	return s.hydrate(ctx, pt, viewer, ids)
}

// Context returns a status's ancestors (oldest first) and descendants in
// thread order (depth first, oldest reply first at each level). The reply
// tree comes from the partition of the conversation's first status.
func (s *Service) Context(ctx context.Context, viewer, id starling.ID) (*starling.Thread, error) {
	pt, ok, err := s.viewerPart(ctx, viewer)
	if !ok {
		if err != nil {
			return nil, err
		}
		return s.remote.Context(ctx, viewer, id)
	}
	st, err := s.Status(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	root := st.Root
	if root == 0 {
		root = st.ID
	}
	entries, err := s.parts.Thread(ctx, partOf(root, s.n), root)
	if err != nil {
		return nil, err
	}
	maxN := contextLimit
	if viewer == 0 {
		maxN = 60
	}
	parent := map[starling.ID]starling.ID{}
	children := map[starling.ID][]starling.ID{}
	for _, e := range entries { // ascending by ID: children come out oldest first
		parent[e.ID] = e.Parent
		children[e.Parent] = append(children[e.Parent], e.ID)
	}
	var anc []starling.ID
	for cur := st.InReplyToID; cur != 0 && len(anc) < maxN; cur = parent[cur] {
		anc = append(anc, cur)
		if cur == root {
			break
		}
	}
	slices.Reverse(anc)
	var desc []starling.ID
	var walk func(pid starling.ID, depth int)
	walk = func(pid starling.ID, depth int) {
		for _, c := range children[pid] {
			if len(desc) >= maxN || depth > 200 {
				return
			}
			desc = append(desc, c)
			walk(c, depth+1)
		}
	}
	walk(id, 0)
	a, err := s.hydrate(ctx, pt, viewer, anc)
	if err != nil {
		return nil, err
	}
	d, err := s.hydrate(ctx, pt, viewer, desc)
	if err != nil {
		return nil, err
	}
	return &starling.Thread{Ancestors: a, Descendants: visibleSubtrees(id, d, parent)}, nil
}

// visibleSubtrees drops the descendants whose parent is not shown (a reply
// the viewer may not see hides its replies too).
func visibleSubtrees(id starling.ID, desc []*starling.Status, parent map[starling.ID]starling.ID) []*starling.Status {
	shown := map[starling.ID]bool{id: true}
	out := desc[:0]
	for _, st := range desc {
		if shown[parent[st.ID]] {
			shown[st.ID] = true
			out = append(out, st)
		}
	}
	return out
}

// --- timelines ---

// HomeTimeline returns the viewer's home timeline: the fanned-out list,
// merged with the recent statuses of followed accounts too big to fan out.
// A home that a follow change left dirty (or that was never read) is
// rebuilt from the followed accounts' lists first.
func (s *Service) HomeTimeline(ctx context.Context, viewer starling.ID, p starling.Page) ([]*starling.Status, error) {
	pt, err := s.route(ctx, viewer)
	if pt == nil {
		if err != nil {
			return nil, err
		}
		return s.remote.HomeTimeline(ctx, viewer, p)
	}
	limit := clampLimit(p.Limit, statusesLimit)
	var ids []starling.ID
	for attempt := 0; ; attempt++ {
		var ready bool
		if ids, ready = pt.homePage(viewer, p, limit, nil); ready {
			break
		}
		if attempt == 3 {
			return nil, starling.Unavailablef(time.Second, "home timeline is being rebuilt")
		}
		if err := s.rebuildHome(ctx, pt, viewer); err != nil {
			return nil, err
		}
	}
	pt.mu.RLock()
	bigs, reblogs := pt.bigFollows(viewer)
	pt.mu.RUnlock()
	if len(bigs) > 0 {
		merged, err := s.mergeBig(ctx, viewer, bigs, reblogs, p, limit, ids)
		if err != nil {
			return nil, err
		}
		ids = merged
	}
	return s.hydrate(ctx, pt, viewer, ids)
}

// rebuildHome recomputes viewer's home timeline from the lists of the
// accounts it follows (gathered from their partitions' holders): their
// newest statuses it may see, reblogs only from follows that show them,
// each status once.
func (s *Service) rebuildHome(ctx context.Context, pt *part, viewer starling.ID) error {
	authors, reblogs, _, gen := pt.homeSources(viewer)
	groups := map[int]*starling.AuthorQuery{}
	for i, a := range authors {
		p := partOf(a, s.n)
		q := groups[p]
		if q == nil {
			q = &starling.AuthorQuery{Viewer: viewer, Home: true, Page: starling.Page{Limit: s.homeCap + homeSlack}}
			groups[p] = q
		}
		q.Authors, q.Reblogs = append(q.Authors, a), append(q.Reblogs, reblogs[i])
	}
	var mu sync.Mutex
	var all []starling.AuthorEntry
	err := gather(keys(groups), func(p int) error {
		es, err := s.parts.AuthorStatuses(ctx, p, *groups[p])
		mu.Lock()
		all = append(all, es...)
		mu.Unlock()
		return err
	})
	if err != nil {
		return err
	}
	slices.SortFunc(all, func(x, y starling.AuthorEntry) int { return cmp.Compare(y.ID, x.ID) })
	if len(all) > s.homeCap+homeSlack {
		all = all[:s.homeCap+homeSlack]
	}
	pt.installHome(viewer, gen, all)
	return nil
}

// mergeBig merges the statuses of followed accounts merged at read time
// into a page of the home list.
func (s *Service) mergeBig(ctx context.Context, viewer starling.ID, bigs []starling.ID, reblogs []bool, p starling.Page, limit int, page []starling.ID) ([]starling.ID, error) {
	groups := map[int]*starling.AuthorQuery{}
	for i, a := range bigs {
		part := partOf(a, s.n)
		q := groups[part]
		if q == nil {
			q = &starling.AuthorQuery{Viewer: viewer, Home: true, Page: starling.Page{MaxID: p.MaxID, SinceID: p.SinceID, MinID: p.MinID, Limit: limit}}
			groups[part] = q
		}
		q.Authors, q.Reblogs = append(q.Authors, a), append(q.Reblogs, reblogs[i])
	}
	lists := [][]starling.ID{page}
	var mu sync.Mutex
	err := gather(keys(groups), func(part int) error {
		es, err := s.parts.AuthorStatuses(ctx, part, *groups[part])
		ids := make([]starling.ID, len(es))
		for i, e := range es {
			ids[i] = e.ID
		}
		mu.Lock()
		lists = append(lists, ids)
		mu.Unlock()
		return err
	})
	if err != nil {
		return nil, err
	}
	return mergeNewest(lists, limit, p.MinID != 0), nil
}

// AccountStatuses returns an account's statuses (and reblogs) the viewer
// may see, from the account's partition.
func (s *Service) AccountStatuses(ctx context.Context, viewer, account starling.ID, q starling.AccountStatusesQuery) ([]*starling.Status, error) {
	pt, ok, err := s.viewerPart(ctx, viewer)
	if !ok {
		if err != nil {
			return nil, err
		}
		return s.remote.AccountStatuses(ctx, viewer, account, q)
	}
	if _, err := s.profiles.one(ctx, account); err != nil {
		return nil, err
	}
	if q.Pinned {
		return []*starling.Status{}, nil
	}
	tag := strings.ToLower(strings.TrimPrefix(q.Tagged, "#"))
	limit := clampLimit(q.Limit, statusesLimit)
	aq := starling.AuthorQuery{Authors: []starling.ID{account}, Viewer: viewer, Page: q.Page,
		ExcludeReplies: q.ExcludeReplies, ExcludeReblogs: q.ExcludeReblogs}
	if pt != nil {
		pt.mu.RLock()
		aq.Follows = pt.follows(viewer, account)
		pt.mu.RUnlock()
	}
	filtered := tag != "" || q.OnlyMedia
	out := []*starling.Status{}
	// Filters that need the statuses' bodies are applied after reading:
	// read until the page is full or the list ends (a bounded number of
	// rounds).
	for round := 0; round < 8; round++ {
		aq.Page.Limit = limit
		if filtered {
			aq.Page.Limit = 4 * limit
		}
		es, err := s.parts.AuthorStatuses(ctx, partOf(account, s.n), aq)
		if err != nil {
			return nil, err
		}
		ids := make([]starling.ID, len(es))
		for i, e := range es {
			ids[i] = e.ID
		}
		sts, err := s.hydrate(ctx, pt, viewer, ids)
		if err != nil {
			return nil, err
		}
		for _, st := range sts {
			o := st
			if st.Reblog != nil {
				o = st.Reblog
			}
			if (q.OnlyMedia && len(o.MediaIDs) == 0) || (tag != "" && !slices.Contains(o.Tags, tag)) {
				continue
			}
			if len(out) < limit {
				out = append(out, st)
			}
		}
		if !filtered || len(out) >= limit || len(es) < aq.Page.Limit {
			break
		}
		if aq.Page.MinID != 0 {
			aq.Page.MinID = es[0].ID
		} else {
			aq.Page.MaxID = es[len(es)-1].ID
		}
	}
	return out, nil
}

// PublicTimeline returns public statuses (no replies to others, no reblogs),
// newest first, gathered from every partition. Every account is local, so
// local=true changes nothing and remote=true is empty.
func (s *Service) PublicTimeline(ctx context.Context, viewer starling.ID, q starling.TimelineQuery) ([]*starling.Status, error) {
	return s.timeline(ctx, viewer, "", q)
}

// TagTimeline returns public statuses with a hashtag.
func (s *Service) TagTimeline(ctx context.Context, viewer starling.ID, tag string, q starling.TimelineQuery) ([]*starling.Status, error) {
	tag = strings.ToLower(strings.TrimPrefix(tag, "#"))
	if tag == "" {
		return []*starling.Status{}, nil
	}
	return s.timeline(ctx, viewer, tag, q)
}

// timeline merges a page of the public (or a hashtag's) timeline from every
// partition. A partition whose holder does not answer fails the read: a
// timeline missing a partition's statuses would look complete.
func (s *Service) timeline(ctx context.Context, viewer starling.ID, tag string, q starling.TimelineQuery) ([]*starling.Status, error) {
	pt, ok, err := s.viewerPart(ctx, viewer)
	if !ok {
		if err != nil {
			return nil, err
		}
		if tag != "" {
			return s.remote.TagTimeline(ctx, viewer, tag, q)
		}
		return s.remote.PublicTimeline(ctx, viewer, q)
	}
	if q.Remote {
		return []*starling.Status{}, nil
	}
	limit := clampLimit(q.Limit, statusesLimit)
	page := q.Page
	page.Limit = limit
	lists := make([][]starling.ID, s.n)
	err = gather(s.allParts(), func(p int) error {
		ids, err := s.parts.Timeline(ctx, p, tag, q.OnlyMedia, page)
		lists[p] = ids
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.hydrate(ctx, pt, viewer, mergeNewest(lists, limit, q.MinID != 0))
}

// FavouritedBy lists who favourited a status.
func (s *Service) FavouritedBy(ctx context.Context, viewer, id starling.ID, p starling.Page) (*starling.AccountPage, error) {
	return s.interactions(ctx, viewer, id, starling.EdgeFavourites, p)
}

// RebloggedBy lists who reblogged a status.
func (s *Service) RebloggedBy(ctx context.Context, viewer, id starling.ID, p starling.Page) (*starling.AccountPage, error) {
	return s.interactions(ctx, viewer, id, starling.EdgeReblogs, p)
}

// interactions lists the accounts of a status's favourites or reblogs,
// for a viewer who may see it (for a reblog, of the original: interactions
// are stored on it).
func (s *Service) interactions(ctx context.Context, viewer, id starling.ID, kind string, p starling.Page) (*starling.AccountPage, error) {
	st, err := s.Status(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	if st.ReblogOfID != 0 {
		id = st.ReblogOfID
	}
	return s.edgePage(ctx, kind, id, p)
}

// edgePage pages a relationship list from its partition and hydrates its
// accounts.
func (s *Service) edgePage(ctx context.Context, kind string, key starling.ID, p starling.Page) (*starling.AccountPage, error) {
	es, err := s.parts.Edges(ctx, partOf(key, s.n), kind, key, p)
	if err != nil {
		return nil, err
	}
	ids := make([]starling.ID, len(es))
	for i, e := range es {
		ids[i] = e.Account
	}
	accts, err := s.Accounts(ctx, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[starling.ID]*starling.Account, len(accts))
	for _, a := range accts {
		byID[a.ID] = a
	}
	page := &starling.AccountPage{Accounts: []*starling.Account{}, Cursors: []starling.ID{}}
	for _, e := range es {
		if a := byID[e.Account]; a != nil {
			page.Accounts = append(page.Accounts, a)
			page.Cursors = append(page.Cursors, e.ID)
		}
	}
	return page, nil
}

// Accounts returns profiles with counters, in order.
func (s *Service) Accounts(ctx context.Context, ids []starling.ID) ([]*starling.Account, error) {
	if len(ids) > 1000 {
		return nil, starling.Errorf(starling.Invalid, "too many accounts requested")
	}
	counts, err := s.countsOf(ctx, nil, ids)
	if err != nil {
		return nil, err
	}
	byID, err := s.accountsWith(ctx, ids, counts)
	if err != nil {
		return nil, err
	}
	out := make([]*starling.Account, 0, len(ids))
	for _, id := range ids {
		if a := byID[id]; a != nil {
			out = append(out, a)
		}
	}
	return out, nil
}
