package node

import (
	"github.com/prometheus/client_golang/prometheus"
)

// The engine's own series: stream leadership, replication lag, quorum and
// storage, read from the embedded server's local view at every scrape (no
// network round trip, so they answer while the cluster is unwell). Nodes
// that connect to an external engine export none of them: watch that
// engine with its own exporter.
var (
	descStreamLeader = prometheus.NewDesc("starling_engine_stream_leader",
		"1 when this node leads the stream (a table partition or object store), else 0; one series per stream this node holds a copy of.", []string{"stream"}, nil)
	descStreamHasLeader = prometheus.NewDesc("starling_engine_stream_has_leader",
		"1 when this node's copy of the stream knows a leader, 0 during an election or when a majority of its replicas is unreachable.", []string{"stream"}, nil)
	descStreamLag = prometheus.NewDesc("starling_engine_stream_replica_lag_operations",
		"On the stream's leader: how many operations its furthest follower is behind.", []string{"stream"}, nil)
	descMinority = prometheus.NewDesc("starling_engine_minority",
		"1 when this node cannot reach a majority of the cluster (it refuses table reads and writes), else 0.", nil, nil)
	descStoreUsed = prometheus.NewDesc("starling_engine_storage_bytes",
		"Bytes the engine's file store holds on this node.", nil, nil)
	descStoreLimit = prometheus.NewDesc("starling_engine_storage_limit_bytes",
		"The most the engine's file store may hold on this node.", nil, nil)
	descDiskAvail = prometheus.NewDesc("starling_engine_disk_available_bytes",
		"Bytes available on the file system of the engine's data directory.", nil, nil)
	descDiskSize = prometheus.NewDesc("starling_engine_disk_size_bytes",
		"Size of the file system of the engine's data directory.", nil, nil)
)

type engineCollector struct{ n *Node }

func (c engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStreamLeader, descStreamHasLeader, descStreamLag, descMinority,
		descStoreUsed, descStoreLimit, descDiskAvail, descDiskSize} {
		ch <- d
	}
}

func (c engineCollector) Collect(ch chan<- prometheus.Metric) {
	st, ok := c.n.eng.LocalState()
	if !ok {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	flag := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for _, s := range st.Streams {
		gauge(descStreamLeader, flag(s.Led), s.Name)
		gauge(descStreamHasLeader, flag(s.Leader != ""), s.Name)
		if s.Led {
			gauge(descStreamLag, float64(s.Lag), s.Name)
		}
	}
	gauge(descMinority, flag(c.n.eng.InMinority()))
	gauge(descStoreUsed, float64(st.StoreUsed))
	if st.StoreLimit > 0 {
		gauge(descStoreLimit, float64(st.StoreLimit))
	}
	if st.DiskSize > 0 {
		gauge(descDiskAvail, float64(st.DiskAvail))
		gauge(descDiskSize, float64(st.DiskSize))
	}
}

// exportEngineMetrics registers the engine's series in the node's registry
// and returns what unregisters them (a registry shared by several nodes of
// one process, as in tests, keeps the first node's).
func (n *Node) exportEngineMetrics() func() {
	reg := n.tel.Metrics.Registry()
	c := engineCollector{n}
	if err := reg.Register(c); err != nil {
		n.tel.Log.Debug("engine metrics not registered", "err", err)
		return func() {}
	}
	return func() { reg.Unregister(c) }
}
