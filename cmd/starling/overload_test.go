package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starling-social/starling/internal/startest"
)

// loadResult is what closed-loop clients saw during one phase.
type loadResult struct {
	took      time.Duration
	ok, shed  int
	other     map[string]int // any other status or transport error
	okLat     []time.Duration
	shedLat   []time.Duration
	windows   []int // successes per window
	noRetry   int   // 503s without Retry-After
	maxHeap   float64
	maxGorout float64
	maxAuth   float64 // highest in-flight gauge of the auth class seen
}

func (r loadResult) goodput() float64 { return float64(r.ok) / r.took.Seconds() }

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// scrapeGauges reads unlabelled samples and samples with one label from the
// Prometheus text at base/metrics.
func scrapeGauges(client *http.Client, base string) (map[string]float64, error) {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// TestOverloadShedsInsteadOfCollapsing runs a real node with tiny in-flight
// caps (--max-inflight auth=2,read=4) and floods its most expensive route,
// the sign-in form (an argon2id check: tens of milliseconds of CPU and
// 19 MiB each), first with as many closed-loop clients as the auth cap,
// then with thirty-two times as many, while two clients read their home
// timeline throughout. Under overload the node must keep signing in at the
// same steady rate, answer the excess with fast 503s carrying Retry-After
// (each counted in its metrics), keep the latency of what it serves
// bounded, keep its heap and goroutines bounded, and keep serving reads.
func TestOverloadShedsInsteadOfCollapsing(t *testing.T) {
	if testing.Short() {
		t.Skip("overload test")
	}
	p := startProc(t, "serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:-1",
		"--node-name", "overload", "--ratelimit", "off", "--log-level", "error", "--fsync", "1s", "--max-inflight", "auth=2,read=4")
	c := startest.NewClient(t, p.URL)
	const redirect = "https://app.example/cb"
	clientID, _ := c.App("read", redirect)
	user := c.SignUp("ovuser") // password "correct horse battery"
	reader := c.SignUp("ovreader")
	for range 3 {
		a := c.SignUp("ovauthor")
		reader.Must(200, "POST", "/api/v1/accounts/"+a.ID+"/follow", nil)
		for j := range 7 {
			a.Must(200, "POST", "/api/v1/statuses", startest.Form{"status": {fmt.Sprintf("seed %d", j)}})
		}
	}
	startest.Eventually(t, 10*time.Second, "a full home page", func() bool {
		return len(reader.Must(200, "GET", "/api/v1/timelines/home", nil).List(t)) == 20
	})
	// The sign-in form's CSRF pair, reused by every attempt.
	page := c.Must(200, "GET", "/oauth/authorize?response_type=code&scope=read&client_id="+clientID+"&redirect_uri="+url.QueryEscape(redirect), nil)
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(page.Body))
	cookie := page.Header.Get("Set-Cookie")
	if csrf == nil || !strings.HasPrefix(cookie, "starling_csrf=") {
		t.Fatalf("no CSRF pair in the sign-in form")
	}
	signIn := url.Values{"client_id": {clientID}, "redirect_uri": {redirect}, "scope": {"read"}, "csrf": {csrf[1]},
		"login": {user.Username}, "password": {"correct horse battery"}, "decision": {"allow"}}.Encode()
	cookie, _, _ = strings.Cut(cookie, ";")

	transport := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute}
	t.Cleanup(transport.CloseIdleConnections)
	httpc := &http.Client{Transport: transport, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	newRequest := func(kind string) *http.Request {
		if kind == "read" {
			req, _ := http.NewRequest("GET", p.URL+"/api/v1/timelines/home", nil)
			req.Header.Set("Authorization", "Bearer "+reader.Token)
			return req
		}
		req, _ := http.NewRequest("POST", p.URL+"/oauth/authorize", strings.NewReader(signIn))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", cookie)
		return req
	}

	const window = 250 * time.Millisecond
	run := func(signInClients, readClients int, d time.Duration) (signins, reads loadResult) {
		results := map[string]*loadResult{"signin": {other: map[string]int{}}, "read": {other: map[string]int{}}}
		var mu sync.Mutex
		var stop atomic.Bool
		start := time.Now()
		for _, r := range results {
			r.windows = make([]int, int(d/window)+1)
		}
		// The node's own view: heap, goroutines, requests in flight.
		sampled := make(chan struct{})
		var maxHeap, maxGorout, maxAuth float64
		go func() {
			defer close(sampled)
			for !stop.Load() {
				if g, err := scrapeGauges(httpc, p.URL); err == nil {
					maxHeap = max(maxHeap, g["go_memstats_heap_inuse_bytes"])
					maxGorout = max(maxGorout, g["go_goroutines"])
					maxAuth = max(maxAuth, g[`starling_http_inflight_requests{class="auth"}`])
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		var wg sync.WaitGroup
		client := func(kind string) {
			defer wg.Done()
			res := results[kind]
			success := map[string]int{"signin": http.StatusFound, "read": http.StatusOK}[kind]
			for n := 0; !stop.Load() && n < 1_000_000; n++ {
				t0 := time.Now()
				resp, err := httpc.Do(newRequest(kind))
				lat := time.Since(t0)
				if err != nil {
					mu.Lock()
					res.other["error: "+err.Error()]++
					mu.Unlock()
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				switch resp.StatusCode {
				case success:
					res.ok++
					res.okLat = append(res.okLat, lat)
					if w := int(time.Since(start) / window); w < len(res.windows) {
						res.windows[w]++
					}
				case 503:
					res.shed++
					res.shedLat = append(res.shedLat, lat)
					if resp.Header.Get("Retry-After") == "" {
						res.noRetry++
					}
				default:
					res.other[resp.Status]++
				}
				mu.Unlock()
			}
		}
		for range signInClients {
			wg.Add(1)
			go client("signin")
		}
		for range readClients {
			wg.Add(1)
			go client("read")
		}
		time.Sleep(d)
		stop.Store(true)
		wg.Wait()
		<-sampled
		for _, r := range results {
			r.took = time.Since(start)
			r.windows = r.windows[:int(d/window)] // whole windows only
			r.maxHeap, r.maxGorout, r.maxAuth = maxHeap, maxGorout, maxAuth
		}
		return *results["signin"], *results["read"]
	}
	report := func(name string, r loadResult) {
		t.Logf("%s: %d ok (%.0f/s, p50 %v p99 %v), %d shed (p50 %v p99 %v), other %v; successes per %v: %v",
			name, r.ok, r.goodput(), pct(r.okLat, .5).Round(time.Microsecond), pct(r.okLat, .99).Round(time.Microsecond),
			r.shed, pct(r.shedLat, .5).Round(time.Microsecond), pct(r.shedLat, .99).Round(time.Microsecond), r.other, window, r.windows)
	}
	shedBefore := shedTotal(t, httpc, p.URL)

	base, baseReads := run(2, 2, 2*time.Second)
	report("sign-ins at capacity (2 clients)", base)
	report("  reads meanwhile (2 clients)", baseReads)
	over, overReads := run(64, 2, 4*time.Second)
	report("sign-ins overloaded (64 clients)", over)
	report("  reads meanwhile (2 clients)", overReads)
	t.Logf("node: heap in use ≤ %.0f MiB at capacity, ≤ %.0f MiB overloaded; goroutines ≤ %.0f, ≤ %.0f; auth requests in flight ≤ %.0f",
		base.maxHeap/(1<<20), over.maxHeap/(1<<20), base.maxGorout, over.maxGorout, over.maxAuth)

	for name, r := range map[string]loadResult{"sign-ins at capacity": base, "sign-ins overloaded": over, "reads": baseReads, "reads under overload": overReads} {
		if len(r.other) > 0 || r.noRetry > 0 {
			t.Errorf("%s: unexpected answers %v, %d 503s without Retry-After", name, r.other, r.noRetry)
		}
	}
	if over.maxAuth > 2 {
		t.Errorf("%v sign-ins in flight past the cap of 2", over.maxAuth)
	}
	// Offered load far beyond capacity: most attempts are refused...
	if over.shed < 4*over.ok {
		t.Errorf("overload: %d shed for %d served; the load did not exceed capacity", over.shed, over.ok)
	}
	// ...at once, while the node keeps signing in at a steady rate.
	if p50, p99 := pct(over.shedLat, .5), pct(over.shedLat, .99); p50 > 50*time.Millisecond || p99 > 250*time.Millisecond {
		t.Errorf("overload: 503s take %v at p50, %v at p99; shedding must be immediate", p50, p99)
	}
	if over.goodput() < 0.5*base.goodput() {
		t.Errorf("overload: goodput %.1f/s collapsed from %.1f/s at capacity", over.goodput(), base.goodput())
	}
	med := slices.Clone(over.windows)
	slices.Sort(med)
	for i, n := range over.windows {
		if float64(n) < 0.25*float64(med[len(med)/2]) {
			t.Errorf("overload: window %d served %d, under a quarter of the median %d: not a steady rate", i, n, med[len(med)/2])
		}
	}
	if p99, base99 := pct(over.okLat, .99), pct(base.okLat, .99); p99 > max(3*base99, 500*time.Millisecond) {
		t.Errorf("overload: p99 of served sign-ins %v (%v at capacity): not bounded", p99, base99)
	}
	if overReads.ok == 0 || pct(overReads.okLat, .99) > time.Second {
		t.Errorf("reads under overload: %d served, p99 %v", overReads.ok, pct(overReads.okLat, .99))
	}
	// Each sign-in holds 19 MiB while it hashes: 64 at once would need
	// over 1.2 GiB. Two at a time, plus the garbage collector's headroom,
	// stay well under this.
	if over.maxHeap > 256<<20 {
		t.Errorf("overload: heap in use reached %.0f MiB (%.0f MiB at capacity)", over.maxHeap/(1<<20), base.maxHeap/(1<<20))
	}
	if over.maxGorout > base.maxGorout+200 {
		t.Errorf("overload: %v goroutines (%v at capacity)", over.maxGorout, base.maxGorout)
	}
	// Every 503 the clients saw is in the node's shedding counter.
	seen := base.shed + baseReads.shed + over.shed + overReads.shed
	if got := shedTotal(t, httpc, p.URL) - shedBefore; got != float64(seen) {
		t.Errorf("starling_http_shed_total grew by %v; the clients saw %d 503s", got, seen)
	}
}

// shedTotal sums starling_http_shed_total over classes.
func shedTotal(t *testing.T, c *http.Client, base string) float64 {
	t.Helper()
	g, err := scrapeGauges(c, base)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for k, v := range g {
		if strings.HasPrefix(k, "starling_http_shed_total{") {
			sum += v
		}
	}
	return sum
}
