//go:build !linux

package bench

import (
	"context"
	"time"
)

// newSleeper returns the open-loop scheduler's sleep: a Go timer, which may
// wake up to about a millisecond late (reported as send lag).
func newSleeper() func(context.Context, time.Duration) bool {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return func(ctx context.Context, d time.Duration) bool {
		t.Reset(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
			return true
		}
	}
}
