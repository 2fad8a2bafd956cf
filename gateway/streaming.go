package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"

	"github.com/starling-social/starling"
)

// Streaming carries Mastodon's live events over two transports with the
// same authentication, limits, streams and events: a multiplexed WebSocket
// at GET /api/v1/streaming (streaming_ws.go) and server-sent events, one
// stream per request, at GET /api/v1/streaming/<stream> (streaming_sse.go).
// This file is what they share: streams, connections, their send queues,
// and the hub that subscribes to live subjects and renders events.
//
// Events travel between nodes on NATS subjects (starling.live.*); this node
// subscribes to a subject only while one of its connections needs it, and
// renders each event once for all of them. Each connection has a bounded
// send queue; a client that cannot keep up is disconnected rather than
// buffered without bound. Connections per node and per account are capped
// (both transports count against the same caps).

// StreamingLimits bounds the streaming API.
type StreamingLimits struct {
	MaxSockets     int           // connections per node (default 10,000)
	MaxPerAccount  int           // connections per account (default 64)
	SendQueue      int           // frames queued per connection before it is cut off (default 128)
	PingEvery      time.Duration // WebSocket pings (default 30s)
	HeartbeatEvery time.Duration // server-sent events heartbeat comments (default 15s)
}

func (l StreamingLimits) withDefaults() StreamingLimits {
	if l.MaxSockets == 0 {
		l.MaxSockets = 10_000
	}
	if l.MaxPerAccount == 0 {
		l.MaxPerAccount = 64
	}
	if l.SendQueue == 0 {
		l.SendQueue = 128
	}
	if l.PingEvery == 0 {
		l.PingEvery = 30 * time.Second
	}
	if l.HeartbeatEvery == 0 {
		l.HeartbeatEvery = 15 * time.Second
	}
	return l
}

// hub holds this node's connections and the NATS subscriptions they need.
type hub struct {
	s      *Server
	nc     *nats.Conn
	limits StreamingLimits

	mu         sync.Mutex
	subs       map[string]*liveSub // NATS subject -> subscription
	conns      map[*conn]struct{}
	perAccount map[starling.ID]int

	cacheMu sync.Mutex
	cache   map[payloadKey]cachedPayload // rendered payloads, by event and status
}

// payloadKey identifies an event's payload: one rendering serves every
// connection on this node (a post reaches each follower's subject
// separately, so the same payload is asked for once per follower).
type payloadKey struct {
	event string
	id    starling.ID
}

type cachedPayload struct {
	payload string
	media   bool // the status has media attachments
	at      time.Time
}

// payloadTTL bounds how long a rendered payload is reused. An edit is a
// different event ("status.update"), so reuse never shows stale content
// for long; counters in a payload may lag by this much.
const payloadTTL = 5 * time.Second

type liveSub struct {
	sub   *nats.Subscription
	conns map[*conn]int // connection -> number of its streams on this subject
}

func newHub(s *Server, nc *nats.Conn, limits StreamingLimits) *hub {
	return &hub{s: s, nc: nc, limits: limits.withDefaults(), subs: map[string]*liveSub{}, conns: map[*conn]struct{}{},
		perAccount: map[starling.ID]int{}, cache: map[payloadKey]cachedPayload{}}
}

// stream is one subscription: Mastodon's stream name and, for hashtag and
// list streams, the tag or list exactly as the client sent it.
type stream struct {
	name string
	tag  string
	list string
}

// streamScopes are the streams and the scopes each needs beyond a user
// token (Mastodon's: read or read:statuses, read:notifications for
// notifications alone).
var streamScopes = map[string][]string{
	"user": {"read:statuses"}, "user:notification": {"read:notifications"},
	"public": {"read:statuses"}, "public:media": {"read:statuses"},
	"public:local": {"read:statuses"}, "public:local:media": {"read:statuses"},
	"public:remote": {"read:statuses"}, "public:remote:media": {"read:statuses"},
	"hashtag": {"read:statuses"}, "hashtag:local": {"read:statuses"},
	"list": {"read:statuses"}, "direct": {"read:statuses"},
}

// streamError is a refused subscription: an HTTP status (for server-sent
// events, and the "status" of a WebSocket error frame) and a message.
type streamError struct {
	status int
	msg    string
}

// check reports whether g may subscribe to st.
func (st stream) check(g *starling.Grant) *streamError {
	scopes, known := streamScopes[st.name]
	switch {
	case !known:
		return &streamError{http.StatusBadRequest, "Unknown stream type"}
	case !g.Scopes.AllowsAny(scopes...):
		return &streamError{http.StatusUnauthorized, "Access token does not have the required scopes"}
	case st.hashtag() && strings.TrimPrefix(st.tag, "#") == "":
		return &streamError{http.StatusBadRequest, "No tag for stream provided"}
	case !st.validTag():
		return &streamError{http.StatusBadRequest, "Invalid tag"}
	case st.name == "list":
		// Starling has no lists yet: no list is the caller's.
		return &streamError{http.StatusUnauthorized, "Not authorized to stream this list"}
	}
	return nil
}

func (st stream) hashtag() bool { return st.name == "hashtag" || st.name == "hashtag:local" }

func (st stream) validTag() bool {
	if st.tag == "" {
		return true
	}
	t := strings.ToLower(strings.TrimPrefix(st.tag, "#"))
	if len(t) > 200 {
		return false
	}
	for _, r := range t {
		if r <= ' ' || r == '.' || r == '*' || r == '>' {
			return false
		}
	}
	return true
}

// subject is the live subject carrying st's events, or "" for a stream
// that carries none: every status is local (public:remote), and
// conversations do not exist yet (direct).
func (st stream) subject(viewer starling.ID) string {
	switch st.name {
	case "user", "user:notification":
		return starling.SubjectLiveUser + "." + viewer.String()
	case "public", "public:media", "public:local", "public:local:media":
		return starling.SubjectLivePublic
	case "hashtag", "hashtag:local":
		return starling.SubjectLiveTag + "." + strings.ToLower(strings.TrimPrefix(st.tag, "#"))
	}
	return ""
}

// wants reports whether st carries an event (media tells whether its
// status has attachments).
func (st stream) wants(ev *starling.LiveEvent, media bool, g *starling.Grant) bool {
	switch st.name {
	case "user:notification":
		return ev.Event == "notification"
	case "user":
		return ev.Event != "notification" || g.Scopes.AllowsAny("read:notifications")
	case "public:media", "public:local:media":
		return ev.Event == "delete" || (ev.Event != "notification" && media)
	}
	return ev.Event != "notification"
}

// frame is a queued event: its bytes in the connection's transport form
// and, for events that carry one (update, notification), the ID a
// reconnecting client resumes from.
type frame struct {
	b  []byte
	id starling.ID
}

// conn is one streaming connection, WebSocket or server-sent events: its
// grant, its streams and its bounded send queue. The transport reads the
// queue; close ends the connection through the transport, once.
type conn struct {
	h       *hub
	grant   *starling.Grant
	sse     bool // frames in server-sent events form
	send    chan frame
	cancel  context.CancelFunc
	mu      sync.Mutex
	streams map[stream]bool
	closed  bool
	// shut closes the transport (WebSocket: with a close code); nil for
	// server-sent events, which end when cancel ends their handler.
	shut func(code websocket.StatusCode, reason string)
}

// open admits a connection for g (per-node and per-account caps) and
// registers it; the caller must close it.
func (h *hub) open(g *starling.Grant, sse bool) (*conn, context.Context, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.conns) >= h.limits.MaxSockets {
		return nil, nil, starling.Unavailablef(5*time.Second, "Too many streaming connections on this server")
	}
	if h.perAccount[g.AccountID] >= h.limits.MaxPerAccount {
		return nil, nil, &starling.Error{Code: starling.RateLimited, Message: "Too many streaming connections for this account", RetryAfter: 5 * time.Second}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{h: h, grant: g, sse: sse, send: make(chan frame, h.limits.SendQueue), cancel: cancel, streams: map[stream]bool{}}
	h.conns[c] = struct{}{}
	h.perAccount[g.AccountID]++
	gauge := h.s.tel.Metrics.WSConnections
	if sse {
		gauge = h.s.tel.Metrics.SSEConnections
	}
	gauge.Inc()
	return c, ctx, nil
}

// closeAll ends every connection (the node is shutting down): clients
// reconnect, to this node's successor or another.
func (h *hub) closeAll() {
	h.mu.Lock()
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.close(websocket.StatusGoingAway, "server shutting down")
	}
}

// subscribe adds a stream, or reports why it is refused.
func (c *conn) subscribe(st stream) *streamError {
	if err := st.check(c.grant); err != nil {
		return err
	}
	c.mu.Lock()
	if c.closed || c.streams[st] {
		c.mu.Unlock()
		return nil
	}
	c.streams[st] = true
	c.mu.Unlock()
	if subj := st.subject(c.grant.AccountID); subj != "" {
		c.h.attach(subj, c)
	}
	return nil
}

func (c *conn) unsubscribe(st stream) {
	c.mu.Lock()
	had := c.streams[st]
	delete(c.streams, st)
	c.mu.Unlock()
	if subj := st.subject(c.grant.AccountID); had && subj != "" {
		c.h.detach(subj, c)
	}
}

// close detaches the connection from every subject, unregisters it and
// ends it, once.
func (c *conn) close(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	streams, shut := c.streams, c.shut
	c.streams = nil
	c.mu.Unlock()
	for st := range streams {
		if subj := st.subject(c.grant.AccountID); subj != "" {
			c.h.detach(subj, c)
		}
	}
	h := c.h
	h.mu.Lock()
	delete(h.conns, c)
	if h.perAccount[c.grant.AccountID]--; h.perAccount[c.grant.AccountID] <= 0 {
		delete(h.perAccount, c.grant.AccountID)
	}
	h.mu.Unlock()
	gauge := h.s.tel.Metrics.WSConnections
	if c.sse {
		gauge = h.s.tel.Metrics.SSEConnections
	}
	gauge.Dec()
	c.cancel()
	if shut != nil {
		go shut(code, reason)
	}
}

// enqueue queues a frame; a full queue means the client cannot keep up and
// is cut off.
func (c *conn) enqueue(f frame) {
	select {
	case c.send <- f:
	default:
		c.h.s.tel.Metrics.WSDropped.WithLabelValues("slow_consumer").Inc()
		c.close(websocket.StatusTryAgainLater, "too slow: events dropped")
	}
}

// attach adds a connection to a subject, subscribing on first use.
func (h *hub) attach(subject string, c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ls := h.subs[subject]
	if ls == nil {
		ls = &liveSub{conns: map[*conn]int{}}
		sub, err := h.nc.Subscribe(subject, func(m *nats.Msg) { h.dispatch(subject, m.Data) })
		if err != nil {
			h.s.log.Warn("streaming subscribe", "subject", subject, "err", err)
			return
		}
		_ = sub.SetPendingLimits(65536, 64<<20)
		ls.sub = sub
		h.subs[subject] = ls
	}
	ls.conns[c]++
}

// detach removes a connection from a subject, unsubscribing when no
// connection needs it any more.
func (h *hub) detach(subject string, c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ls := h.subs[subject]
	if ls == nil {
		return
	}
	if ls.conns[c]--; ls.conns[c] <= 0 {
		delete(ls.conns, c)
	}
	if len(ls.conns) == 0 {
		_ = ls.sub.Unsubscribe()
		delete(h.subs, subject)
	}
}

// frameKey identifies a built frame: it depends only on the stream and the
// transport.
type frameKey struct {
	st  stream
	sse bool
}

// dispatch renders one live event and queues it on every connection
// subscribed to subject.
func (h *hub) dispatch(subject string, data []byte) {
	var ev starling.LiveEvent
	if json.Unmarshal(data, &ev) != nil {
		return
	}
	payload, media, ok := h.payload(&ev)
	if !ok {
		return
	}
	h.mu.Lock()
	ls := h.subs[subject]
	var targets []*conn
	if ls != nil {
		for c := range ls.conns {
			targets = append(targets, c)
		}
	}
	h.mu.Unlock()
	id := eventID(&ev)
	built := map[frameKey][]byte{}
	sent := h.s.tel.Metrics.WSEvents.WithLabelValues(ev.Event)
	for _, c := range targets {
		c.mu.Lock()
		var frames []frame
		for st := range c.streams {
			if st.subject(c.grant.AccountID) != subject || !st.wants(&ev, media, c.grant) {
				continue
			}
			k := frameKey{st, c.sse}
			b := built[k]
			if b == nil {
				b = buildFrame(st, c.sse, ev.Event, payload, id)
				built[k] = b
			}
			frames = append(frames, frame{b, id})
		}
		c.mu.Unlock()
		for _, f := range frames {
			c.enqueue(f)
			sent.Inc()
		}
	}
}

// eventID is the ID a server-sent events client resumes from after an
// event: the new status's or the notification's. Both are time-ordered
// IDs, so one cursor covers both. Other events carry none.
func eventID(ev *starling.LiveEvent) starling.ID {
	switch ev.Event {
	case "update":
		return ev.StatusID
	case "notification":
		if ev.Notification != nil {
			return ev.Notification.ID
		}
	}
	return 0
}

func buildFrame(st stream, sse bool, event, payload string, id starling.ID) []byte {
	if sse {
		return appendSSEFrame(nil, event, payload, id)
	}
	return appendFrame(nil, st, event, payload)
}

// appendFrame appends a WebSocket frame:
// {"stream":[name(,tag|list)],"event":...,"payload":"<JSON as a string>"}.
func appendFrame(b []byte, st stream, event, payload string) []byte {
	b = append(b, `{"stream":[`...)
	b = appendString(b, st.name)
	if st.tag != "" {
		b = append(b, ',')
		b = appendString(b, st.tag)
	}
	if st.list != "" {
		b = append(b, ',')
		b = appendString(b, st.list)
	}
	b = append(b, `],"event":`...)
	b = appendString(b, event)
	b = append(b, `,"payload":`...)
	b = appendString(b, payload)
	return append(b, '}')
}

// payload renders an event's payload (a JSON string of the entity, or the
// bare ID for delete), reusing a rendering for payloadTTL. media tells
// whether the status has attachments.
func (h *hub) payload(ev *starling.LiveEvent) (payload string, media, ok bool) {
	switch ev.Event {
	case "delete":
		return ev.StatusID.String(), false, true
	case "notification":
		if ev.Notification == nil {
			return "", false, false
		}
		return string(h.s.render.appendNotification(nil, ev.Notification)), false, true
	case "update", "status.update":
	default:
		return "", false, false
	}
	key := payloadKey{ev.Event, ev.StatusID}
	now := time.Now()
	h.cacheMu.Lock()
	c, ok := h.cache[key]
	h.cacheMu.Unlock()
	if ok && now.Sub(c.at) < payloadTTL {
		return c.payload, c.media, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := h.s.feed.Status(ctx, ev.AuthorID, ev.StatusID)
	if err != nil {
		if !errors.Is(err, context.Canceled) && !starling.IsCode(err, starling.NotFound) {
			h.s.log.Warn("streaming: load status", "status", ev.StatusID, "err", err)
		}
		return "", false, false
	}
	payload, media = h.renderStatus(st)
	h.cacheMu.Lock()
	if len(h.cache) > 4096 {
		for k, v := range h.cache {
			if now.Sub(v.at) >= payloadTTL {
				delete(h.cache, k)
			}
		}
		if len(h.cache) > 4096 {
			clear(h.cache)
		}
	}
	h.cache[key] = cachedPayload{payload, media, now}
	h.cacheMu.Unlock()
	return payload, media, true
}

// renderStatus renders a streamed status once for every recipient, as
// Mastodon does: without viewer flags.
func (h *hub) renderStatus(st *starling.Status) (payload string, media bool) {
	st.Viewer = nil
	media = len(st.Media) > 0
	if st.Reblog != nil {
		st.Reblog.Viewer = nil
		media = len(st.Reblog.Media) > 0
	}
	return string(h.s.render.appendStatus(nil, st, false)), media
}

// authenticateStream finds and checks the token of a streaming request:
// the Authorization header or the access_token parameter (and, for
// WebSocket, the Sec-WebSocket-Protocol header, which the caller passes as
// fallback). Streaming needs a user token.
func (s *Server) authenticateStream(w http.ResponseWriter, r *http.Request, fallback starling.Secret) (*starling.Grant, bool) {
	if s.hub == nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "Streaming is not available on this node"})
		return nil, false
	}
	token := bearerToken(r, &params{v: r.URL.Query()})
	if token == "" {
		token = fallback
	}
	if token == "" {
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: "Missing access token"})
		return nil, false
	}
	g, err := s.auth.Authenticate(r.Context(), token)
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	if !g.IsUser() {
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: "This stream requires an authenticated user"})
		return nil, false
	}
	return g, true
}

// CloseStreams ends every streaming connection of this node. Call it when
// the node shuts down (http.Server.RegisterOnShutdown): server-sent events
// responses would otherwise hold the shutdown until its deadline, and
// clients reconnect sooner when told.
func (s *Server) CloseStreams() {
	if s.hub != nil {
		s.hub.closeAll()
	}
}
