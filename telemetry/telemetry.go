// Package telemetry gives every part of Starling the same observability:
// structured logs that carry the request and trace IDs of the context they
// are written in, Prometheus metrics with bounded labels, and OpenTelemetry
// traces whose context crosses HTTP and NATS hops.
//
// A Telemetry value is made once per process by main and passed to every
// component; nothing here is global except the OpenTelemetry propagator.
package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

type ctxKey int

const requestIDKey ctxKey = iota

// WithRequestID returns a context carrying the request ID id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the request ID carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// NewRequestID returns a random 16-hex-digit request ID.
func NewRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewLogger returns a logger writing to w in format "json" or "text" at
// level. Every record logged with a context gets that context's request_id
// and trace_id attributes, at the top level even under WithGroup.
func NewLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if strings.EqualFold(format, "text") {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(contextHandler{base: h})
}

// contextHandler adds request and trace IDs from the record's context.
// Attributes added before any group go to base at once; after a group is
// opened, groups and attributes are kept and replayed per record on top of
// the IDs, so the IDs stay top-level fields.
type contextHandler struct {
	base   slog.Handler
	groups []groupOrAttrs
}

type groupOrAttrs struct {
	group string // a group, or (when "") attributes
	attrs []slog.Attr
}

// idAttrs returns ctx's request_id and trace_id attributes.
func idAttrs(ctx context.Context) []slog.Attr {
	if ctx == nil {
		return nil
	}
	var ids []slog.Attr
	if id := RequestID(ctx); id != "" {
		ids = append(ids, slog.String("request_id", id))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		ids = append(ids, slog.String("trace_id", sc.TraceID().String()))
	}
	return ids
}

func (h contextHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.base.Enabled(ctx, l)
}

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	ids := idAttrs(ctx)
	if len(h.groups) == 0 {
		r.AddAttrs(ids...)
		return h.base.Handle(ctx, r)
	}
	hh := h.base
	if len(ids) > 0 {
		hh = hh.WithAttrs(ids)
	}
	for _, g := range h.groups {
		if g.group != "" {
			hh = hh.WithGroup(g.group)
		} else {
			hh = hh.WithAttrs(g.attrs)
		}
	}
	return hh.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(h.groups) == 0 {
		return contextHandler{base: h.base.WithAttrs(attrs)}
	}
	return contextHandler{base: h.base, groups: append(slices.Clip(h.groups), groupOrAttrs{attrs: attrs})}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return contextHandler{base: h.base, groups: append(slices.Clip(h.groups), groupOrAttrs{group: name})}
}
