package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/starling-social/starling/internal/startest"
)

// engineSeries returns a node's starling_engine_* samples, keyed by the
// series as printed ("starling_engine_stream_leader{stream=\"KV_feed_0\"}").
func engineSeries(t *testing.T, base string) map[string]float64 {
	t.Helper()
	all, err := scrapeGauges(http.DefaultClient, base)
	if err != nil {
		t.Fatalf("scrape %s: %v", base, err)
	}
	out := map[string]float64{}
	for k, v := range all {
		if strings.HasPrefix(k, "starling_engine_") {
			out[k] = v
		}
	}
	return out
}

// streamsOf returns the stream label values of one per-stream series.
func streamsOf(series map[string]float64, name string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range series {
		if rest, ok := strings.CutPrefix(k, name+`{stream="`); ok {
			out[strings.TrimSuffix(rest, `"}`)] = v
		}
	}
	return out
}

// TestEngineMetricsInCluster checks the engine's series on a 3-node
// cluster: each stream has exactly one leader among the nodes, every copy
// knows it, only leaders report replication lag, storage and disk are
// reported; then, with two nodes killed, the last one reports itself in
// the minority and its streams without a leader — what the alerts
// StarlingNodeInMinority and StarlingPartitionWithoutLeader watch.
func TestEngineMetricsInCluster(t *testing.T) {
	l := startCluster(t, 3)
	var leaders map[string]int
	startest.Eventually(t, 30*time.Second, "every stream led by exactly one node, known by every copy", func() bool {
		leaders = map[string]int{}
		for _, n := range l.Nodes() {
			s := engineSeries(t, n.URL())
			for stream, v := range streamsOf(s, "starling_engine_stream_leader") {
				leaders[stream] += int(v)
			}
			for _, v := range streamsOf(s, "starling_engine_stream_has_leader") {
				if v != 1 {
					return false
				}
			}
		}
		if len(leaders) < 4*8 {
			return false
		}
		for _, n := range leaders {
			if n != 1 {
				return false
			}
		}
		return true
	})
	for i, n := range l.Nodes() {
		s := engineSeries(t, n.URL())
		led := streamsOf(s, "starling_engine_stream_leader")
		for stream := range streamsOf(s, "starling_engine_stream_replica_lag_operations") {
			if led[stream] != 1 {
				t.Errorf("node %d reports the lag of %s, which it does not lead", i, stream)
			}
		}
		if len(streamsOf(s, "starling_engine_stream_leader")) != len(leaders) {
			t.Errorf("node %d holds %d streams, want a copy of all %d (3 replicas on 3 nodes)", i, len(led), len(leaders))
		}
		if s["starling_engine_storage_bytes"] <= 0 || s["starling_engine_storage_limit_bytes"] <= 0 {
			t.Errorf("node %d: storage %v of %v", i, s["starling_engine_storage_bytes"], s["starling_engine_storage_limit_bytes"])
		}
		if avail, size := s["starling_engine_disk_available_bytes"], s["starling_engine_disk_size_bytes"]; size <= 0 || avail > size {
			t.Errorf("node %d: disk %v available of %v", i, avail, size)
		}
		if s["starling_engine_minority"] != 0 {
			t.Errorf("node %d reports itself in the minority", i)
		}
	}

	for _, i := range []int{1, 2} {
		if err := l.Kill(i); err != nil {
			t.Fatal(err)
		}
	}
	last, killed := l.Node(0).URL(), time.Now()
	startest.Eventually(t, 60*time.Second, "the last node in the minority, its streams without a leader", func() bool {
		s := engineSeries(t, last)
		if s["starling_engine_minority"] != 1 {
			return false
		}
		for _, v := range streamsOf(s, "starling_engine_stream_has_leader") {
			if v != 0 {
				return false
			}
		}
		return true
	})
	t.Logf("leaderless %v after the kill", time.Since(killed).Round(100*time.Millisecond))
	_ = l.Kill(0) // a node in the minority would drain for long: nothing to keep
}
