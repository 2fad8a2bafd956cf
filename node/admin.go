package node

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/shard"
)

// The operator's side of a node: cluster status, drain and leader
// balancing.
//
// Every node announces itself on subjectAnnounce every announceEvery
// (name, URL, services, readiness, whether it is draining or cut off from
// the majority) and keeps the announcements of the others, so any node can
// show the whole cluster. The admin API is HTTP on the node's own listener,
// under /api/starling/v1/, and requires the admin token (--admin-token) as
// a bearer token; without a configured token it is disabled.
const (
	subjectAnnounce = "starling.cluster.node"
	// subjectPing asks every node to answer with its NodeInfo at once.
	subjectPing   = "starling.cluster.node.ping"
	announceEvery = time.Second
	// quietAnnounce bounds how long an announcement takes to reach every
	// node.
	quietAnnounce = 150 * time.Millisecond
	// nodeStale is how long a node may stay silent before status calls it
	// unreachable.
	nodeStale = 3 * time.Second
)

// AdminConfig configures the admin API, draining and leader balancing.
type AdminConfig struct {
	// Token guards the admin API; empty disables it.
	Token starling.Secret
	// BalanceEvery is how often this node hands stream leaderships beyond
	// its fair share to less loaded nodes (clustered embedded engines
	// only). Zero means every 10 s; negative disables balancing.
	BalanceEvery time.Duration
	// DrainGrace is how long a draining clustered node keeps answering
	// (with /readyz at 503 and Connection: close) after moving its
	// leaderships and before it closes its listener, so that clients and
	// load balancers move away first. Zero means 2 s.
	DrainGrace time.Duration
}

// NodeInfo is what a node announces about itself.
type NodeInfo struct {
	Name     string    `json:"name"`
	Server   string    `json:"server,omitempty"` // its embedded NATS server, if any
	URL      string    `json:"url,omitempty"`
	Services []string  `json:"services"`
	Version  string    `json:"version"`
	Started  time.Time `json:"started"`
	Ready    bool      `json:"ready"`
	Error    string    `json:"error,omitempty"`
	Draining bool      `json:"draining,omitempty"`
	Minority bool      `json:"minority,omitempty"`
	// Views lists, per service (feed, notify), the view partitions this
	// node owns and stands by for.
	Views map[string][]shard.Holding `json:"views,omitempty"`
	// LastSeen is when this answering node last heard the announcement;
	// State is "up", "draining", "not-ready", "minority" or "unreachable".
	LastSeen time.Time `json:"last_seen"`
	State    string    `json:"state"`
}

type admin struct {
	n       *Node
	cfg     AdminConfig
	started time.Time
	tokenH  [32]byte

	draining atomic.Bool
	drainMu  sync.Mutex
	done     chan struct{} // closed once a drain has stopped the node
	drained  bool

	mu    sync.Mutex
	nodes map[string]NodeInfo
	ready atomic.Bool
	rerr  atomic.Value // string

	sub    *nats.Subscription
	ping   *nats.Subscription
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startAdmin starts announcing and balancing, and returns h wrapped with the
// admin API and the drain behaviour.
func (n *Node) startAdmin(h http.Handler) (http.Handler, error) {
	a := &admin{n: n, cfg: n.cfg.Admin, started: time.Now(), done: make(chan struct{}), nodes: map[string]NodeInfo{}}
	if a.cfg.BalanceEvery == 0 {
		a.cfg.BalanceEvery = 10 * time.Second
	}
	if a.cfg.DrainGrace == 0 {
		a.cfg.DrainGrace = 2 * time.Second
	}
	if a.cfg.Token != "" {
		a.tokenH = sha256.Sum256([]byte(a.cfg.Token.Reveal()))
	}
	a.rerr.Store("")
	sub, err := n.eng.Conn().Subscribe(subjectAnnounce, func(m *nats.Msg) {
		var info NodeInfo
		if json.Unmarshal(m.Data, &info) != nil || info.Name == "" {
			return
		}
		info.LastSeen = time.Now()
		a.mu.Lock()
		a.nodes[info.Name] = info
		a.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	a.sub = sub
	a.ping, err = n.eng.Conn().Subscribe(subjectPing, func(m *nats.Msg) {
		if m.Reply != "" {
			data, _ := json.Marshal(a.self())
			_ = m.Respond(data)
		}
	})
	if err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Add(1)
	go a.announceLoop(ctx)
	if a.cfg.BalanceEvery > 0 && n.eng.Clustered() {
		a.wg.Add(1)
		go a.balanceLoop(ctx)
	}
	n.admin = a
	n.closers = append(n.closers, a.stop, n.exportEngineMetrics())
	return a.handler(h), nil
}

func (a *admin) stop() {
	a.cancel()
	a.wg.Wait()
	_ = a.sub.Unsubscribe()
	_ = a.ping.Unsubscribe()
}

// refresh asks every node for its NodeInfo and waits up to d for the
// answers, so that a status taken on a node that just started lists every
// node.
func (a *admin) refresh(d time.Duration) {
	nc := a.n.eng.Conn()
	inbox := nc.NewRespInbox()
	sub, err := nc.Subscribe(inbox, func(m *nats.Msg) {
		var info NodeInfo
		if json.Unmarshal(m.Data, &info) != nil || info.Name == "" {
			return
		}
		info.LastSeen = time.Now()
		a.mu.Lock()
		a.nodes[info.Name] = info
		a.mu.Unlock()
	})
	if err != nil {
		return
	}
	defer sub.Unsubscribe()
	if nc.PublishRequest(subjectPing, inbox, nil) == nil {
		time.Sleep(d)
	}
}

func (a *admin) self() NodeInfo {
	info := NodeInfo{Name: a.n.eng.NodeName(), Server: a.n.eng.ServerName(), URL: a.n.PublicURL(),
		Services: a.n.cfg.Services, Version: starling.Version, Started: a.started,
		Ready: a.ready.Load(), Error: a.rerr.Load().(string), Draining: a.draining.Load(), Minority: a.n.eng.InMinority(),
		Views: a.n.views()}
	info.LastSeen = time.Now()
	info.State = stateOf(info)
	return info
}

// views lists the view partitions of the services this node runs.
func (n *Node) views() map[string][]shard.Holding {
	out := map[string][]shard.Holding{}
	if n.feed != nil {
		out["feed"] = n.feed.Held()
	}
	if n.notify != nil {
		out["notify"] = n.notify.Held()
	}
	return out
}

func stateOf(i NodeInfo) string {
	switch {
	case time.Since(i.LastSeen) > nodeStale:
		return "unreachable"
	case i.Draining:
		return "draining"
	case i.Minority:
		return "minority"
	case !i.Ready:
		return "not-ready"
	}
	return "up"
}

func (a *admin) announceLoop(ctx context.Context) {
	defer a.wg.Done()
	t := time.NewTicker(announceEvery)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, announceEvery/2)
		err := a.n.Ready(rctx)
		cancel()
		a.ready.Store(err == nil)
		if err != nil {
			a.rerr.Store(err.Error())
		} else {
			a.rerr.Store("")
		}
		a.announce()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *admin) announce() {
	data, _ := json.Marshal(a.self())
	_ = a.n.eng.Conn().Publish(subjectAnnounce, data)
}

// Nodes returns every node this one has heard of (itself included), with
// their state as of now.
func (a *admin) Nodes() []NodeInfo {
	self := a.self()
	a.mu.Lock()
	out := []NodeInfo{self}
	for name, info := range a.nodes {
		if name == self.Name {
			continue
		}
		info.State = stateOf(info)
		out = append(out, info)
	}
	a.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (a *admin) balanceLoop(ctx context.Context) {
	defer a.wg.Done()
	t := time.NewTicker(a.cfg.BalanceEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if a.draining.Load() {
			continue
		}
		var servers, avoid []string
		complete := true
		for _, info := range a.Nodes() {
			if info.Server == "" {
				continue
			}
			switch info.State {
			case "up":
				servers = append(servers, info.Server)
			case "draining":
				servers = append(servers, info.Server)
				avoid = append(avoid, info.Server)
			default:
				complete = false
			}
		}
		if !complete {
			continue // never balance while a node is missing or unwell
		}
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if _, err := a.n.eng.BalanceLeaders(bctx, servers, avoid, 2); err != nil {
			a.n.tel.Log.Debug("leader balancing skipped", "err", err)
		}
		cancel()
	}
}

// DrainResult reports a drain.
type DrainResult struct {
	Node string `json:"node"`
	// Moved is how many stream and consumer leaderships were handed over;
	// Remaining how many this node still held when it gave up waiting.
	Moved     int    `json:"moved"`
	Remaining int    `json:"remaining"`
	State     string `json:"state"`
	Error     string `json:"error,omitempty"`
}

// Drain takes the node out of service without failing requests: it marks
// itself draining (readiness fails, responses close their connections,
// other nodes stop giving it leaderships), hands every stream and consumer
// leadership of its embedded server to other nodes, waits DrainGrace, then
// shuts down like Shutdown (in-flight requests finish). Done is closed when
// it has stopped. A single node just shuts down.
func (n *Node) Drain(ctx context.Context) DrainResult {
	res := n.moveAway(ctx)
	n.finishDrain(ctx)
	return res
}

// moveAway is the first half of Drain.
func (n *Node) moveAway(ctx context.Context) DrainResult {
	res := DrainResult{Node: n.eng.NodeName(), State: "stopping"}
	a := n.admin
	if a == nil {
		return res
	}
	if !a.draining.CompareAndSwap(false, true) {
		res.State = "already-draining"
		return res
	}
	a.announce()
	if n.http != nil {
		// Close idle keep-alive connections now, while the listener is
		// open: a client must not send a request on a connection the
		// server is about to close.
		n.http.SetKeepAlivesEnabled(false)
	}
	if !n.eng.Clustered() {
		return res
	}
	// Nodes drained at the same moment (a whole cluster stopping) must
	// not hand their leaderships to each other: give their announcements
	// time to arrive, and read them again every round.
	time.Sleep(2 * quietAnnounce)
	avoid := func() []string {
		var out []string
		for _, info := range a.Nodes() {
			if info.Server != "" && info.Server != n.eng.ServerName() && info.State != "up" {
				out = append(out, info.Server)
			}
		}
		return out
	}
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	n.handOverViews(mctx)
	moved, remaining, err := n.eng.MoveLeadersAway(mctx, n.eng.ServerName(), avoid)
	res.Moved, res.Remaining = moved, remaining
	if err != nil {
		res.Error = err.Error()
	}
	n.tel.Log.Info("drain: leaderships moved", "moved", moved, "remaining", remaining, "took", time.Since(start).Round(time.Millisecond), "err", err)
	return res
}

// handOverViews hands the view partitions this node serves to the other
// nodes (each after a last snapshot), so that they serve them before this
// one stops: no partition waits for a takeover.
func (n *Node) handOverViews(ctx context.Context) {
	start := time.Now()
	if n.feed != nil {
		if err := n.feed.Drain(ctx); err != nil {
			n.tel.Log.Warn("drain: feed partitions not handed over", "err", err)
		}
	}
	if n.notify != nil {
		if err := n.notify.Drain(ctx); err != nil {
			n.tel.Log.Warn("drain: notify partitions not handed over", "err", err)
		}
	}
	n.tel.Log.Info("drain: view partitions handed over", "took", time.Since(start).Round(time.Millisecond))
}

// finishDrain is the second half of Drain.
func (n *Node) finishDrain(ctx context.Context) {
	a := n.admin
	if a != nil && n.eng.Clustered() {
		select {
		case <-time.After(a.cfg.DrainGrace):
		case <-ctx.Done():
		}
	}
	n.Shutdown(ctx)
	if a != nil {
		a.drainMu.Lock()
		if !a.drained {
			a.drained = true
			close(a.done)
		}
		a.drainMu.Unlock()
	}
}

// Done is closed once the node has been drained and stopped through the
// admin API (or Drain).
func (n *Node) Done() <-chan struct{} {
	if n.admin == nil {
		return nil
	}
	return n.admin.done
}

// Draining reports whether the node is draining.
func (n *Node) Draining() bool { return n.admin != nil && n.admin.draining.Load() }

// authorized reports whether r carries the admin token.
func (a *admin) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || a.cfg.Token == "" {
		return false
	}
	h := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(h[:], a.tokenH[:]) == 1
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (a *admin) handler(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/starling/v1/status", a.guard(a.handleStatus))
	mux.HandleFunc("POST /api/starling/v1/drain", a.guard(a.handleDrain))
	mux.HandleFunc("POST /api/starling/v1/balance", a.guard(a.handleBalance))
	mux.HandleFunc("/api/starling/v1/", a.guard(func(w http.ResponseWriter, r *http.Request) {
		writeAdminJSON(w, http.StatusNotFound, map[string]string{"error": "Record not found"})
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/starling/v1/") {
			mux.ServeHTTP(w, r)
			return
		}
		if a.draining.Load() {
			// Clients must not reuse connections to a node that is about
			// to close its listener; readiness tells balancers to move.
			w.Header().Set("Connection", "close")
			if r.URL.Path == "/readyz" {
				w.Header().Set("Retry-After", "1")
				writeAdminJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (a *admin) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.cfg.Token == "" {
			writeAdminJSON(w, http.StatusForbidden, map[string]string{"error": "The admin API is disabled on this node: start it with --admin-token (or STARLING_ADMIN_TOKEN)"})
			return
		}
		if !a.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="starling-admin"`)
			writeAdminJSON(w, http.StatusUnauthorized, map[string]string{"error": "This API requires the admin token"})
			return
		}
		h(w, r)
	}
}

// Status is the answer of GET /api/starling/v1/status.
type Status struct {
	// Node is the node that answered.
	Node    string    `json:"node"`
	Time    time.Time `json:"time"`
	Cluster struct {
		Size           int      `json:"size"`
		MetaLeader     string   `json:"meta_leader,omitempty"`
		Minority       bool     `json:"minority"`
		ReachablePeers []string `json:"reachable_peers,omitempty"`
		Replicas       int      `json:"replicas"`
		Partitions     int      `json:"partitions"`
	} `json:"cluster"`
	Nodes      []NodeInfo              `json:"nodes"`
	Meta       *engine.MetaStatus      `json:"meta,omitempty"`
	Streams    []engine.StreamStatus   `json:"streams"`
	Consumers  []engine.ConsumerStatus `json:"consumers"`
	Leaders    map[string]int          `json:"leaders"`
	MaxLag     uint64                  `json:"max_lag"`
	Unhealthy  []string                `json:"unhealthy,omitempty"`
	StreamsErr string                  `json:"streams_error,omitempty"`
}

// Status collects the cluster's status as this node sees it.
func (n *Node) Status(ctx context.Context) *Status {
	s := &Status{Node: n.eng.NodeName(), Time: time.Now().UTC()}
	cfg := n.eng.Config()
	s.Cluster.Size = n.eng.ClusterSize()
	s.Cluster.Minority = n.eng.InMinority()
	s.Cluster.ReachablePeers = n.eng.ReachablePeers()
	s.Cluster.Replicas, s.Cluster.Partitions = cfg.Replicas, cfg.Partitions
	if n.admin != nil {
		n.admin.refresh(300 * time.Millisecond)
		s.Nodes = n.admin.Nodes()
	}
	if m := n.eng.Meta(); m != nil {
		s.Meta = m
		s.Cluster.MetaLeader = m.Leader
		if m.Size > 0 {
			s.Cluster.Size = m.Size
		}
	}
	streams, err := n.eng.Streams(ctx)
	if err != nil {
		s.StreamsErr = err.Error()
	}
	s.Streams = streams
	var names []string
	for _, st := range streams {
		names = append(names, st.Stream)
		s.MaxLag = max(s.MaxLag, st.MaxLag())
		if !st.Healthy() {
			s.Unhealthy = append(s.Unhealthy, st.Stream)
		}
	}
	s.Consumers = n.eng.Consumers(ctx, names)
	if s.Consumers == nil {
		s.Consumers = []engine.ConsumerStatus{}
	}
	if s.Streams == nil {
		s.Streams = []engine.StreamStatus{}
	}
	s.Leaders = engine.Leaderships(streams)
	return s
}

func (a *admin) handleStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 8*time.Second)
	defer cancel()
	writeAdminJSON(w, http.StatusOK, a.n.Status(ctx))
}

// handleDrain moves the node's leaderships away, answers with the result,
// then finishes the drain (grace, shutdown) in the background.
func (a *admin) handleDrain(w http.ResponseWriter, r *http.Request) {
	res := a.n.moveAway(r.Context())
	if res.State == "already-draining" {
		writeAdminJSON(w, http.StatusConflict, map[string]string{"error": "This node is already draining"})
		return
	}
	writeAdminJSON(w, http.StatusAccepted, res)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		a.n.finishDrain(ctx)
	}()
}

func (a *admin) handleBalance(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	var servers, avoid []string
	for _, info := range a.Nodes() {
		if info.Server == "" || info.State == "unreachable" {
			continue
		}
		servers = append(servers, info.Server)
		if info.State != "up" {
			avoid = append(avoid, info.Server)
		}
	}
	moved, err := a.n.eng.BalanceLeaders(ctx, servers, avoid, 1000)
	res := map[string]any{"node": a.n.eng.NodeName(), "moved": moved}
	if err != nil {
		res["error"] = err.Error()
	}
	writeAdminJSON(w, http.StatusOK, res)
}
