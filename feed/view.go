package feed

import (
	"slices"
	"sync"
	"time"

	"github.com/starling-social/starling"
)

// view is this node's in-memory materialisation of the feed table: every
// live status, the follow graph, favourites and reblogs, and the derived
// indexes (per-author lists, public and tag timelines, reply trees, home
// timelines, counters). It is built by replaying the table's streams and
// kept current by consuming them, so every node that runs Feed holds the
// same view and can answer any read from memory. Applying an event is
// idempotent (keyed by the record and its stream sequence), so replays and
// redeliveries never duplicate anything.
//
// A view is safe for concurrent use: events are applied under the write
// lock, reads hold the read lock.
type view struct {
	mu        sync.RWMutex
	threshold int // accounts with more followers are merged into homes at read time
	homeCap   int
	live      bool // false while the initial replay runs: homes are built once at its end

	posts    map[starling.ID]*starling.Status
	byAuthor map[starling.ID]*idList
	public   idList // public, non-reply, non-reblog statuses
	tags     map[string]*idList
	replies  map[starling.ID]*idList

	favs   map[starling.ID]*edgeList // status -> (fav id, account)
	boosts map[starling.ID]*edgeList // original -> (wrapper id, booster)

	follows   map[starling.ID]map[starling.ID]*followRecord // follower -> target -> edge (following or requested)
	followers map[starling.ID]*edgeList                     // target -> followers (following only)
	following map[starling.ID]*edgeList                     // follower -> targets (following only)
	requests  map[starling.ID]*edgeList                     // target -> pending requesters

	home  map[starling.ID]*idList
	dirty map[starling.ID]bool // homes to rebuild before their next read

	// seqs is the stream sequence last applied to each key, deleted keys
	// included (tombstones, forgotten after tombstoneTTL).
	seqs  map[string]uint64
	tombs []tombstone
}

func newView(threshold, homeCap int) *view {
	return &view{
		threshold: threshold, homeCap: homeCap,
		posts: map[starling.ID]*starling.Status{}, byAuthor: map[starling.ID]*idList{},
		tags: map[string]*idList{}, replies: map[starling.ID]*idList{},
		favs: map[starling.ID]*edgeList{}, boosts: map[starling.ID]*edgeList{},
		follows: map[starling.ID]map[starling.ID]*followRecord{}, followers: map[starling.ID]*edgeList{},
		following: map[starling.ID]*edgeList{}, requests: map[starling.ID]*edgeList{},
		home: map[starling.ID]*idList{}, dirty: map[starling.ID]bool{},
		seqs: map[string]uint64{},
	}
}

type tombstone struct {
	key string
	at  time.Time
}

// tombstoneTTL is how long a deleted key's sequence is remembered: longer
// than any message can stay in flight between the stream and the view.
const tombstoneTTL = 10 * time.Minute

// advance records that the event at seq for key is applied, and reports
// whether it should be (it is newer than what the key last saw). seq 0
// means "unknown": always apply, record nothing.
func (v *view) advance(key string, seq uint64, deleted bool) bool {
	if seq == 0 {
		return true
	}
	if seq <= v.seqs[key] {
		return false
	}
	v.seqs[key] = seq
	if deleted {
		now := time.Now()
		v.tombs = append(v.tombs, tombstone{key, now})
		for len(v.tombs) > 0 && now.Sub(v.tombs[0].at) > tombstoneTTL {
			t := v.tombs[0]
			v.tombs = v.tombs[1:]
			if s := v.seqs[t.key]; s != 0 {
				// Forget it unless the key has been written again
				// (then it is live and its sequence stays).
				if !v.liveKey(t.key) {
					delete(v.seqs, t.key)
				}
			}
		}
	}
	return true
}

// liveKey reports whether the record behind key currently exists.
func (v *view) liveKey(key string) bool {
	kind, a, b, ok := splitKey(key)
	if !ok {
		return false
	}
	switch kind {
	case kindPost:
		return v.posts[a] != nil
	case kindFollow:
		return v.follows[a][b] != nil
	case kindFav:
		return v.favs[a].has(b)
	case kindBoost:
		return v.boosts[a].has(b)
	}
	return false
}

// homeSlack is how far a home timeline may grow past its cap before it is
// trimmed (trimming is a copy, so it is batched).
const homeSlack = 64

// list returns m's list for k, adding an empty one if there is none.
func list[K comparable](m map[K]*idList, k K) *idList {
	l := m[k]
	if l == nil {
		l = &idList{}
		m[k] = l
	}
	return l
}

func edges(m map[starling.ID]*edgeList, k starling.ID) *edgeList {
	l := m[k]
	if l == nil {
		l = newEdgeList()
		m[k] = l
	}
	return l
}

// --- visibility ---

// follows reports whether a follows b (accepted, not requested).
func (v *view) isFollowing(a, b starling.ID) bool {
	e := v.follows[a][b]
	return e != nil && !e.Requested
}

func mentions(st *starling.Status, account starling.ID) bool {
	for _, m := range st.Mentions {
		if m.ID == account {
			return true
		}
	}
	return false
}

// canSee reports whether viewer (0: anonymous) may see st. For a reblog
// the original must be visible too.
func (v *view) canSee(viewer starling.ID, st *starling.Status) bool {
	if !v.canSeeOwn(viewer, st) {
		return false
	}
	if st.ReblogOfID != 0 {
		orig := v.posts[st.ReblogOfID]
		return orig != nil && v.canSeeOwn(viewer, orig)
	}
	return true
}

func (v *view) canSeeOwn(viewer starling.ID, st *starling.Status) bool {
	switch st.Visibility {
	case starling.Public, starling.Unlisted:
		return true
	case starling.Private:
		return viewer != 0 && (viewer == st.AccountID || v.isFollowing(viewer, st.AccountID) || mentions(st, viewer))
	case starling.Direct:
		return viewer != 0 && (viewer == st.AccountID || mentions(st, viewer))
	}
	return false
}

// big reports whether an account's posts are merged into homes at read
// time instead of being fanned out.
func (v *view) big(account starling.ID) bool {
	return v.threshold > 0 && v.followers[account].len() > v.threshold
}

// --- applying events ---

// applyPost stores or updates a status.
func (v *view) applyPost(st *starling.Status) {
	old := v.posts[st.ID]
	if old != nil {
		if old.Revision >= st.Revision {
			return
		}
		v.posts[st.ID] = st
		if !slices.Equal(old.Tags, st.Tags) {
			v.untag(old)
			v.tag(st)
		}
		return
	}
	v.posts[st.ID] = st
	list(v.byAuthor, st.AccountID).insert(st.ID)
	if st.InReplyToID != 0 {
		list(v.replies, st.InReplyToID).insert(st.ID)
	}
	if st.ReblogOfID == 0 && st.Visibility == starling.Public && (st.InReplyToID == 0 || st.InReplyToAccountID == st.AccountID) {
		v.public.insert(st.ID)
	}
	v.tag(st)
	if v.live {
		v.fanOut(st)
	}
}

func (v *view) tag(st *starling.Status) {
	if st.Visibility != starling.Public || st.ReblogOfID != 0 {
		return
	}
	for _, t := range st.Tags {
		list(v.tags, t).insert(st.ID)
	}
}

func (v *view) untag(st *starling.Status) {
	for _, t := range st.Tags {
		if l := v.tags[t]; l != nil {
			l.remove(st.ID)
			if l.len() == 0 {
				delete(v.tags, t)
			}
		}
	}
}

// deletePost removes a status and every trace of it in derived data.
func (v *view) deletePost(id starling.ID) {
	st := v.posts[id]
	if st == nil {
		return
	}
	delete(v.posts, id)
	if l := v.byAuthor[st.AccountID]; l != nil {
		l.remove(id)
	}
	if st.InReplyToID != 0 {
		if l := v.replies[st.InReplyToID]; l != nil {
			l.remove(id)
			if l.len() == 0 {
				delete(v.replies, st.InReplyToID)
			}
		}
	}
	v.public.remove(id)
	v.untag(st)
	// Remove it from the homes it may have reached: its author's, its
	// author's followers', and mentioned accounts'.
	v.homeRemove(st.AccountID, id)
	if fl := v.followers[st.AccountID]; fl != nil {
		for _, e := range fl.edges {
			v.homeRemove(e.account, id)
		}
	}
	for _, m := range st.Mentions {
		v.homeRemove(m.ID, id)
	}
	// A reblog's removal may let another wrapper (or nothing) show; the
	// affected homes are rebuilt lazily.
	if st.ReblogOfID != 0 {
		v.markFollowersDirty(st.AccountID)
	}
}

func (v *view) homeRemove(user, id starling.ID) {
	if h := v.home[user]; h != nil {
		h.remove(id)
	}
}

func (v *view) applyFollow(follower, target starling.ID, rec *followRecord) {
	m := v.follows[follower]
	if m == nil {
		m = map[starling.ID]*followRecord{}
		v.follows[follower] = m
	}
	old := m[target]
	m[target] = rec
	if rec.Requested {
		edges(v.requests, target).put(rec.ID, follower)
		if old != nil && !old.Requested { // cannot happen through the API, but stay consistent
			v.unfollowEdges(follower, target)
		}
		return
	}
	if l := v.requests[target]; l != nil {
		l.del(follower)
	}
	fl := edges(v.followers, target)
	fl.put(rec.ID, follower)
	edges(v.following, follower).put(rec.ID, target)
	if v.threshold > 0 && fl.len() == v.threshold+1 {
		v.markFollowersDirty(target) // from now on merged at read time
	}
	if old == nil || old.Requested || old.Reblogs != rec.Reblogs {
		// A new follow brings the target's posts into the home timeline.
		v.dirty[follower] = true
	}
}

func (v *view) deleteFollow(follower, target starling.ID) {
	m := v.follows[follower]
	rec := m[target]
	if rec == nil {
		return
	}
	delete(m, target)
	if len(m) == 0 {
		delete(v.follows, follower)
	}
	if rec.Requested {
		if l := v.requests[target]; l != nil {
			l.del(follower)
		}
		return
	}
	v.unfollowEdges(follower, target)
	if v.threshold > 0 && v.followers[target].len() == v.threshold {
		v.markFollowersDirty(target) // fanned out again from now on
	}
	// Unfollowing removes the target's posts from the home timeline (and
	// may let older posts of others back in): rebuild it.
	v.dirty[follower] = true
}

func (v *view) unfollowEdges(follower, target starling.ID) {
	if l := v.followers[target]; l != nil {
		l.del(follower)
	}
	if l := v.following[follower]; l != nil {
		l.del(target)
	}
}

func (v *view) applyFav(status, account, id starling.ID) { edges(v.favs, status).put(id, account) }

func (v *view) deleteFav(status, account starling.ID) {
	if l := v.favs[status]; l != nil {
		l.del(account)
	}
}

func (v *view) applyBoost(status, account, wrapper starling.ID) {
	edges(v.boosts, status).put(wrapper, account)
}

func (v *view) deleteBoost(status, account starling.ID) {
	if l := v.boosts[status]; l != nil {
		l.del(account)
	}
}

// --- home timelines ---

// fanOut delivers a new status into the home timelines of its audience:
// the author, and followers (for direct statuses, mentioned followers).
// Statuses of accounts with more followers than the threshold are left to
// the read-time merge.
func (v *view) fanOut(st *starling.Status) {
	v.homeInsert(st.AccountID, st)
	if v.big(st.AccountID) {
		return
	}
	switch st.Visibility {
	case starling.Direct:
		for _, m := range st.Mentions {
			if v.isFollowing(m.ID, st.AccountID) {
				v.homeInsert(m.ID, st)
			}
		}
	default:
		fl := v.followers[st.AccountID]
		if fl == nil {
			return
		}
		for _, e := range fl.edges {
			if st.ReblogOfID != 0 && !v.follows[e.account][st.AccountID].Reblogs {
				continue
			}
			v.homeInsert(e.account, st)
		}
	}
}

// homeAccepts reports whether st belongs in user's home timeline as a
// candidate (before reblog de-duplication).
func (v *view) homeAccepts(user starling.ID, st *starling.Status) bool {
	if st.ReblogOfID != 0 {
		orig := v.posts[st.ReblogOfID]
		if orig == nil || orig.AccountID == user {
			return false
		}
	}
	return v.canSee(user, st)
}

func (v *view) homeInsert(user starling.ID, st *starling.Status) {
	if v.dirty[user] || !v.homeAccepts(user, st) {
		return
	}
	h := list(v.home, user)
	if st.ReblogOfID != 0 {
		// Show a status once: skip a reblog of something already there.
		if h.has(st.ReblogOfID) {
			return
		}
		if bl := v.boosts[st.ReblogOfID]; bl != nil {
			for _, e := range bl.edges {
				if e.id < st.ID && h.has(e.id) {
					return
				}
			}
		}
	} else if bl := v.boosts[st.ID]; bl != nil {
		for _, e := range bl.edges {
			h.remove(e.id)
		}
	}
	h.insert(st.ID)
	h.trimTo(v.homeCap, homeSlack)
}

// rebuildHome recomputes a home timeline from the follow graph and the
// per-author lists: the newest statuses of the user and of followed
// accounts (not merged-at-read big ones) that the user may see, reblogs
// only from follows that show them, each status once.
func (v *view) rebuildHome(user starling.ID) {
	type cursor struct {
		ids     []starling.ID
		reblogs bool
	}
	var cs []cursor
	if l := v.byAuthor[user]; l != nil {
		cs = append(cs, cursor{l.ids, true})
	}
	if fl := v.following[user]; fl != nil {
		for _, e := range fl.edges {
			if v.big(e.account) {
				continue
			}
			if l := v.byAuthor[e.account]; l != nil {
				cs = append(cs, cursor{l.ids, v.follows[user][e.account].Reblogs})
			}
		}
	}
	limit := v.homeCap + homeSlack
	out := make([]starling.ID, 0, min(limit, 1024))
	// k-way merge, newest first, through the cursors' tails.
	for len(out) < limit {
		best := -1
		for i := range cs {
			if n := len(cs[i].ids); n > 0 && (best < 0 || cs[i].ids[n-1] > cs[best].ids[len(cs[best].ids)-1]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		c := &cs[best]
		id := c.ids[len(c.ids)-1]
		c.ids = c.ids[:len(c.ids)-1]
		st := v.posts[id]
		if st == nil || (st.ReblogOfID != 0 && !c.reblogs && st.AccountID != user) || !v.homeAccepts(user, st) {
			continue
		}
		out = append(out, id)
	}
	slices.Reverse(out)
	// De-duplicate reblogs: keep the earliest of an original and its
	// wrappers.
	seen := map[starling.ID]bool{}
	kept := out[:0]
	for _, id := range out {
		orig := id
		if st := v.posts[id]; st.ReblogOfID != 0 {
			orig = st.ReblogOfID
		}
		if seen[orig] {
			continue
		}
		seen[orig] = true
		kept = append(kept, id)
	}
	h := &idList{ids: kept}
	h.trimTo(v.homeCap, 0)
	v.home[user] = h
	delete(v.dirty, user)
}

// rebuildAllHomes builds every home timeline; it ends the initial replay.
func (v *view) rebuildAllHomes() {
	users := map[starling.ID]bool{}
	for a := range v.byAuthor {
		users[a] = true
	}
	for a := range v.following {
		users[a] = true
	}
	for u := range users {
		v.rebuildHome(u)
	}
	clear(v.dirty)
}

// ensureHome rebuilds the user's home timeline if an earlier change left it
// dirty. It takes the write lock only when there is work to do.
func (v *view) ensureHome(user starling.ID) {
	v.mu.RLock()
	dirty := v.dirty[user]
	v.mu.RUnlock()
	if dirty {
		v.mu.Lock()
		if v.dirty[user] {
			v.rebuildHome(user)
		}
		v.mu.Unlock()
	}
}

// markFollowersDirty schedules a rebuild of every follower's home (when
// an account crosses the fan-out threshold, or a reblog is deleted).
func (v *view) markFollowersDirty(target starling.ID) {
	if fl := v.followers[target]; fl != nil {
		for _, e := range fl.edges {
			v.dirty[e.account] = true
		}
	}
}
