package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
)

// Loader writes many records into a table quickly: unconditional puts,
// published asynchronously with a bounded number in flight, for bulk
// imports and generated data sets (not for the services' own writes, which
// need compare-and-set and wait for each acknowledgement). Safe for use by
// one goroutine.
type Loader struct {
	t      *Table
	window chan struct{}
	mu     sync.Mutex
	err    error
	n      int
}

// Loader returns a loader that keeps up to window puts in flight.
func (t *Table) Loader(window int) *Loader {
	if window <= 0 {
		window = 4096
	}
	return &Loader{t: t, window: make(chan struct{}, window)}
}

// Put stores value under key. Errors are reported by Flush (and stop later
// puts early).
func (l *Loader) Put(ctx context.Context, key string, value []byte) error {
	if err := l.failed(); err != nil {
		return err
	}
	select {
	case l.window <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	fut, err := l.t.js.PublishMsgAsync(&nats.Msg{Subject: l.t.Subject(key), Data: value})
	if err != nil {
		<-l.window
		return l.fail(fmt.Errorf("put %s: %w", key, err))
	}
	l.n++
	go func() {
		defer func() { <-l.window }()
		select {
		case <-fut.Ok():
		case err := <-fut.Err():
			l.fail(fmt.Errorf("put %s: %w", key, err))
		case <-ctx.Done():
			l.fail(ctx.Err())
		}
	}()
	return nil
}

func (l *Loader) fail(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = err
	}
	return l.err
}

func (l *Loader) failed() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Flush waits until every put is acknowledged and returns the first error.
func (l *Loader) Flush(ctx context.Context) error {
	for range cap(l.window) {
		select {
		case l.window <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for range cap(l.window) {
		<-l.window
	}
	return l.failed()
}

// Count returns how many puts were sent.
func (l *Loader) Count() int { return l.n }
