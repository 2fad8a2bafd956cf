package feed

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/starling-social/starling"
)

// Routing. A call made for an account (the viewer of a read, the actor of
// a write) is answered by the holder of the account's view partition:
// here when this node serves it, otherwise forwarded to the holder over
// the transport (Config.Remote). Reads that need another partition's data
// ask its holder through FeedPartitions: partitions held here answer from
// memory, without a hop.

// errMoved is what a node answers for a partition it does not serve.
func errMoved(p int) error {
	return &starling.Error{Code: starling.Unavailable, Message: "Service temporarily unavailable", Reason: starling.ReasonMoved,
		RetryAfter: time.Second, Err: fmt.Errorf("view partition %d is not served here", p)}
}

// holding returns partition p when this node serves it now: it holds
// its lease, has loaded it, and is not cut off from the engine's majority.
func (s *Service) holding(p int) *part {
	pt := s.serving[p].Load()
	if pt == nil || s.eng.InMinority() {
		return nil
	}
	return pt
}

// route returns the view partition of account when this node serves it.
// It returns nil, nil when the call must be forwarded to the holder, and
// ReasonMoved when it must not be (the caller addressed this node as the
// holder, or there is no transport to forward over).
func (s *Service) route(ctx context.Context, account starling.ID) (*part, error) {
	p := partOf(account, s.n)
	if pt := s.holding(p); pt != nil {
		return pt, nil
	}
	if starling.OwnerOnly(ctx) || s.remote == nil {
		return nil, errMoved(p)
	}
	return nil, nil
}

// viewerPart returns the viewer's partition for a read that works for
// anonymous viewers too: nil for viewer 0.
func (s *Service) viewerPart(ctx context.Context, viewer starling.ID) (*part, bool, error) {
	if viewer == 0 {
		return nil, true, nil
	}
	pt, err := s.route(ctx, viewer)
	return pt, pt != nil, err
}

// Partitions returns the reads of the partitions this node serves, for
// the transport to expose: calls for other partitions answer ReasonMoved.
func (s *Service) Partitions() starling.FeedPartitions { return partitions{s: s, local: true} }

// partitions answers FeedPartitions from the partitions held here and,
// unless local, asks the holders of the others.
type partitions struct {
	s     *Service
	local bool
}

var _ starling.FeedPartitions = partitions{}

func (ps partitions) at(ctx context.Context, p int) (*part, starling.FeedPartitions, error) {
	if p < 0 || p >= ps.s.n {
		return nil, nil, starling.Errorf(starling.Invalid, "no partition %d", p)
	}
	if pt := ps.s.holding(p); pt != nil {
		return pt, nil, nil
	}
	if ps.local || ps.s.peers == nil {
		return nil, nil, errMoved(p)
	}
	return nil, ps.s.peers, nil
}

// maxAuthorPage bounds what one AuthorStatuses call returns (a home
// timeline's rebuild asks for its whole length).
const maxAuthorPage = 1000

func (ps partitions) AuthorStatuses(ctx context.Context, p int, q starling.AuthorQuery) ([]starling.AuthorEntry, error) {
	pt, peer, err := ps.at(ctx, p)
	if err != nil {
		return nil, err
	}
	if peer != nil {
		return peer.AuthorStatuses(ctx, p, q)
	}
	if len(q.Authors) > 10_000 {
		return nil, starling.Errorf(starling.Invalid, "too many authors")
	}
	return pt.authorStatuses(q, min(max(q.Page.Limit, 1), maxAuthorPage)), nil
}

func (ps partitions) Counts(ctx context.Context, p int, statuses, accounts []starling.ID) (*starling.PartCounts, error) {
	pt, peer, err := ps.at(ctx, p)
	if err != nil {
		return nil, err
	}
	if peer != nil {
		return peer.Counts(ctx, p, statuses, accounts)
	}
	if len(statuses)+len(accounts) > 4000 {
		return nil, starling.Errorf(starling.Invalid, "too many counters requested")
	}
	out := &starling.PartCounts{}
	pt.counts(statuses, accounts, out)
	return out, nil
}

func (ps partitions) Thread(ctx context.Context, p int, root starling.ID) ([]starling.ThreadEntry, error) {
	pt, peer, err := ps.at(ctx, p)
	if err != nil {
		return nil, err
	}
	if peer != nil {
		return peer.Thread(ctx, p, root)
	}
	return pt.thread(root), nil
}

func (ps partitions) Timeline(ctx context.Context, p int, tag string, onlyMedia bool, page starling.Page) ([]starling.ID, error) {
	pt, peer, err := ps.at(ctx, p)
	if err != nil {
		return nil, err
	}
	if peer != nil {
		return peer.Timeline(ctx, p, tag, onlyMedia, page)
	}
	return pt.timeline(tag, onlyMedia, page, clampLimit(page.Limit, statusesLimit)), nil
}

func (ps partitions) Edges(ctx context.Context, p int, kind string, key starling.ID, page starling.Page) ([]starling.Edge, error) {
	pt, peer, err := ps.at(ctx, p)
	if err != nil {
		return nil, err
	}
	if peer != nil {
		return peer.Edges(ctx, p, kind, key, page)
	}
	limit := clampLimit(page.Limit, accountsLimit)
	if kind == starling.EdgeSubscribers {
		limit = min(max(page.Limit, 1), maxAuthorPage)
	}
	return pt.edges(kind, key, page, limit), nil
}

func (ps partitions) Stats(ctx context.Context, p int, periods []starling.Period) (*starling.FeedStats, error) {
	pt, peer, err := ps.at(ctx, p)
	if err != nil {
		return nil, err
	}
	if peer != nil {
		return peer.Stats(ctx, p, periods)
	}
	if len(periods) > starling.MaxStatsPeriods {
		return nil, starling.Errorf(starling.Invalid, "too many periods")
	}
	return pt.stats(periods), nil
}

// --- gathering across partitions ---

// byPartition groups IDs by their partition.
func (s *Service) byPartition(ids []starling.ID) map[int][]starling.ID {
	out := map[int][]starling.ID{}
	for _, id := range ids {
		p := partOf(id, s.n)
		if !slices.Contains(out[p], id) {
			out[p] = append(out[p], id)
		}
	}
	return out
}

// gather runs f for each partition of parts concurrently and returns the
// first error.
func gather(parts []int, f func(p int) error) error {
	if len(parts) == 1 {
		return f(parts[0])
	}
	var wg sync.WaitGroup
	errs := make([]error, len(parts))
	for i, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(p)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func keys[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// allParts returns 0..n-1.
func (s *Service) allParts() []int {
	out := make([]int, s.n)
	for i := range out {
		out[i] = i
	}
	return out
}
