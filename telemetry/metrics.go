package telemetry

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds every Prometheus series Starling exports. Label values are
// bounded: routes are ServeMux patterns, services and endpoints are fixed
// names, codes are error codes or HTTP statuses. Safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	HTTPRequests   *prometheus.CounterVec   // route, method, status
	HTTPDuration   *prometheus.HistogramVec // route, method
	HTTPInflight   *prometheus.GaugeVec     // class
	HTTPShed       *prometheus.CounterVec   // class
	RateLimited    *prometheus.CounterVec   // limit
	RPCClient      *prometheus.CounterVec   // service, endpoint, code
	RPCClientDur   *prometheus.HistogramVec // service, endpoint
	RPCServer      *prometheus.CounterVec   // service, endpoint, code
	RPCServerDur   *prometheus.HistogramVec // service, endpoint
	RPCRetries     *prometheus.CounterVec   // service, endpoint
	BreakerState   *prometheus.GaugeVec     // service
	BreakerTrans   *prometheus.CounterVec   // service, state
	FanoutLag      prometheus.Histogram
	ViewApplied    *prometheus.CounterVec // view
	ConsumerPend   *prometheus.GaugeVec   // consumer
	ConsumerAckP   *prometheus.GaugeVec   // consumer
	ConsumerRedel  *prometheus.GaugeVec   // consumer
	WSConnections  prometheus.Gauge
	SSEConnections prometheus.Gauge
	WSEvents       *prometheus.CounterVec   // event
	WSDropped      *prometheus.CounterVec   // reason
	MediaCache     *prometheus.CounterVec   // result
	MediaJobs      *prometheus.CounterVec   // result
	Notifications  *prometheus.CounterVec   // type
	ViewParts      *prometheus.GaugeVec     // service, role
	ViewBytes      *prometheus.GaugeVec     // service
	ViewLoad       *prometheus.HistogramVec // service, how
	ViewSnapshots  *prometheus.CounterVec   // service, result
}

// latency buckets from 100µs to 10s.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// NewMetrics registers every series (and the Go runtime and process
// collectors) in a fresh registry.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{reg: reg}
	m.HTTPRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "starling_http_requests_total", Help: "HTTP requests served, by route pattern, method and status."}, []string{"route", "method", "status"})
	m.HTTPDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "starling_http_request_duration_seconds", Help: "HTTP request latency by route pattern.", Buckets: latencyBuckets}, []string{"route", "method"})
	m.HTTPInflight = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "starling_http_inflight_requests", Help: "HTTP requests in flight, by route class."}, []string{"class"})
	m.HTTPShed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "starling_http_shed_total", Help: "HTTP requests refused with 503 because the route class was at its in-flight limit."}, []string{"class"})
	m.RateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "starling_rate_limited_total", Help: "Requests refused with 429, by limit."}, []string{"limit"})
	m.RPCClient = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "starling_rpc_client_requests_total", Help: "Service calls made over NATS, by service, endpoint and result code."}, []string{"service", "endpoint", "code"})
	m.RPCClientDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "starling_rpc_client_duration_seconds", Help: "Latency of service calls over NATS, including retries.", Buckets: latencyBuckets}, []string{"service", "endpoint"})
	m.RPCServer = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "starling_rpc_server_requests_total", Help: "Service requests handled from NATS, by service, endpoint and result code."}, []string{"service", "endpoint", "code"})
	m.RPCServerDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "starling_rpc_server_duration_seconds", Help: "Time spent handling service requests from NATS.", Buckets: latencyBuckets}, []string{"service", "endpoint"})
	m.RPCRetries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "starling_rpc_client_retries_total", Help: "Retries of idempotent service calls."}, []string{"service", "endpoint"})
	m.BreakerState = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "starling_circuit_breaker_state", Help: "Circuit breaker state per downstream service: 0 closed, 1 half-open, 2 open."}, []string{"service"})
	m.BreakerTrans = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "starling_circuit_breaker_transitions_total", Help: "Circuit breaker state changes, by service and new state."}, []string{"service", "state"})
	m.FanoutLag = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "starling_fanout_delivery_lag_seconds", Help: "Time from a post being stored to its delivery into home timelines on this node.", Buckets: latencyBuckets})
	m.ViewApplied = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "starling_view_events_applied_total", Help: "Engine events applied to in-memory views, by view."}, []string{"view"})
	m.ConsumerPend = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "starling_consumer_pending_messages", Help: "Messages a JetStream consumer has not yet received (lag), by consumer."}, []string{"consumer"})
	m.ConsumerAckP = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "starling_consumer_ack_pending_messages", Help: "Messages delivered to a JetStream consumer and not yet acknowledged."}, []string{"consumer"})
	m.ConsumerRedel = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "starling_consumer_redelivered_messages", Help: "Messages a JetStream consumer is redelivering."}, []string{"consumer"})
	m.WSConnections = prometheus.NewGauge(prometheus.GaugeOpts{Name: "starling_websocket_connections", Help: "Open streaming WebSocket connections on this node."})
	m.SSEConnections = prometheus.NewGauge(prometheus.GaugeOpts{Name: "starling_sse_connections", Help: "Open streaming server-sent events connections on this node."})
	m.WSEvents = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "starling_websocket_events_sent_total", Help: "Streaming events sent to connections (WebSocket and server-sent events), by event."}, []string{"event"})
	m.WSDropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "starling_websocket_disconnects_total", Help: "Streaming connections (WebSocket and server-sent events) closed by the server, by reason."}, []string{"reason"})
	m.MediaCache = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "starling_media_cache_requests_total", Help: "Media object lookups in this node's edge cache, by result (hit or miss)."}, []string{"result"})
	m.MediaJobs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "starling_media_jobs_total", Help: "Media processing jobs finished, by result."}, []string{"result"})
	m.Notifications = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "starling_notifications_created_total", Help: "Notifications stored, by type."}, []string{"type"})
	m.ViewParts = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "starling_view_partitions", Help: "View partitions this node holds, by service and role (owner: serves it; standby: takes it over when its owner goes)."}, []string{"service", "role"})
	m.ViewBytes = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "starling_view_bytes", Help: "Estimated memory of the view partitions this node owns, by service (caches excluded)."}, []string{"service"})
	m.ViewLoad = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "starling_view_partition_load_seconds", Help: "Time to load a view partition (snapshot and stream tail) before serving it, by service and how it was obtained (start, takeover, handoff).", Buckets: latencyBuckets}, []string{"service", "how"})
	m.ViewSnapshots = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "starling_view_snapshots_total", Help: "Snapshots of view partitions written, by service and result."}, []string{"service", "result"})
	for _, c := range []prometheus.Collector{
		m.HTTPRequests, m.HTTPDuration, m.HTTPInflight, m.HTTPShed, m.RateLimited,
		m.RPCClient, m.RPCClientDur, m.RPCServer, m.RPCServerDur, m.RPCRetries,
		m.BreakerState, m.BreakerTrans, m.FanoutLag, m.ViewApplied,
		m.ConsumerPend, m.ConsumerAckP, m.ConsumerRedel,
		m.WSConnections, m.SSEConnections, m.WSEvents, m.WSDropped, m.MediaCache, m.MediaJobs, m.Notifications,
		m.ViewParts, m.ViewBytes, m.ViewLoad, m.ViewSnapshots,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		f(c)
	}
	return m
}

// Registry returns the registry, for registering component-specific
// collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Since returns the seconds elapsed since t, for histograms.
func Since(t time.Time) float64 { return time.Since(t).Seconds() }
