package telemetry

import (
	"context"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Telemetry bundles a process's logger, metrics and tracer.
type Telemetry struct {
	Log     *slog.Logger
	Metrics *Metrics
	Tracer  trace.Tracer

	provider trace.TracerProvider
	shutdown func(context.Context) error
}

// New builds the process's telemetry: logs go to log, spans as cfg says.
func New(ctx context.Context, log *slog.Logger, cfg TraceConfig, stdout io.Writer) (*Telemetry, error) {
	tp, shutdown, err := newTracerProvider(ctx, cfg, stdout)
	if err != nil {
		return nil, err
	}
	return &Telemetry{
		Log:      log,
		Metrics:  NewMetrics(),
		Tracer:   tp.Tracer("github.com/starling-social/starling"),
		provider: tp,
		shutdown: shutdown,
	}, nil
}

// Discard returns telemetry that logs nothing and records no spans, for
// tests and tools.
func Discard() *Telemetry {
	t, _ := New(context.Background(), slog.New(slog.DiscardHandler), TraceConfig{}, io.Discard)
	return t
}

// Shutdown flushes spans still buffered.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}
