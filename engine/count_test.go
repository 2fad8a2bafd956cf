package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/internal/startest"
)

func TestCountKeys(t *testing.T) {
	e := startest.Engine(t)
	ctx := startest.Context(t)
	tab, err := e.Table(ctx, engine.TableConfig{Name: "count", Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		if _, err := tab.Put(ctx, fmt.Sprintf("acct.%d", i+1), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if _, err := tab.Put(ctx, fmt.Sprintf("other.%d", i+1), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// Rewriting a key leaves one revision: still one key.
	if _, err := tab.Put(ctx, "acct.1", []byte("y")); err != nil {
		t.Fatal(err)
	}
	mid := time.Now()
	time.Sleep(5 * time.Millisecond)
	for i := range 5 {
		if _, err := tab.Put(ctx, fmt.Sprintf("acct.%d", 100+i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		filter string
		since  time.Time
		want   int64
	}{
		{"acct.>", time.Time{}, 30},
		{"acct.*", mid, 5},
		{"other.>", time.Time{}, 3},
		{"none.>", time.Time{}, 0},
	} {
		n, err := tab.CountKeys(ctx, tc.filter, tc.since)
		if err != nil || n != tc.want {
			t.Errorf("CountKeys(%q, %v) = %d, %v; want %d", tc.filter, !tc.since.IsZero(), n, err, tc.want)
		}
	}
	// Counting leaves no consumer behind.
	for p := range tab.Partitions() {
		st, err := e.JetStream().Stream(ctx, tab.Stream(p))
		if err != nil {
			t.Fatal(err)
		}
		if info, err := st.Info(ctx); err != nil || info.State.Consumers != 0 {
			t.Fatalf("partition %d: %d consumers, %v", p, info.State.Consumers, err)
		}
	}
}
