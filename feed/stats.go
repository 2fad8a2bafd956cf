package feed

import (
	"context"

	"github.com/starling-social/starling"
)

// Stats counts the view's live statuses and, in one pass over them, the
// statuses and distinct authors of each period (by creation time).
func (s *Service) Stats(ctx context.Context, periods []starling.Period) (*starling.FeedStats, error) {
	if len(periods) > starling.MaxStatsPeriods {
		return nil, starling.Errorf(starling.Invalid, "too many periods")
	}
	out := &starling.FeedStats{Periods: make([]starling.PeriodActivity, len(periods))}
	authors := make([]map[starling.ID]struct{}, len(periods))
	for i := range authors {
		authors[i] = map[starling.ID]struct{}{}
	}
	v := s.v()
	v.mu.RLock()
	out.Statuses = int64(len(v.posts))
	for _, st := range v.posts {
		for i, p := range periods {
			if !st.CreatedAt.Before(p.From) && st.CreatedAt.Before(p.To) {
				out.Periods[i].Statuses++
				authors[i][st.AccountID] = struct{}{}
			}
		}
	}
	v.mu.RUnlock()
	for i := range authors {
		out.Periods[i].Accounts = int64(len(authors[i]))
	}
	return out, nil
}
