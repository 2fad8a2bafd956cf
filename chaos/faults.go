package chaos

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/starling-social/starling/cluster"
	"github.com/starling-social/starling/node"
)

// Fault is one injected fault, for the report.
type Fault struct {
	Name   string
	Node   string
	Start  time.Time
	End    time.Time // when the node was back and the cluster healthy
	Detail string
}

func (f Fault) String() string {
	return fmt.Sprintf("%-22s %-7s %s  took %v  %s", f.Name, f.Node, f.Start.Format("15:04:05.000"),
		f.End.Sub(f.Start).Round(100*time.Millisecond), f.Detail)
}

// liveStatus asks any running node for the cluster's status.
func liveStatus(ctx context.Context, l *cluster.Local) (*node.Status, error) {
	var last error
	for _, n := range l.Nodes() {
		if !n.Running() {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		s, err := l.Admin(n.Index).Status(sctx)
		cancel()
		if err == nil {
			return s, nil
		}
		last = err
	}
	if last == nil {
		last = fmt.Errorf("no node is running")
	}
	return nil, last
}

// BusiestLeader returns the index of the node leading the most streams and
// how many it leads.
func BusiestLeader(ctx context.Context, l *cluster.Local) (int, int, error) {
	st, err := liveStatus(ctx, l)
	if err != nil {
		return -1, 0, err
	}
	best, most := -1, -1
	for _, n := range l.Nodes() {
		if c := st.Leaders[n.Name]; c > most {
			best, most = n.Index, c
		}
	}
	return best, most, nil
}

// WaitHealthy waits until every node is running and ready and every stream
// has a leader and all its replicas current.
func WaitHealthy(ctx context.Context, l *cluster.Local, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var why string
	for {
		why = ""
		for _, n := range l.Nodes() {
			if !n.Running() {
				why = n.Name + " is not running"
			}
		}
		if why == "" {
			if st, err := liveStatus(ctx, l); err != nil {
				why = err.Error()
			} else {
				why = unhealthy(st, len(l.Nodes()))
			}
		}
		if why == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not healthy: %s", why)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// KillBusiestLeader SIGKILLs the node leading the most streams, keeps it
// down for downFor, restarts it and waits until the cluster is healthy.
func KillBusiestLeader(ctx context.Context, l *cluster.Local, downFor time.Duration) (Fault, error) {
	i, leads, err := BusiestLeader(ctx, l)
	if err != nil {
		return Fault{}, err
	}
	return KillNode(ctx, l, i, downFor, fmt.Sprintf("led %d streams", leads))
}

// KillNode SIGKILLs node i, restarts it after downFor and waits until the
// cluster is healthy.
func KillNode(ctx context.Context, l *cluster.Local, i int, downFor time.Duration, detail string) (Fault, error) {
	f := Fault{Name: "SIGKILL+restart", Node: l.Node(i).Name, Start: time.Now(), Detail: detail}
	if err := l.Kill(i); err != nil {
		return f, err
	}
	sleep(ctx, downFor)
	t0 := time.Now()
	if err := l.Restart(ctx, i); err != nil {
		return f, err
	}
	ready := time.Since(t0)
	if err := WaitHealthy(ctx, l, 90*time.Second); err != nil {
		return f, err
	}
	f.End = time.Now()
	f.Detail += fmt.Sprintf("; restarted node ready in %v, caught up in %v", ready.Round(100*time.Millisecond), time.Since(t0).Round(100*time.Millisecond))
	return f, nil
}

// Pause SIGSTOPs node i for d, resumes it and waits until the cluster is
// healthy.
func Pause(ctx context.Context, l *cluster.Local, i int, d time.Duration) (Fault, error) {
	f := Fault{Name: fmt.Sprintf("SIGSTOP %v", d), Node: l.Node(i).Name, Start: time.Now()}
	if err := l.Signal(i, syscall.SIGSTOP); err != nil {
		return f, err
	}
	sleep(ctx, d)
	if err := l.Signal(i, syscall.SIGCONT); err != nil {
		return f, err
	}
	t0 := time.Now()
	if err := WaitHealthy(ctx, l, 90*time.Second); err != nil {
		return f, err
	}
	f.End = time.Now()
	f.Detail = fmt.Sprintf("healthy %v after SIGCONT", time.Since(t0).Round(100*time.Millisecond))
	return f, nil
}

// DrainRestart drains node i through its admin API, restarts it and waits
// until the cluster is healthy.
func DrainRestart(ctx context.Context, l *cluster.Local, i int) (Fault, error) {
	f := Fault{Name: "drain+restart", Node: l.Node(i).Name, Start: time.Now()}
	r, err := l.Drain(ctx, i)
	if err != nil {
		return f, fmt.Errorf("drain %s: %w", l.Node(i).Name, err)
	}
	stopped := time.Since(f.Start)
	t0 := time.Now()
	if err := l.Restart(ctx, i); err != nil {
		return f, err
	}
	if err := WaitHealthy(ctx, l, 90*time.Second); err != nil {
		return f, err
	}
	f.End = time.Now()
	f.Detail = fmt.Sprintf("moved %d leaderships (%d left), stopped in %v, back and caught up in %v",
		r.Moved, r.Remaining, stopped.Round(100*time.Millisecond), time.Since(t0).Round(100*time.Millisecond))
	return f, nil
}

// RollingRestart drains and restarts every node in turn.
func RollingRestart(ctx context.Context, l *cluster.Local) ([]Fault, error) {
	var out []Fault
	for _, n := range l.Nodes() {
		f, err := DrainRestart(ctx, l, n.Index)
		out = append(out, f)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// unhealthy returns why the cluster of nodes nodes, as s shows it, is not
// healthy, or "".
func unhealthy(s *node.Status, nodes int) string {
	up := 0
	for _, n := range s.Nodes {
		if n.State == "up" {
			up++
		}
	}
	switch {
	case up < nodes:
		return fmt.Sprintf("%d of %d nodes up", up, nodes)
	case s.StreamsErr != "":
		return s.StreamsErr
	case len(s.Streams) == 0:
		return "no streams listed"
	case len(s.Unhealthy) > 0:
		return fmt.Sprintf("%d streams without a leader or with replicas behind (%s ...)", len(s.Unhealthy), s.Unhealthy[0])
	}
	return ""
}
