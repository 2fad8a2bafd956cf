package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Main runs the load tool with command-line args (everything after "starling bench"), printing to stdout/stderr.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if len(args) == 0 {
		usage(stderr)
		return errors.New("bench: missing command")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "setup":
		return mainSetup(ctx, rest, getenv, stdout, stderr)
	case "run":
		return mainRun(ctx, rest, getenv, stdout, stderr)
	case "ceiling":
		return mainCeiling(ctx, rest, getenv, stdout, stderr)
	case "compare", "--compare", "-compare":
		return mainCompare(rest, stdout, stderr)
	case "help", "-h", "--help", "-help":
		usage(stdout)
		return nil
	}
	usage(stderr)
	return fmt.Errorf("bench: unknown command %q", cmd)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: starling bench <command> [flags]

Load-tests any server that speaks the Mastodon client API, so that one run
measures Starling and another measures a peer the same way.

Commands:
  setup     create (or adopt) accounts, follows and seed posts; resumable
  run       offer a workload (open or closed loop) and report throughput,
            latency percentiles and errors per operation
  ceiling   serve one captured response from a plain Go HTTP server: the
            fastest answer this machine can give, to report a server against
  compare   print B's throughput and latency as ratios of A's:
            starling bench compare A.json B.json

Example:
  starling bench setup --target http://localhost:8080 --graph reed98
  starling bench run --workload deathstar --rate 500 --json starling.json
  starling bench run --workload home --connections 64 --ceiling
  starling bench setup --target http://gts:8080 --tokens gts.tokens --state gts.json
  starling bench run --state gts.json --workload deathstar --rate 500 --json gts-run.json
  starling bench compare gts-run.json starling.json

Run "starling bench <command> -h" for a command's flags. Every flag can also
be set with the environment variable STARLING_BENCH_<FLAG> (upper case, '-'
as '_'), e.g. STARLING_BENCH_TARGET.
`)
}

// listFlag is a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// sizeFlag is a size in bytes: 65536, 64k, 64KiB, 1M, 1MiB.
type sizeFlag int

func (s *sizeFlag) String() string { return strconv.Itoa(int(*s)) }

func (s *sizeFlag) Set(v string) error {
	mult := 1
	num := strings.TrimSpace(v)
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"KB", 1000}, {"MB", 1000 * 1000}, {"k", 1 << 10}, {"K", 1 << 10}, {"M", 1 << 20}, {"B", 1}} {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSuffix(num, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n < 0 {
		return fmt.Errorf("bad size %q", v)
	}
	*s = sizeFlag(n * mult)
	return nil
}

// newFlags returns a flag set whose usage text prints to the right stream.
func newFlags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("starling bench "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: starling bench %s [flags]\n\n%s\nFlags (also STARLING_BENCH_<FLAG>):\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs, then fills every flag not given on the
// command line from the environment variable STARLING_BENCH_<NAME>. It
// returns the names of the flags that were set either way. -h prints the
// usage to stdout and returns flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string, stdout, stderr io.Writer) (map[string]bool, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil, err
		}
		fmt.Fprintf(stderr, "%v\n\n", err)
		fs.SetOutput(stderr)
		fs.Usage()
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := "STARLING_BENCH_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s: %w", env, serr)
			}
			set[f.Name] = true
		}
	})
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return set, err
}

// helpOK turns -h into success.
func helpOK(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func mainSetup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("setup", `Creates the accounts of a follow graph through the Mastodon API (or adopts
existing ones from --tokens), makes every follow of the graph and gives each
account its seed posts. Progress goes to the state file as it happens, so
running setup again after an interruption (Ctrl-C, crash, failed requests)
does only what is left. Requests answered 429 or 503 are retried after the
Retry-After the server asks for. A progress line is printed every second.
Flags left out on a rerun take the state file's values.

Graphs: reed98 (962 accounts, 37,624 follows), facebook (4,039 accounts,
176,468 follows), powerlaw:N (N accounts, power-law follower counts with a
few very large accounts; deterministic for a --seed), none:N (no follows;
with --tokens, "none" means every token).
`)
	var targets listFlag
	var tokens, graph, datasets, state, prefix, emailDomain, password string
	var seed uint64
	var posts, conc int
	var timeout time.Duration
	var insecure, quiet bool
	fs.Var(&targets, "target", "base `URL` of the server (repeat or comma-separate for several gateways of one cluster)")
	fs.StringVar(&tokens, "tokens", "", "`FILE` of existing accounts, one \"username token\" per line, instead of signing up")
	fs.StringVar(&graph, "graph", "", "follow graph: reed98, facebook, powerlaw:N or none:N (default reed98)")
	fs.StringVar(&datasets, "datasets", "", "`DIR` holding the datasets (default: shared/datasets in the working directory or above)")
	fs.Uint64Var(&seed, "seed", 0, "seed of the generated graph and post texts (default 1)")
	fs.IntVar(&posts, "posts-per-user", 10, "seed posts per account")
	fs.StringVar(&state, "state", "bench-state.json", "state `FILE`, created or resumed")
	fs.IntVar(&conc, "concurrency", defaultConcurrency, "requests in flight")
	fs.StringVar(&prefix, "prefix", "", "username prefix (default random, kept in the state)")
	fs.StringVar(&emailDomain, "email-domain", "", "domain of the sign-up e-mail addresses (default example.com)")
	fs.StringVar(&password, "password", "", "password of the accounts signed up (default a fixed one)")
	fs.DurationVar(&timeout, "timeout", defaultSetupTimeout, "per-request timeout")
	fs.BoolVar(&insecure, "insecure", false, "do not verify TLS certificates")
	fs.BoolVar(&quiet, "quiet", false, "no progress lines")
	set, err := parseFlags(fs, args, getenv, stdout, stderr)
	if err != nil {
		return helpOK(err)
	}
	cfg := SetupConfig{Targets: targets, Graph: graph, Datasets: datasets, Seed: seed, PostsPerUser: posts, StatePath: state,
		Concurrency: conc, Prefix: prefix, EmailDomain: emailDomain, Password: password, Timeout: timeout, Insecure: insecure}
	if !quiet {
		cfg.Progress = stderr
	}
	if tokens != "" {
		if cfg.Tokens, err = ReadTokens(tokens); err != nil {
			return err
		}
	}
	if old, err := LoadState(state); err == nil && !set["posts-per-user"] {
		cfg.PostsPerUser = old.PostsPerUser
	}
	st, err := Setup(ctx, cfg)
	if st != nil {
		ready, _ := st.ReadyUsers()
		posts := 0
		for _, u := range st.Users {
			posts += min(u.Posts, st.PostsPerUser)
		}
		fmt.Fprintf(stdout, "setup %s: %d/%d accounts, %d/%d follows, %d/%d posts on %s; state in %s\n",
			map[bool]string{true: "done", false: "incomplete"}[err == nil], len(ready), len(st.Users), st.FollowsDone.Count(), st.Follows,
			posts, len(st.Users)*st.PostsPerUser, strings.Join(st.Targets, ","), state)
	}
	return err
}

func mainRun(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("run", `Offers a workload to the accounts of a state file and reports successful
requests per second, latency percentiles (p50/p90/p99/p99.9/max) and errors
by HTTP status or failure per operation: "timeout" (no answer within
--timeout), "connection" (refused, reset...), "dropped" (open loop: over
--max-inflight, never sent), "canceled" (interrupted), "lost" (stream event
that never arrived), "invalid" (a 2xx answer that could not be used).

Load models:
  --rate R          open loop: requests are due at a constant R per second
                    and latency counts from when each was due, so stalls
                    are charged in full (no coordinated omission); at most
                    --max-inflight outstanding, beyond that "dropped"
  --connections N   closed loop: N workers each send the next request when
                    the previous one is answered (default: 16)

Workloads (--workload):
  deathstar  60% home timeline, 30% an account's statuses, 10% compose
             (256 random characters and 1-2 mentions); accounts uniform
  read       home timeline and account statuses, 2:1
  write      compose only
  home       home timeline only (GET /api/v1/timelines/home?limit=10)
  account    account statuses only
  media      upload a generated JPEG (POST /api/v2/media), poll until ready
  stream     fan-out: --sockets sockets on the user stream of accounts that
             follow a poster, which posts at --rate (default 10/s); latency
             is from sending a post to its update event on each socket
or --mix home=60,account=30,compose=10 (operations home, account, compose,
media) for any other weights.
`)
	var targets listFlag
	var state, workload, mixSpec, jsonPath, streamingURL string
	var rate float64
	var conns, maxIn, sockets, pageSize int
	var duration, warmup, timeout, mediaPoll, mediaWait time.Duration
	mediaSize := sizeFlag(defaultMediaSize)
	var seed uint64
	var ceiling, insecure, quiet bool
	fs.StringVar(&state, "state", "bench-state.json", "state `FILE` written by setup")
	fs.Var(&targets, "target", "base `URL` to load instead of the state's (repeat or comma-separate)")
	fs.StringVar(&workload, "workload", "deathstar", "deathstar, read, write, home, account, media or stream")
	fs.StringVar(&mixSpec, "mix", "", "custom weights instead of --workload, e.g. home=60,account=30,compose=10")
	fs.Float64Var(&rate, "rate", 0, "open loop: requests (stream: posts) per second")
	fs.IntVar(&conns, "connections", 0, "closed loop: concurrent workers (default 16 unless --rate)")
	fs.IntVar(&pageSize, "limit", 10, "page size of timeline requests (DeathStarBench uses 10)")
	fs.IntVar(&maxIn, "max-inflight", defaultMaxInflight, "open loop: requests in flight before further ones are dropped")
	fs.DurationVar(&duration, "duration", 30*time.Second, "measured part of the run")
	fs.DurationVar(&warmup, "warmup", 5*time.Second, "load offered before measuring, not counted")
	fs.DurationVar(&timeout, "timeout", defaultTimeout, "per-request timeout")
	fs.StringVar(&jsonPath, "json", "", "also write the report as JSON to `FILE`")
	fs.BoolVar(&ceiling, "ceiling", false, "home workload: then run the same load against a plain Go server answering the same bytes, and print the ratio")
	fs.Var(&mediaSize, "media-size", "media: bytes of each generated JPEG (e.g. 256KiB)")
	fs.DurationVar(&mediaPoll, "media-poll", 50*time.Millisecond, "media: interval between GET /api/v1/media/:id polls")
	fs.DurationVar(&mediaWait, "media-wait", 30*time.Second, "media: longest wait for processing before \"timeout\"")
	fs.IntVar(&sockets, "sockets", defaultSockets, "stream: WebSocket connections")
	fs.StringVar(&streamingURL, "streaming-url", "", "stream: streaming base URL (default from GET /api/v2/instance)")
	fs.Uint64Var(&seed, "seed", 1, "seed of the random choices")
	fs.BoolVar(&insecure, "insecure", false, "do not verify TLS certificates")
	fs.BoolVar(&quiet, "quiet", false, "no progress lines")
	if _, err := parseFlags(fs, args, getenv, stdout, stderr); err != nil {
		return helpOK(err)
	}
	if duration <= 0 {
		return errors.New("--duration must be positive")
	}
	var mix Mix
	if mixSpec != "" {
		var err error
		if mix, err = ParseMix(mixSpec); err != nil {
			return err
		}
		workload = "custom"
	}
	st, err := LoadState(state)
	if err != nil {
		return fmt.Errorf("read state (run setup first): %w", err)
	}
	cfg := RunConfig{PageSize: pageSize, State: st, Mix: mix, Targets: targets, Workload: workload, Rate: rate, Connections: conns, MaxInflight: maxIn,
		Duration: duration, Warmup: warmup, Timeout: timeout, MediaSize: int(mediaSize), MediaPoll: mediaPoll, MediaWait: mediaWait,
		Sockets: sockets, StreamingURL: streamingURL, Seed: seed, Ceiling: ceiling, Insecure: insecure,
		Command: append([]string{"starling", "bench", "run"}, args...)}
	if rate == 0 && conns == 0 && workload != "stream" {
		cfg.Connections = defaultConcurrency
	}
	if !quiet {
		cfg.Progress = stderr
	}
	rep, err := Run(ctx, cfg)
	if rep != nil {
		rep.WriteText(stdout)
		if jsonPath != "" {
			if serr := rep.Save(jsonPath); serr != nil && err == nil {
				err = serr
			}
		}
	}
	return err
}

func mainCeiling(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("ceiling", `Fetches one response (--capture URL with --token; by default the home
timeline of the state's first account) and serves the same bytes with the
same Content-Type on every path from a plain net/http handler, until
interrupted. Load it with "starling bench run --target URL --workload home"
to see the fastest a Go HTTP server answers on this machine.
`)
	var capture, token, listen, state string
	var insecure bool
	fs.StringVar(&capture, "capture", "", "`URL` whose response to serve (default: the state's first account's home timeline)")
	fs.StringVar(&token, "token", "", "bearer token for --capture")
	fs.StringVar(&listen, "listen", "127.0.0.1:0", "listen address")
	fs.StringVar(&state, "state", "bench-state.json", "state `FILE`, when --capture is not given")
	fs.BoolVar(&insecure, "insecure", false, "do not verify TLS certificates")
	if _, err := parseFlags(fs, args, getenv, stdout, stderr); err != nil {
		return helpOK(err)
	}
	if capture == "" {
		st, err := LoadState(state)
		if err != nil {
			return fmt.Errorf("no --capture URL and no state: %w", err)
		}
		ready, index := st.ReadyUsers()
		if len(ready) == 0 {
			return errors.New("the state has no accounts")
		}
		capture, token = st.TargetOf(index[0])+"/api/v1/timelines/home?limit=10", ready[0].Token
	}
	client := &http.Client{Transport: newTransport(1, insecure), Timeout: defaultTimeout}
	body, ctype, err := Capture(ctx, client, capture, token)
	if err != nil {
		return err
	}
	srv, err := StartCeiling(listen, body, ctype)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ceiling: serving %d bytes of %s (from %s) at %s\n", len(body), ctype, capture, srv.URL)
	fmt.Fprintf(stdout, "load it with: starling bench run --target %s --workload home\n", srv.URL)
	return srv.Wait(ctx)
}

func mainCompare(args []string, stdout, stderr io.Writer) error {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprintln(stdout, "Usage: starling bench compare A.json B.json\n\nPrints, per operation, B's throughput and latency percentiles as ratios of A's\n(from run --json): throughput above ×1 and latency below ×1 mean B did better.")
		return nil
	}
	if len(args) != 2 {
		fmt.Fprintln(stderr, "Usage: starling bench compare A.json B.json")
		return errors.New("compare needs two reports")
	}
	a, err := LoadReport(args[0])
	if err != nil {
		return err
	}
	b, err := LoadReport(args[1])
	if err != nil {
		return err
	}
	Compare(stdout, a, b, args[0], args[1])
	return nil
}
