package shard

import (
	"cmp"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
)

// assign decides, from the live members alone, which member should own
// each of n partitions and which should stand by for it, so that every
// member computes the same answer from the same membership. Owners are
// balanced — every member gets floor(n/members) or one more — and stable:
// all (partition, member) pairs are taken by descending rendezvous weight,
// and a pair is kept when its partition has no owner yet and its member
// has room. A member joining or leaving moves about its share of
// partitions. The standby of a partition is its highest ranked other
// member.
func assign(service string, n int, members []string) (owners, standbys []string) {
	owners, standbys = make([]string, n), make([]string, n)
	if len(members) == 0 {
		return owners, standbys
	}
	type pair struct {
		p int
		m string
		w uint64
	}
	pairs := make([]pair, 0, n*len(members))
	for p := 0; p < n; p++ {
		for _, m := range members {
			pairs = append(pairs, pair{p, m, weight(service, p, m)})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		switch {
		case a.w != b.w:
			return cmp.Compare(b.w, a.w)
		case a.p != b.p:
			return cmp.Compare(a.p, b.p)
		}
		return strings.Compare(a.m, b.m)
	})
	floor, extra := n/len(members), n%len(members)
	load := map[string]int{}
	for _, x := range pairs {
		if owners[x.p] != "" {
			continue
		}
		switch l := load[x.m]; {
		case l < floor:
		case l == floor && extra > 0:
			extra--
		default:
			continue
		}
		owners[x.p] = x.m
		load[x.m]++
	}
	for p := 0; p < n; p++ {
		for _, m := range rank(service, p, members) {
			if m != owners[p] {
				standbys[p] = m
				break
			}
		}
	}
	return owners, standbys
}

// rank orders members by their rendezvous weight for partition p, highest
// first (ties by name).
func rank(service string, p int, members []string) []string {
	type w struct {
		m string
		h uint64
	}
	ws := make([]w, len(members))
	for i, m := range members {
		ws[i] = w{m, weight(service, p, m)}
	}
	slices.SortFunc(ws, func(a, b w) int {
		switch {
		case a.h > b.h:
			return -1
		case a.h < b.h:
			return 1
		}
		if a.m < b.m {
			return -1
		}
		return 1
	})
	out := make([]string, len(ws))
	for i, x := range ws {
		out[i] = x.m
	}
	return out
}

// weight is member's rendezvous weight for partition p.
func weight(service string, p int, member string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(service))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(p)))
	h.Write([]byte{0})
	h.Write([]byte(member))
	return mix(h.Sum64())
}

// mix is a 64-bit finaliser (splitmix64): FNV's low bits vary little for
// inputs that differ in one character.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
