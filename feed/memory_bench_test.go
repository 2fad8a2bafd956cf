package feed

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/starling-social/starling"
)

// BenchmarkViewBytes measures the live heap the view partitions take per
// status and per follow edge: it builds every partition of one node (as
// the single-node default holds them) through the same apply path the
// streams use, from a synthetic data set, and reads the heap after a GC
// before and after. Run it once per size:
//
//	go test ./feed -run XXX -bench ViewBytes -benchtime 1x
//
// Statuses: 1,000,000 by 100,000 accounts (a quarter replies, one in ten
// reblogs, a fifth with hashtags, 85% public). Edges: 5,000,000 follows
// among 100,000 accounts. Homes are not built (they are made on first
// read; a home costs 8 bytes per entry, up to 800 entries).
func BenchmarkViewBytes(b *testing.B) {
	for _, tc := range []struct {
		name   string
		build  func(parts []*part) int
		metric string
	}{
		{"statuses=1M", func(parts []*part) int { return buildStatuses(parts, 100_000, 1_000_000) }, "bytes/status"},
		{"edges=5M", func(parts []*part) int { return buildFollows(parts, 100_000, 5_000_000) }, "bytes/edge"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				before := liveHeap()
				parts := make([]*part, 8)
				for p := range parts {
					parts[p] = newPart(p, len(parts), DefaultThreshold, defaultHomeCap)
				}
				n := tc.build(parts)
				after := liveHeap()
				b.ReportMetric(float64(after-before)/float64(n), tc.metric)
				var est int64
				for _, pt := range parts {
					est += pt.bytes()
				}
				b.ReportMetric(float64(est)/float64(n), "estimated-"+tc.metric)
				runtime.KeepAlive(parts)
			}
		})
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// applyAll applies one record to every partition, as a node holding all of
// them does.
func applyAll(parts []*part, f func(pt *part)) {
	for _, pt := range parts {
		f(pt)
	}
}

func buildStatuses(parts []*part, accounts, n int) int {
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var recent []*postRecord
	for i := range n {
		at := start.Add(time.Duration(i) * time.Second)
		rec := &postRecord{ID: starling.MakeID(at, uint16(i)), Account: starling.ID(1_000_000 + r.IntN(accounts)), Created: at,
			Visibility: starling.Public}
		switch x := r.Float64(); {
		case x < 0.10 && len(recent) > 0:
			o := recent[r.IntN(len(recent))]
			rec.ReblogOf, rec.ReblogOfAccount = o.ID, o.Account
		case x < 0.35 && len(recent) > 0:
			o := recent[r.IntN(len(recent))]
			rec.ReplyTo, rec.ReplyToAccount, rec.Root = o.ID, o.Account, o.root()
			rec.Mentions = []starling.Mention{{ID: o.Account, Username: "someone"}}
		}
		if r.Float64() < 0.2 {
			rec.Tags = []string{"tag" + string(rune('a'+r.IntN(26)))}
		}
		if r.Float64() < 0.06 {
			rec.Visibility = starling.Private
		}
		applyAll(parts, func(pt *part) { pt.applyPost(rec, false, nil) })
		if len(recent) < 1000 {
			recent = append(recent, rec)
		} else {
			recent[r.IntN(len(recent))] = rec
		}
	}
	return n
}

func buildFollows(parts []*part, accounts, n int) int {
	r := rand.New(rand.NewPCG(3, 4))
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	seen := make(map[[2]int32]bool, n)
	made := 0
	for made < n {
		f := int32(r.IntN(accounts))
		// Popular accounts are followed more (a power law over ranks).
		t := int32(float64(accounts) * r.Float64() * r.Float64() * r.Float64())
		if f == t || seen[[2]int32{f, t}] {
			continue
		}
		seen[[2]int32{f, t}] = true
		at := start.Add(time.Duration(made) * time.Millisecond)
		rec := &followRecord{ID: starling.MakeID(at, uint16(made)), Reblogs: true, Created: at}
		follower, target := starling.ID(1_000_000+f), starling.ID(1_000_000+t)
		applyAll(parts, func(pt *part) { pt.applyFollow(follower, target, rec) })
		made++
	}
	clear(seen)
	return made
}
