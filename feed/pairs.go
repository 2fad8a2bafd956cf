package feed

import (
	"cmp"
	"slices"

	"github.com/starling-social/starling"
)

// followersHere is a partition's index of "which of my accounts follow
// account A" (with the follow's flags), the lookup fan-out makes for every
// post. It is one set of (followed, follower) pairs sorted by followed then
// follower — 16 bytes an edge and nothing per account, where a list per
// followed account cost a map entry, a header and slack for each of the
// hundreds of thousands of accounts a partition's accounts follow. New
// pairs go to a small sorted delta, merged into the base when it grows, so
// an insert costs O(log n) amortised instead of moving the whole base; a
// removal from the base leaves a tombstone until the next merge. Not safe
// for concurrent use: the partition's lock guards it.
type followersHere struct {
	base  []pair
	delta []pair
	dead  int // tombstones in base
}

// pair is a followed account and one of its followers here; the follow's
// flags ride in the follower's top bits (IDs stay below 2^57 until the
// year 6000), and a zero follower is a tombstone.
type pair struct{ followed, follower uint64 }

const (
	flagShift = 57
	idMask    = 1<<flagShift - 1
)

func makePair(followed, follower starling.ID, bits uint8) pair {
	return pair{uint64(followed), uint64(follower) | uint64(bits)<<flagShift}
}

func (p pair) who() starling.ID { return starling.ID(p.follower & idMask) }
func (p pair) bits() uint8      { return uint8(p.follower >> flagShift) }

func cmpPair(a, b pair) int {
	if c := cmp.Compare(a.followed, b.followed); c != 0 {
		return c
	}
	return cmp.Compare(a.follower&idMask, b.follower&idMask)
}

// deltaMax is the delta's size that triggers a merge.
const deltaMax = 4096

// locate returns where (followed, follower) is: in the delta (d true) or
// the base, and whether it is there.
func (f *followersHere) locate(followed, follower starling.ID) (i int, d, found bool) {
	key := makePair(followed, follower, 0)
	if i, ok := slices.BinarySearchFunc(f.delta, key, cmpPair); ok {
		return i, true, true
	}
	i, ok := slices.BinarySearchFunc(f.base, key, cmpPair)
	return i, false, ok && f.base[i].follower != 0
}

// find returns the flags of follower's follow of followed.
func (f *followersHere) find(followed, follower starling.ID) (uint8, bool) {
	if f == nil {
		return 0, false
	}
	i, d, found := f.locate(followed, follower)
	switch {
	case !found:
		return 0, false
	case d:
		return f.delta[i].bits(), true
	}
	return f.base[i].bits(), true
}

// put adds follower's follow of followed, or replaces its flags.
func (f *followersHere) put(followed, follower starling.ID, bits uint8) {
	p := makePair(followed, follower, bits)
	i, d, found := f.locate(followed, follower)
	switch {
	case found && d:
		f.delta[i] = p
		return
	case found:
		f.base[i] = p
		return
	}
	j, _ := slices.BinarySearchFunc(f.delta, p, cmpPair)
	f.delta = slices.Insert(f.delta, j, p)
	if len(f.delta) >= deltaMax {
		f.merge()
	}
}

// remove removes follower's follow of followed; it reports whether it was
// there.
func (f *followersHere) remove(followed, follower starling.ID) bool {
	i, d, found := f.locate(followed, follower)
	switch {
	case !found:
		return false
	case d:
		f.delta = slices.Delete(f.delta, i, i+1)
	default:
		f.base[i].follower = 0
		f.dead++
		if f.dead > len(f.base)/4+deltaMax {
			f.merge()
		}
	}
	return true
}

// merge folds the delta into the base and drops tombstones.
func (f *followersHere) merge() {
	out := make([]pair, 0, len(f.base)-f.dead+len(f.delta))
	i, j := 0, 0
	for i < len(f.base) || j < len(f.delta) {
		switch {
		case j == len(f.delta) || (i < len(f.base) && cmpPair(f.base[i], f.delta[j]) < 0):
			if f.base[i].follower != 0 {
				out = append(out, f.base[i])
			}
			i++
		default:
			out = append(out, f.delta[j])
			j++
		}
	}
	f.base, f.delta, f.dead = out, f.delta[:0], 0
}

// each calls fn for every follower here of followed (in no order).
func (f *followersHere) each(followed starling.ID, fn func(follower starling.ID, bits uint8)) {
	if f == nil {
		return
	}
	for _, l := range [][]pair{f.base, f.delta} {
		lo, _ := slices.BinarySearchFunc(l, pair{uint64(followed), 0}, cmpPair)
		for k := lo; k < len(l) && l[k].followed == uint64(followed); k++ {
			if l[k].follower != 0 {
				fn(l[k].who(), l[k].bits())
			}
		}
	}
}

// count returns how many followers here followed has: two binary searches
// per layer, counting tombstones not yet merged away (it decides only
// whether an account is fanned out, where that slack does not matter).
func (f *followersHere) count(followed starling.ID) int {
	if f == nil {
		return 0
	}
	n := 0
	for _, l := range [][]pair{f.base, f.delta} {
		lo, _ := slices.BinarySearchFunc(l, pair{uint64(followed), 0}, cmpPair)
		hi, _ := slices.BinarySearchFunc(l, pair{uint64(followed) + 1, 0}, cmpPair)
		n += hi - lo
	}
	return n
}

// bytes returns the index's memory.
func (f *followersHere) bytes() int { return 16 * (cap(f.base) + cap(f.delta)) }

// build replaces the index with pairs given unordered (a partition loaded
// from a snapshot).
func (f *followersHere) build(ps []pair) {
	slices.SortFunc(ps, cmpPair)
	f.base, f.delta, f.dead = ps, nil, 0
}
