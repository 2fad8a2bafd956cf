package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/starling-social/starling"
)

// The instance's figures (users, statuses, activity) are counted by the
// services and cached here: the instance endpoints are public and called by
// every client at start, so they must cost nothing per request. They are
// eventually consistent: counts are at most countsTTL old, weekly activity
// at most activityTTL (plus one refresh) old.
const (
	countsTTL    = time.Minute
	activityTTL  = time.Hour
	statsTimeout = 5 * time.Second
	// statsRetry is how long after a failed first computation readers get
	// no figures at once instead of trying again.
	statsRetry = 5 * time.Second
	weeks      = 12 // of /api/v1/instance/activity, as Mastodon
)

// counts are the instance's totals.
type counts struct {
	users, statuses             int64
	activeMonth, activeHalfyear int64 // accounts that posted in the last 30 and 180 days
}

// weekActivity is one week of /api/v1/instance/activity.
type weekActivity struct {
	start                            time.Time
	statuses, posters, registrations int64
}

// cached holds a value computed at most every ttl. The first reader waits
// for the first computation (within its own deadline); later readers get
// the last value at once while one of them refreshes it in the background.
// A failed computation keeps the previous value; while there is none,
// readers get nothing at once for statsRetry after a failure. Safe for
// concurrent use.
type cached[T any] struct {
	ttl     time.Duration
	compute func(context.Context) (T, error)
	onError func(error)

	fill sync.Mutex // held by the first computation

	mu       sync.Mutex
	val      T
	at       time.Time
	ok       bool
	running  bool
	failedAt time.Time
}

// get returns the value, and false if none could be computed yet.
func (c *cached[T]) get(ctx context.Context) (T, bool) {
	c.mu.Lock()
	if !c.ok {
		failed := time.Since(c.failedAt) < statsRetry
		c.mu.Unlock()
		if failed {
			var zero T
			return zero, false
		}
		return c.first(ctx)
	}
	v := c.val
	if time.Since(c.at) >= c.ttl && !c.running {
		c.running = true
		go c.refresh()
	}
	c.mu.Unlock()
	return v, true
}

func (c *cached[T]) first(ctx context.Context) (T, bool) {
	c.fill.Lock()
	defer c.fill.Unlock()
	c.mu.Lock()
	if c.ok || time.Since(c.failedAt) < statsRetry {
		defer c.mu.Unlock()
		return c.val, c.ok
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, statsTimeout)
	defer cancel()
	v, err := c.compute(ctx)
	if err != nil {
		c.onError(err)
		c.mu.Lock()
		c.failedAt = time.Now()
		c.mu.Unlock()
		var zero T
		return zero, false
	}
	c.store(v)
	return v, true
}

func (c *cached[T]) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	v, err := c.compute(ctx)
	if err != nil {
		c.onError(err)
		c.mu.Lock()
		c.running = false
		c.at = time.Now() // try again after a ttl, not at the next request
		c.mu.Unlock()
		return
	}
	c.store(v)
}

func (c *cached[T]) store(v T) {
	c.mu.Lock()
	c.val, c.at, c.ok, c.running = v, time.Now(), true, false
	c.mu.Unlock()
}

// instanceStats counts what the instance endpoints report.
type instanceStats struct {
	counts   *cached[*counts]
	activity *cached[[]weekActivity]
}

func newInstanceStats(s *Server) *instanceStats {
	logErr := func(err error) { s.log.Warn("instance statistics", "err", err) }
	return &instanceStats{
		counts:   &cached[*counts]{ttl: countsTTL, compute: s.computeCounts, onError: logErr},
		activity: &cached[[]weekActivity]{ttl: activityTTL, compute: s.computeActivity, onError: logErr},
	}
}

func (s *Server) computeCounts(ctx context.Context) (*counts, error) {
	users, err := s.auth.CountAccounts(ctx, time.Time{})
	if err != nil {
		return nil, err
	}
	now := time.Now()
	fs, err := s.feed.Stats(ctx, []starling.Period{{From: now.AddDate(0, 0, -30), To: now}, {From: now.AddDate(0, 0, -180), To: now}})
	if err != nil {
		return nil, err
	}
	return &counts{users: users, statuses: fs.Statuses, activeMonth: fs.Periods[0].Accounts, activeHalfyear: fs.Periods[1].Accounts}, nil
}

// weekStart returns the Monday 00:00 UTC that starts t's week, as Mastodon
// counts weeks.
func weekStart(t time.Time) time.Time {
	t = t.UTC()
	day := (int(t.Weekday()) + 6) % 7 // Monday = 0
	return time.Date(t.Year(), t.Month(), t.Day()-day, 0, 0, 0, 0, time.UTC)
}

// computeActivity counts the last weeks, newest (the current one) first.
func (s *Server) computeActivity(ctx context.Context) ([]weekActivity, error) {
	out := make([]weekActivity, weeks)
	periods := make([]starling.Period, weeks)
	start := weekStart(time.Now())
	for i := range out {
		from := start.AddDate(0, 0, -7*i)
		out[i].start = from
		periods[i] = starling.Period{From: from, To: from.AddDate(0, 0, 7)}
	}
	fs, err := s.feed.Stats(ctx, periods)
	if err != nil {
		return nil, err
	}
	// Registrations: accounts created since each week's start, minus
	// those created since the next one's.
	var later int64
	for i := range out {
		since, err := s.auth.CountAccounts(ctx, out[i].start)
		if err != nil {
			return nil, err
		}
		out[i].statuses, out[i].posters = fs.Periods[i].Statuses, fs.Periods[i].Accounts
		out[i].registrations = since - later
		later = since
	}
	return out, nil
}
