package engine

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/starling-social/starling"
)

// Cluster membership as this node sees it, and the quorum guard.
//
// Consensus is JetStream's (every partition is a Raft group); nothing here
// decides what is committed. The guard only makes a node that is cut off
// from the majority of the cluster say so at once — 503 with Retry-After —
// instead of letting every request wait for a commit that cannot happen
// until its deadline. Whether a write commits is still Raft's decision: a
// node the guard believes healthy but that is not still never acknowledges
// an uncommitted write; it just answers more slowly.
//
// The signal is the embedded server's routes. Routes ping every
// routePingInterval and are closed after routeMaxPingsOut unanswered pings,
// so a peer that is unreachable (partition, SIGSTOP, crash) disappears from
// the route table within about routePingInterval×(routeMaxPingsOut+1). A
// node that has routes to fewer than a majority of the JetStream cluster's
// members (its meta group, itself included) is in the minority.
const (
	routePingInterval = time.Second
	routeMaxPingsOut  = 3
	// quorumPoll is how often the route table is read.
	quorumPoll = 250 * time.Millisecond
	// quorumGrace is how long a freshly started node trusts JetStream
	// (which has a meta leader, so had a quorum) before routes settle.
	quorumGrace = 5 * time.Second
	// pauseGap: when the watcher has not run for this long, the process
	// was paused (SIGSTOP, a VM freeze) or starved. Its Raft state may be
	// stale then — a stream leader that was replaced meanwhile still
	// answers reads as leader until it hears of the new term — so tables
	// refuse operations until pauseSettle after the watcher runs again.
	pauseGap    = 1500 * time.Millisecond
	pauseSettle = 3 * time.Second
)

// clusterState is the engine's view of the cluster, refreshed by watch.
type clusterState struct {
	minority    atomic.Bool
	lastTick    atomic.Int64 // unix nanos of the watcher's last run
	pausedUntil atomic.Int64 // unix nanos
	started     time.Time

	mu       sync.Mutex
	size     int      // members of the meta group (JetStream servers)
	peers    []string // server names of the peers this node has routes to
	sizeSeen time.Time
	watching bool
}

// Clustered reports whether this engine embeds a server that is part of a
// cluster.
func (e *Engine) Clustered() bool { return e.srv != nil && e.cfg.ClusterListen != "" }

// watchCluster starts following the route table (embedded clustered
// engines only). It stops by itself when the server shuts down.
func (e *Engine) watchCluster() {
	if !e.Clustered() {
		return
	}
	cs := e.cluster()
	cs.mu.Lock()
	if cs.watching {
		cs.mu.Unlock()
		return
	}
	cs.watching = true
	cs.started = time.Now()
	cs.mu.Unlock()
	go func() {
		t := time.NewTicker(quorumPoll)
		defer t.Stop()
		was := false
		cs.lastTick.Store(time.Now().UnixNano())
		for range t.C {
			if !e.srv.Running() {
				return
			}
			now := time.Now()
			if gap := now.Sub(time.Unix(0, cs.lastTick.Load())); gap > pauseGap {
				cs.pausedUntil.Store(now.Add(pauseSettle).UnixNano())
				e.log.Warn("this node was paused or starved: refusing table operations while Raft catches up",
					"paused", gap.Round(time.Millisecond), "for", pauseSettle)
			}
			cs.lastTick.Store(now.UnixNano())
			minority := e.refreshQuorum()
			if minority != was {
				if minority {
					e.log.Warn("this node cannot reach a majority of the cluster: refusing reads and writes of tables until it can",
						"reachable_peers", e.ReachablePeers(), "cluster_size", e.ClusterSize())
				} else {
					e.log.Info("this node reaches a majority of the cluster again", "reachable_peers", e.ReachablePeers())
				}
				was = minority
			}
		}
	}()
}

func (e *Engine) cluster() *clusterState {
	e.clusterOnce.Do(func() { e.cl = &clusterState{} })
	return e.cl
}

// refreshQuorum reads the route table and the meta group size and returns
// whether this node is in the minority.
func (e *Engine) refreshQuorum() bool {
	cs := e.cluster()
	rz, err := e.srv.Routez(&server.RoutezOptions{})
	if err != nil {
		return cs.minority.Load()
	}
	seen := map[string]bool{}
	var peers []string
	for _, r := range rz.Routes {
		if r.RemoteName != "" && !seen[r.RemoteName] {
			seen[r.RemoteName] = true
			peers = append(peers, r.RemoteName)
		}
	}
	cs.mu.Lock()
	if time.Since(cs.sizeSeen) > 2*time.Second {
		cs.sizeSeen = time.Now()
		cs.mu.Unlock()
		size := 0
		if jsz, err := e.srv.Jsz(&server.JSzOptions{}); err == nil && jsz.Meta != nil {
			size = jsz.Meta.Size
		}
		cs.mu.Lock()
		if size > 0 {
			cs.size = size
		}
	}
	size := cs.size
	if size == 0 {
		size = len(e.cfg.Peers) + 1
	}
	if n := len(peers) + 1; n > size {
		size = n
	}
	cs.peers = peers
	grace := time.Since(cs.started) < quorumGrace
	cs.mu.Unlock()
	minority := len(peers)+1 < size/2+1 && !grace
	cs.minority.Store(minority)
	return minority
}

// ClusterSize returns the number of JetStream servers in the cluster as this
// node last saw it (1 when not clustered).
func (e *Engine) ClusterSize() int {
	if !e.Clustered() {
		return 1
	}
	cs := e.cluster()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.size == 0 {
		return len(e.cfg.Peers) + 1
	}
	return cs.size
}

// ReachablePeers returns the names of the servers this node has live routes
// to (embedded clustered engines only).
func (e *Engine) ReachablePeers() []string {
	if !e.Clustered() {
		return nil
	}
	cs := e.cluster()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return append([]string(nil), cs.peers...)
}

// InMinority reports whether this node is cut off from the majority of the
// cluster (always false for a single node or an external server, whose
// quorum this node cannot see: there, requests wait for their deadline).
func (e *Engine) InMinority() bool {
	if !e.Clustered() {
		return false
	}
	cs := e.cluster()
	if cs.minority.Load() {
		return true
	}
	now := time.Now().UnixNano()
	last := cs.lastTick.Load()
	return now < cs.pausedUntil.Load() || (last != 0 && now-last > int64(pauseGap))
}

// errMinority is what tables answer on a node in the minority.
func errMinority() error {
	return &starling.Error{Code: starling.Unavailable, RetryAfter: 2 * time.Second,
		Message: "This node cannot reach a majority of the cluster; retry later or on another node"}
}

// quorumErr returns an Unavailable error while this node is in the
// minority, and nil otherwise.
func (e *Engine) quorumErr() error {
	if e == nil || !e.InMinority() {
		return nil
	}
	return errMinority()
}
