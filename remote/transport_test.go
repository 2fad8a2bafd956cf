package remote_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/internal/startest"
	"github.com/starling-social/starling/remote"
	"github.com/starling-social/starling/telemetry"
)

// metricOf reads one counter or gauge sample from tel's registry; -1 when
// the series does not exist.
func metricOf(tel *telemetry.Telemetry, name string, labels ...string) float64 {
	mfs, err := tel.Metrics.Registry().Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, s := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range s.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			if c := s.GetCounter(); c != nil {
				return c.GetValue()
			}
			return s.GetGauge().GetValue()
		}
	}
	return -1
}

type empty struct{}

// flaky serves service.op, failing the first fails calls with code (after
// delay), and counts the calls it receives.
type flaky struct {
	calls atomic.Int64
	fails int64
	code  starling.Code
	delay time.Duration
}

func serveFlaky(t *testing.T, nc *nats.Conn, tel *telemetry.Telemetry, service string, f *flaky) {
	t.Helper()
	srv, err := remote.NewServer(nc, tel, service)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	remote.Handle(srv, "op", func(ctx context.Context, _ empty) (int64, error) {
		n := f.calls.Add(1)
		time.Sleep(f.delay)
		if n <= f.fails {
			return 0, &starling.Error{Code: f.code, Message: "injected failure"}
		}
		return n, nil
	})
}

func TestRetryPolicy(t *testing.T) {
	eng := startest.Engine(t)
	nc := eng.Conn()
	ctx := startest.Context(t)

	t.Run("idempotent calls retry transient failures with backoff", func(t *testing.T) {
		tel := telemetry.Discard()
		f := &flaky{fails: 3, code: starling.Unavailable}
		serveFlaky(t, nc, tel, "flaky1", f)
		c := remote.NewClient(nc, tel, "flaky1")
		start := time.Now()
		n, err := remote.Call[empty, int64](ctx, c, "op", empty{}, true)
		took := time.Since(start)
		if err != nil || n != 4 || f.calls.Load() != 4 {
			t.Fatalf("Call = %d, %v after %d calls; want success on the 4th", n, err, f.calls.Load())
		}
		if r := metricOf(tel, "starling_rpc_client_retries_total", "service", "flaky1", "endpoint", "op"); r != 3 {
			t.Fatalf("retries metric = %v, want 3", r)
		}
		// Full jitter: each sleep is at most 10, 20, 40 ms.
		if took > 70*time.Millisecond+500*time.Millisecond {
			t.Fatalf("3 retries took %v: backoff beyond its caps", took)
		}
	})

	t.Run("idempotent calls give up after four attempts", func(t *testing.T) {
		tel := telemetry.Discard()
		f := &flaky{fails: 100, code: starling.Unavailable}
		serveFlaky(t, nc, tel, "flaky2", f)
		c := remote.NewClient(nc, tel, "flaky2")
		_, err := remote.Call[empty, int64](ctx, c, "op", empty{}, true)
		if !starling.IsCode(err, starling.Unavailable) || f.calls.Load() != 4 {
			t.Fatalf("Call = %v after %d calls; want Unavailable after 4", err, f.calls.Load())
		}
	})

	t.Run("errors that are not transient are not retried", func(t *testing.T) {
		tel := telemetry.Discard()
		f := &flaky{fails: 1, code: starling.Conflict}
		serveFlaky(t, nc, tel, "flaky3", f)
		c := remote.NewClient(nc, tel, "flaky3")
		_, err := remote.Call[empty, int64](ctx, c, "op", empty{}, true)
		if !starling.IsCode(err, starling.Conflict) || f.calls.Load() != 1 {
			t.Fatalf("Call = %v after %d calls; want the Conflict of the only call", err, f.calls.Load())
		}
	})

	t.Run("non-idempotent calls are never retried once received", func(t *testing.T) {
		tel := telemetry.Discard()
		f := &flaky{fails: 1, code: starling.Unavailable}
		serveFlaky(t, nc, tel, "flaky4", f)
		c := remote.NewClient(nc, tel, "flaky4")
		_, err := remote.Call[empty, int64](ctx, c, "op", empty{}, false)
		if !starling.IsCode(err, starling.Unavailable) || f.calls.Load() != 1 {
			t.Fatalf("Call = %v after %d calls; want one call and its Unavailable", err, f.calls.Load())
		}
		if r := metricOf(tel, "starling_rpc_client_retries_total", "service", "flaky4", "endpoint", "op"); r != 0 {
			t.Fatalf("retries metric = %v, want 0", r)
		}
	})

	t.Run("non-idempotent calls retry when no instance received them", func(t *testing.T) {
		tel := telemetry.Discard()
		c := remote.NewClient(nc, tel, "nobody")
		start := time.Now()
		_, err := remote.Call[empty, int64](ctx, c, "op", empty{}, false)
		if !starling.IsCode(err, starling.Unavailable) || !errors.Is(err, nats.ErrNoResponders) {
			t.Fatalf("Call = %v, want Unavailable (no responders)", err)
		}
		if r := metricOf(tel, "starling_rpc_client_retries_total", "service", "nobody", "endpoint", "op"); r != 3 {
			t.Fatalf("retries metric = %v, want 3", r)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("no-responders call took %v", d)
		}
	})

	t.Run("retries stay within the deadline", func(t *testing.T) {
		tel := telemetry.Discard()
		f := &flaky{fails: 100, code: starling.Unavailable, delay: 15 * time.Millisecond}
		serveFlaky(t, nc, tel, "flaky5", f)
		c := remote.NewClient(nc, tel, "flaky5")
		cctx, cancel := context.WithTimeout(ctx, 40*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := remote.Call[empty, int64](cctx, c, "op", empty{}, true)
		if took := time.Since(start); err == nil || took > 40*time.Millisecond+100*time.Millisecond {
			t.Fatalf("Call = %v after %v; want a failure by the 40ms deadline", err, took)
		}
		if n := f.calls.Load(); n > 3 {
			t.Fatalf("%d attempts of 15ms fitted in a 40ms budget", n)
		}
	})
}

func TestDeadlinesShrinkAcrossHops(t *testing.T) {
	eng := startest.Engine(t)
	nc := eng.Conn()
	tel := telemetry.Discard()

	// inner reports its deadline; outer calls inner with its own context
	// and reports both.
	inner, err := remote.NewServer(nc, tel, "inner")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inner.Stop() })
	var innerCalls atomic.Int64
	remote.Handle(inner, "op", func(ctx context.Context, _ empty) (int64, error) {
		innerCalls.Add(1)
		dl, ok := ctx.Deadline()
		if !ok {
			return 0, errors.New("no deadline")
		}
		return dl.UnixNano(), nil
	})
	innerClient := remote.NewClient(nc, tel, "inner")
	outer, err := remote.NewServer(nc, tel, "outer")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = outer.Stop() })
	remote.Handle(outer, "op", func(ctx context.Context, _ empty) ([2]int64, error) {
		dl, ok := ctx.Deadline()
		if !ok {
			return [2]int64{}, errors.New("no deadline")
		}
		in, err := remote.Call[empty, int64](ctx, innerClient, "op", empty{}, true)
		return [2]int64{dl.UnixNano(), in}, err
	})
	outerClient := remote.NewClient(nc, tel, "outer")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	caller, _ := ctx.Deadline()
	got, err := remote.Call[empty, [2]int64](ctx, outerClient, "op", empty{}, true)
	if err != nil {
		t.Fatal(err)
	}
	outerDL, innerDL := time.Unix(0, got[0]), time.Unix(0, got[1])
	t.Logf("caller deadline %v; outer's %v earlier; inner's %v earlier", caller.Format(time.StampMicro), caller.Sub(outerDL), caller.Sub(innerDL))
	if outerDL.After(caller) || innerDL.After(outerDL) {
		t.Fatalf("deadlines grow across hops: caller %v, outer %v, inner %v", caller, outerDL, innerDL)
	}
	if caller.Sub(innerDL) > 100*time.Millisecond {
		t.Fatalf("inner's deadline is %v before the caller's: the budget is lost on the way", caller.Sub(innerDL))
	}

	// A call without a deadline still carries one (DefaultTimeout).
	before := time.Now()
	in, err := remote.Call[empty, int64](context.Background(), innerClient, "op", empty{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Unix(0, in).Sub(before); d <= 0 || d > remote.DefaultTimeout {
		t.Fatalf("a call without a deadline got a budget of %v, want (0, %v]", d, remote.DefaultTimeout)
	}

	// A request whose budget is already spent is refused without work.
	n := innerCalls.Load()
	msg := nats.NewMsg("starling.inner.op")
	msg.Data = []byte("{}")
	msg.Header.Set("Starling-Timeout", strconv.Itoa(-1))
	reply, err := nc.RequestMsg(msg, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code := reply.Header.Get("Nats-Service-Error-Code"); code != string(starling.Unavailable) || innerCalls.Load() != n {
		t.Fatalf("spent budget: error code %q, handler ran %d times; want unavailable without running", code, innerCalls.Load()-n)
	}
}

func TestTraceAndRequestIDCrossNATS(t *testing.T) {
	eng := startest.Engine(t)
	nc := eng.Conn()
	exp := tracetest.NewInMemoryExporter()
	tel, err := telemetry.New(context.Background(), telemetry.Discard().Log, telemetry.TraceConfig{SpanExporter: exp}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := remote.NewServer(nc, tel, "echo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	type seen struct{ TraceID, SpanID, RequestID string }
	remote.Handle(srv, "op", func(ctx context.Context, _ empty) (seen, error) {
		sc := trace.SpanContextFromContext(ctx)
		return seen{sc.TraceID().String(), sc.SpanID().String(), telemetry.RequestID(ctx)}, nil
	})
	c := remote.NewClient(nc, tel, "echo")

	ctx, root := tel.Tracer.Start(telemetry.WithRequestID(context.Background(), "req-42"), "root")
	got, err := remote.Call[empty, seen](ctx, c, "op", empty{}, true)
	root.End()
	if err != nil {
		t.Fatal(err)
	}
	traceID := root.SpanContext().TraceID()
	if got.TraceID != traceID.String() || got.RequestID != "req-42" {
		t.Fatalf("the service saw trace %s request %q; the caller's are %s, req-42", got.TraceID, got.RequestID, traceID)
	}
	// root → client span echo.op → server span echo.op (the handler's).
	byName := map[trace.SpanKind]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		if s.Name == "echo.op" {
			byName[s.SpanKind] = s
		}
	}
	client, server := byName[trace.SpanKindClient], byName[trace.SpanKindServer]
	if client.SpanContext.TraceID() != traceID || server.SpanContext.TraceID() != traceID {
		t.Fatalf("spans in traces client %s server %s, want %s", client.SpanContext.TraceID(), server.SpanContext.TraceID(), traceID)
	}
	if client.Parent.SpanID() != root.SpanContext().SpanID() || server.Parent.SpanID() != client.SpanContext.SpanID() || !server.Parent.IsRemote() {
		t.Fatalf("span parents: client's %s (root %s), server's %s remote=%v (client %s)", client.Parent.SpanID(), root.SpanContext().SpanID(),
			server.Parent.SpanID(), server.Parent.IsRemote(), client.SpanContext.SpanID())
	}
	if got.SpanID != server.SpanContext.SpanID().String() {
		t.Fatalf("the handler ran in span %s, not the server span %s", got.SpanID, server.SpanContext.SpanID())
	}
}

func TestBreakerFailsFastOverNATS(t *testing.T) {
	eng := startest.Engine(t)
	nc := eng.Conn()
	tel := telemetry.Discard()
	f := &flaky{fails: 1 << 30, code: starling.Internal}
	serveFlaky(t, nc, tel, "broken", f)
	c := remote.NewClient(nc, tel, "broken")
	ctx := startest.Context(t)
	// Internal errors are not retried but count against the service: the
	// default breaker opens after 20 calls, half of them failed.
	for i := 0; i < 20 && c.Breaker().State() == remote.Closed; i++ {
		_, _ = remote.Call[empty, int64](ctx, c, "op", empty{}, true)
	}
	if c.Breaker().State() != remote.Open {
		t.Fatalf("breaker %v after 20 failed calls, want open", c.Breaker().State())
	}
	if g := metricOf(tel, "starling_circuit_breaker_state", "service", "broken"); g != 2 {
		t.Fatalf("breaker gauge = %v, want 2", g)
	}
	received := f.calls.Load()
	start := time.Now()
	_, err := remote.Call[empty, int64](ctx, c, "op", empty{}, true)
	took := time.Since(start)
	e := starling.AsError(err)
	if e == nil || e.Code != starling.Unavailable || e.RetryAfter < time.Second || f.calls.Load() != received {
		t.Fatalf("call while open = %v (service received %d more); want Unavailable with Retry-After, not sent", err, f.calls.Load()-received)
	}
	if took > 20*time.Millisecond {
		t.Fatalf("failing fast took %v", took)
	}
	t.Logf("open breaker answered in %v", took)
}
