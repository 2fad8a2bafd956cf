package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/starling-social/starling/chaos"
	"github.com/starling-social/starling/cluster"
	"github.com/starling-social/starling/internal/startest"
)

// testAdminToken is the admin token of the clusters the tests start.
const testAdminToken = "test-admin-token-0123456789"

// startCluster starts n `starling serve` processes joined into a cluster on
// loopback (see newTestCluster).
func startCluster(t *testing.T, n int) *cluster.Local {
	t.Helper()
	l := newTestCluster(t, cluster.Options{Nodes: n})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d-node cluster ready in %v", n, time.Since(start).Round(100*time.Millisecond))
	return l
}

// newTestCluster prepares a cluster of this test binary (see TestMain)
// with the tests' admin token, rate limits off and text logs at info level,
// on top of opts, and stops it when the test ends. On failure it prints the
// end of every node's log.
func newTestCluster(t *testing.T, opts cluster.Options) *cluster.Local {
	t.Helper()
	opts.Dir, opts.Command, opts.AdminToken = t.TempDir(), []string{os.Args[0]}, testAdminToken
	opts.Env = append([]string{"STARLING_TEST_MAIN=1"}, opts.Env...)
	opts.Args = append([]string{"--ratelimit", "off", "--log-level", "info", "--log-format", "text"}, opts.Args...)
	l, err := cluster.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, nd := range l.Nodes() {
				t.Logf("---- end of %s's log:\n%s", nd.Name, cluster.Tail(nd.LogPath, 40))
			}
		}
		l.StopAll(15 * time.Second)
	})
	return l
}

// TestClusterOfThree starts three nodes with three replicas and checks
// that every table partition is replicated three times with leaders spread
// over the nodes, that any node's gateway serves the whole API, that the
// status API shows it all, that a fourth node can join, and that a drained
// node stops, then catches up after a restart.
func TestClusterOfThree(t *testing.T) {
	l := startCluster(t, 3)
	ctx := startest.Context(t)

	// Any gateway serves the whole API.
	c := make([]*startest.Client, 3)
	for i := range c {
		c[i] = startest.NewClient(t, l.Node(i).URL())
	}
	u := c[0].SignUp("three")
	for i := 1; i < 3; i++ {
		if m := c[i].Must(200, "GET", "/api/v1/accounts/lookup?acct="+u.Username, nil).Map(t); m["id"] != u.ID {
			t.Fatalf("node %d: lookup = %v", i, m)
		}
		c[i].As(u.Token).Must(200, "GET", "/api/v1/accounts/verify_credentials", nil)
	}
	v := c[1].SignUp("three")
	v.Must(200, "POST", "/api/v1/accounts/"+u.ID+"/follow", nil)
	id := c[2].As(u.Token).Must(200, "POST", "/api/v1/statuses", startest.Form{"status": {"hello from node 3"}}).Map(t)["id"].(string)
	startest.Eventually(t, 10*time.Second, "post on node 3 in v's home on node 2", func() bool {
		return strings.Contains(string(c[1].As(v.Token).Do("GET", "/api/v1/timelines/home", nil).Body), id)
	})

	// Status: R3 everywhere, leaders spread, admin token enforced.
	if r := c[0].Do("GET", "/api/starling/v1/status", nil); r.Status != 401 {
		t.Fatalf("status without the admin token: %d", r.Status)
	}
	if r := c[0].Do("GET", "/api/starling/v1/status", nil, "Authorization", "Bearer wrong"); r.Status != 401 {
		t.Fatalf("status with a wrong admin token: %d", r.Status)
	}
	st, err := l.Admin(0).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	parts := 0
	for _, s := range st.Streams {
		if len(s.Replicas) != 3 {
			t.Errorf("%s has %d replicas, want 3", s.Stream, len(s.Replicas))
		}
		if s.Partition >= 0 {
			parts++
		}
	}
	if parts < 4*8 {
		t.Errorf("%d table partitions listed, want at least 32", parts)
	}
	if len(st.Nodes) != 3 {
		t.Errorf("status lists %d nodes: %+v", len(st.Nodes), st.Nodes)
	}
	for _, n := range l.Nodes() {
		if st.Leaders[n.Name] == 0 {
			t.Errorf("%s leads no stream: %v", n.Name, st.Leaders)
		}
	}
	t.Logf("leaders: %v", st.Leaders)
	// The view partitions are split over the nodes: each owns about a
	// third, every partition has exactly one owner and a standby on
	// another node.
	for _, svc := range []string{"feed", "notify"} {
		startest.Eventually(t, 20*time.Second, svc+" view partitions spread over the nodes", func() bool {
			st, err := l.Admin(2).Status(ctx)
			if err != nil {
				return false
			}
			owners, standbys := chaos.ViewOwners(st, svc)
			for p, o := range owners {
				if o == "" || standbys[p] == "" || standbys[p] == o {
					return false
				}
			}
			for _, n := range l.Nodes() {
				if c := slices.Index(owners, n.Name); c < 0 {
					return false
				}
				if k := countOf(owners, n.Name); k < len(owners)/3 || k > (len(owners)+2)/3 {
					return false
				}
			}
			t.Logf("%s view partitions: owners %v, standbys %v", svc, owners, standbys)
			return true
		})
	}
	// Balancing keeps every node within its fair share.
	startest.Eventually(t, 40*time.Second, "stream leaderships balanced", func() bool {
		st, err := l.Admin(1).Status(ctx)
		if err != nil {
			return false
		}
		fair := (len(st.Streams) + 2) / 3
		for _, n := range l.Nodes() {
			if st.Leaders[n.Name] > fair {
				return false
			}
		}
		return true
	})

	// A fourth node joins the running cluster and serves the whole API.
	n4, err := l.Join(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c4 := startest.NewClient(t, n4.URL())
	c4.As(v.Token).Must(200, "GET", "/api/v1/accounts/verify_credentials", nil)
	startest.Eventually(t, 10*time.Second, "post visible on the new node", func() bool {
		return c4.Do("GET", "/api/v1/statuses/"+id, nil).Status == 200
	})
	c4.As(u.Token).Must(200, "POST", "/api/v1/statuses", startest.Form{"status": {"from the fourth node"}})
	startest.Eventually(t, 20*time.Second, "four nodes in the status", func() bool {
		st, err = l.Admin(3).Status(ctx)
		return err == nil && len(st.Nodes) == 4 && st.Cluster.Size == 4
	})

	// Draining node 2 moves every leadership away, then stops it.
	r, err := l.Drain(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Remaining != 0 {
		t.Fatalf("drain left %d leaderships on the node: %+v", r.Remaining, r)
	}
	t.Logf("drain moved %d leaderships", r.Moved)
	// Writes continue meanwhile; the restarted node catches up by itself.
	var posted []string
	for i := 0; i < 10; i++ {
		m := c[0].As(u.Token).Must(200, "POST", "/api/v1/statuses", startest.Form{"status": {fmt.Sprintf("while node 2 is down %d", i)}}).Map(t)
		posted = append(posted, m["id"].(string))
	}
	if err := l.Restart(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for _, id := range posted {
		c[1].Must(200, "GET", "/api/v1/statuses/"+id, nil)
	}
	startest.Eventually(t, 60*time.Second, "replicas of the restarted node current", func() bool {
		st, err := l.Admin(1).Status(ctx)
		return err == nil && len(st.Unhealthy) == 0 && st.MaxLag == 0
	})
}

func countOf(ss []string, s string) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

// TestClusterFlags checks the cluster flags' validation.
func TestClusterFlags(t *testing.T) {
	env := map[string]string{"STARLING_DATA": t.TempDir(), "STARLING_HTTP": "127.0.0.1:0", "STARLING_NATS_LISTEN": "127.0.0.1:-1"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--cluster", "0.0.0.0:6222", "--peers", "10.0.0.2:6222"}, "strangers cannot join"},
		{[]string{"serve", "--cluster", "127.0.0.1:6222", "--peers", "127.0.0.1:6223", "--replicas", "3"}, "replicas 3 needs at least 3 nodes"},
		{[]string{"serve", "--peers", "127.0.0.1:6223"}, "peers need a cluster listen address"},
		{[]string{"status"}, "admin token is required"},
		{[]string{"node", "drain"}, "admin token is required"},
		{[]string{"cluster", "down"}, "unknown cluster command"},
	} {
		if _, err := runCmd(t, env, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}

// TestCheckConfig checks that serve --check-config validates a node's
// configuration like a start would, prints it, and starts nothing.
func TestCheckConfig(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cluster := []string{"serve", "--check-config", "--data", data, "--node-name", "starling-1", "--services", "auth,feed,media,notify",
		"--nats-listen", "0.0.0.0:4222", "--cluster", "0.0.0.0:6222", "--replicas", "3",
		"--peers", "starling-0.starling-peers:6222,starling-1.starling-peers:6222,starling-2.starling-peers:6222"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string // in the output, or in the error when fail
		fail bool
	}{
		{"a clustered node, token from the environment", map[string]string{"STARLING_NATS_TOKEN": "t0ken"}, cluster, "peers starling-0.starling-peers:6222,", false},
		{"a gateway on an external engine", nil, []string{"serve", "--check-config", "--services", "gateway", "--nats-url", "nats://starling-0.starling-peers:4222"}, "engine    external, nats://starling-0", false},
		{"a clustered node without a token", nil, cluster, "strangers cannot reach the engine", true},
		{"an unknown flag", nil, []string{"serve", "--check-config", "--node", "x"}, "flag provided but not defined", true},
		{"an unknown service", nil, []string{"serve", "--check-config", "--services", "web"}, "unknown service", true},
		{"an unknown exporter", nil, []string{"serve", "--check-config", "--trace-exporter", "jaeger"}, "--trace-exporter", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCmd(t, tc.env, tc.args...)
			switch {
			case tc.fail && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			case !tc.fail && (err != nil || !strings.Contains(out, "configuration ok") || !strings.Contains(out, tc.want)):
				t.Errorf("out = %q, err = %v, want %q", out, err, tc.want)
			}
		})
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("--check-config created the data directory: %v", err)
	}
}

// TestClusterUp runs `starling cluster up --nodes 3`, reads the URLs it
// prints, asks one node for the status with the admin token it wrote, and
// checks that ending its context stops every node.
func TestClusterUp(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"starling", "cluster", "up", "--nodes", "3", "--data", dir, "--", "--log-level", "warn"},
			func(k string) string {
				if k == "STARLING_TEST_MAIN" {
					return "1"
				}
				return ""
			}, strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	var urls []string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[0], "node-") && strings.HasPrefix(f[1], "http://") {
			urls = append(urls, f[1])
		}
		if strings.Contains(line, "Ctrl-C") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if len(urls) != 3 {
		t.Fatalf("cluster up printed %d node URLs", len(urls))
	}
	token, err := os.ReadFile(filepath.Join(dir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := cluster.Admin{URL: urls[2], Token: strings.TrimSpace(string(token))}.Status(startest.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Nodes) != 3 || st.Cluster.Replicas != 3 {
		t.Fatalf("status: %d nodes, replicas %d", len(st.Nodes), st.Cluster.Replicas)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("cluster up: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("cluster up did not stop its nodes within 60s")
	}
	for _, u := range urls {
		if resp, err := http.Get(u + "/healthz"); err == nil {
			resp.Body.Close()
			t.Errorf("%s still answers after cluster up stopped", u)
		}
	}
}
