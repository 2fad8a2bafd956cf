package feed

import (
	"cmp"
	"slices"
	"sort"

	"github.com/starling-social/starling"
)

// The view's lists are plain sorted slices, several in parallel where an
// entry has more than an ID: a list costs its entries' bytes and one slice
// header per field, nothing per entry (no maps, no pointers), which is what
// keeps a status or an edge within a few dozen bytes of the view.

// idList is a set of IDs kept sorted ascending (oldest first), so that the
// common insert, a new ID, is an append.
type idList struct{ ids []starling.ID }

// insert adds id; it reports whether id was new.
func (l *idList) insert(id starling.ID) bool {
	n := len(l.ids)
	if n == 0 || l.ids[n-1] < id {
		l.ids = append(l.ids, id)
		return true
	}
	i, found := slices.BinarySearch(l.ids, id)
	if found {
		return false
	}
	l.ids = slices.Insert(l.ids, i, id)
	return true
}

// remove deletes id; it reports whether it was present.
func (l *idList) remove(id starling.ID) bool {
	if l == nil {
		return false
	}
	i, found := slices.BinarySearch(l.ids, id)
	if !found {
		return false
	}
	l.ids = slices.Delete(l.ids, i, i+1)
	return true
}

func (l *idList) has(id starling.ID) bool {
	if l == nil {
		return false
	}
	_, found := slices.BinarySearch(l.ids, id)
	return found
}

func (l *idList) len() int {
	if l == nil {
		return 0
	}
	return len(l.ids)
}

func (l *idList) idsOrNil() []starling.ID {
	if l == nil {
		return nil
	}
	return l.ids
}

// trimTo keeps the newest n IDs once the list has grown past n+slack, so
// that trimming a capped timeline costs one copy per slack inserts. It
// returns the IDs it dropped (valid until the next change).
func (l *idList) trimTo(n, slack int) []starling.ID {
	if len(l.ids) <= n+slack {
		return nil
	}
	cut := len(l.ids) - n
	dropped := slices.Clone(l.ids[:cut])
	l.ids = append(l.ids[:0], l.ids[cut:]...)
	return dropped
}

// newest returns the newest ID, or 0.
func (l *idList) newest() starling.ID {
	if l == nil || len(l.ids) == 0 {
		return 0
	}
	return l.ids[len(l.ids)-1]
}

// flagList is an idList with a byte of flags per ID.
type flagList struct {
	ids  []starling.ID
	bits []uint8
}

// put inserts id with bits, or replaces its bits.
func (l *flagList) put(id starling.ID, bits uint8) {
	n := len(l.ids)
	if n == 0 || l.ids[n-1] < id {
		l.ids, l.bits = append(l.ids, id), append(l.bits, bits)
		return
	}
	i, found := slices.BinarySearch(l.ids, id)
	if found {
		l.bits[i] = bits
		return
	}
	l.ids, l.bits = slices.Insert(l.ids, i, id), slices.Insert(l.bits, i, bits)
}

func (l *flagList) remove(id starling.ID) bool {
	if l == nil {
		return false
	}
	i, found := slices.BinarySearch(l.ids, id)
	if !found {
		return false
	}
	l.ids, l.bits = slices.Delete(l.ids, i, i+1), slices.Delete(l.bits, i, i+1)
	return true
}

func (l *flagList) find(id starling.ID) (uint8, bool) {
	if l == nil {
		return 0, false
	}
	i, found := slices.BinarySearch(l.ids, id)
	if !found {
		return 0, false
	}
	return l.bits[i], true
}

func (l *flagList) len() int {
	if l == nil {
		return 0
	}
	return len(l.ids)
}

// edgeList is a list of relationship records (follows, favourites,
// reblogs): each has its own time-ordered ID, by which the list is sorted
// and paged, the account on the other side, and a few flags, which ride in
// the account's top bits (as in followersHere). New records have the newest
// IDs, so adding one is an append. Finding an account's record is a scan
// from the newest end: lists are short, except the followers of very
// followed accounts, whose lookups are rare (an unfollow, a relationship
// shown to that account), and an index by account would cost four more
// bytes on every edge.
type edgeList struct {
	ids []starling.ID // record IDs, ascending
	who []uint64      // account | flags<<flagShift
}

func (l *edgeList) account(i int) starling.ID { return starling.ID(l.who[i] & idMask) }
func (l *edgeList) flagsAt(i int) uint8       { return uint8(l.who[i] >> flagShift) }

// find returns the position of account's edge, or -1.
func (l *edgeList) find(account starling.ID) int {
	if l == nil {
		return -1
	}
	for i := len(l.who) - 1; i >= 0; i-- {
		if l.who[i]&idMask == uint64(account) {
			return i
		}
	}
	return -1
}

func (l *edgeList) has(account starling.ID) bool { return l.find(account) >= 0 }

// flags returns account's edge flags and whether it has an edge.
func (l *edgeList) flags(account starling.ID) (uint8, bool) {
	i := l.find(account)
	if i < 0 {
		return 0, false
	}
	return l.flagsAt(i), true
}

// put adds account's edge id, or replaces its flags. With scan, it also
// removes an older edge of account first: the record was replaced while
// its deletion went unseen (a partition catching up from a snapshot reads
// only records' latest revisions). Otherwise the older edge's deletion came
// first, and the costly scan is not needed.
func (l *edgeList) put(id, account starling.ID, bits uint8, scan bool) {
	w := uint64(account) | uint64(bits)<<flagShift
	if i, found := slices.BinarySearch(l.ids, id); found && l.account(i) == account {
		l.who[i] = w
		return
	}
	if scan {
		if i := l.find(account); i >= 0 {
			l.removeAt(i)
		}
	}
	n := len(l.ids)
	if n == 0 || l.ids[n-1] < id {
		l.ids, l.who = append(l.ids, id), append(l.who, w)
		return
	}
	pos, _ := slices.BinarySearch(l.ids, id)
	l.ids, l.who = slices.Insert(l.ids, pos, id), slices.Insert(l.who, pos, w)
}

// del removes account's edge; it reports whether there was one.
func (l *edgeList) del(account starling.ID) bool {
	i := l.find(account)
	if i < 0 {
		return false
	}
	l.removeAt(i)
	return true
}

func (l *edgeList) removeAt(i int) {
	l.ids, l.who = slices.Delete(l.ids, i, i+1), slices.Delete(l.who, i, i+1)
}

func (l *edgeList) len() int {
	if l == nil {
		return 0
	}
	return len(l.ids)
}

// count returns how many edges have all of the flags want and none of
// the flags not.
func (l *edgeList) count(want, not uint8) int {
	if l == nil {
		return 0
	}
	n := 0
	for i := range l.who {
		if b := l.flagsAt(i); b&want == want && b&not == 0 {
			n++
		}
	}
	return n
}

// page selects edges following Mastodon's cursors, newest first, keeping
// those whose flags pass keep (nil: all).
func (l *edgeList) page(p starling.Page, limit int, keep func(uint8) bool) []starling.Edge {
	if l == nil {
		return []starling.Edge{}
	}
	idx := pageIdx(len(l.ids), func(i int) starling.ID { return l.ids[i] }, p, limit, func(i int) bool {
		return keep == nil || keep(l.flagsAt(i))
	})
	out := make([]starling.Edge, len(idx))
	for k, i := range idx {
		out[k] = starling.Edge{ID: l.ids[i], Account: l.account(i)}
	}
	return out
}

// Page clamping, as Mastodon does: min(abs(limit), 2×default).
func clampLimit(limit, def int) int {
	if limit < 0 {
		limit = -limit
	}
	if limit == 0 {
		return def
	}
	return min(limit, 2*def)
}

// pageIDs selects up to limit IDs of the ascending list ids that match keep,
// following Mastodon's cursor rules, newest first.
func pageIDs(ids []starling.ID, p starling.Page, limit int, keep func(starling.ID) bool) []starling.ID {
	idx := pageIdx(len(ids), func(i int) starling.ID { return ids[i] }, p, limit, func(i int) bool { return keep == nil || keep(ids[i]) })
	out := make([]starling.ID, len(idx))
	for k, i := range idx {
		out[k] = ids[i]
	}
	return out
}

// pageIdx selects up to limit positions of a list of n items ascending by
// key that match keep: with MinID, the items immediately newer than MinID
// (and older than MaxID when given); otherwise the newest items older than
// MaxID and newer than SinceID. The result is newest first.
func pageIdx(n int, key func(int) starling.ID, p starling.Page, limit int, keep func(int) bool) []int {
	out := make([]int, 0, min(limit, n))
	// search returns the first position whose key is at least id.
	search := func(id starling.ID) int { return sort.Search(n, func(i int) bool { return key(i) >= id }) }
	if p.MinID != 0 {
		i := search(p.MinID)
		if i < n && key(i) == p.MinID {
			i++
		}
		for ; i < n && len(out) < limit; i++ {
			if p.MaxID != 0 && key(i) >= p.MaxID {
				break
			}
			if keep(i) {
				out = append(out, i)
			}
		}
		slices.Reverse(out)
		return out
	}
	end := n
	if p.MaxID != 0 {
		end = search(p.MaxID)
	}
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		if p.SinceID != 0 && key(i) <= p.SinceID {
			break
		}
		if keep(i) {
			out = append(out, i)
		}
	}
	return out
}

// mergeNewest merges newest-first ID lists without duplicates, keeping
// limit of them: the newest, or with forward paging (minID) the oldest.
func mergeNewest(lists [][]starling.ID, limit int, forward bool) []starling.ID {
	var out []starling.ID
	for _, l := range lists {
		out = append(out, l...)
	}
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

// searchIDs returns the position of id in the ascending ids, or where it
// would be inserted.
func searchIDs(ids []starling.ID, id starling.ID) int {
	i, _ := slices.BinarySearch(ids, id)
	return i
}

func insertAt[T any](s []T, i int, v T) []T { return slices.Insert(s, i, v) }

func deleteAt[T any](s []T, i int) []T { return slices.Delete(s, i, i+1) }
