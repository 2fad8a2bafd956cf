package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/starling-social/starling"
)

// ID layout below the 48-bit millisecond timestamp: 6 bits of generator slot
// and 10 bits of sequence, so 64 processes can each make 1,024 IDs a
// millisecond without ever colliding.
const (
	slotBits  = 6
	seqBits   = 10
	maxSlots  = 1 << slotBits
	maxSeq    = 1<<seqBits - 1
	slotLease = 30 * time.Second
)

// IDs generates unique, time-ordered IDs. Uniqueness across processes comes
// from a slot each generator leases with a compare-and-set in the engine
// (key "slot.<n>" of the "ids" table, with a TTL it keeps renewing). A
// generator whose lease it could not renew stops issuing IDs (Unavailable)
// before another process could be given the same slot. IDs is safe for
// concurrent use.
type IDs struct {
	tab   *Table
	log   *slog.Logger
	owner []byte

	mu         sync.Mutex
	slot       int
	rev        uint64
	validUntil time.Time
	lastMs     int64
	seq        int

	stop chan struct{}
	done chan struct{}
}

// NewIDs leases a generator slot and keeps it until Close.
func (e *Engine) NewIDs(ctx context.Context) (*IDs, error) {
	tab, err := e.Table(ctx, TableConfig{Name: "ids", Partitions: 1})
	if err != nil {
		return nil, err
	}
	g := &IDs{
		tab:   tab,
		log:   e.log,
		owner: fmt.Appendf(nil, "%s/%d/%d", e.cfg.NodeName, os.Getpid(), time.Now().UnixNano()),
		slot:  -1,
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	if err := g.claim(ctx); err != nil {
		return nil, err
	}
	go g.renew()
	return g, nil
}

func (g *IDs) claim(ctx context.Context) error {
	for _, s := range rand.Perm(maxSlots) {
		start := time.Now()
		rev, err := g.tab.Create(ctx, fmt.Sprintf("slot.%d", s), g.owner, slotLease)
		if err == nil {
			g.mu.Lock()
			g.slot, g.rev, g.validUntil = s, rev, start.Add(slotLease-5*time.Second)
			g.mu.Unlock()
			return nil
		}
		if !starling.IsCode(err, starling.Conflict) {
			return fmt.Errorf("lease id slot: %w", err)
		}
	}
	return errors.New("lease id slot: all 64 slots are taken")
}

func (g *IDs) renew() {
	defer close(g.done)
	// Renew every slotLease/3; after a failure (a leader election, a
	// partition, a paused process) retry every second, so the lease is
	// back as soon as the engine is.
	t := time.NewTimer(slotLease / 3)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		t.Reset(time.Second)
		g.mu.Lock()
		slot, rev := g.slot, g.rev
		g.mu.Unlock()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		nrev, _, err := g.tab.PutWith(ctx, fmt.Sprintf("slot.%d", slot), g.owner, PutOptions{TTL: slotLease, ExpectRevision: &rev})
		cancel()
		switch {
		case err == nil:
			g.mu.Lock()
			g.rev, g.validUntil = nrev, start.Add(slotLease-5*time.Second)
			g.mu.Unlock()
			t.Reset(slotLease / 3)
		case starling.IsCode(err, starling.Conflict):
			// The lease expired and may belong to someone else now.
			g.log.Warn("id slot lease lost; claiming another", "slot", slot)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := g.claim(ctx); err != nil {
				g.log.Error("id slot claim failed", "err", err)
			} else {
				t.Reset(slotLease / 3)
			}
			cancel()
		default:
			g.log.Warn("id slot lease renewal failed", "slot", slot, "err", err)
		}
	}
}

// Next returns a new ID. It fails with Unavailable while the generator's
// slot lease cannot be confirmed.
func (g *IDs) Next() (starling.ID, error) {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.slot < 0 || now.After(g.validUntil) {
		return 0, starling.Unavailablef(2*time.Second, "ID generator lease expired")
	}
	ms := now.UnixMilli()
	if ms <= g.lastMs {
		ms = g.lastMs
		g.seq++
		if g.seq > maxSeq {
			// Out of sequence numbers for this millisecond: borrow the next
			// one rather than wait. IDs stay unique and ordered.
			ms++
			g.seq = 0
		}
	} else {
		g.seq = 0
	}
	g.lastMs = ms
	low := uint16(g.slot<<seqBits | g.seq)
	return starling.MakeID(time.UnixMilli(ms), low), nil
}

// Close stops renewing and releases the slot.
func (g *IDs) Close() {
	close(g.stop)
	<-g.done
	g.mu.Lock()
	slot, rev := g.slot, g.rev
	g.slot = -1
	g.mu.Unlock()
	if slot >= 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = g.tab.Delete(ctx, fmt.Sprintf("slot.%d", slot), rev)
		cancel()
	}
}
