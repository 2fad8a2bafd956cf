package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/starling-social/starling/cluster"
	"github.com/starling-social/starling/internal/startest"
)

// natsServerBinary builds (once, into the user's cache directory) the
// nats-server of the same version as the embedded one, or skips the test.
func natsServerBinary(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "starling-test", "nats-server-v"+server.VERSION)
	bin := filepath.Join(dir, "nats-server")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Skipf("cannot create %s: %v", dir, err)
	}
	cmd := exec.Command("go", "install", "github.com/nats-io/nats-server/v2@v"+server.VERSION)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot build nats-server v%s (offline?): %v\n%s", server.VERSION, err, out)
	}
	return bin
}

// natsProc is an external nats-server process.
type natsProc struct {
	cmd    *exec.Cmd
	client string
	exited chan struct{}
}

// TestExternalNATSCluster runs two Starling nodes with --nats-url against
// a cluster of three real nats-server processes (the embedded version):
// every table partition gets three replicas on those servers, either
// node's gateway serves what the other wrote, and writes continue through
// both nodes when the server one of them is connected to is SIGKILLed.
func TestExternalNATSCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server and starts five processes")
	}
	bin := natsServerBinary(t)
	ports, err := cluster.FreePorts("127.0.0.1", 6)
	if err != nil {
		t.Fatal(err)
	}
	var servers []*natsProc
	for i := 0; i < 3; i++ {
		var routes []string
		for j := 0; j < 3; j++ {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[3+j]))
			}
		}
		p := &natsProc{client: fmt.Sprintf("nats://127.0.0.1:%d", ports[i]), exited: make(chan struct{})}
		p.cmd = exec.Command(bin, "-a", "127.0.0.1", "-p", fmt.Sprint(ports[i]), "-n", fmt.Sprintf("ext-%d", i+1),
			"-js", "-sd", filepath.Join(t.TempDir(), "js"), "--cluster_name", "ext",
			"--cluster", fmt.Sprintf("nats://127.0.0.1:%d", ports[3+i]), "--routes", strings.Join(routes, ","))
		log, err := os.Create(filepath.Join(t.TempDir(), "nats.log"))
		if err != nil {
			t.Fatal(err)
		}
		p.cmd.Stdout, p.cmd.Stderr = log, log
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = p.cmd.Wait(); close(p.exited) }()
		t.Cleanup(func() {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.exited:
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill()
			}
		})
		servers = append(servers, p)
	}
	for _, p := range servers {
		addr := strings.TrimPrefix(p.client, "nats://")
		startest.Eventually(t, 20*time.Second, "nats-server listening", func() bool {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	}

	// Node a uses servers 1 and 2, node b servers 2 and 3 (a client
	// reconnects to any server it knows of).
	a := startProc(t, "serve", "--nats-url", servers[0].client+","+servers[1].client, "--replicas", "3", "--http", "127.0.0.1:0",
		"--node-name", "ext-a", "--ratelimit", "off", "--log-level", "warn", "--admin-token", testAdminToken)
	b := startProc(t, "serve", "--nats-url", servers[2].client+","+servers[1].client, "--replicas", "3", "--http", "127.0.0.1:0",
		"--node-name", "ext-b", "--ratelimit", "off", "--log-level", "warn")
	ca, cb := startest.NewClient(t, a.URL), startest.NewClient(t, b.URL)
	u := ca.SignUp("ext")
	if m := cb.Must(200, "GET", "/api/v1/accounts/lookup?acct="+u.Username, nil).Map(t); m["id"] != u.ID {
		t.Fatalf("lookup on b: %v", m)
	}
	id := cb.As(u.Token).Must(200, "POST", "/api/v1/statuses", startest.Form{"status": {"through an external cluster"}}).Map(t)["id"].(string)
	startest.Eventually(t, 10*time.Second, "b's post on a", func() bool {
		return strings.Contains(string(ca.Do("GET", "/api/v1/timelines/public", nil).Body), id)
	})
	ctx := startest.Context(t)
	st, err := cluster.Admin{URL: a.URL, Token: testAdminToken}.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leaders := map[string]int{}
	for _, s := range st.Streams {
		if len(s.Replicas) != 3 || !strings.HasPrefix(s.Leader, "ext-") {
			t.Errorf("%s: leader %q, %d replicas", s.Stream, s.Leader, len(s.Replicas))
		}
		leaders[s.Leader]++
	}
	t.Logf("stream leaders on the external servers: %v", leaders)

	// SIGKILL server 2, which both nodes may use: writes go on.
	_ = servers[1].cmd.Process.Kill()
	<-servers[1].exited
	for i, c := range []*startest.Client{ca, cb} {
		startest.Eventually(t, 30*time.Second, "a write after losing a server", func() bool {
			r, err := c.As(u.Token).TryDo("POST", "/api/v1/statuses", startest.Form{"status": {fmt.Sprintf("after the server died %d", i)}},
				"Idempotency-Key", fmt.Sprintf("ext-%d", i))
			return err == nil && r.Status == 200
		})
	}
}
