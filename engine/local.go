package engine

import (
	"path/filepath"
	"sort"

	"github.com/nats-io/nats-server/v2/server"
)

// What this node's embedded server knows locally, without asking the
// cluster: the streams it holds a copy of, who leads them, how far behind
// the followers of the ones it leads are, and its storage. Reading it costs
// no network round trip, so metrics can read it on every scrape even while
// the cluster is unwell (when a cluster-wide view, Streams, would time out).

// LocalStream is one stream (a table partition, an object store, ...) of
// which the embedded server holds a copy.
type LocalStream struct {
	Name string
	// Leader is the stream's leader as this copy knows it ("" while it
	// knows none: an election is under way, or a majority of the
	// stream's replicas is unreachable).
	Leader string
	// Led reports whether this server is the leader.
	Led bool
	// Lag is, on the leader, the largest number of operations a follower
	// is behind (0 on followers, which do not know).
	Lag uint64
}

// LocalState is the embedded server's own view.
type LocalState struct {
	Streams []LocalStream
	// StoreUsed is what JetStream's file store holds on this server, and
	// StoreLimit the most it may hold (bytes).
	StoreUsed, StoreLimit uint64
	// DiskAvail and DiskSize describe the file system holding the data
	// directory (bytes available to this process, and its size); both are
	// 0 where the platform does not tell.
	DiskAvail, DiskSize uint64
}

// LocalState returns the embedded server's view, or false for an engine
// connected to an external server.
func (e *Engine) LocalState() (LocalState, bool) {
	if e.srv == nil {
		return LocalState{}, false
	}
	var st LocalState
	jsz, err := e.srv.Jsz(&server.JSzOptions{Accounts: true, Streams: true})
	if err == nil {
		st.StoreUsed = jsz.Store
		if jsz.Config.MaxStore > 0 {
			st.StoreLimit = uint64(jsz.Config.MaxStore)
		}
		self := e.srv.Name()
		for _, acc := range jsz.AccountDetails {
			for _, sd := range acc.Streams {
				st.Streams = append(st.Streams, localStream(self, sd))
			}
		}
		sort.Slice(st.Streams, func(i, j int) bool { return st.Streams[i].Name < st.Streams[j].Name })
	}
	st.DiskAvail, st.DiskSize = diskUsage(filepath.Join(e.cfg.DataDir, "jetstream"))
	return st, true
}

func localStream(self string, sd server.StreamDetail) LocalStream {
	ls := LocalStream{Name: sd.Name}
	if sd.Cluster == nil {
		// A stream of a single server leads itself.
		ls.Leader, ls.Led = self, true
		return ls
	}
	ls.Leader = sd.Cluster.Leader
	ls.Led = ls.Leader == self
	if ls.Led {
		for _, p := range sd.Cluster.Replicas {
			ls.Lag = max(ls.Lag, p.Lag)
		}
	}
	return ls
}
