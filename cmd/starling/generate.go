package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/bench"
	"github.com/starling-social/starling/bench/datagen"
	"github.com/starling-social/starling/engine"
)

// runGenerate runs `starling bench generate`: a synthetic data set written
// straight into the tables of a stopped node's data directory (or of an
// engine reached by URL), and a bench state file whose accounts and tokens
// `starling bench run` uses.
func runGenerate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("starling bench generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./starling-data", "the data directory of a stopped node to write into (its engine is started here)")
	natsURL := fs.String("nats-url", "", "write through this engine instead (a running node's or an external cluster's)")
	natsToken := fs.String("nats-token", "", "token the engine at --nats-url requires")
	partitions := fs.Int("partitions", engine.DefaultPartitions, "partitions of each table (as the nodes will use)")
	accounts := fs.Int("accounts", 100_000, "accounts")
	follows := fs.Int("follows", 5_000_000, "follows (about)")
	statuses := fs.Int("statuses", 1_000_000, "statuses")
	favourites := fs.Int("favourites", 1_000_000, "favourites (about)")
	seed := fs.Uint64("seed", 1, "seed of the model")
	publicURL := fs.String("public-url", "http://localhost:8080", "the nodes' public URL (links in statuses)")
	target := fs.String("target", "", "gateway URL to record in the state file (default: --public-url)")
	state := fs.String("state", "bench-state.json", "state file to write for `starling bench run`")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	pub, err := url.Parse(*publicURL)
	if err != nil {
		return fmt.Errorf("--public-url: %w", err)
	}
	if *target == "" {
		*target = *publicURL
	}
	ec := engine.DefaultConfig(*data)
	ec.NodeName, ec.Partitions, ec.Listen = "generate", *partitions, "127.0.0.1:-1"
	ec.FsyncInterval = 10 * time.Second // bulk writes; the engine flushes when it stops
	ec.Logger = slog.New(slog.DiscardHandler)
	if *natsURL != "" {
		ec.URL, ec.Token = *natsURL, starling.Secret(*natsToken)
	}
	eng, err := engine.Start(ctx, ec)
	if err != nil {
		return err
	}
	defer eng.Close()
	res, err := datagen.Generate(ctx, eng, datagen.Config{Accounts: *accounts, Follows: *follows, Statuses: *statuses,
		Favourites: *favourites, Seed: *seed, PublicURL: pub,
		Progress: func(format string, a ...any) {
			fmt.Fprintf(stdout, time.Now().Format("15:04:05.000 ")+format+"\n", a...)
		}})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d records in %v: %d accounts, %d follows (most followed: %d followers; most following: %d), %d statuses (%d replies, %d reblogs, %d with hashtags; most by one account: %d), %d favourites\n",
		res.Records, res.Took.Round(time.Second), len(res.Users), res.Follows, res.MaxFollowers, res.MaxFollowing,
		res.Statuses, res.Replies, res.Reblogs, res.Tagged, res.MaxStatuses, res.Favourites)
	st := &bench.State{Version: bench.StateVersion, Targets: []string{*target}, Graph: fmt.Sprintf("generated:%d:%d", *accounts, *follows), Seed: *seed,
		Follows: res.Follows, Created: time.Now().UTC()}
	for _, u := range res.Users {
		st.Users = append(st.Users, bench.User{ID: u.ID.String(), Username: u.Username, Token: u.Token.Reveal()})
	}
	if err := st.Save(*state); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "accounts and tokens in %s\n", *state)
	return nil
}
