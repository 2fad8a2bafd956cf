package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/starling-social/starling/node"
)

// runAdmin runs `starling admin <command>`.
func runAdmin(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rebuild" {
		fmt.Fprintln(stderr, "Usage: starling admin rebuild --nats-url URL [--nats-token TOKEN]")
		return errors.New("unknown admin command")
	}
	fs := flag.NewFlagSet("starling admin rebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("nats-url", "nats://127.0.0.1:4222", "the engine of the cluster (any node's NATS client URL)")
	token := fs.String("nats-token", "", "token the engine requires")
	timeout := fs.Duration("timeout", 10*time.Minute, "how long to wait for every Feed instance")
	if err := parseFlags(fs, args[1:], getenv); err != nil {
		return err
	}
	opts := []nats.Option{nats.Name("starling-admin")}
	if *token != "" {
		opts = append(opts, nats.Token(*token))
	}
	nc, err := nats.Connect(*url, opts...)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", *url, err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	reports, err := node.Rebuild(ctx, nc)
	for _, r := range reports {
		status := "rebuilt"
		if r.Error != "" {
			status = "failed: " + r.Error
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s in %.2fs\n", r.Node, r.Service, status, r.Seconds)
	}
	return err
}
