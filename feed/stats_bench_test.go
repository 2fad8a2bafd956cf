package feed

import (
	"fmt"
	"testing"
	"time"

	"github.com/starling-social/starling"
)

// BenchmarkStats measures one partition's share of FeedService.Stats as
// the gateway calls it, over a partition of 1,000,000 statuses by 50,000
// authors spread over a year: the counts of the instance endpoints (the
// last 30 and 180 days, at most once a minute per gateway) and the weekly
// activity (12 weeks, at most once an hour). It is the time the
// partition's read lock is held.
func BenchmarkStats(b *testing.B) {
	const n, authors = 1_000_000, 50_000
	v := newPart(0, 1, 10_000, 800)
	now := time.Now()
	for i := range n {
		at := now.Add(-time.Duration(i) * 365 * 24 * time.Hour / n)
		v.applyPost(&postRecord{ID: starling.MakeID(at, uint16(i)), Account: starling.ID(1 + i%authors), Created: at, Visibility: starling.Public}, false, nil)
	}
	counts := []starling.Period{{From: now.AddDate(0, 0, -30), To: now}, {From: now.AddDate(0, 0, -180), To: now}}
	var weeks []starling.Period
	for w := range 12 {
		from := now.AddDate(0, 0, -7*(w+1))
		weeks = append(weeks, starling.Period{From: from, To: from.AddDate(0, 0, 7)})
	}
	for name, periods := range map[string][]starling.Period{"counts": counts, "activity": weeks} {
		b.Run(fmt.Sprint(name), func(b *testing.B) {
			for b.Loop() {
				if s := v.stats(periods); s.Statuses != n {
					b.Fatal(s.Statuses)
				}
			}
		})
	}
}
