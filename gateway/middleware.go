package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/starling-social/starling/telemetry"
)

// apiCSP is the Content-Security-Policy of API responses: nothing may be
// loaded or framed from them.
const apiCSP = "default-src 'none'; frame-ancestors 'none'"

// middleware wraps every request: request ID, trace span, deadline, CORS,
// security headers, the node's in-flight cap, panic recovery, metrics and
// the request log line.
func (s *Server) middleware(next http.Handler) http.Handler {
	requests, duration := s.tel.Metrics.HTTPRequests, s.tel.Metrics.HTTPDuration
	nodeCap := s.shed["node"]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = telemetry.NewRequestID()
		}
		ctx := telemetry.WithRequestID(r.Context(), id)
		ctx = telemetry.Propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
		streaming := strings.HasPrefix(r.URL.Path, "/api/v1/streaming")
		if !streaming {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, s.cfg.RequestTimeout)
			defer cancel()
		}
		ctx, span := s.tel.Tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()

		h := w.Header()
		h.Set("X-Request-Id", id)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		if isCORSPath(r.URL.Path) {
			h.Set("Access-Control-Allow-Origin", "*")
			h.Set("Access-Control-Expose-Headers", "Link, X-RateLimit-Reset, X-RateLimit-Limit, X-RateLimit-Remaining, X-Request-Id, Idempotency-Key")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "POST, PUT, DELETE, GET, PATCH, OPTIONS")
				if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
					h.Set("Access-Control-Allow-Headers", rh)
				}
				h.Set("Access-Control-Max-Age", "7200")
				writeRaw(w, http.StatusOK, []byte("{}"))
				return
			}
		}

		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		r2 := r.WithContext(ctx)
		var route string
		// The node's cap bounds every request but the operations endpoints,
		// which must answer (probes, scrapes) however busy the node is.
		if ops := isOpsPath(r.URL.Path); ops || nodeCap.acquire(rec) {
			if !ops {
				rec.slot = nodeCap
			}
			func() {
				defer rec.releaseSlot()
				defer func() {
					if p := recover(); p != nil {
						if p == http.ErrAbortHandler {
							panic(p)
						}
						s.log.ErrorContext(ctx, "panic serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
						if !rec.wrote {
							writeJSON(rec, http.StatusInternalServerError, errorBody{Error: "Internal error"})
						}
					}
				}()
				next.ServeHTTP(rec, r2)
			}()
			route = r2.Pattern
		} else {
			_, route = s.mux.Handler(r2) // shed: count it under the route it asked for
		}
		if route == "" {
			route = "unmatched"
		}
		span.SetName(route)
		span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", rec.status))
		if rec.status >= 500 {
			span.SetStatus(2, http.StatusText(rec.status))
		}
		elapsed := time.Since(start)
		method := methodLabel(r.Method)
		requests.WithLabelValues(route, method, statusLabel(rec.status)).Inc()
		duration.WithLabelValues(route, method).Observe(elapsed.Seconds())
		level := slog.LevelDebug
		switch {
		case rec.status >= 500:
			level = slog.LevelWarn
		case elapsed > time.Second && !streaming:
			level = slog.LevelInfo
		}
		if s.log.Enabled(ctx, level) {
			s.log.LogAttrs(ctx, level, "request", slog.String("method", r.Method), slog.String("route", route),
				slog.Int("status", rec.status), slog.Duration("duration", elapsed), slog.Int("bytes", rec.bytes))
		}
	})
}

// isOpsPath reports whether p is an operations endpoint, exempt from the
// node's in-flight cap.
func isOpsPath(p string) bool {
	return p == "/metrics" || p == "/healthz" || p == "/livez" || p == "/readyz" || p == "/health"
}

func isCORSPath(p string) bool {
	return strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/oauth/token") || strings.HasPrefix(p, "/oauth/revoke") ||
		strings.HasPrefix(p, "/.well-known/") || strings.HasPrefix(p, "/nodeinfo/")
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

var statusLabels = func() map[int]string {
	m := map[int]string{}
	for code := 100; code < 600; code++ {
		if http.StatusText(code) != "" {
			m[code] = fmt.Sprint(code)
		}
	}
	return m
}()

// methodLabel bounds the method label to the standard methods: a client
// may send any token as a method.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// statusLabel bounds the status label to known statuses.
func statusLabel(code int) string {
	if l, ok := statusLabels[code]; ok {
		return l
	}
	return "other"
}

// recorder notes the status and size of a response, and turns the plain
// text 404 and 405 answers of ServeMux into Mastodon's JSON error body.
type recorder struct {
	http.ResponseWriter
	status  int
	bytes   int
	wrote   bool
	swallow bool
	// slot is the node in-flight slot the request holds, released when
	// the handler returns or takes over the connection; onHijack holds
	// the other slots to release then (route classes).
	slot     *inflightCap
	onHijack []func()
}

// releaseSlot gives back the request's node slot, once.
func (r *recorder) releaseSlot() {
	if r.slot != nil {
		r.slot.release()
		r.slot = nil
	}
}

// onHijack arranges for f to run when the handler behind w takes over the
// connection (a WebSocket upgrade): a socket's long life must not hold an
// in-flight slot meant for requests.
func onHijack(w http.ResponseWriter, f func()) {
	if rec, ok := w.(*recorder); ok {
		rec.onHijack = append(rec.onHijack, f)
	}
}

func (r *recorder) WriteHeader(code int) {
	if r.wrote {
		return
	}
	r.wrote = true
	r.status = code
	if code == http.StatusSwitchingProtocols {
		// net/http sends the 101 when the handler hijacks the connection,
		// and the client may open its next socket at once: give the slots
		// back before that.
		r.releaseUpgraded()
	}
	h := r.Header()
	if (code == http.StatusMethodNotAllowed || code == http.StatusNotFound) && strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		r.swallow = true
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Del("X-Content-Type-Options")
		h.Set("X-Content-Type-Options", "nosniff")
		r.ResponseWriter.WriteHeader(code)
		msg := `{"error":"Record not found"}`
		if code == http.StatusMethodNotAllowed {
			msg = `{"error":"Method not allowed"}`
		}
		n, _ := r.ResponseWriter.Write([]byte(msg))
		r.bytes += n
		return
	}
	if h.Get("Content-Security-Policy") == "" {
		h.Set("Content-Security-Policy", apiCSP)
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	if r.swallow {
		return len(b), nil
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("hijacking not supported")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	r.wrote = true
	r.status = http.StatusSwitchingProtocols
	r.releaseUpgraded()
	return conn, brw, nil
}

// releaseUpgraded gives back the slots of a request that became a socket.
func (r *recorder) releaseUpgraded() {
	r.releaseSlot()
	for _, f := range r.onHijack {
		f()
	}
	r.onHijack = nil
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
