package monitoring

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// span is a received span with the node (service.instance.id) that sent
// it.
type span struct {
	node string
	*tracepb.Span
}

// otlpReceiver is an OTLP/HTTP trace receiver, as a collector runs:
// POST /v1/traces with an ExportTraceServiceRequest in protobuf (or JSON),
// optionally gzipped.
type otlpReceiver struct {
	url string

	mu    sync.Mutex
	spans []span
	errs  []string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *otlpReceiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != "POST" || req.URL.Path != "/v1/traces" {
		r.fail("unexpected %s %s", req.Method, req.URL.Path)
		http.NotFound(w, req)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			r.fail("gzip: %v", err)
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(io.LimitReader(body, 16<<20))
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	var msg coltracepb.ExportTraceServiceRequest
	ct := req.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/x-protobuf"):
		err = proto.Unmarshal(data, &msg)
	case strings.HasPrefix(ct, "application/json"):
		err = protojson.Unmarshal(data, &msg)
	default:
		r.fail("content type %q", ct)
		http.Error(w, "unsupported content type", 415)
		return
	}
	if err != nil {
		r.fail("decode: %v", err)
		http.Error(w, err.Error(), 400)
		return
	}
	r.mu.Lock()
	for _, rs := range msg.ResourceSpans {
		node := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.instance.id" {
				node = kv.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				r.spans = append(r.spans, span{node, s})
			}
		}
	}
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (r *otlpReceiver) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// trace returns the spans received so far of one trace.
func (r *otlpReceiver) trace(id []byte) []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []span
	for _, s := range r.spans {
		if bytes.Equal(s.TraceId, id) {
			out = append(out, s)
		}
	}
	return out
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// checkTrace sends one request to the gateway-only node as part of a trace
// the test starts (W3C traceparent), and checks what the nodes exported
// over OTLP: spans from the gateway and from the node that served the
// service call, all in that trace, forming one tree under the test's span,
// the remote service's server span a child of the gateway's client span.
func checkTrace(t *testing.T, otlp *otlpReceiver, gw node) {
	traceID, parentID := randomBytes(16), randomBytes(8)
	c := client{t: t, base: gw.url}
	c.call("POST", "/api/v1/apps", url.Values{"client_name": {"traced"}, "redirect_uris": {"urn:ietf:wg:oauth:2.0:oob"}},
		http.Header{"Traceparent": {"00-" + hex.EncodeToString(traceID) + "-" + hex.EncodeToString(parentID) + "-01"}})

	var spans []span
	var remote *span
	deadline := time.Now().Add(15 * time.Second)
	for remote == nil && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		spans = otlp.trace(traceID)
		byID := map[string]span{}
		for _, s := range spans {
			byID[string(s.SpanId)] = s
		}
		for i, s := range spans {
			p, ok := byID[string(s.ParentSpanId)]
			if ok && s.node != gw.name && s.Kind == tracepb.Span_SPAN_KIND_SERVER && p.node == gw.name && p.Kind == tracepb.Span_SPAN_KIND_CLIENT {
				remote = &spans[i]
			}
		}
	}
	if remote == nil {
		t.Fatalf("no server span on another node under a client span of %s; the trace has %d spans: %v", gw.name, len(spans), describe(spans))
	}
	t.Logf("trace %x: %d spans: %v", traceID, len(spans), describe(spans))

	// One tree: the gateway's server span is the only child of the test's
	// span, every other span's parent is in the trace.
	ids := map[string]bool{}
	nodes := map[string]bool{}
	for _, s := range spans {
		ids[string(s.SpanId)] = true
		nodes[s.node] = true
	}
	roots := 0
	for _, s := range spans {
		switch {
		case bytes.Equal(s.ParentSpanId, parentID):
			roots++
			if s.node != gw.name || s.Kind != tracepb.Span_SPAN_KIND_SERVER || s.Name != "POST /api/v1/apps" {
				t.Errorf("the trace's first span is %q (%v) on %s, want the gateway's POST /api/v1/apps", s.Name, s.Kind, s.node)
			}
		case !ids[string(s.ParentSpanId)]:
			t.Errorf("span %q on %s has a parent outside the trace", s.Name, s.node)
		}
	}
	if roots != 1 || len(nodes) < 2 {
		t.Errorf("%d spans continue the caller's span, spans come from %v: want one tree over two nodes", roots, nodes)
	}
	otlp.mu.Lock()
	defer otlp.mu.Unlock()
	if len(otlp.errs) > 0 {
		t.Errorf("the receiver refused exports: %v", otlp.errs)
	}
}

func describe(spans []span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.node+":"+s.Name)
	}
	return out
}
