//go:build linux

package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/starling-social/starling/chaos"
	"github.com/starling-social/starling/cluster"
	"github.com/starling-social/starling/internal/startest"
)

// TestPartitionMinorityRefusesWrites runs three nodes in network
// namespaces, cuts one off from the other two, and shows that the cut-off
// node refuses consistent writes with 503 and Retry-After (and
// acknowledges none) while the majority accepts them, that the minority
// keeps serving the public timeline from memory, and that after the
// partition heals the node accepts writes again and converges: it shows
// every write the majority made, and none of the writes it refused exists
// anywhere.
func TestPartitionMinorityRefusesWrites(t *testing.T) {
	skipUnlessNetns(t)
	if testing.Short() {
		t.Skip("starts a cluster in network namespaces for about a minute")
	}
	nw := newTestNet(t, 3)
	hc := nw.httpClient()
	l := newTestCluster(t, cluster.Options{
		Nodes:     3,
		Hosts:     []string{nw.dataIP(0), nw.dataIP(1), nw.dataIP(2)},
		HTTPHosts: []string{nw.ctlIP(0), nw.ctlIP(1), nw.ctlIP(2)},
		Prefix:    nw.prefixFor,
		HTTP:      hc,
		Env:       []string{"STARLING_NATS_TOKEN=partition-test-token"}, // routes leave loopback
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c := make([]*startest.Client, 3)
	for i := range c {
		c[i] = startest.NewClient(t, l.Node(i).URL())
		c[i].HTTP = hc
	}
	alice, bob := c[0].SignUp("part"), c[1].SignUp("part")
	bob.Must(200, "POST", "/api/v1/accounts/"+alice.ID+"/follow", nil)
	before := alice.Must(200, "POST", "/api/v1/statuses", startest.Form{"status": {"before the partition"}}).Map(t)["id"].(string)
	startest.Eventually(t, 15*time.Second, "the first post on node 3", func() bool {
		return c[2].Do("GET", "/api/v1/statuses/"+before, nil).Status == 200
	})
	appID, appSecret := c[0].App("read write follow", "urn:ietf:wg:oauth:2.0:oob")
	appToken := c[0].Must(200, "POST", "/oauth/token", startest.Form{"grant_type": {"client_credentials"}, "client_id": {appID},
		"client_secret": {appSecret}, "scope": {"read write follow"}}).Map(t)["access_token"].(string)
	// Warm node 3's token cache and profiles, as traffic would.
	c[2].As(alice.Token).Must(200, "GET", "/api/v1/timelines/home", nil)
	c[2].Must(200, "GET", "/api/v1/timelines/public", nil)

	// Cut node 3 off from nodes 1 and 2.
	nw.isolate(2)
	cut := time.Now()
	t.Logf("node 3 isolated at %s", cut.Format("15:04:05.000"))
	minority := c[2].As(alice.Token)

	// The minority refuses consistent writes — at once, once it sees it
	// is cut off — and acknowledges none.
	var refused []string
	var first503 time.Duration
	knowsCut := false
	for i := 0; time.Since(cut) < 25*time.Second; i++ {
		text := fmt.Sprintf("written on the minority %d", i)
		r, err := minority.TryDo("POST", "/api/v1/statuses", startest.Form{"status": {text}})
		if err != nil {
			t.Fatalf("minority write %d: %v", i, err)
		}
		if r.Status/100 == 2 {
			t.Fatalf("the minority acknowledged a write %v after the partition: %s", time.Since(cut), r.Body)
		}
		if r.Status != 503 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("minority write: status %d, Retry-After %q: %s", r.Status, r.Header.Get("Retry-After"), r.Body)
		}
		refused = append(refused, text)
		if first503 == 0 {
			first503 = time.Since(cut)
		}
		if strings.Contains(string(r.Body), "majority") {
			t.Logf("minority refuses writes at once %v after the cut: %s (Retry-After %s)", time.Since(cut).Round(time.Millisecond), r.Body, r.Header.Get("Retry-After"))
			knowsCut = true
			break
		}
	}
	if !knowsCut {
		t.Errorf("25 s after the cut, the minority's refusals still do not say it cannot reach a majority")
	}
	// Sign-ups (username claims) and token grants are refused too.
	r := c[2].Do("POST", "/oauth/token", startest.Form{"grant_type": {"client_credentials"}, "client_id": {appID}, "client_secret": {appSecret}})
	if r.Status != 503 || r.Header.Get("Retry-After") == "" {
		t.Errorf("token grant on the minority: %d %s", r.Status, r.Body)
	}
	r = c[2].As(appToken).Do("POST", "/api/v1/accounts", startest.Form{"username": {"minoritysignup"}, "email": {"minority@example.com"},
		"password": {"correct horse battery"}, "agreement": {"true"}, "locale": {"en"}})
	if r.Status != 503 || r.Header.Get("Retry-After") == "" {
		t.Errorf("sign-up on the minority: %d %s", r.Status, r.Body)
	}
	// Reads of the views are refused too, rather than answered from view
	// partitions that may be stale (the majority may have taken them
	// over); authenticated requests get 503 once its token cache lease
	// lapses.
	if r := c[2].Do("GET", "/api/v1/timelines/public", nil); r.Status != 503 || r.Header.Get("Retry-After") == "" {
		t.Errorf("public timeline on the minority: %d %s", r.Status, r.Body)
	}
	startest.Eventually(t, 15*time.Second, "authenticated reads refused on the minority", func() bool {
		r := minority.Do("GET", "/api/v1/timelines/home", nil)
		return r.Status == 503 && r.Header.Get("Retry-After") != ""
	})

	// The majority accepts writes (those to partitions node 3 led wait for
	// a new leader, within the request's deadline).
	var majority []string
	for i := 0; i < 6; i++ {
		node := c[i%2]
		var id string
		startest.Eventually(t, 30*time.Second, "a write on the majority", func() bool {
			r, err := node.As(alice.Token).TryDo("POST", "/api/v1/statuses", startest.Form{"status": {fmt.Sprintf("majority %d", i)}},
				"Idempotency-Key", fmt.Sprintf("majority-%d", i))
			if err != nil || r.Status != 200 {
				return false
			}
			id = r.Map(t)["id"].(string)
			return true
		})
		majority = append(majority, id)
	}
	carol := c[0].SignUp("part")
	t.Logf("majority took %d writes and a sign-up while node 3 was cut off", len(majority))
	st, err := l.Admin(0).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if n.Name == "node-3" && n.State != "unreachable" {
			t.Errorf("the majority sees node 3 as %s", n.State)
		}
	}

	// Heal. Node 3 rejoins, accepts writes again and converges.
	nw.heal(2)
	healed := time.Now()
	startest.Eventually(t, 60*time.Second, "node 3 accepts writes after the heal", func() bool {
		r, err := minority.TryDo("POST", "/api/v1/statuses", startest.Form{"status": {"after the heal"}}, "Idempotency-Key", "after-heal")
		return err == nil && r.Status == 200
	})
	t.Logf("node 3 accepts writes %v after the heal", time.Since(healed).Round(100*time.Millisecond))
	startest.Eventually(t, 60*time.Second, "node 3 shows the majority's writes", func() bool {
		for _, id := range majority {
			if c[2].Do("GET", "/api/v1/statuses/"+id, nil).Status != 200 {
				return false
			}
		}
		return c[2].Do("GET", "/api/v1/accounts/lookup?acct="+carol.Username, nil).Status == 200 &&
			c[2].Do("GET", "/api/v1/accounts/lookup?acct=minoritysignup", nil).Status == 404
	})
	startest.Eventually(t, 60*time.Second, "bob's home on node 3 converges", func() bool {
		body := string(c[2].As(bob.Token).Do("GET", "/api/v1/timelines/home?limit=40", nil).Body)
		for _, id := range majority {
			if !strings.Contains(body, id) {
				return false
			}
		}
		return true
	})
	if err := chaos.WaitHealthy(ctx, l, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	// None of the writes the minority refused exists anywhere.
	for i := 0; i < 3; i++ {
		body := string(c[i].Do("GET", "/api/v1/accounts/"+alice.ID+"/statuses?limit=40", nil).Body)
		for _, text := range refused {
			if strings.Contains(body, text) {
				t.Errorf("node %d shows %q, which the minority refused", i+1, text)
			}
		}
	}
	t.Logf("%d writes refused on the minority (first 503 after %v); none was stored", len(refused), first503.Round(time.Millisecond))
}
