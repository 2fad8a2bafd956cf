package bench_test

import (
	"bufio"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/starling-social/starling/bench"
	"github.com/starling-social/starling/internal/startest"
)

// routeCounts reads a node's per-route request counters for one status.
func routeCounts(t *testing.T, c *startest.Client, status string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(c.Must(200, "GET", "/metrics", nil).Body)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "starling_http_requests_total{") || !strings.Contains(line, `status="`+status+`"`) {
			continue
		}
		route := line[strings.Index(line, `route="`)+7:]
		route = route[:strings.Index(route, `"`)]
		v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
		if err != nil {
			t.Fatal(err)
		}
		out[route] += v
	}
	return out
}

// TestBenchAgainstStarling sets up a small graph on a real node, runs the
// DeathStarBench mix, and checks that the report's counts are the server's.
func TestBenchAgainstStarling(t *testing.T) {
	n := startest.Node(t)
	c := startest.NewClient(t, n.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := bench.Setup(ctx, bench.SetupConfig{Targets: []string{n.URL()}, Graph: "powerlaw:30", PostsPerUser: 2, Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	before := routeCounts(t, c, "200")
	rep, err := bench.Run(ctx, bench.RunConfig{State: st, Workload: "deathstar", Connections: 4, Duration: 2 * time.Second, Warmup: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	after := routeCounts(t, c, "200")
	routes := map[string]string{
		"home":    "GET /api/v1/timelines/home",
		"account": "GET /api/v1/accounts/{id}/statuses",
		"compose": "POST /api/v1/statuses",
	}
	seen := 0
	for _, op := range rep.Ops {
		route, ok := routes[op.Op]
		if !ok {
			continue
		}
		seen++
		server := after[route] - before[route]
		if got := float64(op.Total("200")); got != server || got == 0 {
			t.Errorf("%s: the report counts %v successful requests, the server %v", op.Op, got, server)
		}
	}
	if seen != 3 {
		t.Fatalf("report has %d of the 3 deathstar operations: %+v", seen, rep.Ops)
	}
	if rep.Overall.Errors != 0 {
		t.Fatalf("errors: %v", rep.Overall.Status)
	}
	if rep.Overall.Latency.P99 <= 0 || rep.Overall.Throughput <= 0 {
		t.Fatalf("report lacks figures: %+v", rep.Overall)
	}
}
