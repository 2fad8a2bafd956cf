package engine_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starling-social/starling/engine"
)

// BenchmarkTablePut measures acknowledged writes of 300-byte values with 16
// concurrent writers spread over 8 partitions, with the engine flushing to
// disk before every acknowledgement (fsync=always) or once a second. The
// figures decide the default of --fsync (docs/architecture.md).
func BenchmarkTablePut(b *testing.B) {
	for _, fsync := range []string{"always", "1s"} {
		b.Run("fsync="+fsync, func(b *testing.B) {
			cfg := engine.DefaultConfig(b.TempDir())
			cfg.NodeName = "bench"
			cfg.Listen = "127.0.0.1:-1"
			cfg.Logger = slog.New(slog.DiscardHandler)
			cfg.FsyncAlways = fsync == "always"
			e, err := engine.Start(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			tab, err := e.Table(context.Background(), engine.TableConfig{Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			benchPuts(b, tab)
		})
	}
}

// benchPuts writes 300-byte values to distinct keys of tab from 16
// concurrent writers and reports puts/s.
func benchPuts(b *testing.B, tab *engine.Table) {
	val := make([]byte, 300)
	var n atomic.Int64
	b.SetParallelism(8) // 16 writers on 2 cores
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			i := n.Add(1)
			if _, err := tab.Put(ctx, fmt.Sprintf("k.%d", i), val); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "puts/s")
}
