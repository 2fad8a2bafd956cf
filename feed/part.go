package feed

import (
	"sync"

	"github.com/starling-social/starling"
)

// part is one partition of the Feed view: the derived data of the accounts
// whose IDs fall in partition p (their statuses, follows, followers,
// favourites and reblogs, home timelines) and of the statuses whose IDs
// fall in it (who favourited and reblogged them, their replies, the reply
// trees of conversations they start, the public and hashtag timelines).
// Status bodies are not here: they live in the node's bounded body cache.
//
// Every Feed instance consumes every change of the feed table (dispatch.go)
// and applies it to the partitions it holds; each keeps what concerns it.
// applied[i] is the last sequence of the table's partition stream i applied
// here, so a part is exactly "the table up to applied", which is what a
// snapshot records. Applying a change is an upsert or a removal keyed by
// the record, so a partition built from a snapshot plus the stream tail is
// the same as one built from the start.
//
// A part is safe for concurrent use: changes are applied under its write
// lock, reads hold its read lock. No lock of it is taken outside this file
// and part_reads.go.
type part struct {
	mu      sync.RWMutex
	p, n    int // partition and partition count
	big     int // local followers beyond which an account is merged at read time
	homeCap int
	applied []uint64 // per table partition stream
	live    []bool   // per stream: applied by the node's live followers (dispatch.go)
	saved   []uint64 // applied as of the last snapshot written
	quiet   bool     // publishes no live events (a copy being rebuilt)
	// loaded: built from a snapshot; scanning: applying a catch-up batch
	// of a loaded partition, whose records may replace edges whose
	// deletions it never sees (edgeList.put).
	loaded, scanning bool

	// Accounts of this partition.
	authors   map[starling.ID]*authorList // account -> its statuses and reblogs
	out       map[starling.ID]*edgeList   // account -> follows and requests it made (who = target)
	in        followersHere               // any account -> its followers in this partition (bits: follow flags)
	followers map[starling.ID]*edgeList   // account -> its followers (who = follower)
	requests  map[starling.ID]*edgeList   // account -> pending requests to follow it
	favBy     map[starling.ID]*idList     // account -> statuses it favourited
	boostBy   map[starling.ID]*idList     // account -> statuses it reblogged
	homes     map[starling.ID]*home       // account -> home timeline (only of accounts that read it)

	// Statuses of this partition.
	favs    map[starling.ID]*edgeList // status -> favourites (id: the favourite's, who: the account)
	boosts  map[starling.ID]*edgeList // status -> reblogs (id: the wrapper's, who: the booster)
	replies map[starling.ID]*idList   // status -> its direct replies
	threads map[starling.ID]*thread   // conversation root -> its replies
	public  flagList                  // public statuses that are not replies to others or reblogs (bit: media)
	tags    map[string]*flagList      // hashtag -> public statuses with it (bit: media)
}

// Flags of an author's status entry.
const (
	visMask    = 3 // visibility (below)
	bitReblog  = 1 << 2
	bitReply   = 1 << 3 // a reply to another account's status
	bitMedia   = 1 << 4
	bitAnyRepl = 1 << 5 // a reply at all (self-replies too)
)

// Visibilities as stored in entry flags.
const (
	visPublic uint8 = iota
	visUnlisted
	visPrivate
	visDirect
)

func visBits(v starling.Visibility) uint8 {
	switch v {
	case starling.Unlisted:
		return visUnlisted
	case starling.Private:
		return visPrivate
	case starling.Direct:
		return visDirect
	}
	return visPublic
}

// Flags of follow edges.
const (
	fRequested = 1 << 0
	fReblogs   = 1 << 1
	fNotify    = 1 << 2
)

// authorList is an account's statuses and reblogs, ascending by ID.
type authorList struct {
	flagList
	reblogs  map[starling.ID]reblogOf      // wrapper -> what it reblogs
	mentions map[starling.ID][]starling.ID // followers-only and direct status -> mentioned accounts
}

type reblogOf struct{ orig, author starling.ID }

// home is a home timeline: the newest status IDs the account should see.
type home struct {
	idList
	// wrapped maps the originals of the reblogs in the list to the wrapper
	// shown: a status appears once, as itself or as its first reblog.
	wrapped map[starling.ID]starling.ID
	// dirty homes are rebuilt before their next read (a follow changed);
	// changes applied meanwhile are kept in added and removed, so the
	// rebuild can account for what happened while it gathered.
	dirty   bool
	gen     uint64
	added   []starling.ID
	removed []starling.ID
}

// thread is the replies of a conversation, ascending by ID.
type thread struct{ ids, parents []starling.ID }

func newPart(p, n, threshold, homeCap int) *part {
	big := 0
	if threshold > 0 {
		big = max(1, (threshold+n-1)/n)
	}
	return &part{
		p: p, n: n, big: big, homeCap: homeCap, applied: make([]uint64, n), live: make([]bool, n),
		authors: map[starling.ID]*authorList{}, out: map[starling.ID]*edgeList{},
		followers: map[starling.ID]*edgeList{}, requests: map[starling.ID]*edgeList{},
		favBy: map[starling.ID]*idList{}, boostBy: map[starling.ID]*idList{}, homes: map[starling.ID]*home{},
		favs: map[starling.ID]*edgeList{}, boosts: map[starling.ID]*edgeList{}, replies: map[starling.ID]*idList{},
		threads: map[starling.ID]*thread{}, tags: map[string]*flagList{},
	}
}

// partOf returns the partition of an ID (of the table keys whose partition
// token it is).
func partOf(id starling.ID, n int) int { return starling.PartitionOf(id, n) }

func (pt *part) mine(id starling.ID) bool { return id != 0 && partOf(id, pt.n) == pt.p }

// get returns m[k], adding a new value made by mk when missing.
func get[K comparable, V any](m map[K]*V, k K) *V {
	v := m[k]
	if v == nil {
		v = new(V)
		m[k] = v
	}
	return v
}

// liveEvent is a streaming event a change caused: the status reached
// user's home timeline, left it, or changed.
type liveEvent struct {
	user   starling.ID // 0: the public or a hashtag's stream
	tag    string      // with user 0: the hashtag's stream ("": public)
	event  string      // update, delete, status.update
	status starling.ID
	author starling.ID
}

// publicEvents appends the events of the public and hashtag streams for a
// public status of this partition.
func (pt *part) publicEvents(r *postRecord, event string, out []liveEvent) []liveEvent {
	if r.ReblogOf != 0 || r.Visibility != starling.Public || !pt.mine(r.ID) {
		return out
	}
	if r.ReplyTo == 0 || r.ReplyToAccount == r.Account {
		out = append(out, liveEvent{event: event, status: r.ID, author: r.Account})
	}
	for _, t := range r.Tags {
		out = append(out, liveEvent{tag: t, event: event, status: r.ID, author: r.Account})
	}
	return out
}

// --- statuses ---

// applyPost applies a stored status (new or edited) or its tombstone.
// It returns the live events for this partition's home timelines when
// publish is set.
func (pt *part) applyPost(r *postRecord, publish bool, out []liveEvent) []liveEvent {
	if r.Deleted {
		return pt.deletePost(r, publish, out)
	}
	if pt.mine(r.Account) {
		pt.putAuthored(r)
	}
	if pt.mine(r.ID) && r.ReblogOf == 0 && r.Visibility == starling.Public {
		var bits uint8
		if len(r.Media) > 0 {
			bits = bitMedia
		}
		_, known := pt.public.find(r.ID)
		if r.ReplyTo == 0 || r.ReplyToAccount == r.Account {
			pt.public.put(r.ID, bits)
		} else if l := pt.tags[firstOr(r.Tags)]; l != nil {
			_, known = l.find(r.ID)
		}
		for _, t := range r.Tags {
			get(pt.tags, t).put(r.ID, bits)
		}
		for _, t := range r.Untagged {
			if l := pt.tags[t]; l != nil && l.remove(r.ID) && l.len() == 0 {
				delete(pt.tags, t)
			}
		}
		if publish {
			switch {
			case r.Edited != nil:
				out = pt.publicEvents(r, "status.update", out)
			case !known:
				out = pt.publicEvents(r, "update", out)
			}
		}
	}
	if r.ReplyTo != 0 {
		if pt.mine(r.ReplyTo) {
			get(pt.replies, r.ReplyTo).insert(r.ID)
		}
		if root := r.root(); pt.mine(root) {
			get(pt.threads, root).put(r.ID, r.ReplyTo)
		}
	}
	return pt.fanOut(r, publish, out)
}

func firstOr(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	return ss[0]
}

// putAuthored records a status in its author's list.
func (pt *part) putAuthored(r *postRecord) {
	l := pt.authors[r.Account]
	if l == nil {
		l = &authorList{}
		pt.authors[r.Account] = l
	}
	bits := visBits(r.Visibility)
	if r.ReblogOf != 0 {
		bits |= bitReblog
		if l.reblogs == nil {
			l.reblogs = map[starling.ID]reblogOf{}
		}
		l.reblogs[r.ID] = reblogOf{r.ReblogOf, r.ReblogOfAccount}
	}
	if r.ReplyTo != 0 {
		bits |= bitAnyRepl
		if r.ReplyToAccount != r.Account {
			bits |= bitReply
		}
	}
	if len(r.Media) > 0 {
		bits |= bitMedia
	}
	if (r.Visibility == starling.Private || r.Visibility == starling.Direct) && len(r.Mentions) > 0 {
		if l.mentions == nil {
			l.mentions = map[starling.ID][]starling.ID{}
		}
		ids := make([]starling.ID, len(r.Mentions))
		for i, m := range r.Mentions {
			ids[i] = m.ID
		}
		l.mentions[r.ID] = ids
	}
	l.put(r.ID, bits)
}

func (t *thread) put(id, parent starling.ID) {
	l := flagless{&t.ids, &t.parents}
	l.put(id, parent)
}

func (t *thread) remove(id starling.ID) {
	l := flagless{&t.ids, &t.parents}
	l.remove(id)
}

// flagless is a sorted ID list with a parallel ID per entry.
type flagless struct{ ids, vals *[]starling.ID }

func (l flagless) put(id, v starling.ID) {
	ids, vals := *l.ids, *l.vals
	i := searchIDs(ids, id)
	if i < len(ids) && ids[i] == id {
		vals[i] = v
		return
	}
	*l.ids, *l.vals = insertAt(ids, i, id), insertAt(vals, i, v)
}

func (l flagless) remove(id starling.ID) {
	ids := *l.ids
	i := searchIDs(ids, id)
	if i < len(ids) && ids[i] == id {
		*l.ids, *l.vals = deleteAt(ids, i), deleteAt(*l.vals, i)
	}
}

// fanOut delivers a status to the home timelines of this partition that
// should show it: its author's, and those of the author's followers here
// (for a direct status, mentioned followers). An account with more local
// followers than big is not fanned out: its followers' homes merge its
// statuses at read time.
func (pt *part) fanOut(r *postRecord, publish bool, out []liveEvent) []liveEvent {
	var reb *reblogOf
	if r.ReblogOf != 0 {
		reb = &reblogOf{r.ReblogOf, r.ReblogOfAccount}
	}
	event := "update"
	if r.Edited != nil {
		event = "status.update"
	}
	deliver := func(user starling.ID) {
		h := pt.homes[user]
		if h == nil {
			// Built on its first read; streaming clients hear of it now.
			if publish && (reb == nil || reb.author != user) {
				out = append(out, liveEvent{user: user, event: event, status: r.ID, author: r.Account})
			}
			return
		}
		inserted := h.insertStatus(r.ID, reb, user, pt.homeCap)
		if publish && (inserted || (event == "status.update" && h.has(r.ID))) {
			out = append(out, liveEvent{user: user, event: event, status: r.ID, author: r.Account})
		}
	}
	if pt.mine(r.Account) {
		deliver(r.Account)
	}
	if n := pt.in.count(r.Account); n == 0 || pt.isBig(n) {
		return out
	}
	if r.Visibility == starling.Direct {
		for _, m := range r.Mentions {
			if _, ok := pt.in.find(r.Account, m.ID); ok {
				deliver(m.ID)
			}
		}
		return out
	}
	pt.in.each(r.Account, func(f starling.ID, bits uint8) {
		if reb == nil || bits&fReblogs != 0 {
			deliver(f)
		}
	})
	return out
}

// isBig reports whether an account with n followers here is merged into
// homes at read time.
func (pt *part) isBig(n int) bool { return pt.big > 0 && n > pt.big }

// bigHere reports whether account is merged into this partition's homes
// at read time.
func (pt *part) bigHere(account starling.ID) bool { return pt.isBig(pt.in.count(account)) }

// deletePost removes a deleted status (its tombstone carries what it was)
// from everything derived from it here.
func (pt *part) deletePost(r *postRecord, publish bool, out []liveEvent) []liveEvent {
	if pt.mine(r.Account) {
		if l := pt.authors[r.Account]; l != nil {
			l.remove(r.ID)
			delete(l.reblogs, r.ID)
			delete(l.mentions, r.ID)
		}
	}
	if pt.mine(r.ID) {
		if publish {
			out = pt.publicEvents(r, "delete", out)
		}
		pt.public.remove(r.ID)
		for _, t := range r.Tags {
			if l := pt.tags[t]; l != nil && l.remove(r.ID) && l.len() == 0 {
				delete(pt.tags, t)
			}
		}
		delete(pt.favs, r.ID)
		delete(pt.boosts, r.ID)
		delete(pt.replies, r.ID)
		delete(pt.threads, r.ID)
	}
	if r.ReplyTo != 0 {
		if l := pt.replies[r.ReplyTo]; l != nil && l.remove(r.ID) && l.len() == 0 {
			delete(pt.replies, r.ReplyTo)
		}
		if t := pt.threads[r.root()]; t != nil {
			t.remove(r.ID)
		}
	}
	remove := func(user starling.ID) {
		h := pt.homes[user]
		if h == nil {
			if publish && pt.mine(user) {
				out = append(out, liveEvent{user: user, event: "delete", status: r.ID, author: r.Account})
			}
			return
		}
		if !h.removeStatus(r.ID) {
			return
		}
		if r.ReblogOf != 0 {
			h.dirty = true // another reblog of the original may show now
		}
		if publish {
			out = append(out, liveEvent{user: user, event: "delete", status: r.ID, author: r.Account})
		}
	}
	remove(r.Account)
	pt.in.each(r.Account, func(f starling.ID, _ uint8) { remove(f) })
	for _, m := range r.Mentions {
		remove(m.ID)
	}
	return out
}

// --- home timelines ---

// insertStatus adds a status to a home timeline, showing each status once:
// a reblog of a status already there (itself or reblogged) is left out,
// and a status replaces its reblogs. It reports whether the list changed.
func (h *home) insertStatus(id starling.ID, reb *reblogOf, user starling.ID, capacity int) bool {
	if reb != nil {
		if reb.author == user || h.has(reb.orig) {
			return false
		}
		if _, shown := h.wrapped[reb.orig]; shown {
			return false
		}
	} else if w, ok := h.wrapped[id]; ok {
		h.idList.remove(w)
		delete(h.wrapped, id)
	}
	if !h.insert(id) {
		return false
	}
	if reb != nil {
		if h.wrapped == nil {
			h.wrapped = map[starling.ID]starling.ID{}
		}
		h.wrapped[reb.orig] = id
	}
	if h.dirty {
		h.added = append(h.added, id)
	}
	for _, d := range h.trimTo(capacity, homeSlack) {
		h.forget(d)
	}
	return true
}

// removeStatus removes id; it reports whether it was there.
func (h *home) removeStatus(id starling.ID) bool {
	if h.dirty {
		h.removed = append(h.removed, id)
	}
	if !h.idList.remove(id) {
		return false
	}
	h.forget(id)
	return true
}

// forget drops id from the reblog index.
func (h *home) forget(id starling.ID) {
	for orig, w := range h.wrapped {
		if w == id {
			delete(h.wrapped, orig)
			return
		}
	}
}

// homeSlack is how far a home timeline may grow past its cap before it is
// trimmed (trimming is a copy, so it is batched).
const homeSlack = 64

// markDirty schedules a rebuild of user's home, if it has one.
func (pt *part) markDirty(user starling.ID) {
	if h := pt.homes[user]; h != nil && !h.dirty {
		h.dirty, h.added, h.removed = true, nil, nil
		h.gen++
	}
}

// --- follows ---

// applyFollow applies a follow record of follower → target (nil: deleted).
func (pt *part) applyFollow(follower, target starling.ID, r *followRecord) {
	var bits uint8
	if r != nil {
		if r.Requested {
			bits |= fRequested
		}
		if r.Reblogs {
			bits |= fReblogs
		}
		if r.Notify {
			bits |= fNotify
		}
	}
	if pt.mine(follower) {
		pt.followOut(follower, target, r, bits)
	}
	if pt.mine(target) {
		pt.followIn(follower, target, r, bits)
	}
}

// followOut records the follower's side: its follows list, and the
// followers-here index of the target that fan-out uses.
func (pt *part) followOut(follower, target starling.ID, r *followRecord, bits uint8) {
	ol := pt.out[follower]
	oldBits, had := pt.in.find(target, follower) // an accepted follow
	wasBig := pt.bigHere(target)
	if r == nil {
		if ol.del(target) && ol.len() == 0 {
			delete(pt.out, follower)
		}
		pt.in.remove(target, follower)
	} else {
		if ol == nil {
			ol = &edgeList{}
			pt.out[follower] = ol
		}
		ol.put(r.ID, target, bits, pt.scanning || bits&fRequested != 0)
		if bits&fRequested == 0 {
			pt.in.put(target, follower, bits)
		} else {
			pt.in.remove(target, follower)
		}
	}
	if pt.bigHere(target) != wasBig {
		// From now on fanned out, or merged at read time: rebuild the
		// homes of its followers here.
		pt.in.each(target, func(f starling.ID, _ uint8) { pt.markDirty(f) })
	}
	accepted := func(b uint8, ok bool) bool { return ok && b&fRequested == 0 }
	if accepted(oldBits, had) != accepted(bits, r != nil) || (had && r != nil && (oldBits^bits)&fReblogs != 0) {
		pt.markDirty(follower)
	}
}

// followIn records the target's side: its followers or requests.
func (pt *part) followIn(follower, target starling.ID, r *followRecord, bits uint8) {
	if r == nil || bits&fRequested != 0 {
		if l := pt.followers[target]; l.del(follower) && l.len() == 0 {
			delete(pt.followers, target)
		}
	}
	if r == nil || bits&fRequested == 0 {
		if l := pt.requests[target]; l.del(follower) && l.len() == 0 {
			delete(pt.requests, target)
		}
	}
	if r == nil {
		return
	}
	if bits&fRequested != 0 {
		get(pt.requests, target).put(r.ID, follower, bits, true)
	} else {
		get(pt.followers, target).put(r.ID, follower, bits, pt.scanning)
	}
}

// --- favourites and reblogs ---

// applyFav applies a favourite of status by account (r nil: removed).
func (pt *part) applyFav(status, account starling.ID, r *favRecord) {
	if pt.mine(status) {
		if r == nil {
			if l := pt.favs[status]; l.del(account) && l.len() == 0 {
				delete(pt.favs, status)
			}
		} else {
			get(pt.favs, status).put(r.ID, account, 0, pt.scanning)
		}
	}
	if pt.mine(account) {
		if r == nil {
			if l := pt.favBy[account]; l.remove(status) && l.len() == 0 {
				delete(pt.favBy, account)
			}
		} else {
			get(pt.favBy, account).insert(status)
		}
	}
}

// applyBoost applies a reblog claim of status by account (r nil: removed).
func (pt *part) applyBoost(status, account starling.ID, r *boostRecord) {
	if pt.mine(status) {
		if r == nil {
			if l := pt.boosts[status]; l.del(account) && l.len() == 0 {
				delete(pt.boosts, status)
			}
		} else {
			get(pt.boosts, status).put(r.Wrapper, account, 0, pt.scanning)
		}
	}
	if pt.mine(account) {
		if r == nil {
			if l := pt.boostBy[account]; l.remove(status) && l.len() == 0 {
				delete(pt.boostBy, account)
			}
		} else {
			get(pt.boostBy, account).insert(status)
		}
	}
}

// bytes estimates the partition's memory: every slice's capacity, every
// map entry and list header. It walks the whole partition.
func (pt *part) bytes() int64 {
	const (
		entry = 48 // a map entry (key, pointer, share of buckets)
		list  = 24 // a slice header
		id    = 8
	)
	pt.mu.RLock()
	defer pt.mu.RUnlock()
	var n int
	for _, l := range pt.authors {
		n += entry + 3*list + 16 + cap(l.ids)*id + cap(l.bits) + len(l.reblogs)*(entry+2*id) + len(l.mentions)*(entry+list+2*id)
	}
	for _, m := range []map[starling.ID]*edgeList{pt.out, pt.followers, pt.requests, pt.favs, pt.boosts} {
		for _, l := range m {
			n += entry + 2*list + cap(l.ids)*id + cap(l.who)*id
		}
	}
	n += pt.in.bytes()
	for _, m := range []map[starling.ID]*idList{pt.favBy, pt.boostBy, pt.replies} {
		for _, l := range m {
			n += entry + list + cap(l.ids)*id
		}
	}
	for _, h := range pt.homes {
		n += entry + 96 + cap(h.ids)*id + len(h.wrapped)*(entry+id) + (cap(h.added)+cap(h.removed))*id
	}
	for _, t := range pt.threads {
		n += entry + 2*list + (cap(t.ids)+cap(t.parents))*id
	}
	n += cap(pt.public.ids)*id + cap(pt.public.bits)
	for k, l := range pt.tags {
		n += entry + len(k) + 2*list + cap(l.ids)*id + cap(l.bits)
	}
	return int64(n)
}
