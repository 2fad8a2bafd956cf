package feed

import (
	"cmp"
	"slices"

	"github.com/starling-social/starling"
)

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
	i, found := slices.BinarySearch(l.ids, id)
	if !found {
		return false
	}
	l.ids = slices.Delete(l.ids, i, i+1)
	return true
}

func (l *idList) has(id starling.ID) bool {
	_, found := slices.BinarySearch(l.ids, id)
	return found
}

func (l *idList) len() int {
	if l == nil {
		return 0
	}
	return len(l.ids)
}

// trimTo keeps the newest n IDs once the list has grown past n+slack, so
// that trimming a capped timeline costs one copy per slack inserts.
func (l *idList) trimTo(n, slack int) {
	if len(l.ids) > n+slack {
		l.ids = append(l.ids[:0], l.ids[len(l.ids)-n:]...)
	}
}

// newest returns the newest ID, or 0.
func (l *idList) newest() starling.ID {
	if len(l.ids) == 0 {
		return 0
	}
	return l.ids[len(l.ids)-1]
}

// edge is one relationship record (a follow, favourite or reblog) with its
// own time-ordered ID, by which lists of them are paginated.
type edge struct {
	id      starling.ID // the relationship record's ID
	account starling.ID // the other side
}

// edgeList is a set of edges sorted by edge ID with an index by account.
type edgeList struct {
	edges []edge
	by    map[starling.ID]starling.ID // account -> edge id
}

func newEdgeList() *edgeList { return &edgeList{by: map[starling.ID]starling.ID{}} }

func (l *edgeList) put(id, account starling.ID) {
	if old, ok := l.by[account]; ok {
		if old == id {
			return
		}
		l.del(account)
	}
	l.by[account] = id
	e := edge{id, account}
	n := len(l.edges)
	if n == 0 || l.edges[n-1].id < id {
		l.edges = append(l.edges, e)
		return
	}
	i, _ := slices.BinarySearchFunc(l.edges, id, func(e edge, id starling.ID) int { return cmp.Compare(e.id, id) })
	l.edges = slices.Insert(l.edges, i, e)
}

func (l *edgeList) del(account starling.ID) bool {
	id, ok := l.by[account]
	if !ok {
		return false
	}
	delete(l.by, account)
	i, found := slices.BinarySearchFunc(l.edges, id, func(e edge, id starling.ID) int { return cmp.Compare(e.id, id) })
	if found {
		l.edges = slices.Delete(l.edges, i, i+1)
	}
	return true
}

func (l *edgeList) has(account starling.ID) bool {
	if l == nil {
		return false
	}
	_, ok := l.by[account]
	return ok
}

func (l *edgeList) len() int {
	if l == nil {
		return 0
	}
	return len(l.edges)
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
	return pageBy(ids, func(id starling.ID) starling.ID { return id }, p, limit, keep)
}

// pageEdges is pageIDs for edge lists, returning edges newest first.
func pageEdges(l *edgeList, p starling.Page, limit int) []edge {
	if l == nil {
		return nil
	}
	return pageBy(l.edges, func(e edge) starling.ID { return e.id }, p, limit, nil)
}

// pageBy selects up to limit items of items (ascending by key) that match
// keep: with MinID, the items immediately newer than MinID (and older than
// MaxID when given); otherwise the newest items older than MaxID and newer
// than SinceID. The result is newest first.
func pageBy[T any](items []T, key func(T) starling.ID, p starling.Page, limit int, keep func(T) bool) []T {
	out := make([]T, 0, min(limit, len(items)))
	search := func(id starling.ID) (int, bool) {
		return slices.BinarySearchFunc(items, id, func(it T, id starling.ID) int { return cmp.Compare(key(it), id) })
	}
	if p.MinID != 0 {
		i, found := search(p.MinID)
		if found {
			i++
		}
		for ; i < len(items) && len(out) < limit; i++ {
			it := items[i]
			if p.MaxID != 0 && key(it) >= p.MaxID {
				break
			}
			if keep == nil || keep(it) {
				out = append(out, it)
			}
		}
		slices.Reverse(out)
		return out
	}
	end := len(items)
	if p.MaxID != 0 {
		end, _ = search(p.MaxID)
	}
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		it := items[i]
		if p.SinceID != 0 && key(it) <= p.SinceID {
			break
		}
		if keep == nil || keep(it) {
			out = append(out, it)
		}
	}
	return out
}
