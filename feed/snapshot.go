package feed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/klauspost/compress/s2"

	"github.com/starling-social/starling"
)

// Snapshots of a partition. A snapshot is the partition's state and the
// stream positions it covers (applied), so a new holder loads it and
// replays only what the streams received since. The encoding is compact
// and deterministic: maps are written in key order, sorted ID lists as
// varint deltas, the whole compressed with S2. The followers-here index
// (in) is not written: it is rebuilt from the follows lists.

const snapMagic = "SFV1"

// errSnapshot is returned for a snapshot that cannot be decoded.
var errSnapshot = errors.New("feed snapshot: corrupt or of another version")

// encode returns the compressed snapshot of pt. Under pt's read lock.
func (pt *part) encode() []byte {
	w := &snapWriter{b: make([]byte, 0, 1<<16)}
	w.b = append(w.b, snapMagic...)
	w.uint(uint64(pt.p))
	w.uint(uint64(pt.n))
	for _, a := range pt.applied {
		w.uint(a)
	}
	writeMap(w, pt.authors, func(l *authorList) {
		w.flags(&l.flagList)
		writeMap(w, l.reblogs, func(r reblogOf) { w.id(r.orig); w.id(r.author) })
		writeMap(w, l.mentions, func(ids []starling.ID) { w.ids(ids) })
	})
	for _, m := range []map[starling.ID]*edgeList{pt.out, pt.followers, pt.requests, pt.favs, pt.boosts} {
		writeMap(w, m, w.edges)
	}
	for _, m := range []map[starling.ID]*idList{pt.favBy, pt.boostBy, pt.replies} {
		writeMap(w, m, func(l *idList) { w.sorted(l.ids) })
	}
	writeMap(w, pt.homes, func(h *home) {
		w.bool(h.dirty)
		w.sorted(h.ids)
		writeMap(w, h.wrapped, w.id)
	})
	writeMap(w, pt.threads, func(t *thread) { w.sorted(t.ids); w.ids(t.parents) })
	w.flags(&pt.public)
	tags := slices.Sorted(maps.Keys(pt.tags))
	w.uint(uint64(len(tags)))
	for _, t := range tags {
		w.str(t)
		w.flags(pt.tags[t])
	}
	return s2.Encode(nil, w.b)
}

// decodePart rebuilds a partition from a snapshot.
func decodePart(data []byte, threshold, homeCap int) (*part, error) {
	raw, err := s2.Decode(nil, data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errSnapshot, err)
	}
	r := &snapReader{b: raw}
	if string(r.bytes(len(snapMagic))) != snapMagic {
		return nil, errSnapshot
	}
	p, n := int(r.uint()), int(r.uint())
	if r.err != nil || n < 1 || n > 1024 || p >= n {
		return nil, errSnapshot
	}
	pt := newPart(p, n, threshold, homeCap)
	for i := range pt.applied {
		pt.applied[i] = r.uint()
	}
	readMap(r, pt.authors, func() *authorList {
		l := &authorList{}
		r.flags(&l.flagList)
		l.reblogs = readMap(r, map[starling.ID]reblogOf{}, func() reblogOf { return reblogOf{r.id(), r.id()} })
		l.mentions = readMap(r, map[starling.ID][]starling.ID{}, r.ids)
		return l
	})
	for _, m := range []map[starling.ID]*edgeList{pt.out, pt.followers, pt.requests, pt.favs, pt.boosts} {
		readMap(r, m, r.edges)
	}
	for _, m := range []map[starling.ID]*idList{pt.favBy, pt.boostBy, pt.replies} {
		readMap(r, m, func() *idList { return &idList{ids: r.sorted()} })
	}
	readMap(r, pt.homes, func() *home {
		h := &home{dirty: r.bool()}
		h.ids = r.sorted()
		h.wrapped = readMap(r, map[starling.ID]starling.ID{}, r.id)
		return h
	})
	readMap(r, pt.threads, func() *thread { t := &thread{ids: r.sorted()}; t.parents = r.ids(); return t })
	r.flags(&pt.public)
	for k := r.count(); k > 0 && r.err == nil; k-- {
		t := r.str()
		l := &flagList{}
		r.flags(l)
		pt.tags[t] = l
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, errSnapshot
	}
	pt.rebuildIn()
	pt.loaded = true
	return pt, nil
}

// rebuildIn derives the followers-here index from the follows lists.
func (pt *part) rebuildIn() {
	n := 0
	for _, ol := range pt.out {
		n += ol.len()
	}
	ps := make([]pair, 0, n)
	for f, ol := range pt.out {
		for i := range ol.who {
			if bits := ol.flagsAt(i); bits&fRequested == 0 {
				ps = append(ps, makePair(ol.account(i), f, bits))
			}
		}
	}
	pt.in.build(ps)
}

// --- encoding ---

type snapWriter struct{ b []byte }

func (w *snapWriter) uint(v uint64)     { w.b = binary.AppendUvarint(w.b, v) }
func (w *snapWriter) id(id starling.ID) { w.uint(uint64(id)) }
func (w *snapWriter) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

func (w *snapWriter) str(s string) {
	w.uint(uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *snapWriter) ids(ids []starling.ID) {
	w.uint(uint64(len(ids)))
	for _, id := range ids {
		w.id(id)
	}
}

// sorted writes an ascending ID list as deltas.
func (w *snapWriter) sorted(ids []starling.ID) {
	w.uint(uint64(len(ids)))
	var prev starling.ID
	for _, id := range ids {
		w.uint(uint64(id - prev))
		prev = id
	}
}

func (w *snapWriter) flags(l *flagList) {
	w.sorted(l.ids)
	w.b = append(w.b, l.bits...)
}

func (w *snapWriter) edges(l *edgeList) {
	w.sorted(l.ids)
	for i := range l.who {
		w.id(l.account(i))
	}
	for i := range l.who {
		w.b = append(w.b, l.flagsAt(i))
	}
}

// writeMap writes a map in key order.
func writeMap[V any](w *snapWriter, m map[starling.ID]V, val func(V)) {
	ks := slices.Sorted(maps.Keys(m))
	w.sorted(ks)
	for _, k := range ks {
		val(m[k])
	}
}

// --- decoding ---

type snapReader struct {
	b   []byte
	err error
}

func (r *snapReader) fail() {
	if r.err == nil {
		r.err = errSnapshot
	}
	r.b = nil
}

func (r *snapReader) uint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length, refusing one longer than what is left.
func (r *snapReader) count() int {
	v := r.uint()
	if v > uint64(len(r.b))+1 {
		r.fail()
		return 0
	}
	return int(v)
}

func (r *snapReader) id() starling.ID { return starling.ID(r.uint()) }
func (r *snapReader) bool() bool {
	b := r.bytes(1)
	return len(b) == 1 && b[0] == 1
}

func (r *snapReader) bytes(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.fail()
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *snapReader) str() string { return string(r.bytes(r.count())) }

func (r *snapReader) ids() []starling.ID {
	n := r.count()
	out := make([]starling.ID, 0, n)
	for ; n > 0 && r.err == nil; n-- {
		out = append(out, r.id())
	}
	return out
}

func (r *snapReader) sorted() []starling.ID {
	n := r.count()
	out := make([]starling.ID, 0, n)
	var prev starling.ID
	for ; n > 0 && r.err == nil; n-- {
		prev += starling.ID(r.uint())
		out = append(out, prev)
	}
	return out
}

func (r *snapReader) flags(l *flagList) {
	l.ids = r.sorted()
	l.bits = slices.Clone(r.bytes(len(l.ids)))
}

func (r *snapReader) edges() *edgeList {
	l := &edgeList{ids: r.sorted()}
	l.who = make([]uint64, len(l.ids))
	for i := range l.who {
		l.who[i] = uint64(r.id()) & idMask
	}
	for i, b := range r.bytes(len(l.ids)) {
		l.who[i] |= uint64(b) << flagShift
	}
	return l
}

// readMap reads a map written by writeMap into m.
func readMap[V any](r *snapReader, m map[starling.ID]V, val func() V) map[starling.ID]V {
	for _, k := range r.sorted() {
		if r.err != nil {
			break
		}
		m[k] = val()
	}
	return m
}
