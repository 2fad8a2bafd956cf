// Package startest holds helpers for Starling's tests: real engines on
// random loopback ports in temporary directories, and small waiting
// utilities. Nothing here is used outside tests.
package startest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/telemetry"
)

// Engine starts a single-node embedded engine for the test and stops it when
// the test ends.
func Engine(t testing.TB) *engine.Engine {
	t.Helper()
	cfg := engine.DefaultConfig(t.TempDir())
	cfg.NodeName = "test"
	cfg.Listen = "127.0.0.1:-1"
	cfg.Partitions = 4
	cfg.Logger = slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := engine.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start engine: %v", err)
	}
	t.Cleanup(e.Close)
	return e
}

// IDs leases an ID generator on e for the test.
func IDs(t testing.TB, e *engine.Engine) *engine.IDs {
	t.Helper()
	ids, err := e.NewIDs(context.Background())
	if err != nil {
		t.Fatalf("id generator: %v", err)
	}
	t.Cleanup(ids.Close)
	return ids
}

// Telemetry returns telemetry that discards logs and spans.
func Telemetry(t testing.TB) *telemetry.Telemetry {
	t.Helper()
	return telemetry.Discard()
}

// Eventually calls f until it returns true or timeout passes, and fails the
// test with msg then.
func Eventually(t testing.TB, timeout time.Duration, msg string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if f() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Context returns a context that ends with the test (or after a minute).
func Context(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
