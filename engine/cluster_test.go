package engine_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
)

// startCluster starts n embedded engines in this process, joined by routes
// on loopback, with replicas copies of each stream.
func startCluster(tb testing.TB, n, replicas int, fsyncAlways bool) []*engine.Engine {
	tb.Helper()
	var ports []int
	var ls []net.Listener
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	engines := make([]*engine.Engine, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := engine.DefaultConfig(tb.TempDir())
			cfg.NodeName = fmt.Sprintf("n%d", i+1)
			cfg.Listen = "127.0.0.1:-1"
			cfg.ClusterListen = fmt.Sprintf("127.0.0.1:%d", ports[i])
			for j := 0; j < n; j++ {
				if j != i {
					cfg.Peers = append(cfg.Peers, fmt.Sprintf("127.0.0.1:%d", ports[j]))
				}
			}
			cfg.Replicas = replicas
			cfg.FsyncAlways = fsyncAlways
			cfg.Logger = slog.New(slog.DiscardHandler)
			if os.Getenv("STARLING_TEST_LOG") != "" {
				cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			engines[i], errs[i] = engine.Start(ctx, cfg)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			for _, e := range engines {
				if e != nil {
					e.Close()
				}
			}
			tb.Fatalf("start engine %d: %v", i, err)
		}
	}
	tb.Cleanup(func() {
		var wg sync.WaitGroup
		for _, e := range engines {
			wg.Add(1)
			go func() { defer wg.Done(); e.Close() }()
		}
		wg.Wait()
	})
	return engines
}

// TestClusterTablesAreReplicated creates a table on a 3-node cluster and
// checks that every partition has three replicas and a leader, and that a
// write on one node is read on the others.
func TestClusterTablesAreReplicated(t *testing.T) {
	es := startCluster(t, 3, 3, false)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	tab, err := es[0].Table(ctx, engine.TableConfig{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("8 R3 partitions created in %v", time.Since(start))
	streams, err := es[1].Streams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range streams {
		if s.Table != "t" {
			continue
		}
		n++
		if len(s.Replicas) != 3 || s.Leader == "" {
			t.Errorf("%s: leader %q, replicas %+v", s.Stream, s.Leader, s.Replicas)
		}
	}
	if n != tab.Partitions() {
		t.Fatalf("%d partition streams listed, want %d", n, tab.Partitions())
	}
	tab2, err := es[2].Table(ctx, engine.TableConfig{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := tab.Create(ctx, fmt.Sprintf("k.%d", i), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := tab2.Get(ctx, fmt.Sprintf("k.%d", i)); err != nil {
			t.Fatalf("read on another node after an acknowledged write: %v", err)
		}
	}
	// Deletes (resent like writes in a cluster) honour the revision.
	ent, err := tab2.Get(ctx, "k.3")
	if err != nil {
		t.Fatal(err)
	}
	if err := tab.Delete(ctx, "k.3", ent.Revision+1000); !starling.IsCode(err, starling.Conflict) {
		t.Fatalf("delete at a wrong revision: %v", err)
	}
	if err := tab.Delete(ctx, "k.3", ent.Revision); err != nil {
		t.Fatal(err)
	}
	if _, err := tab2.Get(ctx, "k.3"); !starling.IsCode(err, starling.NotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := tab2.Create(ctx, "k.3", []byte("again"), 0); err != nil {
		t.Fatalf("create over a delete marker: %v", err)
	}
	for _, e := range es {
		if e.InMinority() {
			t.Errorf("%s thinks it is in the minority", e.NodeName())
		}
	}
}

// TestClusterConcurrentTableCreation creates the same tables on three
// nodes at once, as a cluster's nodes do when they start together. With
// CreateOrUpdateStream every racing create waited 5 s for an answer that
// never came (about 40 s per node); ensureStream must take seconds.
func TestClusterConcurrentTableCreation(t *testing.T) {
	es := startCluster(t, 3, 3, true)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for _, e := range es {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, name := range []string{"auth", "media", "feed", "notify"} {
				if _, err := e.Table(ctx, engine.TableConfig{Name: name}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	t.Logf("4 tables of 8 R3 partitions created by 3 nodes at once in %v", took)
	if took > 45*time.Second {
		t.Errorf("creating the tables took %v", took)
	}
	// A restart finds every stream as it should be: no proposal at all.
	start = time.Now()
	if _, err := es[1].Table(ctx, engine.TableConfig{Name: "feed"}); err != nil {
		t.Fatal(err)
	}
	t.Logf("existing table opened in %v", time.Since(start))
}
