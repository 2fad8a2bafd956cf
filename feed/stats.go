package feed

import (
	"context"
	"slices"

	"github.com/starling-social/starling"
)

// Stats counts the view's live statuses and the statuses and distinct
// authors of each period (by creation time).
func (s *Service) Stats(ctx context.Context, periods []starling.Period) (*starling.FeedStats, error) {
	if len(periods) > starling.MaxStatsPeriods {
		return nil, starling.Errorf(starling.Invalid, "too many periods")
	}
	v := s.v()
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.stats(periods), nil
}

// stats counts under the caller's read lock. Each author's statuses are
// sorted by ID, and an ID holds its creation time, so a period is a range
// found by binary search: the cost grows with the number of authors, not
// of statuses.
func (v *view) stats(periods []starling.Period) *starling.FeedStats {
	out := &starling.FeedStats{Statuses: int64(len(v.posts)), Periods: make([]starling.PeriodActivity, len(periods))}
	bounds := make([][2]starling.ID, len(periods))
	for i, p := range periods {
		bounds[i] = [2]starling.ID{starling.MinIDAt(p.From), starling.MinIDAt(p.To)}
	}
	for _, l := range v.byAuthor {
		ids := l.ids
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
