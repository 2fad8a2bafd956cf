package telemetry

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TraceConfig chooses where spans go.
type TraceConfig struct {
	// Exporter is "" or "none" (spans get IDs for logs but are not
	// recorded), "stdout", "file:PATH" or "otlp" (OTLP over HTTP to
	// Endpoint, or, when Endpoint is empty, where the OTEL_EXPORTER_OTLP_*
	// environment variables say).
	Exporter string
	// Endpoint is the OTLP collector's base URL, with the meaning of
	// OTEL_EXPORTER_OTLP_ENDPOINT: spans are sent to Endpoint/v1/traces.
	Endpoint string
	// SpanExporter, when set, overrides Exporter (tests use an in-memory
	// exporter).
	SpanExporter sdktrace.SpanExporter
	// Node names this process in the spans' resource.
	Node string
}

// Propagator is the W3C trace-context propagator used on every hop.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// newTracerProvider builds the provider for cfg. Without an exporter it
// still creates span contexts (so logs carry trace IDs and context crosses
// hops) but records nothing.
func newTracerProvider(ctx context.Context, cfg TraceConfig, stdout io.Writer) (*sdktrace.TracerProvider, func(context.Context) error, error) {
	exp := cfg.SpanExporter
	var closeFile func() error
	if exp == nil {
		var err error
		switch kind := cfg.Exporter; {
		case kind == "" || kind == "none":
		case kind == "stdout":
			exp, err = stdouttrace.New(stdouttrace.WithWriter(stdout))
		case strings.HasPrefix(kind, "file:"):
			f, ferr := os.OpenFile(strings.TrimPrefix(kind, "file:"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if ferr != nil {
				return nil, nil, fmt.Errorf("trace file: %w", ferr)
			}
			closeFile = f.Close
			exp, err = stdouttrace.New(stdouttrace.WithWriter(f))
		case kind == "otlp":
			var opts []otlptracehttp.Option
			if cfg.Endpoint != "" {
				// A base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is: the
				// exporter takes an explicit URL as the full path, so the
				// signal's path is added here.
				u, perr := url.Parse(cfg.Endpoint)
				if perr != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
					return nil, nil, fmt.Errorf("OTLP endpoint %q: want an http(s) URL", cfg.Endpoint)
				}
				u.Path = strings.TrimRight(u.Path, "/") + "/v1/traces"
				opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
			}
			exp, err = otlptracehttp.New(ctx, opts...)
		default:
			return nil, nil, fmt.Errorf("unknown trace exporter %q (want none, stdout, file:PATH or otlp)", kind)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("trace exporter: %w", err)
		}
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", "starling"),
		attribute.String("service.instance.id", cfg.Node),
	)
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if exp != nil {
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
		if cfg.SpanExporter != nil {
			opts = append(opts, sdktrace.WithSyncer(exp))
		} else {
			opts = append(opts, sdktrace.WithBatcher(exp))
		}
	} else {
		opts = append(opts, sdktrace.WithSampler(sdktrace.NeverSample()))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	shutdown := func(ctx context.Context) error {
		err := tp.Shutdown(ctx)
		if closeFile != nil {
			_ = closeFile()
		}
		return err
	}
	return tp, shutdown, nil
}

// HeaderCarrier adapts NATS message headers (exact-case keys) to the
// propagator. HTTP headers use propagation.HeaderCarrier instead.
type HeaderCarrier map[string][]string

// Get returns the first value of key.
func (h HeaderCarrier) Get(key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set sets key to value.
func (h HeaderCarrier) Set(key, value string) { h[key] = []string{value} }

// Keys lists the keys present.
func (h HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes ctx's trace context into headers.
func Inject(ctx context.Context, headers map[string][]string) {
	Propagator.Inject(ctx, HeaderCarrier(headers))
}

// Extract returns ctx with the remote trace context found in headers.
func Extract(ctx context.Context, headers map[string][]string) context.Context {
	return Propagator.Extract(ctx, HeaderCarrier(headers))
}

// SpanError records err on span and marks it failed.
func SpanError(span trace.Span, err error) {
	if err == nil {
		return
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}
