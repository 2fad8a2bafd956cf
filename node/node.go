// Package node wires one Starling node together: the engine, the services
// this node runs (local implementations, also served over NATS for other
// nodes), clients for the services it does not run, and the HTTP gateway.
// Whether a service is in this process or elsewhere is decided here, from
// configuration; nothing else in Starling knows.
package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/auth"
	"github.com/starling-social/starling/content"
	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/feed"
	"github.com/starling-social/starling/gateway"
	"github.com/starling-social/starling/media"
	"github.com/starling-social/starling/notify"
	"github.com/starling-social/starling/remote"
	"github.com/starling-social/starling/telemetry"
)

// Services a node can run. "gateway" is the HTTP edge.
var AllServices = []string{"auth", "feed", "media", "notify", "gateway"}

// Config describes a node.
type Config struct {
	Engine    engine.Config
	HTTPAddr  string   // listen address of the HTTP server
	PublicURL *url.URL // base of URLs the API returns
	Services  []string // subset of AllServices
	Limits    *gateway.Limits
	Telemetry *telemetry.Telemetry
	// Streaming bounds the streaming API.
	Streaming gateway.StreamingLimits
	// VerifyPrivateLinks lets profile link verification reach loopback
	// and private addresses: tests only (see gateway.Config).
	VerifyPrivateLinks bool
	// MediaUnattachedTTL: uploads not attached within it are deleted
	// (0: a day).
	MediaUnattachedTTL time.Duration
	// FanoutThreshold: accounts with more followers are merged into home
	// timelines at read time (0: the feed default).
	FanoutThreshold int
	// Admin configures the admin API, draining and leader balancing
	// (admin.go).
	Admin AdminConfig
}

// ParseServices parses a comma-separated service list; "all" means every
// service.
func ParseServices(s string) ([]string, error) {
	if s == "" || s == "all" {
		return AllServices, nil
	}
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(AllServices, name) {
			return nil, fmt.Errorf("unknown service %q (want some of %s, or all)", name, strings.Join(AllServices, ","))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// Node is a running node.
type Node struct {
	cfg      Config
	tel      *telemetry.Telemetry
	eng      *engine.Engine
	ids      *engine.IDs
	http     *http.Server
	ln       net.Listener
	closers  []func()
	servers  []*remote.Server
	breakers []*remote.Breaker
	// partBreakers are the per-partition breakers of partitioned clients.
	partBreakers []func() []*remote.Breaker
	stopped      sync.Once
	admin        *admin // admin.go
	feed         *feed.Service
	notify       *notify.Service

	// The services as the gateway sees them.
	Auth   starling.AuthService
	Feed   starling.FeedService
	Notify starling.NotifyService
	Media  starling.MediaService
}

func (n *Node) runs(service string) bool { return slices.Contains(n.cfg.Services, service) }

// Start starts the engine, the services and the HTTP server. On error it
// stops whatever it had started.
func Start(ctx context.Context, cfg Config) (_ *Node, err error) {
	if cfg.Telemetry == nil {
		cfg.Telemetry = telemetry.Discard()
	}
	if cfg.Engine.Logger == nil {
		cfg.Engine.Logger = cfg.Telemetry.Log
	}
	if cfg.Engine.Tracer == nil {
		cfg.Engine.Tracer = cfg.Telemetry.Tracer
	}
	n := &Node{cfg: cfg, tel: cfg.Telemetry}
	defer func() {
		if err != nil {
			n.Shutdown(context.Background())
		}
	}()
	if n.eng, err = engine.Start(ctx, cfg.Engine); err != nil {
		return nil, err
	}
	n.closers = append(n.closers, n.eng.Close)
	if n.ids, err = n.eng.NewIDs(ctx); err != nil {
		return nil, err
	}
	n.closers = append(n.closers, n.ids.Close)
	nc := n.eng.Conn()

	// The public URL is known once the HTTP listener is.
	if cfg.HTTPAddr != "" {
		if n.ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return nil, fmt.Errorf("http listen: %w", err)
		}
	}
	if n.cfg.PublicURL == nil {
		n.cfg.PublicURL = defaultPublicURL(n.ln)
	}

	// Auth.
	if n.runs("auth") {
		svc, err := auth.New(ctx, auth.Config{Engine: n.eng, IDs: n.ids, Telemetry: n.tel, RenderNote: n.renderNote})
		if err != nil {
			return nil, fmt.Errorf("auth service: %w", err)
		}
		n.closers = append(n.closers, svc.Close)
		if err := n.serve(remote.ServeAuth(nc, n.tel, svc)); err != nil {
			return nil, err
		}
		n.Auth = svc
	} else {
		c := remote.NewAuthClient(nc, n.tel)
		n.breakers = append(n.breakers, c.Breaker())
		n.Auth = c
	}

	// Media.
	if n.runs("media") {
		svc, err := media.New(ctx, media.Config{Engine: n.eng, IDs: n.ids, Telemetry: n.tel, UnattachedTTL: cfg.MediaUnattachedTTL})
		if err != nil {
			return nil, fmt.Errorf("media service: %w", err)
		}
		n.closers = append(n.closers, svc.Close)
		if err := n.serve(remote.ServeMedia(nc, n.tel, svc)); err != nil {
			return nil, err
		}
		n.Media = svc
	} else {
		blobs, err := n.eng.Blobs(ctx, "media")
		if err != nil {
			return nil, err
		}
		c := remote.NewMediaClient(nc, n.tel, blobs, media.DefaultLimits())
		n.breakers = append(n.breakers, c.Breaker())
		n.Media = c
	}

	// Feed.
	nparts := cfg.Engine.Partitions
	if n.runs("feed") {
		fc := remote.NewFeedClient(nc, n.tel, nparts)
		n.partBreakers = append(n.partBreakers, fc.PartBreakers)
		svc, err := feed.New(ctx, feed.Config{Engine: n.eng, IDs: n.ids, Auth: n.Auth, Media: n.Media, Telemetry: n.tel,
			PublicURL: n.cfg.PublicURL, FanoutThreshold: cfg.FanoutThreshold, Member: cfg.Engine.NodeName,
			Remote: fc, Peers: remote.NewFeedPartitionsClient(nc, n.tel), Expose: n.exposeFeed})
		if err != nil {
			return nil, fmt.Errorf("feed service: %w", err)
		}
		n.closers = append(n.closers, svc.Close)
		n.feed = svc
		start := time.Now()
		if err := svc.WaitReady(ctx); err != nil {
			return nil, err
		}
		n.tel.Log.Info("feed view ready", "load", time.Since(start).Round(time.Millisecond), "partitions", svc.Held())
		if err := n.serve(remote.ServeFeed(nc, n.tel, svc)); err != nil {
			return nil, err
		}
		if err := n.serveRebuild(svc); err != nil {
			return nil, err
		}
		n.Feed = svc
		n.watchViewLag("feed-view", svc.ViewLag)
	} else {
		c := remote.NewFeedClient(nc, n.tel, nparts)
		n.breakers = append(n.breakers, c.Breaker())
		n.partBreakers = append(n.partBreakers, c.PartBreakers)
		n.Feed = c
	}

	// Notify.
	if n.runs("notify") {
		events, err := feed.NewEventSource(ctx, n.eng, n.tel)
		if err != nil {
			return nil, err
		}
		nc2 := remote.NewNotifyClient(nc, n.tel, nparts)
		n.partBreakers = append(n.partBreakers, nc2.PartBreakers)
		svc, err := notify.New(ctx, notify.Config{Engine: n.eng, IDs: n.ids, Feed: n.Feed, Events: events, Telemetry: n.tel,
			Member: cfg.Engine.NodeName, Remote: nc2, Expose: n.exposeNotify})
		if err != nil {
			return nil, fmt.Errorf("notify service: %w", err)
		}
		n.closers = append(n.closers, svc.Close)
		n.notify = svc
		if err := svc.WaitReady(ctx); err != nil {
			return nil, err
		}
		if err := n.serve(remote.ServeNotify(nc, n.tel, svc)); err != nil {
			return nil, err
		}
		n.Notify = svc
		n.watchViewLag("notify-view", svc.ViewLag)
	} else {
		c := remote.NewNotifyClient(nc, n.tel, nparts)
		n.breakers = append(n.breakers, c.Breaker())
		n.partBreakers = append(n.partBreakers, c.PartBreakers)
		n.Notify = c
	}

	// The HTTP server: the whole API with the gateway, operations
	// endpoints only without it.
	var handler http.Handler
	var gw *gateway.Server
	if n.runs("gateway") {
		cache, err := auth.NewTokenCache(n.eng, n.Auth, 100_000)
		if err != nil {
			return nil, err
		}
		n.closers = append(n.closers, cache.Close)
		gw = gateway.New(gateway.Config{
			PublicURL: n.cfg.PublicURL, Auth: cache, Feed: n.Feed, Notify: n.Notify, Media: n.Media,
			Telemetry: n.tel, Ready: n.Ready, Limits: cfg.Limits, Live: nc, Streaming: cfg.Streaming,
			VerifyPrivateLinks: cfg.VerifyPrivateLinks,
		})
		handler = gw
	} else {
		handler = n.opsHandler()
	}
	if handler, err = n.startAdmin(handler); err != nil {
		return nil, err
	}
	if n.ln != nil {
		ln := n.ln
		n.http = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
		if gw != nil {
			n.http.RegisterOnShutdown(gw.CloseStreams) // streams would hold the shutdown
		}
		go func() {
			if err := n.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				n.tel.Log.Error("http server stopped", "err", err)
			}
		}()
	}
	return n, nil
}

// exposeFeed serves a view partition of the local Feed instance to the
// other nodes, until the returned function is called.
func (n *Node) exposeFeed(p int, svc starling.FeedService, parts starling.FeedPartitions) (func(), error) {
	srv, err := remote.ServeFeedPartition(n.eng.Conn(), n.tel, p, svc, parts)
	if err != nil {
		return nil, err
	}
	return func() { _ = srv.Stop() }, nil
}

// exposeNotify serves a notify partition of the local instance to the
// other nodes, until the returned function is called.
func (n *Node) exposeNotify(p int, svc starling.NotifyService) (func(), error) {
	srv, err := remote.ServeNotifyPartition(n.eng.Conn(), n.tel, p, svc)
	if err != nil {
		return nil, err
	}
	return func() { _ = srv.Stop() }, nil
}

func (n *Node) serve(s *remote.Server, err error) error {
	if err != nil {
		return err
	}
	n.servers = append(n.servers, s)
	return nil
}

// opsHandler serves liveness (/healthz, /livez), readiness and metrics on
// nodes without a gateway.
func (n *Node) opsHandler() http.Handler {
	mux := http.NewServeMux()
	alive := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}
	mux.HandleFunc("GET /healthz", alive)
	mux.HandleFunc("GET /livez", alive)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := n.Ready(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, `{"status":"unavailable"}`)
			return
		}
		_, _ = w.Write([]byte(`{"status":"ready"}`))
	})
	mux.Handle("GET /metrics", n.tel.Metrics.Handler())
	return mux
}

// URL returns the base URL the HTTP server listens on.
func (n *Node) URL() string {
	if n.ln == nil {
		return ""
	}
	return "http://" + n.ln.Addr().String()
}

// renderNote renders a bio like a status: paragraphs, links and hashtags
// (mentions stay text: the Auth service does not resolve accounts for it).
func (n *Node) renderNote(text string) string {
	base := strings.TrimRight(n.cfg.PublicURL.String(), "/")
	return content.Render(text, content.Options{BaseURL: base, Host: n.cfg.PublicURL.Host}).HTML
}

// PublicURL returns the base of the URLs the API returns.
func (n *Node) PublicURL() string { return strings.TrimRight(n.cfg.PublicURL.String(), "/") }

// defaultPublicURL is http://localhost:<port> for a loopback or wildcard
// listener, and http://<ip>:<port> otherwise.
func defaultPublicURL(ln net.Listener) *url.URL {
	if ln == nil {
		return &url.URL{Scheme: "http", Host: "localhost:8080"}
	}
	addr := ln.Addr().(*net.TCPAddr)
	host := "localhost"
	if !addr.IP.IsLoopback() && !addr.IP.IsUnspecified() {
		host = addr.IP.String()
	}
	return &url.URL{Scheme: "http", Host: net.JoinHostPort(host, fmt.Sprint(addr.Port))}
}

// Engine returns the node's engine.
func (n *Node) Engine() *engine.Engine { return n.eng }

// Ready reports whether the engine answers and every service this node
// uses has a live instance and a closed circuit breaker. A partitioned
// service counts as down when the breakers of all the partitions called
// are open; one partition between holders, or on a sick node, does not
// take the node out of service.
func (n *Node) Ready(ctx context.Context) error {
	if err := n.eng.Healthy(ctx); err != nil {
		return err
	}
	for _, b := range n.breakers {
		if b.State() == remote.Open {
			return fmt.Errorf("circuit breaker open for the %s service", b.Service())
		}
	}
	for _, parts := range n.partBreakers {
		bs := parts()
		open := 0
		for _, b := range bs {
			if b.State() == remote.Open {
				open++
			}
		}
		if len(bs) > 0 && open == len(bs) {
			return fmt.Errorf("circuit breakers open for every partition of the %s service called (%s...)", strings.Split(bs[0].Service(), "-p")[0], bs[0].Service())
		}
	}
	for _, name := range AllServices {
		if name == "gateway" || n.runs(name) || !n.used(name) {
			continue
		}
		if err := ping(ctx, n.eng.Conn(), name); err != nil {
			return err
		}
	}
	return nil
}

// used reports whether this node calls service (only the gateway calls
// others, for now).
func (n *Node) used(service string) bool {
	switch service {
	case "auth":
		return n.runs("gateway") || n.runs("feed")
	case "feed":
		return n.runs("gateway") || n.runs("notify")
	case "media":
		return n.runs("gateway") || n.runs("feed")
	case "notify":
		return n.runs("gateway")
	}
	return false
}

// watchViewLag publishes, every two seconds until shutdown, how many
// messages the ordered consumers feeding an in-memory view (the feed view,
// whose consumption is the fan-out, and the notify view) have not yet
// delivered, as the consumer gauges of consumer name. Ordered consumers
// acknowledge nothing and never redeliver: those two gauges stay 0.
func (n *Node) watchViewLag(name string, lag func(context.Context) uint64) {
	m := n.tel.Metrics
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			lctx, lcancel := context.WithTimeout(ctx, time.Second)
			v := lag(lctx)
			lcancel()
			m.ConsumerPend.WithLabelValues(name).Set(float64(v))
			m.ConsumerAckP.WithLabelValues(name).Set(0)
			m.ConsumerRedel.WithLabelValues(name).Set(0)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	n.closers = append(n.closers, func() { cancel(); <-done })
}

// ping asks the micro service discovery whether an instance of service
// answers.
func ping(ctx context.Context, nc *nats.Conn, service string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := nc.RequestWithContext(ctx, "$SRV.PING.starling-"+service, nil); err != nil {
		return fmt.Errorf("%s service unreachable: %w", service, err)
	}
	return nil
}

// Shutdown stops accepting requests, waits for in-flight ones (until ctx
// ends), stops serving services, then stops the engine.
func (n *Node) Shutdown(ctx context.Context) {
	n.stopped.Do(func() {
		if n.http != nil {
			if err := n.http.Shutdown(ctx); err != nil {
				n.tel.Log.Warn("http shutdown", "err", err)
				_ = n.http.Close()
			}
		} else if n.ln != nil {
			_ = n.ln.Close()
		}
		for _, s := range n.servers {
			_ = s.Stop()
		}
		for i := len(n.closers) - 1; i >= 0; i-- {
			n.closers[i]()
		}
	})
}
