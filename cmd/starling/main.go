// Command starling runs a Starling node and its tools.
//
//	starling serve      run a node (the default: everything in one process)
//	starling bench      the load tool: measure any Mastodon-compatible server
//	starling version    print the version
//
// Every flag can also be set with an environment variable STARLING_<FLAG>,
// e.g. STARLING_PUBLIC_URL for --public-url.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/starling-social/starling/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starling:", err)
		os.Exit(1)
	}
}

// run is the whole program: main only supplies the process's context,
// arguments, environment and standard streams, so tests can drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		return runServe(ctx, nil, getenv, stdout, stderr)
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "version", "--version", "-v":
		return runVersion(stdout)
	case "bench":
		if len(rest) > 0 && rest[0] == "generate" {
			return runGenerate(ctx, rest[1:], getenv, stdout, stderr)
		}
		return bench.Main(ctx, rest, getenv, stdout, stderr)
	case "cluster":
		return runCluster(ctx, rest, getenv, stdout, stderr)
	case "status":
		return runStatus(ctx, rest, getenv, stdout, stderr)
	case "node":
		return runNode(ctx, rest, getenv, stdout, stderr)
	case "chaos":
		return runChaos(ctx, rest, getenv, stdout, stderr)
	case "admin":
		return runAdmin(ctx, rest, getenv, stdout, stderr)
	case "help", "--help", "-h":
		usage(stdout)
		return nil
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", cmd)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: starling <command> [flags]

Commands:
  serve     run a node: the engine, the services and the HTTP gateway
  bench     measure a Mastodon-compatible server (setup, run, ceiling, compare)
  cluster   cluster up: start N local nodes on loopback (development, tests)
  status    show a cluster's nodes, partition leaders, replicas and lag (admin token)
  node      node drain: move a node's leaderships away and stop it (admin token)
  chaos     run the fault-injection soak against a local cluster
  admin     admin rebuild: rebuild every node's derived data (timelines, counters) from the source of truth
  version   print the version

Run "starling <command> -h" for a command's flags. Every flag can also be
set with the environment variable STARLING_<FLAG> (upper case, '-' as '_').
`)
}
