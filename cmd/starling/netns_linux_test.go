//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testNet is a set of network namespaces a test creates: one per node, and
// two hub namespaces holding a bridge each — "data" for the routes between
// nodes and "ctl" for the test's HTTP requests — so a node can be cut off
// from the others (its data link down) while the test still talks to it.
// Nothing is added to the host's own network namespace.
type testNet struct {
	t      *testing.T
	prefix string
	nodes  int
}

// Addresses: node i is 10.77.0.(i+1) on data and 10.78.0.(i+1) on ctl; the
// test reaches ctl from inside the ctl hub namespace (10.78.0.254).
func (n *testNet) dataIP(i int) string { return fmt.Sprintf("10.77.0.%d", i+1) }
func (n *testNet) ctlIP(i int) string  { return fmt.Sprintf("10.78.0.%d", i+1) }
func (n *testNet) ns(i int) string     { return fmt.Sprintf("%s-n%d", n.prefix, i+1) }
func (n *testNet) dataHub() string     { return n.prefix + "-data" }
func (n *testNet) ctlHub() string      { return n.prefix + "-ctl" }

// hub-side interface names (at most 15 characters).
func (n *testNet) dataLink(i int) string { return fmt.Sprintf("d%s%d", n.prefix[2:], i+1) }
func (n *testNet) ctlLink(i int) string  { return fmt.Sprintf("c%s%d", n.prefix[2:], i+1) }

// skipUnlessNetns skips the test where network namespaces cannot be made.
func skipUnlessNetns(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("network namespaces need Linux")
	}
	if os.Geteuid() != 0 {
		t.Skip("creating network namespaces (ip netns) needs root; CI runs this test as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the ip command (iproute2) is missing")
	}
}

func (n *testNet) ip(args ...string) {
	n.t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// newTestNet creates the namespaces for nodes nodes; t.Cleanup deletes them
// (also when the test fails).
func newTestNet(t *testing.T, nodes int) *testNet {
	t.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	n := &testNet{t: t, prefix: "st" + hex.EncodeToString(b), nodes: nodes}
	var created []string
	t.Cleanup(func() {
		for _, ns := range created {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Logf("ip netns del %s: %v: %s", ns, err, out)
			}
		}
	})
	// Being root is not always enough (a container without CAP_SYS_ADMIN):
	// skip when the first namespace cannot be made.
	if out, err := exec.Command("ip", "netns", "add", n.dataHub()).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here (ip netns add: %v: %s)", err, strings.TrimSpace(string(out)))
	}
	created = append(created, n.dataHub())
	for _, ns := range []string{n.dataHub(), n.ctlHub()} {
		if ns != n.dataHub() {
			n.ip("netns", "add", ns)
			created = append(created, ns)
		}
		n.ip("-n", ns, "link", "set", "lo", "up")
		n.ip("-n", ns, "link", "add", "br0", "type", "bridge")
		n.ip("-n", ns, "link", "set", "br0", "up")
	}
	n.ip("-n", n.ctlHub(), "addr", "add", "10.78.0.254/24", "dev", "br0")
	for i := 0; i < nodes; i++ {
		ns := n.ns(i)
		n.ip("netns", "add", ns)
		created = append(created, ns)
		n.ip("-n", ns, "link", "set", "lo", "up")
		for _, l := range []struct{ hub, link, ip, name string }{
			{n.dataHub(), n.dataLink(i), n.dataIP(i), "data0"},
			{n.ctlHub(), n.ctlLink(i), n.ctlIP(i), "ctl0"},
		} {
			// Create the pair inside the node's namespace, then move
			// one end to the hub.
			n.ip("-n", ns, "link", "add", l.name, "type", "veth", "peer", "name", l.link)
			n.ip("-n", ns, "link", "set", l.link, "netns", l.hub)
			n.ip("-n", l.hub, "link", "set", l.link, "master", "br0")
			n.ip("-n", l.hub, "link", "set", l.link, "up")
			n.ip("-n", ns, "addr", "add", l.ip+"/24", "dev", l.name)
			n.ip("-n", ns, "link", "set", l.name, "up")
		}
	}
	return n
}

// isolate cuts node i's data link (its routes to the other nodes); heal
// restores it.
func (n *testNet) isolate(i int) { n.ip("-n", n.dataHub(), "link", "set", n.dataLink(i), "down") }
func (n *testNet) heal(i int)    { n.ip("-n", n.dataHub(), "link", "set", n.dataLink(i), "up") }

// prefixFor runs node i's process inside its namespace.
func (n *testNet) prefixFor(i int) []string { return []string{"ip", "netns", "exec", n.ns(i)} }

// httpClient returns a client whose connections are made inside the ctl
// hub namespace.
func (n *testNet) httpClient() *http.Client {
	path := "/var/run/netns/" + n.ctlHub()
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			// The socket belongs to the namespace of the thread that
			// creates it. This goroutine's thread switches namespace
			// and, never unlocked, ends with the goroutine.
			runtime.LockOSThread()
			f, err := os.Open(path)
			if err != nil {
				ch <- result{nil, err}
				return
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- result{nil, fmt.Errorf("setns %s: %w", path, err)}
				return
			}
			c, err := (&net.Dialer{Timeout: 3 * time.Second}).DialContext(ctx, network, addr)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
