package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/starling-social/starling/cluster"
)

// SoakOptions configures a soak: a local cluster, the workload, and faults
// chosen by a seeded random generator until Duration has passed.
type SoakOptions struct {
	Nodes    int
	Dir      string   // cluster data (a temporary directory when empty)
	Command  []string // starling binary (default: this executable)
	Env      []string
	Args     []string // extra `serve` flags
	Duration time.Duration
	Seed     uint64
	Users    int
	Workers  int
	Rate     float64
	Logf     func(format string, args ...any)
}

// SoakReport is the outcome of a soak.
type SoakReport struct {
	Seed   uint64
	Faults []Fault
	Stats  Stats
	Check  *CheckReport
}

// String formats the report.
func (r *SoakReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: %d faults\n", r.Seed, len(r.Faults))
	for _, f := range r.Faults {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	fmt.Fprintf(&b, "workload:\n%s", r.Stats)
	if r.Check != nil {
		fmt.Fprintf(&b, "checked %d accounts (%d ambiguous), %d posts, %d follows, %d favourites, %d home timelines, %d sign-up races; converged after %v (%d rounds)\n",
			r.Check.Accounts, r.Check.Ambiguous, r.Check.Posts, r.Check.Follows, r.Check.Favourites, r.Check.Homes, r.Check.Races,
			r.Check.Converged.Round(time.Millisecond), r.Check.Rounds)
		if r.Check.OK() {
			fmt.Fprintln(&b, "OK: every acknowledged write is present exactly once, no username has two accounts, every home timeline is the expected merge and every counter equals its edges")
		}
		for _, v := range r.Check.Violations {
			fmt.Fprintf(&b, "VIOLATION: %s\n", v)
		}
	}
	return b.String()
}

// Soak runs a soak. It returns the report even when a fault could not be
// injected or the cluster did not recover (with the error).
func Soak(ctx context.Context, o SoakOptions) (*SoakReport, error) {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "starling-chaos-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		o.Dir = d
	}
	rep := &SoakReport{Seed: o.Seed}
	l, err := cluster.New(cluster.Options{Nodes: o.Nodes, Dir: o.Dir, Command: o.Command, Env: o.Env,
		AdminToken: fmt.Sprintf("chaos-%d-%d", o.Seed, time.Now().UnixNano()),
		Args:       append([]string{"--ratelimit", "off", "--log-format", "text"}, o.Args...)})
	if err != nil {
		return nil, err
	}
	defer l.StopAll(20 * time.Second)
	if err := l.Start(ctx); err != nil {
		return nil, err
	}
	o.Logf("cluster of %d up in %s", o.Nodes, o.Dir)
	w := New(Options{URLs: l.URLs, Users: o.Users, Workers: o.Workers, Rate: o.Rate, Seed: o.Seed, Logf: o.Logf})
	if err := w.Setup(ctx); err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.Run(runCtx) }()

	rng := rand.New(rand.NewPCG(o.Seed, 42))
	deadline := time.Now().Add(o.Duration)
	var ferr error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		sleep(ctx, time.Duration(3+rng.IntN(10))*time.Second)
		if time.Now().After(deadline) {
			break
		}
		i := rng.IntN(o.Nodes)
		var f Fault
		var fs []Fault
		switch k := rng.IntN(10); {
		case k < 3:
			f, ferr = KillBusiestLeader(ctx, l, time.Duration(rng.IntN(5))*time.Second)
		case k < 5:
			f, ferr = KillNode(ctx, l, i, time.Duration(rng.IntN(10))*time.Second, "random node")
		case k < 7:
			f, ferr = Pause(ctx, l, i, time.Duration(3+rng.IntN(18))*time.Second)
		case k < 9:
			f, ferr = DrainRestart(ctx, l, i)
		default:
			fs, ferr = RollingRestart(ctx, l)
		}
		if fs == nil {
			fs = []Fault{f}
		}
		for _, f := range fs {
			o.Logf("fault: %s", f)
		}
		rep.Faults = append(rep.Faults, fs...)
		if ferr != nil {
			ferr = fmt.Errorf("fault %s on %s: %w", fs[len(fs)-1].Name, fs[len(fs)-1].Node, ferr)
			break
		}
	}
	stop()
	wg.Wait()
	rep.Stats = w.Stats()
	if ferr != nil {
		return rep, ferr
	}
	if err := WaitHealthy(ctx, l, 2*time.Minute); err != nil {
		return rep, err
	}
	rep.Check = w.Check(ctx, 3*time.Minute)
	if !rep.Check.OK() {
		return rep, fmt.Errorf("%d violations", len(rep.Check.Violations))
	}
	return rep, nil
}
