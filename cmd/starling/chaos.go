package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/starling-social/starling/chaos"
)

// runChaos runs `starling chaos`: a seeded fault-injection soak against a
// local cluster of this binary (docs/consistency.md, "Testing it").
func runChaos(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("starling chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 10*time.Minute, "how long to inject faults")
	seed := fs.Uint64("seed", 1, "seed of the operation and fault choices (the same seed repeats the same plan)")
	nodes := fs.Int("nodes", 3, "cluster size")
	users := fs.Int("users", 24, "accounts created before the faults start")
	workers := fs.Int("workers", 6, "concurrent operations")
	rate := fs.Float64("rate", 30, "operations per second (0: as fast as possible)")
	data := fs.String("data", "", "directory for the cluster's data and logs (default: a temporary one, removed afterwards)")
	quiet := fs.Bool("quiet", false, "print only the report")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	logf := func(format string, a ...any) {
		if !*quiet {
			fmt.Fprintf(stdout, time.Now().Format("15:04:05 ")+format+"\n", a...)
		}
	}
	rep, err := chaos.Soak(ctx, chaos.SoakOptions{Nodes: *nodes, Dir: *data, Env: testMainEnv(getenv),
		Duration: *duration, Seed: *seed, Users: *users, Workers: *workers, Rate: *rate,
		Args: []string{"--log-level", "info"}, Logf: logf})
	if rep != nil {
		fmt.Fprint(stdout, rep)
	}
	if err != nil {
		return fmt.Errorf("chaos (seed %d): %w", *seed, err)
	}
	if len(rep.Stats.Errors) > 0 {
		return fmt.Errorf("chaos (seed %d): unexpected refusals: %s", *seed, strings.Join(rep.Stats.Errors, "; "))
	}
	return nil
}
