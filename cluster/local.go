// Package cluster runs and operates Starling clusters: Local starts N
// `starling serve` processes on loopback (or on addresses a caller
// provides, such as network namespaces), and Admin talks to a node's admin
// API (status, drain). `starling cluster up`, `starling status`,
// `starling node drain`, the chaos harness and the cluster tests use it.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configures a local cluster.
type Options struct {
	// Nodes is how many nodes to start (default 3).
	Nodes int
	// Dir holds each node's data (Dir/node-<i>) and log (Dir/node-<i>.log).
	Dir string
	// Command runs starling: the binary and any arguments before "serve"
	// (default: this executable).
	Command []string
	// Env is added to every node's environment: this process's, minus the
	// STARLING_* settings that differ per node (see perNodeSettings).
	Env []string
	// Replicas defaults to min(3, Nodes); Partitions to the serve default.
	Replicas, Partitions int
	// AdminToken is given to every node (through the environment).
	AdminToken string
	// Args are extra `serve` flags for every node (e.g. --ratelimit off).
	Args []string
	// Hosts, when set, gives node i's route (cluster) host and HTTPHosts
	// its HTTP host (default: its route host; 127.0.0.1 for all). Prefix,
	// when set, returns a command prefix for node i (such as
	// "ip netns exec ns1"): then every node uses the same fixed ports.
	Hosts, HTTPHosts []string
	Prefix           func(i int) []string
	// HTTP is the client used to poll readiness (default: a plain client).
	HTTP *http.Client
	// ReadyTimeout bounds each node's start (default 90 s).
	ReadyTimeout time.Duration
	// Stderr, when set, also receives every node's output lines.
	Stderr io.Writer
}

// Node is one node of a local cluster.
type Node struct {
	Index       int // 0-based
	Name        string
	Host        string // route host
	HTTPHost    string
	HTTPPort    int
	NATSPort    int
	ClusterPort int
	Dir         string
	LogPath     string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// URL returns the node's gateway base URL.
func (n *Node) URL() string {
	return "http://" + net.JoinHostPort(n.HTTPHost, strconv.Itoa(n.HTTPPort))
}

// NATSURL returns the node's engine client URL (loopback of its host).
func (n *Node) NATSURL() string {
	return "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(n.NATSPort))
}

// ClusterAddr returns the node's route address.
func (n *Node) ClusterAddr() string {
	return net.JoinHostPort(n.Host, strconv.Itoa(n.ClusterPort))
}

// Running reports whether the node's process is alive.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.exited == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Exited is closed when the current process exits.
func (n *Node) Exited() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.exited
}

// Local is a cluster of local processes.
type Local struct {
	opts  Options
	nodes []*Node
	mu    sync.Mutex
}

var (
	portsMu sync.Mutex
	given   = map[int]bool{} // ports FreePorts handed out in this process
)

// FreePorts returns n distinct free TCP ports on host, never one it
// returned before in this process (a node restarted later reuses its own).
func FreePorts(host string, n int) ([]int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var ports []int
	for len(ports) < n && len(ls) < n+200 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, err
		}
		ls = append(ls, l) // held until all are picked: no duplicates
		p := l.Addr().(*net.TCPAddr).Port
		if !given[p] {
			given[p] = true
			ports = append(ports, p)
		}
	}
	if len(ports) < n {
		return nil, errors.New("no free ports")
	}
	return ports, nil
}

// New prepares a cluster (ports, directories) without starting it.
func New(opts Options) (*Local, error) {
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Nodes < 1 || opts.Nodes > 32 {
		return nil, fmt.Errorf("nodes %d: must be 1..32", opts.Nodes)
	}
	if opts.Dir == "" {
		return nil, errors.New("a data directory is required")
	}
	if len(opts.Command) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		opts.Command = []string{exe}
	}
	if opts.Replicas == 0 {
		opts.Replicas = min(3, opts.Nodes)
	}
	if opts.HTTP == nil {
		opts.HTTP = &http.Client{Timeout: 3 * time.Second}
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 90 * time.Second
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	l := &Local{opts: opts}
	for i := 0; i < opts.Nodes; i++ {
		if _, err := l.addNode(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *Local) addNode() (*Node, error) {
	i := len(l.nodes)
	host := "127.0.0.1"
	if i < len(l.opts.Hosts) {
		host = l.opts.Hosts[i]
	}
	n := &Node{Index: i, Name: fmt.Sprintf("node-%d", i+1), Host: host, HTTPHost: host}
	if i < len(l.opts.HTTPHosts) {
		n.HTTPHost = l.opts.HTTPHosts[i]
	}
	if l.opts.Prefix != nil {
		// Namespaced nodes have their own port space: fixed ports.
		n.HTTPPort, n.NATSPort, n.ClusterPort = 8080, 4222, 6222
	} else {
		ports, err := FreePorts(host, 3)
		if err != nil {
			return nil, fmt.Errorf("pick ports: %w", err)
		}
		n.HTTPPort, n.NATSPort, n.ClusterPort = ports[0], ports[1], ports[2]
	}
	n.Dir = filepath.Join(l.opts.Dir, n.Name)
	n.LogPath = filepath.Join(l.opts.Dir, n.Name+".log")
	l.nodes = append(l.nodes, n)
	return n, nil
}

// Nodes returns the nodes.
func (l *Local) Nodes() []*Node {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Node(nil), l.nodes...)
}

// Node returns node i.
func (l *Local) Node(i int) *Node { return l.Nodes()[i] }

// URLs returns every node's gateway URL.
func (l *Local) URLs() []string {
	var out []string
	for _, n := range l.Nodes() {
		out = append(out, n.URL())
	}
	return out
}

// Start starts every node that is not running and waits until all are ready.
func (l *Local) Start(ctx context.Context) error {
	for _, n := range l.Nodes() {
		if !n.Running() {
			if err := l.spawn(n, l.peersOf(n)); err != nil {
				return err
			}
		}
	}
	for _, n := range l.Nodes() {
		if err := l.WaitReady(ctx, n.Index); err != nil {
			return err
		}
	}
	return nil
}

// peersOf lists the route addresses of the other nodes.
func (l *Local) peersOf(n *Node) []string {
	var peers []string
	for _, o := range l.Nodes() {
		if o != n {
			peers = append(peers, o.ClusterAddr())
		}
	}
	return peers
}

// Args returns the `serve` arguments of node n.
func (l *Local) Args(n *Node, peers []string) []string {
	args := []string{"serve",
		"--node-name", n.Name,
		"--data", n.Dir,
		"--http", net.JoinHostPort(n.HTTPHost, strconv.Itoa(n.HTTPPort)),
		"--nats-listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(n.NATSPort)),
		"--replicas", strconv.Itoa(l.opts.Replicas),
	}
	if len(peers) > 0 {
		args = append(args, "--cluster", n.ClusterAddr(), "--peers", strings.Join(peers, ","))
	}
	if l.opts.Partitions > 0 {
		args = append(args, "--partitions", strconv.Itoa(l.opts.Partitions))
	}
	return append(args, l.opts.Args...)
}

// perNodeSettings are the STARLING_* variables a node must not inherit from
// the caller's environment: they differ per node, or would point every node
// at the same engine or public URL.
var perNodeSettings = []string{"STARLING_DATA", "STARLING_HTTP", "STARLING_NATS_LISTEN", "STARLING_NODE_NAME", "STARLING_CLUSTER",
	"STARLING_PEERS", "STARLING_PUBLIC_URL", "STARLING_NATS_URL", "STARLING_REPLICAS"}

func (l *Local) spawn(n *Node, peers []string) error {
	if len(peers) == 0 && l.opts.Nodes > 1 {
		return fmt.Errorf("%s has no peers", n.Name)
	}
	argv := append([]string{}, l.opts.Command...)
	argv = append(argv, l.Args(n, peers)...)
	if l.opts.Prefix != nil {
		argv = append(l.opts.Prefix(n.Index), argv...)
	}
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "---- %s starting %s\n", time.Now().UTC().Format(time.RFC3339Nano), n.Name)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = os.Environ()
	for _, k := range perNodeSettings {
		if _, set := os.LookupEnv(k); set {
			cmd.Env = append(cmd.Env, k+"=") // the last value of a key wins
		}
	}
	cmd.Env = append(cmd.Env, l.opts.Env...)
	if l.opts.AdminToken != "" {
		cmd.Env = append(cmd.Env, "STARLING_ADMIN_TOKEN="+l.opts.AdminToken)
	}
	var out io.Writer = logf
	if l.opts.Stderr != nil {
		out = io.MultiWriter(logf, &prefixWriter{w: l.opts.Stderr, prefix: n.Name + " | "})
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group: a terminal's Ctrl-C reaches `cluster up`, which
	// stops the nodes in order, not every node at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	exited := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.exited, n.err = cmd, exited, nil
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		n.mu.Lock()
		n.err = err
		n.mu.Unlock()
		close(exited)
	}()
	return nil
}

// WaitReady waits until node i's /readyz answers 200.
func (l *Local) WaitReady(ctx context.Context, i int) error {
	n := l.Node(i)
	ctx, cancel := context.WithTimeout(ctx, l.opts.ReadyTimeout)
	defer cancel()
	exited := n.Exited()
	for {
		if l.ready(ctx, n) {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited before it was ready (%v); log:\n%s", n.Name, n.err, Tail(n.LogPath, 40))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w; log:\n%s", n.Name, ctx.Err(), Tail(n.LogPath, 40))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (l *Local) ready(ctx context.Context, n *Node) bool {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(rctx, "GET", n.URL()+"/readyz", nil)
	resp, err := l.opts.HTTP.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == 200
}

// Restart starts node i again (it must have stopped) and waits until it is
// ready.
func (l *Local) Restart(ctx context.Context, i int) error {
	n := l.Node(i)
	if n.Running() {
		return fmt.Errorf("%s is still running", n.Name)
	}
	if err := l.spawn(n, l.peersOf(n)); err != nil {
		return err
	}
	return l.WaitReady(ctx, i)
}

// Join adds a node to the running cluster (the others learn of it through
// the routes) and waits until it is ready.
func (l *Local) Join(ctx context.Context) (*Node, error) {
	l.mu.Lock()
	n, err := l.addNode()
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := l.spawn(n, l.peersOf(n)); err != nil {
		return nil, err
	}
	return n, l.WaitReady(ctx, n.Index)
}

// Signal sends sig to node i's process.
func (l *Local) Signal(i int, sig syscall.Signal) error {
	n := l.Node(i)
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return fmt.Errorf("%s is not running", n.Name)
	}
	return cmd.Process.Signal(sig)
}

// Kill sends SIGKILL to node i and waits for it to exit.
func (l *Local) Kill(i int) error {
	if !l.Node(i).Running() {
		return nil
	}
	if err := l.Signal(i, syscall.SIGKILL); err != nil {
		return err
	}
	return l.Wait(i, 30*time.Second)
}

// Wait waits up to d for node i's process to exit.
func (l *Local) Wait(i int, d time.Duration) error {
	select {
	case <-l.Node(i).Exited():
		return nil
	case <-time.After(d):
		return fmt.Errorf("%s did not exit within %v", l.Node(i).Name, d)
	}
}

// Stop stops node i with SIGTERM (a drain), then SIGKILL after timeout.
func (l *Local) Stop(i int, timeout time.Duration) error {
	n := l.Node(i)
	if !n.Running() {
		return nil
	}
	_ = l.Signal(i, syscall.SIGCONT) // a stopped process cannot drain
	if err := l.Signal(i, syscall.SIGTERM); err != nil {
		return err
	}
	if err := l.Wait(i, timeout); err != nil {
		_ = l.Signal(i, syscall.SIGKILL)
		return l.Wait(i, 10*time.Second)
	}
	return nil
}

// StopAll stops every node at once (SIGTERM, then SIGKILL after timeout).
func (l *Local) StopAll(timeout time.Duration) {
	var wg sync.WaitGroup
	for _, n := range l.Nodes() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = l.Stop(n.Index, timeout)
		}()
	}
	wg.Wait()
}

// Tail returns the last n lines of a file.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			break
		}
		_, _ = fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// Replicas returns the replica count the nodes are started with.
func (l *Local) Replicas() int { return l.opts.Replicas }
