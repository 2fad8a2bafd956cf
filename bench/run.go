package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// RunConfig says what load Run offers. Unlike the command line, Run applies
// no defaults to Duration and Warmup: they are taken as given.
type RunConfig struct {
	State *State // the accounts, from Setup or LoadState
	// Targets, if set, replace the state's gateways (e.g. a ceiling server).
	Targets []string
	// Workload names a mix (deathstar, read, write, home, account, media) or
	// the stream scenario; Mix, if set, is used instead. Default deathstar.
	Workload string
	Mix      Mix
	// Rate > 0 runs an open loop offering Rate requests per second;
	// otherwise Connections workers run a closed loop.
	Rate        float64
	Connections int
	MaxInflight int           // open loop: in flight before "dropped"; default 1024
	Duration    time.Duration // measured part; must be > 0
	Warmup      time.Duration // sent but not counted in the results
	Timeout     time.Duration // per request; default 10s
	// PageSize is the limit of timeline requests (default 10, as in
	// DeathStarBench).
	PageSize int
	// Media: size of the generated JPEG (default 256 KiB), interval between
	// polls (default 50ms) and how long processing may take (default 30s).
	MediaSize int
	MediaPoll time.Duration
	MediaWait time.Duration
	// Stream: sockets to open (default 100) and the streaming base URL
	// (default: from GET /api/v2/instance).
	Sockets      int
	StreamingURL string
	Seed         uint64 // random choices; 0 means 1
	// Ceiling also runs the same load against a plain Go server answering the
	// first account's home timeline bytes (home workload only).
	Ceiling  bool
	Insecure bool
	Progress io.Writer // a line a second; nil for none
	Command  []string  // recorded in the report
}

const (
	defaultMaxInflight = 1024
	defaultTimeout     = 10 * time.Second
	defaultMediaSize   = 256 << 10
	defaultSockets     = 100
	defaultStreamRate  = 10
)

// runner is one Run.
type runner struct {
	cfg        RunConfig
	label      string // progress lines start with it
	mix        Mix
	picker     picker
	targetURLs []string
	targets    []runTarget
	users      []runUser
	client     *http.Client
	base       *http.Request // template of every measured request; carries the run's context
	execFn     func(context.Context, *worker, job) int

	stats [numOps]*opStats
	lag   [histShards]Histogram // open loop: actual minus intended send time
	used  [numOps]bool          // reported

	start         time.Time
	warmup, total time.Duration
	inflight      atomic.Int64

	media  *mediaRun
	stream *streamRun
}

// Run offers the configured load to the target and reports what happened.
// It stops by itself after Warmup+Duration (plus the time the last requests
// take, bounded by Timeout) or when ctx ends; then it returns the partial
// report, marked Interrupted, with ctx's error.
func Run(ctx context.Context, cfg RunConfig) (*Report, error) {
	r, err := newRunner(cfg, "run")
	if err != nil {
		return nil, err
	}
	defer r.client.CloseIdleConnections()
	rep, err := r.run(ctx)
	if err != nil || !cfg.Ceiling {
		return rep, err
	}
	u := &r.users[0]
	body, ctype, err := Capture(ctx, r.client, r.targets[u.target].home.String(), u.token)
	if err != nil {
		return rep, fmt.Errorf("ceiling: %w", err)
	}
	srv, err := StartCeiling("127.0.0.1:0", body, ctype)
	if err != nil {
		return rep, fmt.Errorf("ceiling: %w", err)
	}
	defer srv.Close()
	ccfg := cfg
	ccfg.Targets, ccfg.Ceiling = []string{srv.URL}, false
	cr, err := newRunner(ccfg, "ceiling")
	if err != nil {
		return rep, err
	}
	defer cr.client.CloseIdleConnections()
	rep.Ceiling, err = cr.run(ctx)
	if rep.Ceiling != nil {
		rep.CeilingRatio = ratio(rep.Overall.Throughput, rep.Ceiling.Overall.Throughput)
	}
	return rep, err
}

func newRunner(cfg RunConfig, label string) (*runner, error) {
	r := &runner{cfg: cfg, label: label}
	switch {
	case cfg.State == nil:
		return nil, errors.New("no state: run setup first")
	case cfg.Duration <= 0:
		return nil, errors.New("duration must be positive")
	case cfg.Warmup < 0:
		return nil, errors.New("warm-up must not be negative")
	case cfg.Rate < 0 || cfg.Connections < 0 || cfg.MaxInflight < 0 || cfg.Sockets < 0 || cfg.MediaSize < 0:
		return nil, errors.New("rate, connections, max in-flight, sockets and media size must not be negative")
	case cfg.Rate > 0 && cfg.Connections > 0:
		return nil, errors.New("give a rate (open loop) or connections (closed loop), not both")
	}
	if r.cfg.Workload == "" {
		r.cfg.Workload = "deathstar"
	}
	if len(cfg.Mix) > 0 {
		r.mix = cfg.Mix
		if cfg.Workload == "" {
			r.cfg.Workload = "custom"
		}
	} else if r.cfg.Workload == "stream" {
		if cfg.Connections > 0 {
			return nil, errors.New("the stream workload posts at a rate: use --rate, not --connections")
		}
		if r.cfg.Rate == 0 {
			r.cfg.Rate = defaultStreamRate
		}
		if r.cfg.Sockets == 0 {
			r.cfg.Sockets = defaultSockets
		}
	} else if spec, ok := workloads[r.cfg.Workload]; ok {
		r.mix, _ = ParseMix(spec)
	} else {
		return nil, fmt.Errorf("unknown workload %q (want deathstar, read, write, home, account, media or stream)", cfg.Workload)
	}
	if r.cfg.Rate == 0 && r.cfg.Connections == 0 {
		return nil, errors.New("give a rate (open loop) or connections (closed loop)")
	}
	if cfg.Ceiling && (len(r.mix) != 1 || r.mix[0].Op != "home") {
		return nil, errors.New("--ceiling needs the home workload: the ceiling server only knows the home timeline's bytes")
	}
	if r.cfg.MaxInflight == 0 {
		r.cfg.MaxInflight = defaultMaxInflight
	}
	if r.cfg.Timeout <= 0 {
		r.cfg.Timeout = defaultTimeout
	}
	if r.cfg.Seed == 0 {
		r.cfg.Seed = 1
	}
	r.targetURLs = slices.Clone(cfg.Targets)
	if len(r.targetURLs) == 0 {
		r.targetURLs = slices.Clone(cfg.State.Targets)
	}
	for i, t := range r.targetURLs {
		r.targetURLs[i] = strings.TrimRight(t, "/")
	}
	if len(r.targetURLs) == 0 {
		return nil, errors.New("no target")
	}
	if err := r.prepareUsers(cfg.State); err != nil {
		return nil, err
	}
	conns := r.cfg.Connections
	if r.cfg.Rate > 0 {
		conns = r.cfg.MaxInflight
	}
	r.client = &http.Client{Transport: newTransport(conns, cfg.Insecure), Timeout: r.cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for op := range r.stats {
		r.stats[op] = &opStats{name: opNames[op], phase: op == opMediaUpload || op == opMediaProcessing || op == opStreamPost}
	}
	r.execFn = r.exec
	if r.cfg.Workload == "stream" {
		r.used[opStream], r.used[opStreamPost] = true, true
	} else {
		r.picker = newPicker(r.mix)
		for _, w := range r.mix {
			r.used[opIndex(w.Op)] = true
		}
		if r.used[opMedia] {
			r.used[opMediaUpload], r.used[opMediaProcessing] = true, true
		}
	}
	return r, nil
}

// run prepares the scenario, runs the loop and builds the report.
func (r *runner) run(ctx context.Context) (*Report, error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.base = (&http.Request{Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}).WithContext(runCtx)
	r.warmup, r.total = r.cfg.Warmup, r.cfg.Warmup+r.cfg.Duration
	if r.used[opMedia] {
		m, err := newMediaRun(r)
		if err != nil {
			return nil, err
		}
		r.media = m
	}
	if r.cfg.Workload == "stream" {
		s, err := newStreamRun(runCtx, r)
		if err != nil {
			return nil, err
		}
		r.stream = s
		r.execFn = s.post
		defer s.close()
	}

	rep := &Report{Command: r.cfg.Command, Date: time.Now().UTC(), Targets: r.targetURLs, Workload: r.cfg.Workload,
		Users: len(r.users), Duration: r.cfg.Duration.Seconds(), Warmup: r.cfg.Warmup.Seconds(), Timeout: r.cfg.Timeout.Seconds()}
	if len(r.mix) > 0 {
		rep.Mix = r.mix.String()
	}
	if r.media != nil {
		rep.MediaSize = r.media.size
	}
	if r.stream != nil {
		rep.Sockets, rep.Connected = r.cfg.Sockets, len(r.stream.conns)
	}
	if r.cfg.Rate > 0 {
		rep.Model, rep.Rate, rep.MaxInflight = "open", r.cfg.Rate, r.cfg.MaxInflight
	} else {
		rep.Model, rep.Connections = "closed", r.cfg.Connections
	}

	user0, sys0 := cpuTime()
	r.start = time.Now()
	stopProgress := r.progress()
	if r.cfg.Rate > 0 {
		r.openLoop(runCtx)
	} else {
		r.closedLoop(runCtx)
	}
	ran := min(time.Since(r.start), r.total)
	if r.stream != nil {
		r.stream.settle(runCtx)
	}
	stopProgress()
	wall := time.Since(r.start)
	user1, sys1 := cpuTime()

	rep.Interrupted = ctx.Err() != nil
	rep.Measured = max(ran-r.warmup, 0).Seconds()
	overall := &opStats{name: "overall"}
	for op, s := range r.stats {
		if !r.used[op] {
			continue
		}
		rep.Ops = append(rep.Ops, s.report(rep.Measured))
		if !s.phase {
			overall.add(s)
		}
	}
	rep.Overall = overall.report(rep.Measured)
	cpu := (user1 - user0) + (sys1 - sys0)
	rep.Tool = ToolUsage{CPUUser: (user1 - user0).Seconds(), CPUSystem: (sys1 - sys0).Seconds(),
		CPUPercent: 100 * cpu.Seconds() / wall.Seconds(), GoMaxProcs: runtime.GOMAXPROCS(0), GoVersion: runtime.Version()}
	if r.cfg.Rate > 0 {
		var lag Histogram
		for i := range r.lag {
			lag.Merge(&r.lag[i])
		}
		l := latencyOf(&lag)
		rep.Tool.SendLag = &l
	}
	return rep, ctx.Err()
}
