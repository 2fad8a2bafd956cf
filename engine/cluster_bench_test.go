package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/starling-social/starling/engine"
)

// BenchmarkClusterTablePut measures acknowledged writes of 300-byte values
// on a 3-node cluster (three embedded servers in this process, joined by
// routes on loopback, every partition R3) with 16 concurrent writers over
// 8 partitions, with every server flushing to disk before it acknowledges
// (fsync=always) or once a second. A write is acknowledged once two of the
// three servers have it. Writers use the connection of the node the
// partition leaders are spread over, as Starling's services do: some
// writes go to a local leader, most cross a route. The three servers share
// this machine's one disk (a real cluster has three).
func BenchmarkClusterTablePut(b *testing.B) {
	for _, fsync := range []string{"always", "1s"} {
		b.Run("fsync="+fsync, func(b *testing.B) {
			es := startCluster(b, 3, 3, fsync == "always")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			tab, err := es[0].Table(ctx, engine.TableConfig{Name: "bench"})
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			benchPuts(b, tab)
		})
	}
}
