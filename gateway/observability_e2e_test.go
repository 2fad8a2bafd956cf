package gateway_test

// Observability and failure handling, end to end (issue 8): metrics after
// traffic (and the Grafana dashboard and docs/observability.md checked
// against them), one trace per request across nodes and into the async
// work, logs that carry request and trace IDs and no secrets, in-flight caps
// on every path, and a circuit breaker that opens, fails fast and recovers.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/feed"
	"github.com/starling-social/starling/gateway"
	"github.com/starling-social/starling/internal/startest"
	"github.com/starling-social/starling/node"
	"github.com/starling-social/starling/remote"
	"github.com/starling-social/starling/telemetry"
)

// --- helpers ---

// obsGatewayOn starts a node that runs only the gateway, on a's engine:
// every service call it makes crosses NATS.
func obsGatewayOn(t *testing.T, a *node.Node, opts ...startest.NodeOption) *node.Node {
	t.Helper()
	opts = append([]startest.NodeOption{startest.WithServices("gateway"),
		startest.WithEngine(func(c *engine.Config) { c.URL = a.Engine().ClientURL() })}, opts...)
	return startest.Node(t, opts...)
}

// obsTelemetry returns telemetry for node name that logs nowhere and
// exports spans to exp.
func obsTelemetry(t *testing.T, name string, exp *tracetest.InMemoryExporter) *telemetry.Telemetry {
	t.Helper()
	tel, err := telemetry.New(context.Background(), slog.New(slog.DiscardHandler), telemetry.TraceConfig{Node: name, SpanExporter: exp}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return tel
}

// obsSample is one sample of a /metrics scrape.
type obsSample struct {
	name   string
	labels map[string]string
	value  float64
}

type obsScrape []obsSample

// scrapeMetrics reads base/metrics in the Prometheus text format.
func scrapeMetrics(t *testing.T, base string) obsScrape {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	var out obsScrape
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		s, ok := parseSample(line)
		if !ok {
			t.Fatalf("unparseable /metrics line %q", line)
		}
		out = append(out, s)
	}
	return out
}

// parseSample parses `name{k="v",...} value` (label values may hold any
// escaped character, braces included).
func parseSample(line string) (obsSample, bool) {
	s := obsSample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, false
	}
	s.name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, ",")
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, `="`)
			if eq <= 0 {
				return s, false
			}
			key := rest[:eq]
			rest = rest[eq+2:]
			var val strings.Builder
			j := 0
			for ; j < len(rest) && rest[j] != '"'; j++ {
				if rest[j] == '\\' && j+1 < len(rest) {
					j++
					if rest[j] == 'n' {
						val.WriteByte('\n')
						continue
					}
				}
				val.WriteByte(rest[j])
			}
			if j == len(rest) {
				return s, false
			}
			s.labels[key] = val.String()
			rest = rest[j+1:]
		}
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return s, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, false
	}
	s.value = v
	return s, true
}

// get returns the sum of the samples of name whose labels include the given
// name, value pairs, and whether there was any.
func (sc obsScrape) get(name string, labels ...string) (float64, bool) {
	var sum float64
	found := false
next:
	for _, s := range sc {
		if s.name != name {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if s.labels[labels[i]] != labels[i+1] {
				continue next
			}
		}
		sum += s.value
		found = true
	}
	return sum, found
}

// names returns every sample name of the scrapes.
func names(scrapes ...obsScrape) map[string]bool {
	out := map[string]bool{}
	for _, sc := range scrapes {
		for _, s := range sc {
			out[s.name] = true
		}
	}
	return out
}

// wantMetric fails unless the scrape's value of name{labels} is want.
func wantMetric(t *testing.T, sc obsScrape, want float64, name string, labels ...string) {
	t.Helper()
	got, ok := sc.get(name, labels...)
	if !ok || got != want {
		t.Errorf("%s%v = %v (present: %v), want %v", name, labels, got, ok, want)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// --- metrics ---

// TestMetricsAfterTraffic drives known traffic through a gateway-only node
// whose services run on another node, then checks the counts of both
// nodes' series, that every metric the Grafana dashboard queries exists,
// and that docs/observability.md documents exactly the series exported.
func TestMetricsAfterTraffic(t *testing.T) {
	a := startest.Node(t) // every service (and a gateway nobody uses here)
	b := obsGatewayOn(t, a)
	cb := startest.NewClient(t, b.URL())

	alice, bob := cb.SignUp("malice"), cb.SignUp("mbob")
	follow(t, bob, alice)

	// A socket on B, receiving the posts and the notifications they cause.
	ws := dialStream(t, cb.Base, bob.Token, "?stream=user")
	waitGauge(t, b.URL(), 1, "starling_websocket_connections")
	time.Sleep(200 * time.Millisecond) // the socket's subscription reaches the engine

	const posts, homes, instances = 3, 5, 4
	for i := range posts {
		id := post(t, alice, fmt.Sprintf("hello @%s number %d", bob.Username, i))["id"].(string)
		ws.expect("update", "user", func(p string) bool { return strings.Contains(p, id) })
		ws.expect("notification", "user", func(p string) bool { return strings.Contains(p, id) })
	}
	for range homes {
		if l := bob.Must(200, "GET", "/api/v1/timelines/home", nil).List(t); len(l) != posts {
			t.Fatalf("home has %d statuses, want %d", len(l), posts)
		}
	}
	for range instances {
		cb.Must(200, "GET", "/api/v1/instance", nil)
	}
	cb.Must(404, "GET", "/api/v1/statuses/1", nil)
	cb.Do("BREW"+randomHex(4), "/api/v1/instance", nil) // any token is a method
	notifications(t, bob, "", posts)                    // the mentions, made by A's worker

	// A file served twice by B: a miss, then a hit of its edge cache.
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 3)
	}
	m := upload(alice, "/api/v1/media", "m.png", encodePNG(t, img))
	if m.Status != 200 {
		t.Fatalf("upload: %d %s", m.Status, m.Body)
	}
	fileURL := m.Map(t)["url"].(string)
	filePath := fileURL[strings.Index(fileURL, "/media/"):]
	cb.Must(200, "GET", filePath, nil)
	cb.Must(200, "GET", filePath, nil)

	// Consumer gauges are published every two seconds.
	var sa obsScrape
	startest.Eventually(t, 10*time.Second, "consumer gauges of every async worker on A, with no backlog", func() bool {
		sa = scrapeMetrics(t, a.URL())
		for _, c := range []string{"notify", "media-workers", "feed-view", "notify-view"} {
			if v, ok := sa.get("starling_consumer_pending_messages", "consumer", c); !ok || v != 0 {
				return false
			}
		}
		return true
	})
	sb := scrapeMetrics(t, b.URL())

	t.Run("per route on the gateway", func(t *testing.T) {
		wantMetric(t, sb, instances, "starling_http_requests_total", "route", "GET /api/v1/instance", "method", "GET", "status", "200")
		wantMetric(t, sb, instances, "starling_http_request_duration_seconds_count", "route", "GET /api/v1/instance", "method", "GET")
		wantMetric(t, sb, homes, "starling_http_requests_total", "route", "GET /api/v1/timelines/home", "status", "200")
		wantMetric(t, sb, posts, "starling_http_requests_total", "route", "POST /api/v1/statuses", "status", "200")
		wantMetric(t, sb, 1, "starling_http_requests_total", "route", "GET /api/v1/statuses/{id}", "status", "404")
		wantMetric(t, sb, 2, "starling_http_requests_total", "route", "GET /media/{id}/{name}", "status", "200")
		if v, _ := sb.get("starling_http_request_duration_seconds_bucket", "route", "GET /api/v1/instance", "le", "+Inf"); v != instances {
			t.Errorf("+Inf bucket of the instance route = %v, want %d", v, instances)
		}
		// Labels are route patterns, never raw paths; methods are the
		// standard ones or "other".
		for _, s := range sb {
			if r := s.labels["route"]; strings.Contains(r, alice.ID) || strings.Contains(r, "/media/"+strings.Split(filePath, "/")[2]) {
				t.Errorf("a raw path became a label: %v", s.labels)
			}
			if m, ok := s.labels["method"]; ok && strings.HasPrefix(m, "BREW") {
				t.Errorf("a client's method became a label: %v", s.labels)
			}
		}
		if _, ok := sb.get("starling_http_requests_total", "method", "other"); !ok {
			t.Errorf("no request counted under method=\"other\"")
		}
		wantMetric(t, sb, 0, "starling_http_shed_total", "class", "read")
		wantMetric(t, sb, 0, "starling_rate_limited_total", "limit", "signin")
		wantMetric(t, sb, 1, "starling_media_cache_requests_total", "result", "miss")
		wantMetric(t, sb, 1, "starling_media_cache_requests_total", "result", "hit")
		wantMetric(t, sb, 1, "starling_websocket_connections")
		wantMetric(t, sb, posts, "starling_websocket_events_sent_total", "event", "update")
		wantMetric(t, sb, posts, "starling_websocket_events_sent_total", "event", "notification")
		wantMetric(t, sb, 0, "starling_websocket_disconnects_total", "reason", "slow_consumer")
	})

	t.Run("per service endpoint over NATS, both ends", func(t *testing.T) {
		for _, c := range []struct {
			service, endpoint string
			n                 float64
		}{{"feed", "home", homes}, {"feed", "create_status", posts}, {"auth", "sign_up", 2}} {
			wantMetric(t, sb, c.n, "starling_rpc_client_requests_total", "service", c.service, "endpoint", c.endpoint, "code", "ok")
			wantMetric(t, sb, c.n, "starling_rpc_client_duration_seconds_count", "service", c.service, "endpoint", c.endpoint)
			wantMetric(t, sa, c.n, "starling_rpc_server_requests_total", "service", c.service, "endpoint", c.endpoint, "code", "ok")
			wantMetric(t, sa, c.n, "starling_rpc_server_duration_seconds_count", "service", c.service, "endpoint", c.endpoint)
		}
		wantMetric(t, sb, 1, "starling_rpc_client_requests_total", "service", "feed", "endpoint", "status", "code", "not_found")
		wantMetric(t, sb, 0, "starling_rpc_client_retries_total", "service", "feed", "endpoint", "home")
		for _, svc := range []string{"auth", "feed", "media", "notify"} {
			wantMetric(t, sb, 0, "starling_circuit_breaker_state", "service", svc)
			wantMetric(t, sb, 0, "starling_circuit_breaker_transitions_total", "service", svc, "state", "open")
		}
	})

	t.Run("async workers on the services node", func(t *testing.T) {
		wantMetric(t, sa, posts, "starling_fanout_delivery_lag_seconds_count")
		wantMetric(t, sa, posts, "starling_notifications_created_total", "type", "mention")
		wantMetric(t, sa, 1, "starling_notifications_created_total", "type", "follow")
		wantMetric(t, sa, 1, "starling_media_jobs_total", "result", "ok")
		for _, c := range []string{"notify", "media-workers", "feed-view", "notify-view"} {
			wantMetric(t, sa, 0, "starling_consumer_redelivered_messages", "consumer", c)
			if _, ok := sa.get("starling_consumer_ack_pending_messages", "consumer", c); !ok {
				t.Errorf("no ack-pending gauge for consumer %s", c)
			}
		}
		if v, _ := sa.get("starling_view_events_applied_total", "view", "feed"); v < posts {
			t.Errorf("feed view applied %v events, want at least %d", v, posts)
		}
	})

	t.Run("go runtime and process", func(t *testing.T) {
		for _, n := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "go_gc_duration_seconds_count", "process_resident_memory_bytes"} {
			if _, ok := sb.get(n); !ok {
				t.Errorf("no %s", n)
			}
		}
	})

	t.Run("the socket gauge goes back to 0", func(t *testing.T) {
		_ = ws.conn.Close(websocket.StatusNormalClosure, "")
		waitGauge(t, b.URL(), 0, "starling_websocket_connections")
	})

	live := names(sa, sb)
	has := func(name string) bool {
		return live[name] || live[name+"_bucket"] || live[name+"_total"]
	}

	t.Run("every metric of the Grafana dashboard exists", func(t *testing.T) {
		data, err := os.ReadFile("../deploy/grafana/starling-dashboard.json")
		if err != nil {
			t.Fatal(err)
		}
		var dash map[string]any
		if err := json.Unmarshal(data, &dash); err != nil {
			t.Fatalf("dashboard JSON: %v", err)
		}
		exprs := collectQueries(dash)
		if len(exprs) < 20 {
			t.Fatalf("only %d queries in the dashboard", len(exprs))
		}
		metricRE := regexp.MustCompile(`\b(?:starling|go|process)_[a-zA-Z0-9_]+`)
		used := map[string]bool{}
		for _, e := range exprs {
			for _, n := range metricRE.FindAllString(e, -1) {
				used[n] = true
				if !live[n] {
					t.Errorf("dashboard query %q uses %s, which the nodes do not export", e, n)
				}
			}
		}
		// The dashboard covers what the issue names.
		for _, want := range []string{
			"starling_http_requests_total", "starling_http_request_duration_seconds_bucket", "starling_rpc_client_requests_total",
			"starling_rpc_client_duration_seconds_bucket", "starling_circuit_breaker_state", "starling_http_shed_total",
			"starling_http_inflight_requests", "starling_rate_limited_total", "starling_consumer_pending_messages",
			"starling_consumer_redelivered_messages", "starling_fanout_delivery_lag_seconds_bucket", "starling_websocket_connections",
			"starling_media_cache_requests_total", "go_goroutines", "go_memstats_heap_inuse_bytes",
		} {
			if !used[want] {
				t.Errorf("the dashboard does not chart %s", want)
			}
		}
		prom, err := os.ReadFile("../deploy/prometheus/prometheus.yml")
		if err != nil || !strings.Contains(string(prom), "metrics_path: /metrics") || !strings.Contains(string(prom), "scrape_configs:") {
			t.Fatalf("deploy/prometheus/prometheus.yml: %v", err)
		}
		// And every metric the recording and alerting rules use (not the
		// names of recorded series, level:metric:operation).
		ruleMetricRE := regexp.MustCompile(`(?:^|[^:a-zA-Z0-9_])((?:starling|go|process)_[a-zA-Z0-9_]+)`)
		for _, file := range []string{"rules.yml", "alerts.yml"} {
			rules, err := os.ReadFile("../deploy/prometheus/" + file)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ruleMetricRE.FindAllStringSubmatch(string(rules), -1) {
				if n := m[1]; !live[n] {
					t.Errorf("deploy/prometheus/%s uses %s, which the nodes do not export", file, n)
				}
			}
		}
	})

	t.Run("docs/observability.md documents exactly the exported series", func(t *testing.T) {
		doc, err := os.ReadFile("../docs/observability.md")
		if err != nil {
			t.Fatal(err)
		}
		documented := map[string]bool{}
		for _, n := range regexp.MustCompile("`(starling_[a-z_]+)").FindAllStringSubmatch(string(doc), -1) {
			documented[n[1]] = true
			if !has(n[1]) {
				t.Errorf("docs/observability.md documents %s, which the nodes do not export", n[1])
			}
		}
		for n := range live {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
			if strings.HasPrefix(n, "starling_") && !documented[n] && !documented[base] {
				t.Errorf("%s is exported but not documented in docs/observability.md", n)
			}
		}
	})
}

// collectQueries returns every PromQL expression of a Grafana dashboard
// (panel targets, nested rows, template variable queries).
func collectQueries(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && (k == "expr" || k == "query") {
				out = append(out, s)
				continue
			}
			out = append(out, collectQueries(e)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, collectQueries(e)...)
		}
	}
	return out
}

// --- traces ---

// spansOf returns the exported spans of trace id.
func spansOf(exp *tracetest.InMemoryExporter, id trace.TraceID) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range exp.GetSpans() {
		if s.SpanContext.TraceID() == id {
			out = append(out, s)
		}
	}
	return out
}

// routeTrace waits for the server span of route and returns its trace ID
// (the route's last request's).
func routeTrace(t *testing.T, exp *tracetest.InMemoryExporter, route string) trace.TraceID {
	t.Helper()
	var id trace.TraceID
	startest.Eventually(t, 5*time.Second, "a span for "+route, func() bool {
		for _, s := range exp.GetSpans() {
			if s.Name == route && s.SpanKind == trace.SpanKindServer {
				id = s.SpanContext.TraceID()
			}
		}
		return id.IsValid()
	})
	return id
}

func spanNames(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	sort.Strings(out)
	return out
}

func instanceOf(s tracetest.SpanStub) string {
	for _, kv := range s.Resource.Attributes() {
		if kv.Key == "service.instance.id" {
			return kv.Value.AsString()
		}
	}
	return ""
}

// checkTree fails unless spans form one tree under the single span named
// root: one request, one trace.
func checkTree(t *testing.T, spans tracetest.SpanStubs, root string) {
	t.Helper()
	byID := map[trace.SpanID]tracetest.SpanStub{}
	roots := 0
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
	}
	for _, s := range spans {
		if s.Name == root && s.SpanKind == trace.SpanKindServer && s.Parent.SpanID() != (trace.SpanID{}) {
			if _, ok := byID[s.Parent.SpanID()]; ok {
				t.Errorf("route span %s has a parent in its trace", root)
			}
		}
		if _, ok := byID[s.Parent.SpanID()]; !ok {
			roots++
			if s.Name != root {
				t.Errorf("span %s (%s) is detached from the request's tree", s.Name, instanceOf(s))
			}
		}
	}
	if roots != 1 {
		t.Errorf("%d roots in the trace %v, want the one route span", roots, spanNames(spans))
	}
}

func hasSpan(spans tracetest.SpanStubs, name string, kind trace.SpanKind, instance string) *tracetest.SpanStub {
	for i, s := range spans {
		if s.Name == name && (kind == trace.SpanKindUnspecified || s.SpanKind == kind) && (instance == "" || instanceOf(s) == instance) {
			return &spans[i]
		}
	}
	return nil
}

// postTrace has bob follow alice and alice post a mention of bob, and
// returns the spans of the post's trace once the notification work it
// causes (on instance, or anywhere for "") is in it.
func postTrace(t *testing.T, exp *tracetest.InMemoryExporter, alice, bob *startest.User, instance string) tracetest.SpanStubs {
	t.Helper()
	follow(t, bob, alice)
	exp.Reset()
	post(t, alice, "traced @"+bob.Username)
	id := routeTrace(t, exp, "POST /api/v1/statuses")
	var spans tracetest.SpanStubs
	startest.Eventually(t, 10*time.Second, "the notification work in the post's trace", func() bool {
		spans = spansOf(exp, id)
		return hasSpan(spans, "notify.handle status", 0, instance) != nil
	})
	return spans
}

// TestTracing: a sign-up is one trace covering the gateway, the auth
// service and the engine; a post's trace holds its fan-out and the
// notification work it causes; over NATS, the trace context crosses with
// the request, so a split deployment gives the same single trace.
func TestTracing(t *testing.T) {
	t.Run("one node", func(t *testing.T) {
		exp := tracetest.NewInMemoryExporter()
		n := startest.Node(t, startest.WithTelemetry(obsTelemetry(t, "solo", exp)))
		c := startest.NewClient(t, n.URL())
		alice, bob := c.SignUp("talice"), c.SignUp("tbob")

		signup := spansOf(exp, routeTrace(t, exp, "POST /api/v1/accounts"))
		checkTree(t, signup, "POST /api/v1/accounts")
		for _, want := range []string{"auth.SignUp", "engine.put", "engine.get"} {
			if hasSpan(signup, want, 0, "") == nil {
				t.Errorf("sign-up trace %v has no %s span", spanNames(signup), want)
			}
		}

		spans := postTrace(t, exp, alice, bob, "")
		for _, want := range []string{"feed.CreateStatus", "engine.put", "feed.fanout"} {
			if hasSpan(spans, want, 0, "") == nil {
				t.Errorf("post trace %v has no %s span", spanNames(spans), want)
			}
		}
		checkTree(t, spans, "POST /api/v1/statuses")
	})

	t.Run("gateway on another node: the context crosses NATS", func(t *testing.T) {
		exp := tracetest.NewInMemoryExporter()
		a := startest.Node(t, startest.WithServices("auth", "feed", "media", "notify"), startest.WithTelemetry(obsTelemetry(t, "node-a", exp)))
		b := obsGatewayOn(t, a, startest.WithTelemetry(obsTelemetry(t, "node-b", exp)))
		c := startest.NewClient(t, b.URL())
		alice, bob := c.SignUp("xalice"), c.SignUp("xbob")

		signup := spansOf(exp, routeTrace(t, exp, "POST /api/v1/accounts"))
		checkTree(t, signup, "POST /api/v1/accounts")
		route := hasSpan(signup, "POST /api/v1/accounts", trace.SpanKindServer, "node-b")
		client := hasSpan(signup, "auth.sign_up", trace.SpanKindClient, "node-b")
		server := hasSpan(signup, "auth.sign_up", trace.SpanKindServer, "node-a")
		if route == nil || client == nil || server == nil {
			t.Fatalf("sign-up trace lacks the gateway, client or server span: %v", spanNames(signup))
		}
		if !server.Parent.IsRemote() || server.Parent.SpanID() != client.SpanContext.SpanID() {
			t.Errorf("node A's server span is not the child of node B's client span")
		}
		for _, want := range []string{"auth.SignUp", "engine.put"} {
			if hasSpan(signup, want, 0, "node-a") == nil {
				t.Errorf("sign-up trace %v has no %s span on node A", spanNames(signup), want)
			}
		}

		spans := postTrace(t, exp, alice, bob, "node-a")
		for _, want := range []struct {
			name     string
			kind     trace.SpanKind
			instance string
		}{
			{"POST /api/v1/statuses", trace.SpanKindServer, "node-b"},
			{"feed.create_status", trace.SpanKindClient, "node-b"},
			{"feed.create_status", trace.SpanKindServer, "node-a"},
			{"feed.CreateStatus", 0, "node-a"},
			{"engine.put", 0, "node-a"},
			{"feed.fanout", 0, "node-a"},
		} {
			if hasSpan(spans, want.name, want.kind, want.instance) == nil {
				t.Errorf("post trace %v has no %s span on %s", spanNames(spans), want.name, want.instance)
			}
		}
		checkTree(t, spans, "POST /api/v1/statuses")
	})
}

// --- logs ---

// TestLogs runs sign-up, sign-in (authorization code flow with PKCE), a
// post and a revocation, with failures on the way, through a node running
// everything and through a gateway-only node, with every logger at debug
// and spans exported to the same output. No password, token, client secret,
// authorization code or PKCE verifier may appear in it; every line of a
// request carries its request_id and trace_id.
func TestLogs(t *testing.T) {
	out := &syncBuffer{}
	logger := func() *slog.Logger { return telemetry.NewLogger(out, "json", slog.LevelDebug) }
	newTel := func(name string) *telemetry.Telemetry {
		tel, err := telemetry.New(context.Background(), logger(), telemetry.TraceConfig{Exporter: "stdout", Node: name}, out)
		if err != nil {
			t.Fatal(err)
		}
		return tel
	}
	telA, telB := newTel("node-a"), newTel("node-b")
	a := startest.Node(t, startest.WithTelemetry(telA), startest.WithEngine(func(c *engine.Config) { c.Logger = logger() }))
	b := obsGatewayOn(t, a, startest.WithTelemetry(telB), startest.WithEngine(func(c *engine.Config) { c.Logger = logger() }))

	var secrets []string
	secret := func(s string) string {
		if s == "" {
			t.Fatal("empty secret")
		}
		secrets = append(secrets, s)
		return s
	}
	const redirect = "https://app.example/cb"
	for i, base := range []string{a.URL(), b.URL()} {
		c := startest.NewClient(t, base)
		// Sign-up: an app, its client-credentials token, an account.
		clientID, clientSecret := c.App("read write", redirect)
		secret(clientSecret)
		appTok := secret(appToken(t, c, clientID, clientSecret, "read write"))
		name := fmt.Sprintf("logs%d%s", i, randomHex(3))
		password := secret("pw-" + randomHex(12))
		signUpToken := secret(c.As(appTok).Must(200, "POST", "/api/v1/accounts", startest.Form{"username": {name}, "email": {name + "@example.com"},
			"password": {password}, "agreement": {"true"}, "locale": {"en"}}).Map(t)["access_token"].(string))
		// A failed sign-in, then the authorization code flow with PKCE.
		verifier := secret("verifier-" + randomHex(24))
		sum := sha256.Sum256([]byte(verifier))
		q := url.Values{"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"read write"},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
		wrong := secret("wrong-" + randomHex(12))
		if resp := browserAuthorize(t, base, q, name, wrong); resp.StatusCode == http.StatusFound {
			t.Fatal("a wrong password signed in")
		} else {
			resp.Body.Close()
		}
		resp := browserAuthorize(t, base, q, name, password)
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || err != nil || loc.Query().Get("code") == "" {
			t.Fatalf("authorize: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		code := secret(loc.Query().Get("code"))
		c.Must(400, "POST", "/oauth/token", startest.Form{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {clientID},
			"client_secret": {clientSecret}, "redirect_uri": {redirect}, "code_verifier": {secret("bad-verifier-" + randomHex(24))}})
		token := secret(c.Must(200, "POST", "/oauth/token", startest.Form{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {clientID},
			"client_secret": {clientSecret}, "redirect_uri": {redirect}, "code_verifier": {verifier}}).Map(t)["access_token"].(string))
		// Using it, and a wrong one.
		user := c.As(token)
		user.Must(200, "POST", "/api/v1/statuses", startest.Form{"status": {"logged, not leaked"}})
		user.Must(200, "GET", "/api/v1/timelines/home", nil)
		c.As(secret("bogus-"+randomHex(16))).Must(401, "GET", "/api/v1/timelines/home", nil)
		c.Must(401, "GET", "/api/v1/timelines/home?access_token="+secret("query-"+randomHex(16)), nil)
		// Revocation, with a wrong client secret first.
		c.Must(401, "POST", "/oauth/revoke", startest.Form{"client_id": {clientID}, "client_secret": {secret("badsecret-" + randomHex(12))}, "token": {token}})
		c.Must(200, "POST", "/oauth/revoke", startest.Form{"client_id": {clientID}, "client_secret": {clientSecret}, "token": {token}})
		user.Must(401, "GET", "/api/v1/timelines/home", nil)
		c.As(signUpToken).Must(200, "GET", "/api/v1/accounts/verify_credentials", nil)
	}

	// A failing request with the caller's request ID and trace context,
	// through the gateway-only node (the lookup crosses NATS).
	traceID := randomHex(16)
	c := startest.NewClient(t, b.URL())
	c.Must(404, "GET", "/api/v1/statuses/12345", nil, "X-Request-Id", "obs-req-1", "traceparent", "00-"+traceID+"-"+randomHex(8)+"-01")

	// Flush the spans into the output too.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = telA.Shutdown(ctx)
	_ = telB.Shutdown(ctx)
	logs := out.String()

	for _, s := range secrets {
		if i := strings.Index(logs, s); i >= 0 {
			from := strings.LastIndexByte(logs[:i], '\n') + 1
			t.Errorf("a secret appears in the logs or spans: ...%s...", logs[from:min(len(logs), i+len(s)+200)])
		}
	}

	if !strings.Contains(logs, `"Name":"auth.SignUp"`) || !strings.Contains(logs, `"Name":"auth.sign_up"`) {
		t.Fatal("the spans are missing from the output")
	}
	var requestLines, ours int
	for line := range strings.Lines(logs) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] == nil {
			continue // a span
		}
		if m["route"] != nil || m["path"] != nil {
			requestLines++
			if m["request_id"] == nil || m["trace_id"] == nil {
				t.Errorf("a request's line without request_id and trace_id: %s", line)
			}
		}
		if m["request_id"] == "obs-req-1" {
			ours++
			if m["trace_id"] != traceID {
				t.Errorf("line of request obs-req-1 with trace_id %v, want the caller's %s: %s", m["trace_id"], traceID, line)
			}
		}
	}
	if requestLines < 20 || ours < 2 {
		t.Fatalf("%d request lines, %d of request obs-req-1: the debug logs are missing\n%s", requestLines, ours, logs)
	}
	t.Logf("%d log lines and spans checked (%d bytes), %d secrets", strings.Count(logs, "\n"), len(logs), len(secrets))
}

// --- in-flight caps ---

// holdSlot starts a request whose body never finishes: its handler holds
// an in-flight slot until the connection closes.
func holdSlot(t *testing.T, base, method, path, contentType string) net.Conn {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: 1000\r\n\r\n{", method, path, u.Host, contentType)
	return conn
}

// waitGauge waits until the gauge name{labels} reads want.
func waitGauge(t *testing.T, base string, want float64, name string, labels ...string) {
	t.Helper()
	startest.Eventually(t, 5*time.Second, fmt.Sprintf("%s%v at %v", name, labels, want), func() bool {
		v, _ := scrapeMetrics(t, base).get(name, labels...)
		return v == want
	})
}

// wantBusy fails unless r is a 503 with Retry-After.
func wantBusy(t *testing.T, what string, status int, h http.Header) {
	t.Helper()
	if status != 503 || h.Get("Retry-After") == "" {
		t.Errorf("%s: %d (Retry-After %q), want 503 with Retry-After", what, status, h.Get("Retry-After"))
	}
}

// TestInflightCapsCoverEveryPath holds in-flight slots with requests whose
// bodies never arrive and shows that OAuth pages and the streaming
// handshake are capped by their classes, that the node's cap covers every
// route but the operations endpoints, and that an established socket holds
// no slot.
func TestInflightCapsCoverEveryPath(t *testing.T) {
	n := startest.Node(t, startest.NoLimits(), func(c *node.Config) {
		c.Limits.Inflight = map[string]int{"read": 1, "write": 1, "auth": 1, "node": 3}
	})
	c := startest.NewClient(t, n.URL())
	u := c.SignUp("caps")
	clientID, _ := c.App("read", "urn:ietf:wg:oauth:2.0:oob")
	authorize := "/oauth/authorize?response_type=code&client_id=" + clientID + "&redirect_uri=urn:ietf:wg:oauth:2.0:oob&scope=read"
	dial := func() (*websocket.Conn, *http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return websocket.Dial(ctx, streamingURL(n.URL(), "?stream=user"), &websocket.DialOptions{Subprotocols: []string{u.Token}})
	}

	// The auth class: OAuth pages and endpoints.
	authHold := holdSlot(t, n.URL(), "POST", "/oauth/token", "application/x-www-form-urlencoded")
	waitGauge(t, n.URL(), 1, "starling_http_inflight_requests", "class", "auth")
	r := c.Do("GET", authorize, nil)
	wantBusy(t, "GET /oauth/authorize", r.Status, r.Header)
	r = c.Do("POST", "/oauth/authorize", startest.Form{"client_id": {clientID}})
	wantBusy(t, "POST /oauth/authorize", r.Status, r.Header)
	r = c.Do("POST", "/oauth/revoke", startest.Form{"client_id": {clientID}})
	wantBusy(t, "POST /oauth/revoke", r.Status, r.Header)
	r = c.Do("POST", "/api/v1/apps", startest.Form{"client_name": {"x"}, "redirect_uris": {"urn:ietf:wg:oauth:2.0:oob"}})
	wantBusy(t, "POST /api/v1/apps", r.Status, r.Header)

	// The read class: the streaming handshake.
	readHold := holdSlot(t, n.URL(), "POST", "/api/v1/anything", "application/json")
	waitGauge(t, n.URL(), 1, "starling_http_inflight_requests", "class", "read")
	if _, resp, err := dial(); err == nil || resp == nil {
		t.Errorf("streaming handshake past the read cap: err %v", err)
	} else {
		wantBusy(t, "streaming handshake", resp.StatusCode, resp.Header)
	}

	// The node: three requests in flight fill it; operations endpoints
	// still answer.
	writeHold := holdSlot(t, n.URL(), "POST", "/api/v1/statuses", "application/json")
	waitGauge(t, n.URL(), 3, "starling_http_inflight_requests", "class", "node")
	r = c.Do("GET", "/api/v1/streaming/health", nil)
	wantBusy(t, "GET /api/v1/streaming/health with the node full", r.Status, r.Header)
	for _, p := range []string{"/healthz", "/livez", "/readyz", "/metrics"} {
		if r := c.Do("GET", p, nil); r.Status != 200 {
			t.Errorf("%s with the node full: %d", p, r.Status)
		}
	}
	sc := scrapeMetrics(t, n.URL())
	wantMetric(t, sc, 4, "starling_http_shed_total", "class", "auth")
	wantMetric(t, sc, 1, "starling_http_shed_total", "class", "read")
	wantMetric(t, sc, 1, "starling_http_shed_total", "class", "node")
	wantMetric(t, sc, 1, "starling_http_requests_total", "route", "GET /api/v1/streaming/health", "status", "503")

	// Everything released: sockets open, and hold no slot once open.
	for _, conn := range []net.Conn{authHold, readHold, writeHold} {
		conn.Close()
	}
	waitGauge(t, n.URL(), 0, "starling_http_inflight_requests", "class", "node")
	waitGauge(t, n.URL(), 0, "starling_http_inflight_requests", "class", "read") // released after the node's slot
	for i := range 4 {
		ws, _, err := dial()
		if err != nil {
			t.Fatalf("socket %d: %v", i, err)
		}
		defer ws.CloseNow()
	}
	waitGauge(t, n.URL(), 4, "starling_websocket_connections")
	sc = scrapeMetrics(t, n.URL())
	wantMetric(t, sc, 0, "starling_http_inflight_requests", "class", "read")
	wantMetric(t, sc, 0, "starling_http_inflight_requests", "class", "node")
	c.Must(200, "GET", "/api/v1/instance", nil)
	u.Must(200, "GET", "/api/v1/timelines/home", nil)
	c.Must(200, "GET", authorize, nil)
}

// TestSignInIsRateLimited: the sign-in budget is per IP and covers the
// authorization form and the token endpoint alike, so guessing passwords
// stops at the limit whatever the answers were.
func TestSignInIsRateLimited(t *testing.T) {
	limits := gateway.DefaultLimits()
	limits.SignIn = gateway.Rate{N: 3, Per: time.Hour}
	n := startest.Node(t, startest.WithLimits(limits))
	c := startest.NewClient(t, n.URL())
	id, secret := c.App("read", "https://app.example/cb")
	grant := startest.Form{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "scope": {"read"}}
	c.Must(200, "POST", "/oauth/token", grant) // 1 of 3
	q := url.Values{"client_id": {id}, "redirect_uri": {"https://app.example/cb"}, "response_type": {"code"}, "scope": {"read"}}
	for i := range 3 { // 2 and 3 of 3, then refused
		resp := browserAuthorize(t, n.URL(), q, "nobody", fmt.Sprintf("guess-%d", i))
		resp.Body.Close()
		if limited := resp.StatusCode == http.StatusTooManyRequests; limited != (i == 2) {
			t.Fatalf("guess %d: status %d", i, resp.StatusCode)
		}
	}
	r := c.Do("POST", "/oauth/token", grant)
	if r.Status != 429 || r.Header.Get("X-RateLimit-Limit") != "3" || r.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("token request past the sign-in budget: %d %v", r.Status, r.Header)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000000Z", r.Header.Get("X-RateLimit-Reset")); err != nil {
		t.Fatalf("X-RateLimit-Reset %q is not ISO 8601", r.Header.Get("X-RateLimit-Reset"))
	}
	wantMetric(t, scrapeMetrics(t, n.URL()), 2, "starling_rate_limited_total", "limit", "signin")
}

// --- circuit breaker ---

// faultyFeed is a FeedService whose timelines, while broken is set, wait
// 200 ms and fail as an overloaded service does. Its calls are counted.
// Copies around each partition's service share one state.
type faultyFeed struct {
	starling.FeedService
	*faults
}

type faults struct {
	broken atomic.Bool
	calls  atomic.Int64
}

const faultDelay = 200 * time.Millisecond

func (f *faultyFeed) fault(ctx context.Context) error {
	f.calls.Add(1)
	if !f.broken.Load() {
		return nil
	}
	select {
	case <-time.After(faultDelay):
	case <-ctx.Done():
	}
	return starling.Unavailablef(time.Second, "feed overloaded (injected)")
}

func (f *faultyFeed) HomeTimeline(ctx context.Context, viewer starling.ID, p starling.Page) ([]*starling.Status, error) {
	if err := f.fault(ctx); err != nil {
		return nil, err
	}
	return f.FeedService.HomeTimeline(ctx, viewer, p)
}

func (f *faultyFeed) PublicTimeline(ctx context.Context, viewer starling.ID, q starling.TimelineQuery) ([]*starling.Status, error) {
	if err := f.fault(ctx); err != nil {
		return nil, err
	}
	return f.FeedService.PublicTimeline(ctx, viewer, q)
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// TestBreakerOpensFailsFastAndRecovers makes the Feed service slow and
// failing (a fault switch in a Feed instance the test serves over NATS)
// under a gateway-only node: the gateway's breaker for feed opens, feed
// routes answer 503 with Retry-After at once instead of waiting, routes
// of other services keep working, /readyz and /metrics report it, and all
// recovers once the service does.
func TestBreakerOpensFailsFastAndRecovers(t *testing.T) {
	a := startest.Node(t, startest.WithServices("auth", "media", "notify"))
	ctx := startest.Context(t)
	ids := startest.IDs(t, a.Engine())
	tel := telemetry.Discard()
	nc := a.Engine().Conn()
	faulty := &faults{}
	svc, err := feed.New(ctx, feed.Config{Engine: a.Engine(), IDs: ids, Auth: a.Auth, Media: a.Media, Telemetry: tel, PublicURL: &url.URL{Scheme: "http", Host: "localhost"},
		Expose: func(p int, s starling.FeedService, parts starling.FeedPartitions) (func(), error) {
			srv, err := remote.ServeFeedPartition(nc, tel, p, &faultyFeed{s, faulty}, parts)
			if err != nil {
				return nil, err
			}
			return func() { _ = srv.Stop() }, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	if err := svc.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err := remote.ServeFeed(nc, tel, &faultyFeed{svc, faulty})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })

	b := obsGatewayOn(t, a)
	c := startest.NewClient(t, b.URL())
	u := c.SignUp("brk")
	clientID, clientSecret := c.App("read", "urn:ietf:wg:oauth:2.0:oob")
	u.Must(200, "GET", "/api/v1/timelines/home", nil)
	c.Must(200, "GET", "/readyz", nil)
	// The user's calls go to the holder of their view partition: that
	// partition's breaker ("feed-p<n>") is the one that opens.
	breaker := func() float64 {
		var v float64
		for _, s := range scrapeMetrics(t, b.URL()) {
			if s.name == "starling_circuit_breaker_state" && strings.HasPrefix(s.labels["service"], "feed-p") {
				v = max(v, s.value)
			}
		}
		return v
	}

	// Broken: concurrent callers until the breaker opens.
	faulty.broken.Store(true)
	var mu sync.Mutex
	var slow []time.Duration
	var statuses = map[int]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				r, err := u.TryDo("GET", "/api/v1/timelines/home", nil)
				if err != nil {
					continue
				}
				mu.Lock()
				statuses[r.Status]++
				if time.Since(start) >= faultDelay {
					slow = append(slow, time.Since(start))
				}
				mu.Unlock()
			}
		}()
	}
	opened := time.Now()
	startest.Eventually(t, 20*time.Second, "the feed breaker to open", func() bool { return breaker() == 2 })
	close(stop)
	wg.Wait()
	t.Logf("breaker opened after %v; answers meanwhile %v; %d waited for the service, median %v", time.Since(opened).Round(time.Millisecond),
		statuses, len(slow), percentile(slow, 0.5).Round(time.Millisecond))

	// Open: fast 503s that never reach the service.
	reached := faulty.calls.Load()
	var fast []time.Duration
	for i := range 40 {
		start := time.Now()
		r := u.Do("GET", "/api/v1/timelines/home", nil)
		fast = append(fast, time.Since(start))
		if i%2 == 0 {
			r = u.Do("GET", "/api/v1/timelines/public", nil)
		}
		wantBusy(t, "timeline while the breaker is open", r.Status, r.Header)
		if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra < 1 || ra > 5 {
			t.Errorf("Retry-After %q, want the time left open (1-5 s)", r.Header.Get("Retry-After"))
		}
	}
	p50, p99 := percentile(fast, 0.5), percentile(fast, 0.99)
	t.Logf("while open: 40 home timeline requests answered 503 in p50 %v, p99 %v (the service takes %v)", p50, p99, faultDelay)
	if faulty.calls.Load() != reached {
		t.Errorf("%d calls reached the service while its breaker was open", faulty.calls.Load()-reached)
	}
	// A call that reached the broken service took 200 ms per attempt and
	// retried; these did not wait for it.
	if p50 > 25*time.Millisecond || p99 > 500*time.Millisecond {
		t.Errorf("503s not fast: p50 %v p99 %v", p50, p99)
	}

	// Other services' routes work; readiness and metrics say why not.
	c.Must(200, "GET", "/api/v1/instance", nil)
	u.Must(200, "GET", "/api/v1/preferences", nil)
	c.Must(200, "POST", "/api/v1/apps", startest.Form{"client_name": {"during"}, "redirect_uris": {"urn:ietf:wg:oauth:2.0:oob"}})
	c.Must(200, "POST", "/oauth/token", startest.Form{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {clientSecret}})
	c.Must(200, "GET", "/healthz", nil)
	c.Must(200, "GET", "/livez", nil)
	r := c.Do("GET", "/readyz", nil)
	if r.Status != 503 || !strings.Contains(string(r.Body), "feed") {
		t.Errorf("/readyz while open: %d %s", r.Status, r.Body)
	}
	sb := scrapeMetrics(t, b.URL())
	opens := 0.0
	for _, s := range sb {
		if s.name == "starling_circuit_breaker_transitions_total" && strings.HasPrefix(s.labels["service"], "feed-p") && s.labels["state"] == "open" {
			opens += s.value
		}
	}
	if opens < 1 {
		t.Errorf("no open transition counted")
	}
	wantMetric(t, sb, 0, "starling_circuit_breaker_state", "service", "auth")

	// The service recovers: half-open probes close the breaker.
	faulty.broken.Store(false)
	healed := time.Now()
	startest.Eventually(t, 20*time.Second, "feed routes to work again", func() bool {
		r, err := u.TryDo("GET", "/api/v1/timelines/home", nil)
		if err == nil && r.Status == 200 {
			return true
		}
		time.Sleep(100 * time.Millisecond)
		return false
	})
	startest.Eventually(t, 5*time.Second, "the breaker to close", func() bool {
		u.Do("GET", "/api/v1/timelines/home", nil)
		return breaker() == 0
	})
	c.Must(200, "GET", "/readyz", nil)
	t.Logf("recovered %v after the service did", time.Since(healed).Round(time.Millisecond))
}
