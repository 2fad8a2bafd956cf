package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/gateway"
	"github.com/starling-social/starling/node"
	"github.com/starling-social/starling/telemetry"
)

// serveFlags holds `starling serve`'s configuration.
type serveFlags struct {
	data, httpAddr, publicURL, natsListen, natsURL, natsToken string
	nodeName, cluster, peers, services, fsync                 string
	replicas, partitions, fanoutThreshold                     int
	logLevel, logFormat, traceExporter                        string
	limits                                                    gateway.Limits
	streaming                                                 gateway.StreamingLimits
	drainTimeout                                              time.Duration
	admin                                                     adminFlags // admin_flags.go
	debugListen                                               string
	checkConfig                                               bool
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	host, _ := os.Hostname()
	fs.StringVar(&f.data, "data", "./starling-data", "directory for the embedded engine's data")
	fs.StringVar(&f.httpAddr, "http", ":8080", "HTTP listen address of the gateway")
	fs.StringVar(&f.publicURL, "public-url", "", "base URL of every URL the API returns (default http://localhost:<http port>)")
	fs.StringVar(&f.natsListen, "nats-listen", "127.0.0.1:4222", "client address of the embedded NATS server (loopback unless --nats-token is set)")
	fs.StringVar(&f.natsURL, "nats-url", "", "use this NATS server (another node's or an external cluster) instead of embedding one")
	fs.StringVar(&f.natsToken, "nats-token", "", "token that NATS clients and routes must present")
	fs.StringVar(&f.nodeName, "node-name", host, "this node's name in the cluster (stable across restarts)")
	fs.StringVar(&f.cluster, "cluster", "", "cluster (route) listen address, host:port, to join other nodes")
	fs.StringVar(&f.peers, "peers", "", "comma-separated route addresses of the other nodes")
	fs.IntVar(&f.replicas, "replicas", 1, "copies of each stream the cluster keeps")
	fs.IntVar(&f.partitions, "partitions", engine.DefaultPartitions, "partitions of each table (fixed for the life of the data)")
	fs.IntVar(&f.fanoutThreshold, "fanout-threshold", 10_000, "accounts with more followers are merged into home timelines at read time instead of fanned out")
	fs.StringVar(&f.services, "services", "all", "services this node runs: all, or a comma-separated subset of auth,feed,media,notify,gateway")
	fs.StringVar(&f.fsync, "fsync", "always", "when the engine flushes writes to disk: always (before acknowledging) or an interval such as 1s")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&f.logFormat, "log-format", "json", "log format: json or text")
	fs.StringVar(&f.traceExporter, "trace-exporter", "", "where spans go: none, stdout, file:PATH, otlp (default otlp when OTEL_EXPORTER_OTLP_ENDPOINT is set, else none)")
	fs.StringVar(&f.debugListen, "debug-listen", "", "opt-in listener for net/http/pprof profiles, e.g. 127.0.0.1:6060 (never expose it)")
	fs.BoolVar(&f.checkConfig, "check-config", false, "check the flags and environment, print the configuration and exit without starting")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 20*time.Second, "how long SIGINT/SIGTERM waits for in-flight requests")
	fs.IntVar(&f.streaming.MaxSockets, "max-sockets", 10_000, "streaming connections (WebSocket and server-sent events) this node holds at most; past it, 503")
	fs.IntVar(&f.streaming.MaxPerAccount, "max-sockets-per-account", 64, "streaming connections one account holds at most on this node; past it, 429")
	f.admin.register(fs)
	f.limits = gateway.DefaultLimits()
	rate := func(name string, r *gateway.Rate, usage string) {
		fs.Func(name, usage+" (N/period or off; default "+r.String()+")", func(s string) error {
			v, err := gateway.ParseRate(s)
			*r = v
			return err
		})
	}
	rate("ratelimit-token", &f.limits.Token, "requests per access token")
	rate("ratelimit-ip", &f.limits.IP, "requests per IP without a token")
	rate("ratelimit-signup", &f.limits.SignUp, "sign-ups per IP")
	rate("ratelimit-signin", &f.limits.SignIn, "sign-in attempts per IP")
	rate("ratelimit-media", &f.limits.Media, "media uploads per account")
	rate("ratelimit-delete", &f.limits.Delete, "deletions per account")
	fs.Func("ratelimit", "off disables every rate limit (benchmarks)", func(s string) error {
		if s != "off" {
			return errors.New("only 'off' is accepted")
		}
		f.limits.Token, f.limits.IP, f.limits.SignUp, f.limits.SignIn, f.limits.Media, f.limits.Delete = gateway.Rate{}, gateway.Rate{}, gateway.Rate{}, gateway.Rate{}, gateway.Rate{}, gateway.Rate{}
		return nil
	})
	fs.Func("max-inflight", "in-flight caps per route class, e.g. read=1024,write=512,auth=64,media=32", func(s string) error {
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(kv, "=")
			var n int
			if _, err := fmt.Sscan(v, &n); !ok || err != nil || n <= 0 {
				return fmt.Errorf("bad cap %q", kv)
			}
			f.limits.Inflight[k] = n
		}
		return nil
	})
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("starling serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f serveFlags
	f.register(fs)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	level, err := parseLevel(f.logLevel)
	if err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if f.checkConfig {
		return f.check(stdout)
	}
	log := telemetry.NewLogger(stderr, f.logFormat, level)
	exporter := f.traceExporter
	if exporter == "" && getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" {
		exporter = "otlp"
	}
	tel, err := telemetry.New(ctx, log, telemetry.TraceConfig{Exporter: exporter, Endpoint: getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), Node: f.nodeName}, stdout)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = tel.Shutdown(sctx)
		cancel()
	}()

	cfg, err := f.nodeConfig(tel, log)
	if err != nil {
		return err
	}
	n, err := node.Start(ctx, cfg)
	if err != nil {
		return err
	}
	if f.debugListen != "" {
		stop, addr, err := startDebug(f.debugListen)
		if err != nil {
			n.Shutdown(context.Background())
			return fmt.Errorf("--debug-listen: %w", err)
		}
		defer stop()
		log.Info("profiling listener started", "addr", addr)
	}
	log.Info("node started", "node", cfg.Engine.NodeName, "http", n.URL(), "public_url", n.PublicURL(), "services", strings.Join(cfg.Services, ","), "version", starling.Version)
	if n.URL() != "" {
		fmt.Fprintf(stdout, "Starling is ready. Open %s in a browser.\nlistening on %s\n", n.PublicURL(), n.URL())
	}
	if cfg.Engine.URL == "" {
		fmt.Fprintf(stdout, "engine listening on %s\n", n.Engine().ClientURL())
	}
	select {
	case <-ctx.Done():
	case <-n.Done(): // drained through the admin API
		log.Info("stopped after drain")
		return nil
	}
	log.Info("shutting down", "drain_timeout", f.drainTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), f.drainTimeout)
	defer cancel()
	n.Drain(sctx)
	log.Info("stopped")
	return nil
}

func (f *serveFlags) nodeConfig(tel *telemetry.Telemetry, log *slog.Logger) (node.Config, error) {
	services, err := node.ParseServices(f.services)
	if err != nil {
		return node.Config{}, fmt.Errorf("--services: %w", err)
	}
	ec := engine.DefaultConfig(f.data)
	ec.NodeName = f.nodeName
	ec.Listen = f.natsListen
	ec.URL = f.natsURL
	ec.Token = starling.Secret(f.natsToken)
	ec.ClusterListen = f.cluster
	if f.peers != "" {
		ec.Peers = strings.Split(f.peers, ",")
	}
	ec.Replicas = f.replicas
	ec.Partitions = f.partitions
	ec.Logger = log
	switch f.fsync {
	case "always":
		ec.FsyncAlways = true
	default:
		d, err := time.ParseDuration(f.fsync)
		if err != nil || d <= 0 {
			return node.Config{}, fmt.Errorf("--fsync %q: want always or a duration", f.fsync)
		}
		ec.FsyncInterval = d
	}
	if err := ec.Validate(); err != nil {
		return node.Config{}, err
	}
	if f.streaming.MaxSockets < 1 || f.streaming.MaxPerAccount < 1 {
		return node.Config{}, errors.New("--max-sockets and --max-sockets-per-account: want at least 1")
	}
	cfg := node.Config{Engine: ec, HTTPAddr: f.httpAddr, Services: services, Limits: &f.limits, Streaming: f.streaming, Telemetry: tel, FanoutThreshold: f.fanoutThreshold}
	cfg.Admin = f.admin.config()
	if f.publicURL != "" {
		u, err := url.Parse(f.publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return node.Config{}, fmt.Errorf("--public-url %q: want an absolute http(s) URL", f.publicURL)
		}
		cfg.PublicURL = u
	}
	if _, _, err := net.SplitHostPort(f.httpAddr); f.httpAddr != "" && err != nil {
		return node.Config{}, fmt.Errorf("--http %q: %w", f.httpAddr, err)
	}
	return cfg, nil
}

// check validates the configuration the way a start would, without
// starting anything (no listener, no data written), and prints it: what a
// deployment's manifests and CI use to prove their flags are right.
func (f *serveFlags) check(stdout io.Writer) error {
	cfg, err := f.nodeConfig(telemetry.Discard(), slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	switch e := f.traceExporter; {
	case e == "", e == "none", e == "stdout", e == "otlp", strings.HasPrefix(e, "file:"):
	default:
		return fmt.Errorf("--trace-exporter %q: want none, stdout, file:PATH or otlp", e)
	}
	ec := cfg.Engine
	engineAt := "embedded, data in " + ec.DataDir + ", clients on " + ec.Listen
	if ec.URL != "" {
		engineAt = "external, " + ec.URL
	}
	fmt.Fprintf(stdout, "configuration ok\nnode      %s\nservices  %s\nhttp      %s\nengine    %s\n",
		ec.NodeName, strings.Join(cfg.Services, ","), cfg.HTTPAddr, engineAt)
	if ec.ClusterListen != "" {
		fmt.Fprintf(stdout, "cluster   routes on %s, peers %s, replicas %d, partitions %d\n",
			ec.ClusterListen, strings.Join(ec.Peers, ","), ec.Replicas, ec.Partitions)
	}
	return nil
}
