//go:build linux

package bench

import (
	"context"
	"runtime"
	"syscall"
	"time"
)

// newSleeper returns the open-loop scheduler's sleep, accurate to tens of
// microseconds. Go's timers wake an idle process up to a millisecond late
// (the netpoller waits in whole milliseconds), and an open loop charges
// every bit of lateness to the latencies it reports. So the scheduler's
// goroutine is locked to its own OS thread, which asks the kernel for a
// minimal timer slack and sleeps with nanosleep (high-resolution timers) in
// slices short enough to notice ctx ending. No CPU is spent spinning. The
// goroutine must exit without unlocking: its thread, with its changed
// slack, then exits too.
func newSleeper() func(context.Context, time.Duration) bool {
	runtime.LockOSThread()
	const prSetTimerSlack = 29
	_, _, _ = syscall.Syscall(syscall.SYS_PRCTL, prSetTimerSlack, 1, 0)
	return func(ctx context.Context, d time.Duration) bool {
		deadline := time.Now().Add(d)
		for {
			if ctx.Err() != nil {
				return false
			}
			left := time.Until(deadline)
			if left <= 0 {
				return true
			}
			ts := syscall.NsecToTimespec(int64(min(left, 10*time.Millisecond)))
			_ = syscall.Nanosleep(&ts, nil) // EINTR: the loop sleeps the rest
		}
	}
}
