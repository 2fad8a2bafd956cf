package gateway

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCached checks the instance figures' cache: one computation for
// concurrent first readers, stale values served while one refresh runs,
// failures kept from turning every request into a slow computation.
func TestCached(t *testing.T) {
	var calls atomic.Int64
	var fail atomic.Bool
	release := make(chan struct{})
	c := &cached[int64]{ttl: 50 * time.Millisecond, onError: func(error) {},
		compute: func(ctx context.Context) (int64, error) {
			n := calls.Add(1)
			<-release
			if fail.Load() {
				return 0, errors.New("down")
			}
			return n, nil
		}}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if v, ok := c.get(context.Background()); !ok || v != 1 {
				t.Errorf("first readers got %d, %v", v, ok)
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("%d computations for concurrent first readers", calls.Load())
	}
	time.Sleep(60 * time.Millisecond) // stale now
	if v, ok := c.get(context.Background()); !ok || v != 1 {
		t.Fatalf("stale read = %d, %v; want the old value at once", v, ok)
	}
	deadline := time.Now().Add(2 * time.Second)
	for v, _ := c.get(context.Background()); v != 2; v, _ = c.get(context.Background()) {
		if time.Now().After(deadline) {
			t.Fatal("no background refresh")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A failing first computation: later readers do not wait on it again.
	fail.Store(true)
	f := &cached[int64]{ttl: time.Hour, onError: func(error) {}, compute: c.compute}
	if _, ok := f.get(context.Background()); ok {
		t.Fatal("a failed computation gave a value")
	}
	before := calls.Load()
	for range 5 {
		if _, ok := f.get(context.Background()); ok {
			t.Fatal("a value after a failure")
		}
	}
	if calls.Load() != before {
		t.Fatalf("%d computations right after a failure", calls.Load()-before)
	}
}
