package chaos

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Window is a stretch of time in which writes failed.
type Window struct {
	From, To time.Time
	// Failed is how many write attempts failed in it.
	Failed int
}

// Duration returns the window's length.
func (w Window) Duration() time.Duration { return w.To.Sub(w.From) }

// Stats summarizes what the workload did.
type Stats struct {
	// Ops counts operations by name: acknowledged, failed (not done),
	// unknown (maybe done), rejected (4xx), and retried attempts.
	Ops map[string][5]uint64
	// MaxLatency is the longest an acknowledged operation took, retries
	// included, by name.
	MaxLatency map[string]time.Duration
	// Attempts and FailedWrites count HTTP attempts; Refused counts those
	// sent to a node that was down (moved to another at once).
	Attempts, WriteAttempts, FailedWrites, Refused int
	// LongestWriteGap is the longest stretch between two successful write
	// completions in which write attempts failed (attempts refused by a
	// dead node, which a client sends elsewhere at once, do not count).
	LongestWriteGap Window
	// LongestStall is the longest stretch between two successful write
	// completions, failures or not (writes waiting for a new leader).
	LongestStall Window
	// Errors are requests refused in ways that should not happen.
	Errors []string
	// FailedAttempts describes the first failed write attempts.
	FailedAttempts []string
	Elapsed        time.Duration
}

// Stats returns the workload's statistics so far.
func (w *Workload) Stats() Stats {
	w.mu.Lock()
	s := Stats{Ops: map[string][5]uint64{}, MaxLatency: map[string]time.Duration{}, Errors: append([]string(nil), w.errs...)}
	for k, v := range w.ops {
		s.Ops[k] = *v
	}
	for k, v := range w.lat {
		s.MaxLatency[k] = v
	}
	s.Elapsed = time.Since(w.started)
	w.mu.Unlock()
	w.c.mu.Lock()
	atts := append([]attempt(nil), w.c.attempts...)
	w.c.mu.Unlock()
	s.Attempts = len(atts)
	var writes []attempt
	for _, a := range atts {
		if a.Outcome == refused {
			s.Refused++
		}
		if a.Write {
			s.WriteAttempts++
			if a.Outcome == refused {
				continue
			}
			writes = append(writes, a)
			if a.Outcome == unknown || a.Outcome == retryable {
				s.FailedWrites++
				if len(s.FailedAttempts) < 60 {
					s.FailedAttempts = append(s.FailedAttempts, fmt.Sprintf("%s node %d %s after %v: %s",
						a.Start.Format("15:04:05.000"), a.Node, a.What, a.End.Sub(a.Start).Round(time.Millisecond), a.Err))
				}
			}
		}
	}
	s.LongestWriteGap, s.LongestStall = longestGap(writes)
	return s
}

// longestGap looks at the gaps between consecutive successful write
// completions: it returns the longest one in which failed attempts ended,
// and the longest one overall.
func longestGap(atts []attempt) (failing, stall Window) {
	sort.Slice(atts, func(i, j int) bool { return atts[i].End.Before(atts[j].End) })
	var cur Window
	started := false
	for _, a := range atts {
		switch a.Outcome {
		case unknown, retryable:
			cur.Failed++
			if !started {
				cur.From, started = a.Start, true
			}
		case ok:
			if started {
				cur.To = a.End
				if cur.Failed > 0 && cur.Duration() > failing.Duration() {
					failing = cur
				}
				if cur.Duration() > stall.Duration() {
					stall = cur
				}
			}
			cur, started = Window{From: a.End}, true
		}
	}
	return failing, stall
}

// FailuresBetween counts failed write attempts that ended in [from, to].
func (w *Workload) FailuresBetween(from, to time.Time) (failed, total int) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	for _, a := range w.c.attempts {
		if !a.Write || a.End.Before(from) || a.End.After(to) || a.Outcome == refused {
			continue
		}
		total++
		if a.Outcome == unknown || a.Outcome == retryable {
			failed++
		}
	}
	return failed, total
}

// String formats the statistics.
func (s Stats) String() string {
	var b strings.Builder
	var names []string
	for k := range s.Ops {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		c := s.Ops[k]
		fmt.Fprintf(&b, "  %-10s acked %5d  failed %3d  unknown %3d  rejected %3d  retried attempts %4d  slowest acked %v\n",
			k, c[0], c[1], c[2], c[3], c[4], s.MaxLatency[k].Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "  %d HTTP attempts (%d writes, %d failed writes, %d refused by stopped nodes and resent) in %v\n",
		s.Attempts, s.WriteAttempts, s.FailedWrites, s.Refused, s.Elapsed.Round(time.Second))
	if g := s.LongestWriteGap; g.Failed > 0 {
		fmt.Fprintf(&b, "  longest window of failing writes: %v (%d failed attempts, from %s)\n",
			g.Duration().Round(time.Millisecond), g.Failed, g.From.Format("15:04:05.000"))
	} else {
		fmt.Fprintln(&b, "  no write failed")
	}
	fmt.Fprintf(&b, "  longest stretch without a write completing: %v (from %s)\n",
		s.LongestStall.Duration().Round(time.Millisecond), s.LongestStall.From.Format("15:04:05.000"))
	for _, e := range s.Errors {
		fmt.Fprintf(&b, "  unexpected refusal: %s\n", e)
	}
	return b.String()
}
