package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/cluster"
	"github.com/starling-social/starling/node"
)

// ViewOwners returns, for a service's view ("feed", "notify"), the owner
// and the standby of every partition as the cluster's status shows them
// ("" where none).
func ViewOwners(s *node.Status, service string) (owners, standbys []string) {
	owners, standbys = make([]string, s.Cluster.Partitions), make([]string, s.Cluster.Partitions)
	for _, n := range s.Nodes {
		for _, h := range n.Views[service] {
			if h.Partition < 0 || h.Partition >= len(owners) {
				continue
			}
			if h.Role == "owner" {
				owners[h.Partition] = n.Name
			} else {
				standbys[h.Partition] = n.Name
			}
		}
	}
	return owners, standbys
}

// Takeover is what happened to one view partition when its owner was
// killed.
type Takeover struct {
	Partition int
	From, To  string
	Standby   bool          // To was the partition's designated standby
	Gap       time.Duration // from the kill to the first complete answer for an account of the partition
	Refusals  int           // answers (503) during the gap
	Bad       string        // an answer that was not complete, if any
}

func (t Takeover) String() string {
	how := "not its standby"
	if t.Standby {
		how = "its standby"
	}
	s := fmt.Sprintf("partition %d: %s -> %s (%s) in %v, %d refusals meanwhile", t.Partition, t.From, orNone(t.To), how,
		t.Gap.Round(10*time.Millisecond), t.Refusals)
	if t.Bad != "" {
		s += "; INCOMPLETE ANSWER: " + t.Bad
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}

// KillViewOwner SIGKILLs the node owning the most Feed view partitions
// and measures, for each of them, how long until an account of the
// partition is served again through another node's gateway: a reader of
// each partition polls its home timeline every 50 ms, and its first answer
// must hold what the timeline held before the kill (never an empty or
// partial timeline presented as complete). Then it restarts the node after
// downFor and waits until the cluster is healthy.
func KillViewOwner(ctx context.Context, l *cluster.Local, w *Workload, downFor time.Duration) (Fault, []Takeover, error) {
	st, err := liveStatus(ctx, l)
	if err != nil {
		return Fault{}, nil, err
	}
	owners, standbys := ViewOwners(st, "feed")
	victim, most := -1, 0
	for _, n := range l.Nodes() {
		if c := count(owners, n.Name); c > most {
			victim, most = n.Index, c
		}
	}
	if victim < 0 {
		return Fault{}, nil, fmt.Errorf("no node owns a feed partition: %v", owners)
	}
	name := l.Node(victim).Name
	readers := w.readers(len(owners))
	var parts []int
	for p, o := range owners {
		if o == name && readers[p].token != "" {
			parts = append(parts, p)
		}
	}
	f := Fault{Name: "view owner SIGKILL", Node: name, Start: time.Now()}
	before := map[int][]string{}
	for _, p := range parts {
		ids, err := w.home(ctx, otherNode(l, victim, p), readers[p].token)
		if err != nil {
			return f, nil, fmt.Errorf("home of a reader of partition %d before the kill: %w", p, err)
		}
		before[p] = ids
	}
	if err := l.Kill(victim); err != nil {
		return f, nil, err
	}
	killed := time.Now()
	out := make([]Takeover, len(parts))
	var wg sync.WaitGroup
	for k, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[k] = w.awaitTakeover(ctx, l, victim, p, readers[p].token, before[p], killed)
			out[k].From = name
		}()
	}
	wg.Wait()
	if st, err := liveStatus(ctx, l); err == nil {
		now, _ := ViewOwners(st, "feed")
		for k := range out {
			out[k].To = now[out[k].Partition]
			out[k].Standby = out[k].To != "" && out[k].To == standbys[out[k].Partition]
		}
	}
	sleep(ctx, downFor)
	t0 := time.Now()
	if err := l.Restart(ctx, victim); err != nil {
		return f, out, err
	}
	if err := WaitHealthy(ctx, l, 90*time.Second); err != nil {
		return f, out, err
	}
	f.End = time.Now()
	var longest time.Duration
	for _, t := range out {
		longest = max(longest, t.Gap)
	}
	f.Detail = fmt.Sprintf("owned %d feed partitions, longest takeover %v; restarted and healthy in %v",
		len(parts), longest.Round(10*time.Millisecond), time.Since(t0).Round(100*time.Millisecond))
	return f, out, nil
}

func count(ss []string, s string) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

// otherNode returns a node other than victim to read through (spread by
// partition).
func otherNode(l *cluster.Local, victim, p int) int {
	n := len(l.Nodes())
	for k := 1; k < n; k++ {
		if i := (victim + p + k) % n; i != victim {
			return i
		}
	}
	return victim
}

// awaitTakeover polls a reader's home timeline until it is answered, and
// checks the answer is complete.
func (w *Workload) awaitTakeover(ctx context.Context, l *cluster.Local, victim, p int, token string, before []string, killed time.Time) Takeover {
	t := Takeover{Partition: p}
	deadline := killed.Add(60 * time.Second)
	for k := 0; time.Now().Before(deadline) && ctx.Err() == nil; k++ {
		ids, err := w.home(ctx, otherNode(l, victim, p+k), token)
		if err != nil {
			t.Refusals++
			sleep(ctx, 50*time.Millisecond)
			continue
		}
		t.Gap = time.Since(killed)
		if missing := missingFrom(ids, before); missing != "" {
			t.Bad = missing
		}
		return t
	}
	t.Gap = time.Since(killed)
	t.Bad = "not served again within 60 s"
	return t
}

// missingFrom says which of the statuses a timeline held before are not in
// it now, among those still within its page ("" when none is missing).
func missingFrom(now, before []string) string {
	if len(before) == 0 {
		return ""
	}
	if len(now) == 0 {
		return fmt.Sprintf("empty, held %d before", len(before))
	}
	oldest := now[len(now)-1]
	var missing []string
	for _, id := range before {
		if !idLess(id, oldest) && !slices.Contains(now, id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("%d statuses missing (%s...)", len(missing), missing[0])
	}
	return ""
}

// reader is an account whose reads go to one partition.
type reader struct{ id, token string }

// readers returns, for each of n partitions, an account of it (zero where
// the workload has none).
func (w *Workload) readers(n int) []reader {
	out := make([]reader, n)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, u := range w.users {
		if u.state != userAcked {
			continue
		}
		id, err := strconv.ParseInt(u.id, 10, 64)
		if err != nil {
			continue
		}
		if p := starling.PartitionOf(starling.ID(id), n); out[p].token == "" {
			out[p] = reader{u.id, u.token}
		}
	}
	return out
}

// home reads the first page of a home timeline through node i, once.
func (w *Workload) home(ctx context.Context, i int, token string) ([]string, error) {
	resp, out, err := w.c.once(ctx, i, "GET", "/api/v1/timelines/home?limit=40", token, nil, nil)
	if err != nil || out != ok {
		if err == nil {
			err = fmt.Errorf("status %d: %s", resp.Status, strings.TrimSpace(string(resp.Body)))
		}
		return nil, err
	}
	var sts []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(resp.Body, &sts); err != nil {
		return nil, err
	}
	ids := make([]string, len(sts))
	for k, s := range sts {
		ids[k] = s.ID
	}
	return ids, nil
}
