package feed

import (
	"cmp"
	"slices"

	"github.com/starling-social/starling"
)

// Reads of one partition, under its read lock (the partition's state is
// described in part.go).

// authorStatuses answers an AuthorQuery for the accounts of q that belong
// to this partition: their statuses the viewer may see, merged, newest
// first.
func (pt *part) authorStatuses(q starling.AuthorQuery, limit int) []starling.AuthorEntry {
	pt.mu.RLock()
	defer pt.mu.RUnlock()
	var cs []authorCursor
	for i, a := range q.Authors {
		l := pt.authors[a]
		if l == nil || !pt.mine(a) {
			continue
		}
		c := authorCursor{l: l, author: a, end: len(l.ids),
			reblogs: q.Reblogs == nil || (i < len(q.Reblogs) && q.Reblogs[i]),
			follows: q.Home || q.Follows || a == q.Viewer}
		if q.Page.MaxID != 0 {
			c.end = searchIDs(l.ids, q.Page.MaxID)
		}
		cs = append(cs, c)
	}
	if q.Page.MinID != 0 {
		return forwardPage(cs, q, limit)
	}
	// A k-way merge from the newest end of each list: a home timeline's
	// rebuild reads limit entries, not every followed account's whole list.
	h := cursorHeap(cs)
	h.init()
	out := make([]starling.AuthorEntry, 0, min(limit, 64))
	for len(h) > 0 && len(out) < limit {
		c := &h[0]
		k := c.end - 1
		id := c.l.ids[k]
		if q.Page.SinceID != 0 && id <= q.Page.SinceID {
			h.pop()
			continue
		}
		if c.l.visible(k, c.author, q, c.follows, c.reblogs) {
			out = append(out, c.entry(k))
		}
		if c.end--; c.end == 0 {
			h.pop()
		} else {
			h.down(0)
		}
	}
	return out
}

// authorCursor walks an author's list from end towards its start.
type authorCursor struct {
	l                *authorList
	author           starling.ID
	end              int
	reblogs, follows bool
}

func (c *authorCursor) entry(k int) starling.AuthorEntry {
	e := starling.AuthorEntry{ID: c.l.ids[k], Author: c.author}
	if c.l.bits[k]&bitReblog != 0 {
		e.ReblogOf = c.l.reblogs[e.ID].orig
	}
	return e
}

// forwardPage answers a MinID page: per author, the entries immediately
// newer than MinID, merged, the oldest limit of them, newest first.
func forwardPage(cs []authorCursor, q starling.AuthorQuery, limit int) []starling.AuthorEntry {
	var out []starling.AuthorEntry
	for i := range cs {
		c := &cs[i]
		idx := pageIdx(len(c.l.ids), func(k int) starling.ID { return c.l.ids[k] }, q.Page, limit, func(k int) bool {
			return c.l.visible(k, c.author, q, c.follows, c.reblogs)
		})
		for _, k := range idx {
			out = append(out, c.entry(k))
		}
	}
	slices.SortFunc(out, func(x, y starling.AuthorEntry) int { return cmp.Compare(y.ID, x.ID) })
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}

// cursorHeap is a max-heap of cursors by the ID at their end.
type cursorHeap []authorCursor

func (h cursorHeap) less(i, j int) bool { return h[i].l.ids[h[i].end-1] > h[j].l.ids[h[j].end-1] }

func (h *cursorHeap) init() {
	live := (*h)[:0]
	for _, c := range *h {
		if c.end > 0 {
			live = append(live, c)
		}
	}
	*h = live
	for i := len(live)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h cursorHeap) down(i int) {
	for {
		l, r, best := 2*i+1, 2*i+2, i
		if l < len(h) && h.less(l, best) {
			best = l
		}
		if r < len(h) && h.less(r, best) {
			best = r
		}
		if best == i {
			return
		}
		h[i], h[best] = h[best], h[i]
		i = best
	}
}

func (h *cursorHeap) pop() {
	old := *h
	n := len(old) - 1
	old[0] = old[n]
	*h = old[:n]
	if n > 0 {
		h.down(0)
	}
}

// visible reports whether entry k of author's list passes q for its
// viewer; follows says whether the viewer follows the author (or is the
// author).
func (l *authorList) visible(k int, author starling.ID, q starling.AuthorQuery, follows, reblogs bool) bool {
	bits, id := l.bits[k], l.ids[k]
	if bits&bitReblog != 0 {
		if !reblogs || q.ExcludeReblogs || (q.Home && l.reblogs[id].author == q.Viewer) {
			return false
		}
	}
	if q.ExcludeReplies && bits&bitReply != 0 {
		return false
	}
	switch bits & visMask {
	case visPrivate:
		return follows || (q.Viewer != 0 && slices.Contains(l.mentions[id], q.Viewer))
	case visDirect:
		return q.Viewer != 0 && (q.Viewer == author || slices.Contains(l.mentions[id], q.Viewer))
	}
	return true
}

// counts returns the counters of the partition's statuses and accounts
// among the IDs given.
func (pt *part) counts(statuses, accounts []starling.ID, out *starling.PartCounts) {
	pt.mu.RLock()
	defer pt.mu.RUnlock()
	for _, s := range statuses {
		if !pt.mine(s) {
			continue
		}
		if out.Statuses == nil {
			out.Statuses = map[starling.ID]starling.StatusCounts{}
		}
		out.Statuses[s] = pt.statusCounts(s)
	}
	for _, a := range accounts {
		if !pt.mine(a) {
			continue
		}
		if out.Accounts == nil {
			out.Accounts = map[starling.ID]starling.AccountCounts{}
		}
		out.Accounts[a] = pt.accountCounts(a)
	}
}

func (pt *part) statusCounts(s starling.ID) starling.StatusCounts {
	return starling.StatusCounts{Replies: int64(pt.replies[s].len()), Reblogs: int64(pt.boosts[s].len()), Favourites: int64(pt.favs[s].len())}
}

func (pt *part) accountCounts(a starling.ID) starling.AccountCounts {
	c := starling.AccountCounts{Followers: int64(pt.followers[a].len()), Following: int64(pt.out[a].count(0, fRequested))}
	if l := pt.authors[a]; l != nil {
		c.Statuses = int64(l.len())
		if n := len(l.ids); n > 0 {
			c.LastStatus = l.ids[n-1]
		}
	}
	return c
}

// thread returns the replies of the conversation started by root.
func (pt *part) thread(root starling.ID) []starling.ThreadEntry {
	pt.mu.RLock()
	defer pt.mu.RUnlock()
	t := pt.threads[root]
	if t == nil {
		return []starling.ThreadEntry{}
	}
	out := make([]starling.ThreadEntry, len(t.ids))
	for i := range t.ids {
		out[i] = starling.ThreadEntry{ID: t.ids[i], Parent: t.parents[i]}
	}
	return out
}

// timeline pages the partition's public statuses (with tag: those with the
// hashtag), newest first.
func (pt *part) timeline(tag string, onlyMedia bool, p starling.Page, limit int) []starling.ID {
	pt.mu.RLock()
	defer pt.mu.RUnlock()
	l := &pt.public
	if tag != "" {
		if l = pt.tags[tag]; l == nil {
			return []starling.ID{}
		}
	}
	idx := pageIdx(len(l.ids), func(k int) starling.ID { return l.ids[k] }, p, limit, func(k int) bool {
		return !onlyMedia || l.bits[k]&bitMedia != 0
	})
	out := make([]starling.ID, len(idx))
	for i, k := range idx {
		out[i] = l.ids[k]
	}
	return out
}

// edges pages one of the partition's relationship lists.
func (pt *part) edges(kind string, key starling.ID, p starling.Page, limit int) []starling.Edge {
	pt.mu.RLock()
	defer pt.mu.RUnlock()
	switch kind {
	case starling.EdgeFollowers:
		return pt.followers[key].page(p, limit, nil)
	case starling.EdgeFollowing:
		return pt.out[key].page(p, limit, func(b uint8) bool { return b&fRequested == 0 })
	case starling.EdgeRequests:
		return pt.requests[key].page(p, limit, nil)
	case starling.EdgeFavourites:
		return pt.favs[key].page(p, limit, nil)
	case starling.EdgeReblogs:
		return pt.boosts[key].page(p, limit, nil)
	case starling.EdgeSubscribers:
		return pt.followers[key].page(p, limit, func(b uint8) bool { return b&fNotify != 0 })
	}
	return []starling.Edge{}
}

// --- reads for a viewer of this partition ---

// follows reports whether viewer (of this partition) follows account.
// Under the read lock.
func (pt *part) follows(viewer, account starling.ID) bool {
	_, ok := pt.in.find(account, viewer)
	return ok
}

// canSee reports whether viewer (0, or an account of this partition) may
// see st. Under the read lock.
func (pt *part) canSee(viewer starling.ID, st *starling.Status) bool {
	switch st.Visibility {
	case starling.Public, starling.Unlisted:
		return true
	case starling.Private:
		return viewer != 0 && (viewer == st.AccountID || (pt != nil && pt.follows(viewer, st.AccountID)) || mentions(st, viewer))
	case starling.Direct:
		return viewer != 0 && (viewer == st.AccountID || mentions(st, viewer))
	}
	return false
}

func mentions(st *starling.Status, account starling.ID) bool {
	for _, m := range st.Mentions {
		if m.ID == account {
			return true
		}
	}
	return false
}

// relationship returns viewer's (of this partition) relationship to other.
func (pt *part) relationship(viewer, other starling.ID) *starling.Relationship {
	pt.mu.RLock()
	defer pt.mu.RUnlock()
	return pt.relationshipLocked(viewer, other)
}

func (pt *part) relationshipLocked(viewer, other starling.ID) *starling.Relationship {
	r := &starling.Relationship{ID: other}
	if bits, ok := pt.out[viewer].flags(other); ok {
		if bits&fRequested != 0 {
			r.Requested = true
		} else {
			r.Following, r.ShowingReblogs, r.Notifying = true, bits&fReblogs != 0, bits&fNotify != 0
		}
	}
	r.FollowedBy = pt.followers[viewer].has(other)
	r.RequestedBy = pt.requests[viewer].has(other)
	return r
}

// viewerFlags fills which of sts viewer favourited and reblogged. Under
// the read lock.
func (pt *part) viewerFlags(viewer starling.ID, st *starling.Status) starling.ViewerFlags {
	return starling.ViewerFlags{Favourited: pt.favBy[viewer].has(st.ID), Reblogged: pt.boostBy[viewer].has(st.ID)}
}

// homeSources returns what a rebuild of viewer's home gathers from: the
// accounts it follows that are fanned out here (with whether their
// reblogs show), itself first; and the followed accounts merged at read
// time. It marks the home dirty (creating it) and returns its generation.
func (pt *part) homeSources(viewer starling.ID) (authors []starling.ID, reblogs []bool, bigs []starling.ID, gen uint64) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	h := pt.homes[viewer]
	if h == nil {
		h = &home{dirty: true}
		pt.homes[viewer] = h
	}
	authors, reblogs = append(authors, viewer), append(reblogs, true)
	if ol := pt.out[viewer]; ol != nil {
		for i := range ol.who {
			t, bits := ol.account(i), ol.flagsAt(i)
			if bits&fRequested != 0 {
				continue
			}
			if pt.bigHere(t) {
				bigs = append(bigs, t)
				continue
			}
			authors, reblogs = append(authors, t), append(reblogs, bits&fReblogs != 0)
		}
	}
	return authors, reblogs, bigs, h.gen
}

// bigFollows returns the accounts viewer follows that are merged into its
// home at read time, with whether their reblogs show.
func (pt *part) bigFollows(viewer starling.ID) (bigs []starling.ID, reblogs []bool) {
	ol := pt.out[viewer]
	if ol == nil || pt.big == 0 {
		return nil, nil
	}
	for i := range ol.who {
		if t, bits := ol.account(i), ol.flagsAt(i); bits&fRequested == 0 && pt.bigHere(t) {
			bigs, reblogs = append(bigs, t), append(reblogs, bits&fReblogs != 0)
		}
	}
	return bigs, reblogs
}

// installHome replaces viewer's home with the statuses a rebuild gathered
// (newest first), then replays the changes applied while it gathered. It
// reports false when the home was marked dirty again meanwhile (the
// caller gathers again).
func (pt *part) installHome(viewer starling.ID, gen uint64, gathered []starling.AuthorEntry) bool {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	h := pt.homes[viewer]
	if h == nil || h.gen != gen {
		return false
	}
	nh := &home{gen: gen}
	for i := len(gathered) - 1; i >= 0; i-- { // oldest first
		e := gathered[i]
		var reb *reblogOf
		if e.ReblogOf != 0 {
			reb = &reblogOf{orig: e.ReblogOf}
		}
		nh.insertStatus(e.ID, reb, viewer, pt.homeCap)
	}
	for _, id := range h.added {
		if slices.Contains(h.removed, id) {
			continue
		}
		var reb *reblogOf
		if orig, ok := origOf(h, id); ok {
			reb = &reblogOf{orig: orig}
		}
		nh.insertStatus(id, reb, viewer, pt.homeCap)
	}
	for _, id := range h.removed {
		nh.removeStatus(id)
	}
	nh.trimTo(pt.homeCap, 0)
	pt.homes[viewer] = nh
	return true
}

// origOf returns the original of a reblog in h.
func origOf(h *home, id starling.ID) (starling.ID, bool) {
	for orig, w := range h.wrapped {
		if w == id {
			return orig, true
		}
	}
	return 0, false
}

// homePage returns a page of viewer's home timeline (ready is false when
// it must be rebuilt first).
func (pt *part) homePage(viewer starling.ID, p starling.Page, limit int, keep func(starling.ID) bool) (ids []starling.ID, ready bool) {
	pt.mu.RLock()
	defer pt.mu.RUnlock()
	h := pt.homes[viewer]
	if h == nil || h.dirty {
		return nil, false
	}
	list := h.ids
	if len(list) > pt.homeCap {
		list = list[len(list)-pt.homeCap:]
	}
	return pageIDs(list, p, limit, keep), true
}
