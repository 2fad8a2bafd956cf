package feed

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/starling-social/starling"
)

// Default and maximum page sizes (Mastodon: statuses 20/40, accounts 40/80).
const (
	statusesLimit = 20
	accountsLimit = 40
	contextLimit  = 4096
)

// collected is what a read gathers under the view's lock: statuses (copies,
// safe to fill in after the lock is released) and the accounts they need.
// Copies come from backing slices sized for the page, so a page costs a
// handful of allocations rather than one per status.
type collected struct {
	statuses []*starling.Status
	accounts []*starling.Account // counters filled, profile not yet

	store     []starling.Status
	flags     []starling.ViewerFlags
	acctStore []starling.Account
}

func newCollected(n int) *collected {
	return &collected{
		statuses:  make([]*starling.Status, 0, n),
		accounts:  make([]*starling.Account, 0, n),
		store:     make([]starling.Status, 0, n),
		flags:     make([]starling.ViewerFlags, 0, n),
		acctStore: make([]starling.Account, 0, n/2+1),
	}
}

// slot returns a pointer to a fresh element of *store, allocating a new
// backing chunk of half the old capacity when it is full. Earlier pointers
// stay valid: a full chunk is never reallocated, only replaced.
func slot[T any](store *[]T) *T {
	if len(*store) == cap(*store) {
		*store = make([]T, 0, max(4, cap(*store)/2))
	}
	*store = (*store)[:len(*store)+1]
	return &(*store)[len(*store)-1]
}

// account returns the collected account id, or nil.
func (c *collected) account(id starling.ID) *starling.Account {
	for _, a := range c.accounts {
		if a.ID == id {
			return a
		}
	}
	return nil
}

// collect copies st (and its reblogged original) for viewer with counters and
// viewer flags. It must be called under the view's read lock.
func (v *view) collect(c *collected, viewer starling.ID, st *starling.Status) {
	out := v.copyStatus(c, viewer, st)
	if st.ReblogOfID != 0 {
		if orig := v.posts[st.ReblogOfID]; orig != nil {
			out.Reblog = v.copyStatus(c, viewer, orig)
			// Mastodon shows the original's viewer flags on the wrapper.
			out.Viewer = out.Reblog.Viewer
		}
	}
	c.statuses = append(c.statuses, out)
}

func (v *view) copyStatus(c *collected, viewer starling.ID, st *starling.Status) *starling.Status {
	cp := slot(&c.store)
	*cp = *st
	cp.Counts = starling.StatusCounts{
		Replies:    int64(v.replies[st.ID].len()),
		Reblogs:    int64(v.boosts[st.ID].len()),
		Favourites: int64(v.favs[st.ID].len()),
	}
	if viewer != 0 {
		cp.Viewer = slot(&c.flags)
		*cp.Viewer = starling.ViewerFlags{Favourited: v.favs[st.ID].has(viewer), Reblogged: v.boosts[st.ID].has(viewer)}
	}
	v.collectAccount(c, st.AccountID)
	return cp
}

// collectAccount notes an account to hydrate, with its counters.
func (v *view) collectAccount(c *collected, id starling.ID) {
	if c.account(id) != nil {
		return
	}
	a := slot(&c.acctStore)
	*a = starling.Account{ID: id}
	v.countAccount(a)
	c.accounts = append(c.accounts, a)
}

func (v *view) countAccount(a *starling.Account) {
	if l := v.byAuthor[a.ID]; l != nil {
		a.StatusesCount = int64(l.len())
		if n := l.newest(); n != 0 {
			t := n.Time()
			a.LastStatusAt = &t
		}
	}
	a.FollowersCount = int64(v.followers[a.ID].len())
	a.FollowingCount = int64(v.following[a.ID].len())
}

// finish fills in profiles (outside the view's lock) and media, dropping
// statuses whose author no longer exists.
func (s *Service) finish(ctx context.Context, c *collected) ([]*starling.Status, error) {
	ids := make([]starling.ID, len(c.accounts))
	for i, a := range c.accounts {
		ids[i] = a.ID
	}
	profiles, err := s.profiles.aligned(ctx, ids)
	if err != nil {
		return nil, err
	}
	known := c.accounts[:0]
	for i, a := range c.accounts {
		p := profiles[i]
		if p == nil {
			continue
		}
		counts := *a
		*a = *p
		a.StatusesCount, a.FollowersCount, a.FollowingCount, a.LastStatusAt = counts.StatusesCount, counts.FollowersCount, counts.FollowingCount, counts.LastStatusAt
		known = append(known, a)
	}
	c.accounts = known
	out := c.statuses[:0]
	for _, st := range c.statuses {
		if st.Account = c.account(st.AccountID); st.Account == nil {
			continue
		}
		if st.Reblog != nil {
			if st.Reblog.Account = c.account(st.Reblog.AccountID); st.Reblog.Account == nil {
				continue
			}
		}
		out = append(out, st)
	}
	if err := s.attachMedia(ctx, out); err != nil {
		return nil, err
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

// Status returns one status the viewer may see. A status this node's view
// has not applied yet is read from the table, so a client that just posted
// through another node can open it.
func (s *Service) Status(ctx context.Context, viewer, id starling.ID) (*starling.Status, error) {
	v := s.v()
	c := newCollected(1)
	v.mu.RLock()
	st := v.posts[id]
	if st != nil {
		if !v.canSee(viewer, st) {
			v.mu.RUnlock()
			return nil, errNotFound
		}
		v.collect(c, viewer, st)
	}
	v.mu.RUnlock()
	if st == nil {
		rec, rev, err := s.readPost(ctx, id)
		if err != nil {
			return nil, err
		}
		st = rec.status(rev)
		if rec.ReblogOf != 0 {
			return nil, errNotFound // a reblog of something this view lacks too: too new to show
		}
		v.mu.RLock()
		ok := v.canSee(viewer, st)
		if ok {
			v.collect(c, viewer, st)
		}
		v.mu.RUnlock()
		if !ok {
			return nil, errNotFound
		}
	}
	out, err := s.finish(ctx, c)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errNotFound
	}
	return out[0], nil
}

// Statuses returns the statuses of ids the viewer may see, in order.
func (s *Service) Statuses(ctx context.Context, viewer starling.ID, ids []starling.ID) ([]*starling.Status, error) {
	if len(ids) > 1000 {
		return nil, starling.Errorf(starling.Invalid, "too many statuses requested")
	}
	v := s.v()
	c := newCollected(len(ids))
	v.mu.RLock()
	for _, id := range ids {
		if st := v.posts[id]; st != nil && v.canSee(viewer, st) {
			v.collect(c, viewer, st)
		}
	}
	v.mu.RUnlock()
	return s.finish(ctx, c)
}

// Context returns a status's ancestors (oldest first) and descendants in
// thread order (depth first, oldest reply first at each level).
func (s *Service) Context(ctx context.Context, viewer, id starling.ID) (*starling.Thread, error) {
	if _, err := s.Status(ctx, viewer, id); err != nil {
		return nil, err
	}
	maxN := contextLimit
	if viewer == 0 {
		maxN = 60
	}
	v := s.v()
	anc, desc := newCollected(8), newCollected(8)
	v.mu.RLock()
	var chain []*starling.Status
	for cur := v.posts[id]; cur != nil && cur.InReplyToID != 0 && len(chain) < maxN; {
		parent := v.posts[cur.InReplyToID]
		if parent == nil {
			break
		}
		chain = append(chain, parent)
		cur = parent
	}
	for i := len(chain) - 1; i >= 0; i-- {
		if v.canSee(viewer, chain[i]) {
			v.collect(anc, viewer, chain[i])
		}
	}
	var walk func(pid starling.ID, depth int)
	walk = func(pid starling.ID, depth int) {
		l := v.replies[pid]
		if l == nil || depth > 200 {
			return
		}
		for _, cid := range l.ids {
			if len(desc.statuses) >= maxN {
				return
			}
			child := v.posts[cid]
			if child == nil || !v.canSee(viewer, child) {
				continue
			}
			v.collect(desc, viewer, child)
			walk(cid, depth+1)
		}
	}
	walk(id, 0)
	v.mu.RUnlock()
	a, err := s.finish(ctx, anc)
	if err != nil {
		return nil, err
	}
	d, err := s.finish(ctx, desc)
	if err != nil {
		return nil, err
	}
	return &starling.Thread{Ancestors: a, Descendants: d}, nil
}

// HomeTimeline returns the viewer's home timeline: the fanned-out list,
// merged with the recent statuses of followed accounts too big to fan out.
func (s *Service) HomeTimeline(ctx context.Context, viewer starling.ID, p starling.Page) ([]*starling.Status, error) {
	v := s.v()
	limit := clampLimit(p.Limit, statusesLimit)
	v.ensureHome(viewer)
	c := newCollected(limit)
	v.mu.RLock()
	var home []starling.ID
	if h := v.home[viewer]; h != nil {
		home = h.ids
		if len(home) > v.homeCap {
			home = home[len(home)-v.homeCap:]
		}
	}
	keep := func(id starling.ID) bool {
		st := v.posts[id]
		return st != nil && v.canSee(viewer, st)
	}
	ids := pageIDs(home, p, limit, keep)
	if fl := v.following[viewer]; fl != nil && v.threshold > 0 {
		for _, e := range fl.edges {
			if !v.big(e.account) {
				continue
			}
			reblogs := v.follows[viewer][e.account].Reblogs
			more := pageIDs(v.byAuthor[e.account].idsOrNil(), p, limit, func(id starling.ID) bool {
				st := v.posts[id]
				return st != nil && (st.ReblogOfID == 0 || reblogs) && v.homeAccepts(viewer, st)
			})
			ids = mergeNewest(ids, more, limit, p.MinID != 0)
		}
	}
	for _, id := range ids {
		v.collect(c, viewer, v.posts[id])
	}
	v.mu.RUnlock()
	return s.finish(ctx, c)
}

func (l *idList) idsOrNil() []starling.ID {
	if l == nil {
		return nil
	}
	return l.ids
}

// mergeNewest merges two newest-first ID lists without duplicates, keeping
// limit of them: the newest, or with forward paging (minID) the oldest.
func mergeNewest(a, b []starling.ID, limit int, forward bool) []starling.ID {
	out := make([]starling.ID, 0, len(a)+len(b))
	out = append(out, a...)
	out = append(out, b...)
	slices.SortFunc(out, func(x, y starling.ID) int { return cmp.Compare(y, x) })
	out = slices.Compact(out)
	if len(out) > limit {
		if forward {
			out = out[len(out)-limit:]
		} else {
			out = out[:limit]
		}
	}
	return out
}

// AccountStatuses returns an account's statuses (and reblogs) the viewer may see.
func (s *Service) AccountStatuses(ctx context.Context, viewer, account starling.ID, q starling.AccountStatusesQuery) ([]*starling.Status, error) {
	if _, err := s.profiles.one(ctx, account); err != nil {
		return nil, err
	}
	if q.Pinned {
		return []*starling.Status{}, nil
	}
	tag := strings.ToLower(strings.TrimPrefix(q.Tagged, "#"))
	v := s.v()
	limit := clampLimit(q.Limit, statusesLimit)
	c := newCollected(limit)
	v.mu.RLock()
	ids := pageIDs(v.byAuthor[account].idsOrNil(), q.Page, limit, func(id starling.ID) bool {
		st := v.posts[id]
		switch {
		case st == nil || !v.canSee(viewer, st):
			return false
		case q.ExcludeReblogs && st.ReblogOfID != 0:
			return false
		case q.ExcludeReplies && st.InReplyToID != 0 && st.InReplyToAccountID != st.AccountID:
			return false
		case q.OnlyMedia && len(v.original(st).MediaIDs) == 0:
			return false
		case tag != "" && !slices.Contains(v.original(st).Tags, tag):
			return false
		}
		return true
	})
	for _, id := range ids {
		v.collect(c, viewer, v.posts[id])
	}
	v.mu.RUnlock()
	return s.finish(ctx, c)
}

// original returns the reblogged status of a wrapper, or st itself.
func (v *view) original(st *starling.Status) *starling.Status {
	if st.ReblogOfID != 0 {
		if o := v.posts[st.ReblogOfID]; o != nil {
			return o
		}
	}
	return st
}

// PublicTimeline returns public statuses (no replies to others, no reblogs),
// newest first. Every account is local, so local=true changes nothing and
// remote=true is empty.
func (s *Service) PublicTimeline(ctx context.Context, viewer starling.ID, q starling.TimelineQuery) ([]*starling.Status, error) {
	if q.Remote {
		return []*starling.Status{}, nil
	}
	v := s.v()
	return s.timeline(ctx, v, viewer, &v.public, q)
}

// TagTimeline returns public statuses with a hashtag.
func (s *Service) TagTimeline(ctx context.Context, viewer starling.ID, tag string, q starling.TimelineQuery) ([]*starling.Status, error) {
	if q.Remote {
		return []*starling.Status{}, nil
	}
	tag = strings.ToLower(strings.TrimPrefix(tag, "#"))
	v := s.v()
	v.mu.RLock()
	l := v.tags[tag]
	v.mu.RUnlock()
	if l == nil {
		return []*starling.Status{}, nil
	}
	return s.timeline(ctx, v, viewer, l, q)
}

// timeline pages the public statuses of l, a list of v.
func (s *Service) timeline(ctx context.Context, v *view, viewer starling.ID, l *idList, q starling.TimelineQuery) ([]*starling.Status, error) {
	limit := clampLimit(q.Limit, statusesLimit)
	c := newCollected(limit)
	v.mu.RLock()
	ids := pageIDs(l.ids, q.Page, limit, func(id starling.ID) bool {
		st := v.posts[id]
		return st != nil && st.Visibility == starling.Public && (!q.OnlyMedia || len(st.MediaIDs) > 0)
	})
	for _, id := range ids {
		v.collect(c, viewer, v.posts[id])
	}
	v.mu.RUnlock()
	return s.finish(ctx, c)
}

// FavouritedBy lists who favourited a status.
func (s *Service) FavouritedBy(ctx context.Context, viewer, id starling.ID, p starling.Page) (*starling.AccountPage, error) {
	return s.interactions(ctx, viewer, id, p, func(v *view) map[starling.ID]*edgeList { return v.favs })
}

// RebloggedBy lists who reblogged a status.
func (s *Service) RebloggedBy(ctx context.Context, viewer, id starling.ID, p starling.Page) (*starling.AccountPage, error) {
	return s.interactions(ctx, viewer, id, p, func(v *view) map[starling.ID]*edgeList { return v.boosts })
}

// interactions lists the accounts of the edges pick returns for a status
// the viewer may see (for a reblog, of the original: interactions are
// stored on it).
func (s *Service) interactions(ctx context.Context, viewer, id starling.ID, p starling.Page, pick func(*view) map[starling.ID]*edgeList) (*starling.AccountPage, error) {
	st, err := s.Status(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	if st.ReblogOfID != 0 {
		id = st.ReblogOfID
	}
	return s.edgePage(ctx, pick, id, p)
}

// edgePage pages the edge list of key in the map pick selects from the
// view and hydrates its accounts.
func (s *Service) edgePage(ctx context.Context, pick func(*view) map[starling.ID]*edgeList, key starling.ID, p starling.Page) (*starling.AccountPage, error) {
	v := s.v()
	v.mu.RLock()
	es := pageEdges(pick(v)[key], p, clampLimit(p.Limit, accountsLimit))
	v.mu.RUnlock()
	return s.accountPage(ctx, es)
}

// accountPage hydrates the accounts of a page of edges.
func (s *Service) accountPage(ctx context.Context, es []edge) (*starling.AccountPage, error) {
	ids := make([]starling.ID, len(es))
	for i, e := range es {
		ids[i] = e.account
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
		if a := byID[e.account]; a != nil {
			page.Accounts = append(page.Accounts, a)
			page.Cursors = append(page.Cursors, e.id)
		}
	}
	return page, nil
}

// Accounts returns profiles with counters.
func (s *Service) Accounts(ctx context.Context, ids []starling.ID) ([]*starling.Account, error) {
	if len(ids) > 1000 {
		return nil, starling.Errorf(starling.Invalid, "too many accounts requested")
	}
	profiles, err := s.profiles.get(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*starling.Account, 0, len(ids))
	v := s.v()
	v.mu.RLock()
	for _, id := range ids {
		p := profiles[id]
		if p == nil {
			continue
		}
		a := *p
		v.countAccount(&a)
		out = append(out, &a)
	}
	v.mu.RUnlock()
	return out, nil
}
