package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/starling-social/starling/cluster"
)

// runCluster runs `starling cluster <subcommand>`.
func runCluster(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "up" {
		fmt.Fprint(stderr, "Usage: starling cluster up --nodes N --data DIR [flags] [-- serve flags]\n")
		return errors.New("unknown cluster command (want: up)")
	}
	return runClusterUp(ctx, args[1:], getenv, stdout, stderr)
}

// runClusterUp starts N local nodes on loopback, prints their URLs and
// stops them all when ctx ends (Ctrl-C).
func runClusterUp(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("starling cluster up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.Int("nodes", 3, "how many nodes to start")
	data := fs.String("data", "./starling-cluster", "directory for the nodes' data and logs (DIR/node-<i>, DIR/node-<i>.log)")
	replicas := fs.Int("replicas", 0, "copies of each stream (default min(3, nodes))")
	partitions := fs.Int("partitions", 0, "partitions of each table (default: serve's)")
	logs := fs.Bool("logs", false, "also copy the nodes' logs to standard error")
	restart := fs.Bool("restart", false, "restart a node that exits (e.g. after `starling node drain`)")
	// Flags after "--" go to every node's `serve`.
	var serveArgs []string
	for i, a := range args {
		if a == "--" {
			serveArgs = args[i+1:]
			args = args[:i]
			break
		}
	}
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	dir, err := filepath.Abs(*data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	token, err := adminTokenFile(filepath.Join(dir, "admin-token"))
	if err != nil {
		return err
	}
	opts := cluster.Options{Nodes: *nodes, Dir: dir, Replicas: *replicas, Partitions: *partitions,
		AdminToken: token, Args: serveArgs, Env: testMainEnv(getenv)}
	if *logs {
		opts.Stderr = stderr
	}
	l, err := cluster.New(opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "starting %d nodes in %s ...\n", *nodes, dir)
	start := time.Now()
	startErr := l.Start(ctx)
	defer func() {
		fmt.Fprintln(stdout, "stopping every node ...")
		l.StopAll(30 * time.Second)
		fmt.Fprintln(stdout, "stopped")
	}()
	if startErr != nil {
		return startErr
	}
	fmt.Fprintf(stdout, "cluster ready in %v (replicas %d)\n", time.Since(start).Round(100*time.Millisecond), l.Replicas())
	for _, n := range l.Nodes() {
		fmt.Fprintf(stdout, "%s  %s  engine %s  routes %s  log %s\n", n.Name, n.URL(), n.NATSURL(), n.ClusterAddr(), n.LogPath)
	}
	fmt.Fprintf(stdout, "admin token in %s:\n  STARLING_ADMIN_TOKEN=$(cat %s) starling status --url %s\n",
		filepath.Join(dir, "admin-token"), filepath.Join(dir, "admin-token"), l.Node(0).URL())
	fmt.Fprintln(stdout, "Ctrl-C stops every node.")
	for {
		var exited []<-chan struct{}
		var idx []int
		for _, n := range l.Nodes() {
			if n.Running() {
				exited = append(exited, n.Exited())
				idx = append(idx, n.Index)
			}
		}
		if len(exited) == 0 {
			return errors.New("every node has exited")
		}
		select {
		case <-ctx.Done():
			return nil
		case k := <-firstClosed(exited):
			n := l.Node(idx[k])
			fmt.Fprintf(stdout, "%s exited\n", n.Name)
			if !*restart {
				continue
			}
			time.Sleep(time.Second)
			if err := l.Restart(ctx, n.Index); err != nil {
				fmt.Fprintf(stdout, "%s: restart failed: %v\n", n.Name, err)
			} else {
				fmt.Fprintf(stdout, "%s restarted: %s\n", n.Name, n.URL())
			}
		}
	}
}

// testMainEnv passes STARLING_TEST_MAIN on to the nodes a command starts,
// so that a test binary standing in for starling (see TestMain) runs main.
func testMainEnv(getenv func(string) string) []string {
	if getenv("STARLING_TEST_MAIN") == "1" {
		return []string{"STARLING_TEST_MAIN=1"}
	}
	return nil
}

// adminTokenFile returns the admin token stored in path, creating a random
// one (mode 0600) the first time.
func adminTokenFile(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	return tok, nil
}

func firstClosed(chs []<-chan struct{}) <-chan int {
	out := make(chan int, len(chs))
	for i, ch := range chs {
		go func() {
			<-ch
			out <- i
		}()
	}
	return out
}
