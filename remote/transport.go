// Package remote carries Starling's service interfaces across NATS. For each
// service it has a Serve function that exposes an implementation as a NATS
// micro service (endpoints in a queue group, so instances share load and
// discovery works) and a client type that implements the same interface by
// request/reply. Callers cannot tell a client from a local implementation.
//
// Every call carries its deadline, request ID and W3C trace context in
// message headers and rebuilds them on the other side; errors keep their
// code, safe message and details. Clients retry idempotent calls with
// exponential backoff and full jitter inside the deadline, never retry other
// calls unless no instance received them, and fail fast while a service's
// circuit breaker is open.
package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/telemetry"
)

// Header names used on every call.
const (
	hdrTimeout   = "Starling-Timeout" // remaining budget in nanoseconds
	hdrRequestID = "Starling-Request-Id"
	hdrErrCode   = micro.ErrorCodeHeader
	hdrErrMsg    = micro.ErrorHeader
)

// DefaultTimeout bounds calls whose context has no deadline: a call never
// waits without one.
const DefaultTimeout = 5 * time.Second

// replyMargin is kept back from the budget a call hands to the service (a
// tenth of it, at most this much), so the callee's deadline falls before
// the caller's by the time the request has crossed the network: the callee
// gives up first and its answer can still arrive.
const replyMargin = 10 * time.Millisecond

// budget is what a call with deadline dl hands to the service: the time
// left less the reply margin.
func budget(dl time.Time) time.Duration {
	left := time.Until(dl)
	return left - min(left/10, replyMargin)
}

// errorBody carries the parts of a starling.Error that are not in headers.
type errorBody struct {
	Reason       string                           `json:"reason,omitempty"`
	Details      map[string][]starling.FieldError `json:"details,omitempty"`
	RetryAfterMs int64                            `json:"retry_after_ms,omitempty"`
}

// Server exposes one service's endpoints on NATS.
type Server struct {
	name   string // the service, in metrics and spans
	prefix string // subjects are prefix + "." + endpoint
	svc    micro.Service
	tel    *telemetry.Telemetry
	sem    chan struct{}
	// wrap, when set, adjusts each request's context (partition servers
	// mark calls as addressed to the holder).
	wrap func(context.Context) context.Context
}

// MaxInflight bounds the requests one Server handles at once; beyond it,
// requests are refused at once with Unavailable rather than queued.
const MaxInflight = 512

// NewServer registers the micro service "starling-<name>". Endpoints are
// added with Handle; Stop removes the service.
func NewServer(nc *nats.Conn, tel *telemetry.Telemetry, name string) (*Server, error) {
	svc, err := micro.AddService(nc, micro.Config{
		Name:        "starling-" + name,
		Version:     semver(starling.Version),
		Description: "Starling " + name + " service",
		QueueGroup:  "starling-" + name,
	})
	if err != nil {
		return nil, fmt.Errorf("register %s service: %w", name, err)
	}
	return &Server{name: name, prefix: "starling." + name, svc: svc, tel: tel, sem: make(chan struct{}, MaxInflight)}, nil
}

// NewPartitionServer registers the micro service "starling-<name>-p<part>"
// whose endpoints answer the calls addressed to the holder of one
// partition (subjects "starling.<name>.p.<part>.<endpoint>"). Its handlers
// get contexts marked starling.WithOwnerOnly: an implementation that no
// longer holds the partition answers ReasonMoved rather than forwarding.
// It is not in a queue group of others: one instance holds a partition.
func NewPartitionServer(nc *nats.Conn, tel *telemetry.Telemetry, name string, part int) (*Server, error) {
	svc, err := micro.AddService(nc, micro.Config{
		Name:        fmt.Sprintf("starling-%s-p%d", name, part),
		Version:     semver(starling.Version),
		Description: fmt.Sprintf("Starling %s service, view partition %d", name, part),
		QueueGroup:  fmt.Sprintf("starling-%s-p%d", name, part),
	})
	if err != nil {
		return nil, fmt.Errorf("register %s partition %d: %w", name, part, err)
	}
	return &Server{name: name, prefix: partSubject(name, part), svc: svc, tel: tel, sem: make(chan struct{}, MaxInflight),
		wrap: starling.WithOwnerOnly}, nil
}

// partSubject is the subject prefix of one partition's endpoints.
func partSubject(service string, part int) string {
	return "starling." + service + ".p." + strconv.Itoa(part)
}

// Stop drains the service's subscriptions; in-flight requests finish.
func (s *Server) Stop() error { return s.svc.Stop() }

// Handle exposes fn as endpoint of s. Each request runs in its own goroutine
// with a context rebuilt from the request's headers.
func Handle[Req, Resp any](s *Server, endpoint string, fn func(context.Context, Req) (Resp, error)) {
	service, tel := s.name, s.tel
	requests := tel.Metrics.RPCServer
	duration := tel.Metrics.RPCServerDur.WithLabelValues(service, endpoint)
	handler := func(r micro.Request) {
		select {
		case s.sem <- struct{}{}:
		default:
			requests.WithLabelValues(service, endpoint, string(starling.Unavailable)).Inc()
			respondError(r, starling.Unavailablef(time.Second, "%s service overloaded", service))
			return
		}
		go func() {
			defer func() { <-s.sem }()
			start := time.Now()
			ctx, cancel := requestContext(r.Headers())
			defer cancel()
			if s.wrap != nil {
				ctx = s.wrap(ctx)
			}
			if ctx.Err() != nil {
				// The caller's budget was spent before the request got
				// here: nobody waits for the answer, so do no work.
				requests.WithLabelValues(service, endpoint, string(starling.Unavailable)).Inc()
				respondError(r, starling.Unavailablef(time.Second, "%s.%s: deadline exceeded before the call started", service, endpoint))
				return
			}
			ctx, span := tel.Tracer.Start(ctx, service+"."+endpoint,
				trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(attribute.String("rpc.system", "nats"), attribute.String("rpc.service", service), attribute.String("rpc.method", endpoint)))
			defer span.End()
			var req Req
			var resp Resp
			err := json.Unmarshal(r.Data(), &req)
			if err != nil {
				err = starling.Wrap(starling.Invalid, "malformed request", err)
			} else {
				resp, err = callSafely(ctx, fn, req)
			}
			code := "ok"
			if err != nil {
				code = string(starling.ErrorCode(err))
				telemetry.SpanError(span, err)
				if starling.ErrorCode(err) == starling.Internal {
					tel.Log.ErrorContext(ctx, "service call failed", "service", service, "endpoint", endpoint, "err", err)
				}
				respondError(r, err)
			} else if data, merr := json.Marshal(resp); merr != nil {
				code = string(starling.Internal)
				tel.Log.ErrorContext(ctx, "encode response", "service", service, "endpoint", endpoint, "err", merr)
				respondError(r, merr)
			} else if rerr := r.Respond(data); rerr != nil {
				tel.Log.WarnContext(ctx, "respond", "service", service, "endpoint", endpoint, "err", rerr)
			}
			requests.WithLabelValues(service, endpoint, code).Inc()
			duration.Observe(telemetry.Since(start))
		}()
	}
	if err := s.svc.AddEndpoint(endpoint, micro.HandlerFunc(handler), micro.WithEndpointSubject(s.prefix+"."+endpoint)); err != nil {
		// Endpoint names are constants of this package: a failure is a bug.
		panic(fmt.Sprintf("add endpoint %s.%s: %v", service, endpoint, err))
	}
}

// callSafely turns a panic in a handler into an Internal error so one bad
// request cannot take the process down.
func callSafely[Req, Resp any](ctx context.Context, fn func(context.Context, Req) (Resp, error), req Req) (resp Resp, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = starling.Wrap(starling.Internal, "", fmt.Errorf("panic: %v", p))
		}
	}()
	return fn(ctx, req)
}

func requestContext(h micro.Headers) (context.Context, context.CancelFunc) {
	ctx := context.Background()
	if id := h.Get(hdrRequestID); id != "" {
		ctx = telemetry.WithRequestID(ctx, id)
	}
	ctx = telemetry.Extract(ctx, map[string][]string(h))
	// The caller's remaining budget; a spent one (zero or less) gives a
	// context that has already ended. Without the header the call still
	// gets a deadline.
	d := DefaultTimeout
	if v, err := strconv.ParseInt(h.Get(hdrTimeout), 10, 64); err == nil {
		d = time.Duration(v)
	}
	return context.WithTimeout(ctx, d)
}

func respondError(r micro.Request, err error) {
	code := starling.ErrorCode(err)
	msg := starling.ErrorMessage(err)
	var body errorBody
	if e := starling.AsError(err); e != nil {
		body = errorBody{Reason: e.Reason, Details: e.Details, RetryAfterMs: e.RetryAfter.Milliseconds()}
	}
	data, _ := json.Marshal(body)
	_ = r.Error(string(code), msg, data)
}

// Client calls one service's endpoints over NATS.
type Client struct {
	nc      *nats.Conn
	tel     *telemetry.Telemetry
	service string
	breaker *Breaker

	mu    sync.Mutex
	parts map[int]*Breaker // one per partition called (CallPart)
}

// NewClient returns a client for service, with its own circuit breaker.
func NewClient(nc *nats.Conn, tel *telemetry.Telemetry, service string) *Client {
	return &Client{nc: nc, tel: tel, service: service, breaker: NewBreaker(service, tel.Metrics, BreakerConfig{}), parts: map[int]*Breaker{}}
}

// PartBreakers returns the breakers of the partitions called so far.
func (c *Client) PartBreakers() []*Breaker {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Breaker, 0, len(c.parts))
	for _, b := range c.parts {
		out = append(out, b)
	}
	return out
}

// partBreaker returns the breaker of calls to one partition's holder: a
// partition between holders must not trip the service's breaker for all.
func (c *Client) partBreaker(part int) *Breaker {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.parts[part]
	if b == nil {
		b = NewBreaker(fmt.Sprintf("%s-p%d", c.service, part), c.tel.Metrics, BreakerConfig{})
		c.parts[part] = b
	}
	return b
}

// Breaker returns the client's circuit breaker.
func (c *Client) Breaker() *Breaker { return c.breaker }

// Retry policy for idempotent calls.
const (
	maxAttempts  = 4
	backoffBase  = 10 * time.Millisecond
	backoffLimit = 500 * time.Millisecond
)

// Call sends req to endpoint and decodes the reply into Resp. Idempotent
// calls are retried on transient failures within ctx's deadline.
func Call[Req, Resp any](ctx context.Context, c *Client, endpoint string, req Req, idempotent bool) (Resp, error) {
	return callAt[Req, Resp](ctx, c, "starling."+c.service+"."+endpoint, endpoint, c.breaker, req, idempotent, maxAttempts)
}

// CallPart sends req to endpoint of the holder of partition part. Besides
// what Call retries, it retries any call the partition's former holder
// refused (ReasonMoved) or that nobody received (no holder yet): such a
// call was not carried out, so sending it again cannot apply it twice.
func CallPart[Req, Resp any](ctx context.Context, c *Client, part int, endpoint string, req Req, idempotent bool) (Resp, error) {
	return callAt[Req, Resp](ctx, c, partSubject(c.service, part)+"."+endpoint, endpoint, c.partBreaker(part), req, idempotent, partRetries)
}

// partRetries bounds the attempts at a partition between holders: about
// two seconds of backoff, then the caller gets Unavailable with Retry-After.
const partRetries = 8

// callAt makes a call to subj, retrying transient failures of idempotent
// calls up to maxAttempts times, and failures of calls nobody carried out
// up to unappliedAttempts.
func callAt[Req, Resp any](ctx context.Context, c *Client, subj, endpoint string, breaker *Breaker, req Req, idempotent bool, unappliedAttempts int) (Resp, error) {
	var zero Resp
	start := time.Now()
	ctx, span := c.tel.Tracer.Start(ctx, c.service+"."+endpoint,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("rpc.system", "nats"), attribute.String("rpc.service", c.service), attribute.String("rpc.method", endpoint)))
	defer span.End()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	data, err := json.Marshal(req)
	if err != nil {
		return zero, starling.Wrap(starling.Internal, "", fmt.Errorf("encode %s.%s request: %w", c.service, endpoint, err))
	}
	retries := c.tel.Metrics.RPCRetries.WithLabelValues(c.service, endpoint) // exists (at 0) once the endpoint is called
	var resp Resp
	for attempt := 1; ; attempt++ {
		var retryable bool
		err, retryable = c.once(ctx, subj, endpoint, breaker, data, &resp)
		if err == nil {
			break
		}
		unapplied := errors.Is(err, nats.ErrNoResponders) || isMoved(err)
		limit := maxAttempts
		if unapplied {
			limit = unappliedAttempts
		}
		if !retryable || (!idempotent && !unapplied) || attempt >= limit {
			break
		}
		// Full jitter: sleep a random time up to the capped exponential.
		backoff := min(backoffLimit, backoffBase<<(attempt-1))
		sleep := time.Duration(rand.Int64N(int64(backoff) + 1))
		if dl, _ := ctx.Deadline(); time.Until(dl) < sleep {
			break
		}
		retries.Inc()
		select {
		case <-ctx.Done():
		case <-time.After(sleep):
		}
		if ctx.Err() != nil {
			break
		}
	}
	code := "ok"
	if err != nil {
		code = string(starling.ErrorCode(err))
		telemetry.SpanError(span, err)
	}
	c.tel.Metrics.RPCClient.WithLabelValues(c.service, endpoint, code).Inc()
	c.tel.Metrics.RPCClientDur.WithLabelValues(c.service, endpoint).Observe(telemetry.Since(start))
	if err != nil {
		return zero, err
	}
	return resp, nil
}

// isMoved reports whether err is a partition's former holder refusing a
// call.
func isMoved(err error) bool {
	e := starling.AsError(err)
	return e != nil && e.Reason == starling.ReasonMoved
}

// once makes one attempt. It reports whether the failure is transient.
func (c *Client) once(ctx context.Context, subj, endpoint string, breaker *Breaker, data []byte, out any) (err error, retryable bool) {
	done, err := breaker.Allow()
	if err != nil {
		return err, false
	}
	msg := nats.NewMsg(subj)
	msg.Data = data
	if dl, ok := ctx.Deadline(); ok {
		msg.Header.Set(hdrTimeout, strconv.FormatInt(int64(budget(dl)), 10))
	}
	if id := telemetry.RequestID(ctx); id != "" {
		msg.Header.Set(hdrRequestID, id)
	}
	telemetry.Inject(ctx, map[string][]string(msg.Header))
	reply, err := c.nc.RequestMsgWithContext(ctx, msg)
	if err != nil {
		done(false)
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			return &starling.Error{Code: starling.Unavailable, Message: "Service temporarily unavailable", RetryAfter: time.Second,
				Err: fmt.Errorf("%s: %w", subj, err)}, true
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
			return &starling.Error{Code: starling.Unavailable, Message: "Service timed out", RetryAfter: time.Second,
				Err: fmt.Errorf("%s.%s: %w", c.service, endpoint, err)}, true
		case errors.Is(err, context.Canceled):
			return err, false
		}
		return &starling.Error{Code: starling.Unavailable, Message: "Service temporarily unavailable", RetryAfter: time.Second,
			Err: fmt.Errorf("%s.%s: %w", c.service, endpoint, err)}, true
	}
	if code := reply.Header.Get(hdrErrCode); code != "" {
		var body errorBody
		_ = json.Unmarshal(reply.Data, &body)
		e := &starling.Error{Code: starling.Code(code), Message: reply.Header.Get(hdrErrMsg), Reason: body.Reason,
			Details: body.Details, RetryAfter: time.Duration(body.RetryAfterMs) * time.Millisecond}
		if e.Code == starling.Internal {
			e.Err = fmt.Errorf("%s.%s failed remotely", c.service, endpoint)
		}
		// Only infrastructure failures count against the service's health
		// (a partition between holders is not one).
		infra := (e.Code == starling.Unavailable && e.Reason != starling.ReasonMoved) || e.Code == starling.Internal
		done(!infra)
		return e, e.Code == starling.Unavailable
	}
	done(true)
	if err := json.Unmarshal(reply.Data, out); err != nil {
		return starling.Wrap(starling.Internal, "", fmt.Errorf("decode %s.%s reply: %w", c.service, endpoint, err)), false
	}
	return nil, false
}

// semver turns the build version into the semantic version micro requires.
func semver(v string) string {
	if v == "" {
		return "0.0.0"
	}
	return v
}
