package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// Replication status, leader moves and leader balancing, through the
// JetStream API (so they work against an external cluster too) plus, for
// an embedded server, its own monitoring data.

// ReplicaStatus is one copy of a stream or consumer.
type ReplicaStatus struct {
	Name    string `json:"name"`
	Leader  bool   `json:"leader,omitempty"`
	Current bool   `json:"current"`
	Offline bool   `json:"offline,omitempty"`
	// ActiveMs is how long ago the leader last heard from this replica.
	ActiveMs int64 `json:"active_ms"`
	// Lag is how many operations the replica is behind the leader.
	Lag uint64 `json:"lag"`
}

// StreamStatus is one stream's (a table partition's) replication state.
type StreamStatus struct {
	Stream string `json:"stream"`
	// Table and Partition locate a table partition ("KV_feed_3" is
	// partition 3 of table feed); Partition is -1 for other streams.
	Table     string          `json:"table,omitempty"`
	Partition int             `json:"partition"`
	Leader    string          `json:"leader"`
	Replicas  []ReplicaStatus `json:"replicas"`
	Messages  uint64          `json:"messages"`
	Bytes     uint64          `json:"bytes"`
	LastSeq   uint64          `json:"last_seq"`
	Error     string          `json:"error,omitempty"`
}

// ConsumerStatus is one durable consumer's replication state.
type ConsumerStatus struct {
	Stream   string          `json:"stream"`
	Name     string          `json:"name"`
	Leader   string          `json:"leader"`
	Replicas []ReplicaStatus `json:"replicas"`
	Pending  uint64          `json:"pending"`
}

// Healthy reports whether the stream has a leader and every replica is
// current.
func (s *StreamStatus) Healthy() bool {
	if s.Leader == "" || s.Error != "" {
		return false
	}
	for _, r := range s.Replicas {
		if !r.Current || r.Offline {
			return false
		}
	}
	return true
}

// MaxLag returns the largest replica lag of the stream.
func (s *StreamStatus) MaxLag() uint64 {
	var m uint64
	for _, r := range s.Replicas {
		m = max(m, r.Lag)
	}
	return m
}

func replicasOf(ci *jetstream.ClusterInfo) (string, []ReplicaStatus) {
	if ci == nil {
		return "", nil
	}
	out := []ReplicaStatus{}
	if ci.Leader != "" {
		out = append(out, ReplicaStatus{Name: ci.Leader, Leader: true, Current: true})
	}
	for _, p := range ci.Replicas {
		out = append(out, ReplicaStatus{Name: p.Name, Current: p.Current, Offline: p.Offline,
			ActiveMs: p.Active.Milliseconds(), Lag: p.Lag})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return ci.Leader, out
}

// splitStream returns the table and partition of a table stream name
// ("KV_feed_3" -> "feed", 3) or ("", -1).
func splitStream(name string) (string, int) {
	rest, ok := strings.CutPrefix(name, "KV_")
	if !ok {
		return "", -1
	}
	i := strings.LastIndexByte(rest, '_')
	if i < 0 {
		return "", -1
	}
	p, err := strconv.Atoi(rest[i+1:])
	if err != nil {
		return "", -1
	}
	return rest[:i], p
}

// Streams returns the replication state of every stream, sorted by name.
// Streams whose leader does not answer within ctx carry an Error.
func (e *Engine) Streams(ctx context.Context) ([]StreamStatus, error) {
	var names []string
	lister := e.js.StreamNames(ctx)
	for n := range lister.Name() {
		names = append(names, n)
	}
	if err := lister.Err(); err != nil && len(names) == 0 {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	sort.Strings(names)
	out := make([]StreamStatus, len(names))
	forEachStream(names, func(i int, name string) {
		st := StreamStatus{Stream: name}
		st.Table, st.Partition = splitStream(name)
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		s, err := e.js.Stream(ictx, name)
		if err != nil {
			st.Error = err.Error()
			out[i] = st
			return
		}
		info := s.CachedInfo()
		st.Leader, st.Replicas = replicasOf(info.Cluster)
		st.Messages, st.Bytes, st.LastSeq = info.State.Msgs, info.State.Bytes, info.State.LastSeq
		out[i] = st
	})
	return out, nil
}

// forEachStream calls f for every name, eight at a time, and returns when
// every call has.
func forEachStream(names []string, f func(i int, name string)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			f(i, name)
		}()
	}
	wg.Wait()
}

// Consumers returns the replication state of the durable consumers of
// streams (ephemeral consumers, such as the views' ordered consumers, have
// one replica and are recreated by their owners when lost).
func (e *Engine) Consumers(ctx context.Context, streams []string) []ConsumerStatus {
	var mu sync.Mutex
	var out []ConsumerStatus
	forEachStream(streams, func(_ int, name string) {
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		s, err := e.js.Stream(ictx, name)
		if err != nil {
			return
		}
		l := s.ListConsumers(ictx)
		for ci := range l.Info() {
			if ci.Config.Durable == "" {
				continue
			}
			cs := ConsumerStatus{Stream: name, Name: ci.Name, Pending: ci.NumPending}
			cs.Leader, cs.Replicas = replicasOf(ci.Cluster)
			mu.Lock()
			out = append(out, cs)
			mu.Unlock()
		}
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Stream != out[j].Stream {
			return out[i].Stream < out[j].Stream
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// MetaStatus is the JetStream meta group as an embedded server sees it.
type MetaStatus struct {
	Leader   string          `json:"leader"`
	Size     int             `json:"size"`
	Replicas []ReplicaStatus `json:"replicas,omitempty"`
}

// Meta returns the meta group's state from the embedded server (nil for an
// external server).
func (e *Engine) Meta() *MetaStatus {
	if e.srv == nil {
		return nil
	}
	jsz, err := e.srv.Jsz(&server.JSzOptions{})
	if err != nil || jsz.Meta == nil {
		return nil
	}
	m := &MetaStatus{Leader: jsz.Meta.Leader, Size: jsz.Meta.Size}
	for _, p := range jsz.Meta.Replicas {
		m.Replicas = append(m.Replicas, ReplicaStatus{Name: p.Name, Current: p.Current, Offline: p.Offline,
			ActiveMs: p.Active.Milliseconds(), Lag: p.Lag})
	}
	return m
}

type apiResponse struct {
	Success bool `json:"success"`
	Error   *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error,omitempty"`
}

func (e *Engine) stepDown(ctx context.Context, subject, preferred string) error {
	var body []byte
	if preferred != "" {
		body, _ = json.Marshal(map[string]any{"placement": map[string]any{"preferred": preferred}})
	}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	msg, err := e.nc.RequestWithContext(rctx, subject, body)
	if err != nil {
		return err
	}
	var r apiResponse
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return fmt.Errorf("stepdown %s: %w", subject, err)
	}
	if r.Error != nil {
		return fmt.Errorf("stepdown %s: %s (%d)", subject, r.Error.Description, r.Error.ErrCode)
	}
	return nil
}

// StepDownStream asks the stream's leader to hand over leadership, to
// preferred when it is set (it must be a current replica).
func (e *Engine) StepDownStream(ctx context.Context, stream, preferred string) error {
	return e.stepDown(ctx, "$JS.API.STREAM.LEADER.STEPDOWN."+stream, preferred)
}

// StepDownConsumer asks a consumer's leader to hand over leadership.
func (e *Engine) StepDownConsumer(ctx context.Context, stream, consumer, preferred string) error {
	return e.stepDown(ctx, "$JS.API.CONSUMER.LEADER.STEPDOWN."+stream+"."+consumer, preferred)
}

// pickTarget returns the replica (other than from and those in avoid,
// current and online) that leads the fewest, or "".
func pickTarget(replicas []ReplicaStatus, from string, avoid []string, load map[string]int) string {
	best := ""
	for _, r := range replicas {
		if r.Name == from || r.Leader || !r.Current || r.Offline || slices.Contains(avoid, r.Name) {
			continue
		}
		if best == "" || load[r.Name] < load[best] || (load[r.Name] == load[best] && r.Name < best) {
			best = r.Name
		}
	}
	return best
}

// Leaderships counts, per server, the streams it leads.
func Leaderships(streams []StreamStatus) map[string]int {
	m := map[string]int{}
	for _, s := range streams {
		if s.Leader != "" {
			m[s.Leader]++
		}
	}
	return m
}

// MoveLeadersAway steps down every stream and durable consumer that server
// from leads, preferring the least loaded current replica not in avoid()
// (asked again every round), and waits until from leads nothing, no other
// server can take over, or ctx ends. It returns how many leaderships it
// asked to move and how many from still holds.
func (e *Engine) MoveLeadersAway(ctx context.Context, from string, avoidf func() []string) (moved, remaining int, err error) {
	for round := 0; ; round++ {
		avoid := avoidf()
		streams, err := e.Streams(ctx)
		if err != nil {
			return moved, -1, err
		}
		var names []string
		for _, s := range streams {
			names = append(names, s.Stream)
		}
		consumers := e.Consumers(ctx, names)
		load := Leaderships(streams)
		remaining = 0
		asked := 0
		for _, s := range streams {
			if s.Leader != from {
				continue
			}
			remaining++
			if to := pickTarget(s.Replicas, from, avoid, load); to != "" {
				asked++
				if err := e.StepDownStream(ctx, s.Stream, to); err == nil {
					moved++
					load[to]++
				} else {
					e.log.Warn("leader stepdown failed", "stream", s.Stream, "to", to, "err", err)
				}
			}
		}
		for _, c := range consumers {
			if c.Leader != from {
				continue
			}
			remaining++
			if to := pickTarget(c.Replicas, from, avoid, load); to != "" {
				asked++
				if err := e.StepDownConsumer(ctx, c.Stream, c.Name, to); err == nil {
					moved++
				} else {
					e.log.Warn("consumer leader stepdown failed", "stream", c.Stream, "consumer", c.Name, "err", err)
				}
			}
		}
		if remaining == 0 {
			return moved, 0, nil
		}
		if asked == 0 {
			return moved, remaining, errors.New("no other server can take over (all are draining, unreachable or behind)")
		}
		select {
		case <-ctx.Done():
			return moved, remaining, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		if round > 40 {
			return moved, remaining, errors.New("leaderships did not move")
		}
	}
}

// BalanceLeaders moves stream leaderships held by this node's embedded
// server beyond its fair share (ceil(streams/servers)) to the least loaded
// current replicas not in avoid. It acts only when every stream is healthy
// (a leader and every replica current), so it never moves leaders while the
// cluster is recovering, and moves at most max leaderships. Each node
// balances only what it leads, so nodes never issue conflicting
// stepdowns; repeated calls converge. It returns how many it moved.
func (e *Engine) BalanceLeaders(ctx context.Context, servers []string, avoid []string, limit int) (int, error) {
	if !e.Clustered() || e.InMinority() {
		return 0, nil
	}
	self := e.srv.Name()
	streams, err := e.Streams(ctx)
	if err != nil {
		return 0, err
	}
	if len(streams) == 0 || len(servers) < 2 {
		return 0, nil
	}
	for _, s := range streams {
		if !s.Healthy() {
			return 0, nil
		}
	}
	streams = slices.DeleteFunc(streams, func(s StreamStatus) bool { return e.isPinned(s.Stream) })
	load := Leaderships(streams)
	eligible := 0
	for _, s := range servers {
		if !slices.Contains(avoid, s) {
			eligible++
		}
	}
	if eligible < 2 {
		return 0, nil
	}
	fair := (len(streams) + eligible - 1) / eligible
	excess := load[self] - fair
	if slices.Contains(avoid, self) || excess <= 0 {
		return 0, nil
	}
	avoidSelf := append(slices.Clone(avoid), self)
	moved := 0
	for _, s := range streams {
		if moved >= excess || moved >= limit {
			break
		}
		if s.Leader != self {
			continue
		}
		to := pickTarget(s.Replicas, self, avoidSelf, load)
		if to == "" || load[to]+1 > fair {
			continue
		}
		if err := e.StepDownStream(ctx, s.Stream, to); err != nil {
			e.log.Warn("balancing stepdown failed", "stream", s.Stream, "to", to, "err", err)
			continue
		}
		load[to]++
		load[self]--
		moved++
	}
	if moved > 0 {
		e.log.Info("moved stream leaderships to balance the cluster", "moved", moved, "fair_share", fair)
	}
	return moved, nil
}

// pin excludes a stream from leader balancing.
func (e *Engine) pin(stream string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pinned == nil {
		e.pinned = map[string]bool{}
	}
	e.pinned[stream] = true
}

func (e *Engine) isPinned(stream string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pinned[stream]
}

// ServerName returns the name of the embedded server ("" when external).
func (e *Engine) ServerName() string {
	if e.srv == nil {
		return ""
	}
	return e.srv.Name()
}
