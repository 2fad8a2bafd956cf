package feed

import (
	"context"
	"slices"
	"sync"

	"github.com/starling-social/starling"
)

// Stats counts the live statuses and the statuses and distinct authors of
// each period (by creation time), summed over every partition (an author's
// statuses are all in the author's partition, so authors are not counted
// twice).
func (s *Service) Stats(ctx context.Context, periods []starling.Period) (*starling.FeedStats, error) {
	if len(periods) > starling.MaxStatsPeriods {
		return nil, starling.Errorf(starling.Invalid, "too many periods")
	}
	out := &starling.FeedStats{Periods: make([]starling.PeriodActivity, len(periods))}
	var mu sync.Mutex
	err := gather(s.allParts(), func(p int) error {
		st, err := s.parts.Stats(ctx, p, periods)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		out.Statuses += st.Statuses
		for i := range min(len(st.Periods), len(out.Periods)) {
			out.Periods[i].Statuses += st.Periods[i].Statuses
			out.Periods[i].Accounts += st.Periods[i].Accounts
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// stats counts the partition's statuses. Each author's statuses are sorted
// by ID, and an ID holds its creation time, so a period is a range found by
// binary search: the cost grows with the number of authors, not of
// statuses.
func (pt *part) stats(periods []starling.Period) *starling.FeedStats {
	pt.mu.RLock()
	defer pt.mu.RUnlock()
	out := &starling.FeedStats{Periods: make([]starling.PeriodActivity, len(periods))}
	bounds := make([][2]starling.ID, len(periods))
	for i, p := range periods {
		bounds[i] = [2]starling.ID{starling.MinIDAt(p.From), starling.MinIDAt(p.To)}
	}
	for _, l := range pt.authors {
		ids := l.ids
		out.Statuses += int64(len(ids))
		if len(ids) == 0 {
			continue
		}
		for i, b := range bounds {
			if ids[0] >= b[1] || ids[len(ids)-1] < b[0] {
				continue
			}
			lo, _ := slices.BinarySearch(ids, b[0])
			hi, _ := slices.BinarySearch(ids, b[1])
			if n := hi - lo; n > 0 {
				out.Periods[i].Statuses += int64(n)
				out.Periods[i].Accounts++
			}
		}
	}
	return out
}
