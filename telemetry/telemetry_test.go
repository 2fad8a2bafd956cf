package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/starling-social/starling/telemetry"
)

func TestLoggerAddsRequestAndTraceIDs(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			log := telemetry.NewLogger(&buf, format, slog.LevelDebug)
			tel, err := telemetry.New(context.Background(), log, telemetry.TraceConfig{SpanExporter: exp}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, span := tel.Tracer.Start(telemetry.WithRequestID(context.Background(), "r-1"), "op")
			defer span.End()
			traceID := span.SpanContext().TraceID().String()

			// Derived loggers (With, WithGroup) keep adding the IDs.
			log.With("component", "x").DebugContext(ctx, "in a request", "k", 1)
			log.WithGroup("g").InfoContext(ctx, "grouped", "k", 2)
			log.Info("no context")
			log.DebugContext(context.Background(), "empty context")
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != 4 {
				t.Fatalf("%d lines:\n%s", len(lines), buf.String())
			}
			for i, line := range lines {
				hasIDs := strings.Contains(line, "r-1") && strings.Contains(line, traceID)
				if want := i < 2; hasIDs != want {
					t.Errorf("line %d carries request and trace IDs: %v, want %v: %s", i, hasIDs, want, line)
				}
				if format == "json" {
					var m map[string]any
					if err := json.Unmarshal([]byte(line), &m); err != nil {
						t.Fatalf("line %d is not JSON: %s", i, line)
					}
					if i < 2 && (m["request_id"] != "r-1" || m["trace_id"] != traceID) {
						t.Errorf("line %d: request_id %v trace_id %v (IDs must be top-level fields)", i, m["request_id"], m["trace_id"])
					}
					if g, _ := m["g"].(map[string]any); i == 1 && (g == nil || g["k"] != 2.0) {
						t.Errorf("grouped attribute lost: %s", line)
					}
				} else if i < 2 && (!strings.Contains(line, "request_id=r-1") || !strings.Contains(line, "trace_id="+traceID)) {
					t.Errorf("text line %d: %s", i, line)
				}
			}
		})
	}
	t.Run("level", func(t *testing.T) {
		var buf bytes.Buffer
		log := telemetry.NewLogger(&buf, "json", slog.LevelWarn)
		log.Info("dropped")
		log.Warn("kept")
		if strings.Contains(buf.String(), "dropped") || !strings.Contains(buf.String(), "kept") {
			t.Fatalf("level filter: %s", buf.String())
		}
	})
}

func TestTraceExporters(t *testing.T) {
	ctx := context.Background()
	discard := slog.New(slog.DiscardHandler)

	t.Run("none still gives IDs for logs and propagation, records nothing", func(t *testing.T) {
		tel, err := telemetry.New(ctx, discard, telemetry.TraceConfig{Exporter: "none"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, span := tel.Tracer.Start(ctx, "op")
		if !span.SpanContext().IsValid() || span.IsRecording() || span.SpanContext().IsSampled() {
			t.Fatalf("span valid=%v recording=%v sampled=%v", span.SpanContext().IsValid(), span.IsRecording(), span.SpanContext().IsSampled())
		}
		span.End()
		_ = tel.Shutdown(ctx)
	})

	t.Run("stdout", func(t *testing.T) {
		var out bytes.Buffer
		tel, err := telemetry.New(ctx, discard, telemetry.TraceConfig{Exporter: "stdout", Node: "node-1"}, &out)
		if err != nil {
			t.Fatal(err)
		}
		_, span := tel.Tracer.Start(ctx, "stdout-op")
		span.End()
		if err := tel.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "stdout-op") || !strings.Contains(out.String(), "node-1") {
			t.Fatalf("stdout exporter wrote: %s", out.String())
		}
	})

	t.Run("file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "spans.json")
		tel, err := telemetry.New(ctx, discard, telemetry.TraceConfig{Exporter: "file:" + path}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, span := tel.Tracer.Start(ctx, "file-op")
		span.End()
		if err := tel.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(data), "file-op") {
			t.Fatalf("file exporter wrote %q (%v)", data, err)
		}
	})

	t.Run("otlp to OTEL_EXPORTER_OTLP_ENDPOINT", func(t *testing.T) {
		// A collector that records what it receives.
		got := make(chan string, 10)
		srv := httptest.NewServer(httpHandlerFunc(func(path string) { got <- path }))
		defer srv.Close()
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
		tel, err := telemetry.New(ctx, discard, telemetry.TraceConfig{Exporter: "otlp"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, span := tel.Tracer.Start(ctx, "otlp-op")
		span.End()
		if err := tel.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-got:
			if p != "/v1/traces" {
				t.Fatalf("OTLP export to %s, want /v1/traces", p)
			}
		default:
			t.Fatal("nothing exported to the OTLP endpoint")
		}
	})

	t.Run("otlp to an explicit base URL", func(t *testing.T) {
		got := make(chan string, 10)
		srv := httptest.NewServer(httpHandlerFunc(func(path string) { got <- path }))
		defer srv.Close()
		for base, want := range map[string]string{srv.URL: "/v1/traces", srv.URL + "/": "/v1/traces", srv.URL + "/otlp": "/otlp/v1/traces"} {
			tel, err := telemetry.New(ctx, discard, telemetry.TraceConfig{Exporter: "otlp", Endpoint: base}, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, span := tel.Tracer.Start(ctx, "otlp-op")
			span.End()
			if err := tel.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case p := <-got:
				if p != want {
					t.Errorf("endpoint %s: export to %s, want %s", base, p, want)
				}
			default:
				t.Errorf("endpoint %s: nothing exported", base)
			}
		}
		if _, err := telemetry.New(ctx, discard, telemetry.TraceConfig{Exporter: "otlp", Endpoint: "collector:4318"}, nil); err == nil {
			t.Error("an endpoint without a scheme was accepted")
		}
	})

	t.Run("unknown exporter", func(t *testing.T) {
		if _, err := telemetry.New(ctx, discard, telemetry.TraceConfig{Exporter: "jaeger"}, nil); err == nil {
			t.Fatal("unknown exporter accepted")
		}
	})
}

func TestHeaderCarrierRoundTrip(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tel, err := telemetry.New(context.Background(), slog.New(slog.DiscardHandler), telemetry.TraceConfig{SpanExporter: exp}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tel.Tracer.Start(context.Background(), "op")
	defer span.End()
	h := map[string][]string{}
	telemetry.Inject(ctx, h)
	if len(h["traceparent"]) != 1 {
		t.Fatalf("headers after Inject: %v", h)
	}
	got := trace.SpanContextFromContext(telemetry.Extract(context.Background(), h))
	if got.TraceID() != span.SpanContext().TraceID() || got.SpanID() != span.SpanContext().SpanID() || !got.IsRemote() {
		t.Fatalf("extracted %v, want %v", got, span.SpanContext())
	}
}

func TestMetricsHandlerServesEverySeries(t *testing.T) {
	m := telemetry.NewMetrics()
	m.HTTPRequests.WithLabelValues("GET /x", "GET", "200").Inc()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`starling_http_requests_total{method="GET",route="GET /x",status="200"} 1`,
		"# TYPE starling_fanout_delivery_lag_seconds histogram",
		"starling_websocket_connections 0",
		"go_goroutines ", "go_memstats_heap_inuse_bytes ", "process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// httpHandlerFunc answers every request 200 after telling seen its path.
func httpHandlerFunc(seen func(path string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		seen(r.URL.Path)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})
}
