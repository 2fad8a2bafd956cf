package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/starling-social/starling/internal/startest"
)

// TestServeExportsSpansToOTLPEndpoint: with only OTEL_EXPORTER_OTLP_ENDPOINT
// set (the OpenTelemetry convention), `starling serve` sends its spans over
// OTLP/HTTP to <endpoint>/v1/traces, flushed at shutdown.
func TestServeExportsSpansToOTLPEndpoint(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	var body bytes.Buffer
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		paths = append(paths, r.URL.Path)
		body.Write(b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()

	env := map[string]string{"STARLING_DATA": t.TempDir(), "STARLING_HTTP": "127.0.0.1:0", "STARLING_NATS_LISTEN": "127.0.0.1:-1",
		"STARLING_LOG_LEVEL": "warn", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL}
	url, stop := serveInProcess(t, env)
	startest.NewClient(t, url).Must(200, "GET", "/api/v1/instance", nil)
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) == 0 || paths[0] != "/v1/traces" {
		t.Fatalf("the collector got exports at %v, want /v1/traces", paths)
	}
	if !bytes.Contains(body.Bytes(), []byte("GET /api/v1/instance")) {
		t.Fatalf("the request's span is not in the export (%d bytes)", body.Len())
	}
}
