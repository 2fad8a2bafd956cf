// Package engine wires Starling to its engine, NATS with JetStream: it embeds
// a NATS server (alone, or joined to others by routes) or connects to an
// external one, and it creates the partitioned tables every service stores
// its data in. Nothing above this package starts servers or names streams.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/starling-social/starling"
)

// Config says how a node reaches its engine. The zero value is not usable;
// start from DefaultConfig.
type Config struct {
	// NodeName names this node in the cluster; it must be stable across
	// restarts and unique among nodes.
	NodeName string
	// DataDir holds the embedded server's JetStream files.
	DataDir string
	// Listen is the client address of the embedded server (host:port; port
	// -1 picks a free one).
	Listen string
	// URL, when set, connects to an existing NATS server (another node's
	// or an external cluster) instead of embedding one.
	URL string
	// Token authenticates clients (and routes) of the embedded server and
	// this node's connection. Required when Listen is not loopback.
	Token starling.Secret
	// ClusterListen and Peers join the embedded server to others with
	// routes. Empty ClusterListen means a single node.
	ClusterListen string
	Peers         []string
	ClusterName   string
	// Replicas is how many copies of each stream the cluster keeps.
	Replicas int
	// Partitions is how many streams each partitioned table is split into.
	// It is fixed for the life of the data: see docs/architecture.md.
	Partitions int
	// FsyncAlways makes every write reach the disk before it is
	// acknowledged; otherwise the engine flushes every FsyncInterval.
	FsyncAlways   bool
	FsyncInterval time.Duration
	// Logger receives the engine's log lines.
	Logger *slog.Logger
	// Tracer records a span for every table operation (nil: none).
	Tracer trace.Tracer
}

// DefaultPartitions is the number of partitions of every partitioned table.
const DefaultPartitions = 8

// DefaultConfig returns a single-node configuration storing data in dir.
func DefaultConfig(dir string) Config {
	host, _ := os.Hostname()
	return Config{
		NodeName:      sanitizeName(host),
		DataDir:       dir,
		Listen:        "127.0.0.1:4222",
		ClusterName:   "starling",
		Replicas:      1,
		Partitions:    DefaultPartitions,
		FsyncInterval: time.Second,
		Logger:        slog.Default(),
	}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	if c.NodeName == "" || sanitizeName(c.NodeName) != c.NodeName {
		return fmt.Errorf("node name %q: use letters, digits, '-' and '_'", c.NodeName)
	}
	if c.Partitions < 1 || c.Partitions > 64 {
		return fmt.Errorf("partitions %d: must be 1..64", c.Partitions)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		return fmt.Errorf("replicas %d: must be 1..5", c.Replicas)
	}
	if c.URL != "" {
		return nil
	}
	if c.DataDir == "" {
		return errors.New("a data directory is required")
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("nats listen address %q: %w", c.Listen, err)
	}
	if !isLoopback(host) && c.Token == "" {
		return fmt.Errorf("nats listen address %q is not loopback: set a token (--nats-token) so strangers cannot reach the engine", c.Listen)
	}
	if c.ClusterListen == "" && len(c.Peers) > 0 {
		return errors.New("peers need a cluster listen address (--cluster)")
	}
	if c.ClusterListen != "" {
		chost, _, err := net.SplitHostPort(c.ClusterListen)
		if err != nil {
			return fmt.Errorf("cluster listen address %q: %w", c.ClusterListen, err)
		}
		if !isLoopback(chost) && c.Token == "" {
			return fmt.Errorf("cluster listen address %q is not loopback: set a token (--nats-token) so strangers cannot join the cluster", c.ClusterListen)
		}
	}
	if c.ClusterListen != "" && c.Replicas > len(c.Peers)+1 {
		return fmt.Errorf("replicas %d needs at least %d nodes, %d are configured", c.Replicas, c.Replicas, len(c.Peers)+1)
	}
	return nil
}

// Engine is a node's handle on NATS: its connection, JetStream context and,
// when embedded, the server. It is safe for concurrent use.
type Engine struct {
	cfg    Config
	tracer trace.Tracer
	log    *slog.Logger
	srv    *server.Server // nil when connected to an external server
	nc     *nats.Conn
	js     jetstream.JetStream
	closed sync.Once

	mu        sync.Mutex
	listeners []func(connected bool)
	pinned    map[string]bool // streams whose leaders balancing leaves alone

	clusterOnce sync.Once
	cl          *clusterState // see cluster.go
}

// Start starts (or connects to) the engine and waits until JetStream answers.
// The caller must Close the Engine.
func Start(ctx context.Context, cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	e := &Engine{cfg: cfg, log: cfg.Logger.With("component", "engine"), tracer: cfg.Tracer}
	if e.tracer == nil {
		e.tracer = noop.NewTracerProvider().Tracer("")
	}
	if cfg.URL == "" {
		if err := e.startServer(); err != nil {
			return nil, err
		}
	}
	if err := e.connect(); err != nil {
		e.Close()
		return nil, err
	}
	if err := e.waitJetStream(ctx); err != nil {
		e.Close()
		return nil, err
	}
	e.watchCluster()
	return e, nil
}

func (e *Engine) startServer() error {
	host, portStr, _ := net.SplitHostPort(e.cfg.Listen)
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("nats listen port %q: %w", portStr, err)
	}
	opts := &server.Options{
		ServerName:             e.cfg.NodeName,
		Host:                   host,
		Port:                   port,
		JetStream:              true,
		StoreDir:               filepath.Join(e.cfg.DataDir, "jetstream"),
		NoSigs:                 true,
		SyncAlways:             e.cfg.FsyncAlways,
		SyncInterval:           e.cfg.FsyncInterval,
		MaxPayload:             4 << 20,
		LameDuckDuration:       5 * time.Second,
		LameDuckGracePeriod:    time.Second,
		DisableJetStreamBanner: true,
	}
	if e.cfg.Token != "" {
		opts.Authorization = e.cfg.Token.Reveal()
	}
	if e.cfg.ClusterListen != "" {
		chost, cportStr, err := net.SplitHostPort(e.cfg.ClusterListen)
		if err != nil {
			return fmt.Errorf("cluster listen address %q: %w", e.cfg.ClusterListen, err)
		}
		cport, err := strconv.Atoi(cportStr)
		if err != nil {
			return fmt.Errorf("cluster listen port %q: %w", cportStr, err)
		}
		opts.Cluster = server.ClusterOpts{Name: e.cfg.ClusterName, Host: chost, Port: cport,
			PingInterval: routePingInterval, MaxPingsOut: routeMaxPingsOut}
		if e.cfg.Token != "" {
			opts.Cluster.Username = "route"
			opts.Cluster.Password = e.cfg.Token.Reveal()
		}
		var routes []string
		for _, p := range e.cfg.Peers {
			if e.cfg.Token != "" {
				routes = append(routes, "nats://route:"+e.cfg.Token.Reveal()+"@"+p)
			} else {
				routes = append(routes, "nats://"+p)
			}
		}
		opts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("start nats server: %w", err)
	}
	srv.SetLoggerV2(&natsLogger{log: e.cfg.Logger.With("component", "nats")}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return errors.New("nats server did not become ready in 30s (is the port in use?)")
	}
	e.srv = srv
	e.log.Info("engine started", "node", e.cfg.NodeName, "nats", srv.ClientURL(), "data", opts.StoreDir,
		"cluster", e.cfg.ClusterListen, "fsync_always", e.cfg.FsyncAlways, "fsync_interval", e.cfg.FsyncInterval)
	return nil
}

func (e *Engine) connect() error {
	opts := []nats.Option{
		nats.Name("starling-" + e.cfg.NodeName),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(8 << 20),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			e.log.Warn("engine connection lost", "err", err)
			e.notify(false)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			e.log.Info("engine connection restored", "url", nc.ConnectedUrlRedacted())
			e.notify(true)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			e.log.Warn("engine async error", "subject", subj, "err", err)
			if errors.Is(err, nats.ErrSlowConsumer) {
				// A dropped message may have been an invalidation:
				// caches must start over.
				e.notify(false)
				e.notify(true)
			}
		}),
	}
	if e.cfg.Token != "" {
		opts = append(opts, nats.Token(e.cfg.Token.Reveal()))
	}
	url := e.cfg.URL
	if e.srv != nil {
		// Colocated services talk to the embedded server in process:
		// no TCP, no TLS, same semantics.
		opts = append(opts, nats.InProcessServer(e.srv))
		url = e.srv.ClientURL()
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("connect to nats %s: %w", redactURL(url), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return fmt.Errorf("jetstream: %w", err)
	}
	e.nc, e.js = nc, js
	return nil
}

// waitJetStream waits until the JetStream API answers (in a cluster, until a
// meta leader is elected).
func (e *Engine) waitJetStream(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := e.js.AccountInfo(actx)
		acancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("jetstream not ready: %w", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Conn returns the node's NATS connection.
func (e *Engine) Conn() *nats.Conn { return e.nc }

// JetStream returns the node's JetStream context.
func (e *Engine) JetStream() jetstream.JetStream { return e.js }

// Server returns the embedded server, or nil when connected to an external one.
func (e *Engine) Server() *server.Server { return e.srv }

// Config returns the configuration the engine was started with.
func (e *Engine) Config() Config { return e.cfg }

// NodeName returns this node's name.
func (e *Engine) NodeName() string { return e.cfg.NodeName }

// ClientURL returns the URL other nodes can use to reach this engine, or the
// external URL this node uses.
func (e *Engine) ClientURL() string {
	if e.srv != nil {
		return e.srv.ClientURL()
	}
	return e.cfg.URL
}

// OnConnectionChange registers f to be called when the connection to the
// engine is lost (false) or restored (true). Caches use it to drop state that
// invalidation messages may have missed.
func (e *Engine) OnConnectionChange(f func(connected bool)) {
	e.mu.Lock()
	e.listeners = append(e.listeners, f)
	e.mu.Unlock()
}

func (e *Engine) notify(connected bool) {
	e.mu.Lock()
	ls := append([]func(bool){}, e.listeners...)
	e.mu.Unlock()
	for _, f := range ls {
		f(connected)
	}
}

// Healthy reports whether the engine answers JetStream requests within ctx.
func (e *Engine) Healthy(ctx context.Context) error {
	if e.nc == nil || !e.nc.IsConnected() {
		return starling.Unavailablef(time.Second, "engine disconnected")
	}
	if err := e.quorumErr(); err != nil {
		return err
	}
	if _, err := e.js.AccountInfo(ctx); err != nil {
		return starling.Wrap(starling.Unavailable, "engine not ready", err)
	}
	return nil
}

// Close drains the connection and stops the embedded server. In a cluster
// the server first hands its stream leaderships to other nodes (lame duck).
func (e *Engine) Close() {
	e.closed.Do(func() {
		if e.nc != nil {
			_ = e.nc.Drain()
			deadline := time.Now().Add(5 * time.Second)
			for !e.nc.IsClosed() && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			e.nc.Close()
		}
		if e.srv != nil {
			if e.cfg.ClusterListen != "" {
				e.srv.LameDuckShutdown()
			}
			e.srv.Shutdown()
			e.srv.WaitForShutdown()
			e.log.Info("engine stopped")
		}
	})
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sanitizeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	if b.Len() == 0 {
		return "starling"
	}
	return b.String()
}

func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "[REDACTED]" + u[i:]
		}
	}
	return u
}

// natsLogger sends the embedded server's log lines to slog.
type natsLogger struct{ log *slog.Logger }

func (l *natsLogger) Noticef(format string, v ...any) { l.log.Info(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Tracef(format string, v ...any)  {}
