// Package gateway is Starling's edge: it serves the Mastodon client API
// over HTTP (and, for streaming, WebSocket) on top of the service
// interfaces, without knowing whether each service runs in this process or
// on another node. It is the one place that turns error codes into HTTP
// statuses, renders API entities, enforces scopes, rate limits and load
// shedding, and starts each request's trace, deadline and request ID.
package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/telemetry"
)

// Config holds the gateway's dependencies and settings.
type Config struct {
	// PublicURL is the base of every URL the API returns.
	PublicURL *url.URL
	Title     string

	Auth   starling.AuthService
	Feed   starling.FeedService
	Notify starling.NotifyService
	Media  starling.MediaService
	// MediaCacheBytes bounds this node's edge cache of media files
	// (default 256 MiB).
	MediaCacheBytes int64

	Telemetry *telemetry.Telemetry
	// Ready reports whether the node can serve (engine up, services
	// reachable); /readyz calls it.
	Ready func(context.Context) error
	// Limits bounds requests; nil takes DefaultLimits.
	Limits *Limits
	// Live is the connection streaming subscribes to live events on; nil
	// turns streaming off.
	Live *nats.Conn
	// Streaming bounds the streaming API.
	Streaming StreamingLimits
	// RequestTimeout is each request's deadline (default 10s).
	RequestTimeout time.Duration
	// VerifyPrivateLinks lets profile link verification fetch pages on
	// loopback and private addresses. For tests only: in production it
	// would let users make the server request internal services.
	VerifyPrivateLinks bool
}

// Server is the HTTP edge. Create it with New; it is an http.Handler and is
// safe for concurrent use.
type Server struct {
	cfg    Config
	base   string // PublicURL without a trailing slash
	host   string // PublicURL's host[:port]
	log    *slog.Logger
	tel    *telemetry.Telemetry
	auth   starling.AuthService
	feed   starling.FeedService
	notify starling.NotifyService
	media  starling.MediaService
	files  *fileCache
	render *renderer
	hub    *hub
	// webIndex serves the web client's page (set by routesWeb).
	webIndex http.HandlerFunc
	limits   Limits
	shed     map[string]*inflightCap // per route class, and "node" for the whole node
	mux      *http.ServeMux
	limiter  *rateLimiter
	handler  http.Handler

	instanceOnce     sync.Once
	instance         instanceBase
	instanceRendered atomic.Pointer[instanceDoc]
	stats            *instanceStats
	links            *linkVerifier
}

// New returns a gateway serving cfg's services.
func New(cfg Config) *Server {
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.Title == "" {
		cfg.Title = "Starling"
	}
	limits := DefaultLimits()
	if cfg.Limits != nil {
		limits = cfg.Limits.withDefaults()
	}
	s := &Server{
		cfg:     cfg,
		base:    strings.TrimRight(cfg.PublicURL.String(), "/"),
		host:    cfg.PublicURL.Host,
		log:     cfg.Telemetry.Log.With("component", "gateway"),
		tel:     cfg.Telemetry,
		auth:    cfg.Auth,
		feed:    cfg.Feed,
		notify:  cfg.Notify,
		media:   cfg.Media,
		limits:  limits,
		shed:    map[string]*inflightCap{},
		limiter: newRateLimiter(),
	}
	s.render = newRenderer(s.base)
	s.stats = newInstanceStats(s)
	s.links = newLinkVerifier(s, cfg.VerifyPrivateLinks)
	if cfg.MediaCacheBytes == 0 {
		cfg.MediaCacheBytes = 256 << 20
	}
	s.files = newFileCache(cfg.MediaCacheBytes, 8<<20)
	if cfg.Live != nil {
		s.hub = newHub(s, cfg.Live, cfg.Streaming)
		// Deleted media must leave this node's edge cache at once.
		_, _ = cfg.Live.Subscribe(starling.SubjectMediaChanged+".*", func(m *nats.Msg) {
			s.files.evictPrefix(m.Subject[len(starling.SubjectMediaChanged)+1:] + "/")
		})
	}
	for class, n := range limits.Inflight {
		s.shed[class] = newInflightCap(cfg.Telemetry.Metrics, class, n)
	}
	// Series that exist from the start, at 0, so dashboards and alerts see
	// them before the first event.
	for _, limit := range []string{"token", "ip", "signup", "signin", "media", "delete"} {
		s.tel.Metrics.RateLimited.WithLabelValues(limit)
	}
	for _, result := range []string{"hit", "miss"} {
		s.tel.Metrics.MediaCache.WithLabelValues(result)
	}
	if s.hub != nil {
		for _, reason := range []string{"ping_timeout", "slow_consumer"} { // streaming.go's reasons
			s.tel.Metrics.WSDropped.WithLabelValues(reason)
		}
	}
	s.mux = http.NewServeMux()
	s.routes(s.mux)
	s.handler = trailingSlash(s.middleware(s.statusPages(s.mux)))
	return s
}

// inflightCap bounds the requests of one route class (or, "node", of the
// whole node) in flight. Past the cap a request is answered 503 with
// Retry-After at once: nothing queues.
type inflightCap struct {
	sem      chan struct{}
	inflight prometheus.Gauge
	shed     prometheus.Counter
}

func newInflightCap(m *telemetry.Metrics, class string, n int) *inflightCap {
	return &inflightCap{sem: make(chan struct{}, n), inflight: m.HTTPInflight.WithLabelValues(class), shed: m.HTTPShed.WithLabelValues(class)}
}

// acquire takes a slot, or answers 503 and returns false. A nil cap admits
// everything. Every successful acquire must be followed by one release.
func (c *inflightCap) acquire(w http.ResponseWriter) bool {
	if c == nil {
		return true
	}
	select {
	case c.sem <- struct{}{}:
		c.inflight.Inc()
		return true
	default:
		c.shed.Inc()
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "Server busy, please retry"})
		return false
	}
}

func (c *inflightCap) release() {
	if c == nil {
		return
	}
	c.inflight.Dec()
	<-c.sem
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// statusPages serves a status's url (/@username/<id>, as Mastodon builds
// it) with the web client, which shows the thread. ServeMux cannot route it
// itself: any two-segment pattern would overlap the /api/ catch-all.
func (s *Server) statusPages(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; s.webIndex != nil && r.Method == http.MethodGet && len(p) > 3 && p[1] == '@' {
			if slash := strings.IndexByte(p[2:], '/'); slash > 0 {
				if _, err := starling.ParseID(p[2+slash+1:]); err == nil {
					r.Pattern = "GET /@{acct}/{id}"
					s.webIndex(w, r)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// access describes what a route needs from the caller.
type access struct {
	user   bool     // a user token is required
	token  bool     // some token (app or user) is required
	scopes []string // a token, when present, must hold one of these scopes
	class  string   // load-shedding class: read, write, auth, media
	limit  string   // an extra rate limit: signup, signin, media, delete
	upload int64    // maximum multipart body (uploads)
}

// call is what an API handler gets besides the request.
type call struct {
	grant *starling.Grant
	p     *params
}

// viewer returns the signed-in account, or 0.
func (c *call) viewer() starling.ID {
	if c.grant == nil {
		return 0
	}
	return c.grant.AccountID
}

// apiFunc handles an API request. It returns the value to send as JSON
// (nil sends {}), a rawJSON, or an error.
type apiFunc func(w http.ResponseWriter, r *http.Request, c *call) (any, error)

// rawJSON is a response body that is already JSON.
type rawJSON []byte

// withStatus sends body with a status other than 200.
type withStatus struct {
	status int
	body   any
}

// handled means the handler wrote the response itself.
type handled struct{}

// api turns h into an http.Handler that sheds load, authenticates, checks
// scopes, rate-limits, parses parameters and writes the result.
func (s *Server) api(a access, h apiFunc) http.Handler {
	if a.class == "" {
		a.class = "read"
	}
	ic := s.shed[a.class]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ic.acquire(w) {
			return
		}
		defer ic.release()
		c := &call{}
		p, err := parseParams(w, r, a.upload)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		defer p.close()
		c.p = p
		if tok := bearerToken(r, p); tok != "" {
			g, err := s.auth.Authenticate(r.Context(), tok)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			c.grant = g
		}
		if err := s.authorize(a, c.grant); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.rateLimit(w, r, a, c.grant); err != nil {
			s.writeError(w, r, err)
			return
		}
		out, err := h(w, r, c)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		switch v := out.(type) {
		case handled:
		case nil:
			writeRaw(w, http.StatusOK, []byte("{}"))
		case rawJSON:
			writeRaw(w, http.StatusOK, v)
		case pooledJSON:
			writeRaw(w, http.StatusOK, *v.b)
			v.release()
		case withStatus:
			if raw, ok := v.body.(rawJSON); ok {
				writeRaw(w, v.status, raw)
			} else {
				writeJSON(w, v.status, v.body)
			}
		default:
			writeJSON(w, http.StatusOK, v)
		}
	})
}

// authorize checks a route's token and scope requirements.
func (s *Server) authorize(a access, g *starling.Grant) error {
	if g == nil {
		if a.user || a.token {
			return &starling.Error{Code: starling.Unauthorized, Message: "The access token is invalid"}
		}
		return nil
	}
	if a.user && !g.IsUser() {
		return &starling.Error{Code: starling.Invalid, Message: "This method requires an authenticated user"}
	}
	if len(a.scopes) > 0 && !g.Scopes.AllowsAny(a.scopes...) {
		return &starling.Error{Code: starling.Forbidden, Message: "This action is outside the authorized scopes"}
	}
	return nil
}

// bearerToken finds the access token in the Authorization header or an
// access_token parameter.
func bearerToken(r *http.Request, p *params) starling.Secret {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return starling.Secret(strings.TrimSpace(h[7:]))
		}
		return ""
	}
	if p != nil {
		return starling.Secret(p.Get("access_token"))
	}
	return ""
}

var jsonBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeJSON encodes v as the response body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := jsonBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer jsonBufs.Put(buf)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"Internal error"}`)
	}
	b := buf.Bytes()
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
