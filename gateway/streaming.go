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

// Streaming: GET /api/v1/streaming upgrades to a WebSocket that carries
// Mastodon's multiplexed live events. Events travel between nodes on NATS
// subjects (starling.live.*); this node subscribes to a subject only while
// one of its sockets needs it, and renders each event once for all of them.
//
// Each socket has a bounded send queue; a client that cannot keep up is
// disconnected (close code 1013) rather than buffered without bound. The
// number of sockets per node and per account is capped.

// StreamingLimits bounds the streaming API.
type StreamingLimits struct {
	MaxSockets    int           // per node (default 10,000)
	MaxPerAccount int           // per account (default 64)
	SendQueue     int           // frames queued per socket before it is cut off (default 128)
	PingEvery     time.Duration // default 30s
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
	return l
}

// hub holds this node's sockets and the NATS subscriptions they need.
type hub struct {
	s      *Server
	nc     *nats.Conn
	limits StreamingLimits

	mu         sync.Mutex
	subs       map[string]*liveSub // NATS subject -> subscription
	sockets    int
	perAccount map[starling.ID]int

	cacheMu sync.Mutex
	cache   map[payloadKey]cachedPayload // rendered payloads, by event and status
}

// payloadKey identifies an event's payload: one rendering serves every
// socket on this node (a post reaches each follower's subject separately,
// so the same payload is asked for once per follower).
type payloadKey struct {
	event string
	id    starling.ID
}

type cachedPayload struct {
	payload string
	at      time.Time
}

// payloadTTL bounds how long a rendered payload is reused. An edit is a
// different event ("status.update"), so reuse never shows stale content
// for long; counters in a payload may lag by this much.
const payloadTTL = 5 * time.Second

type liveSub struct {
	sub     *nats.Subscription
	sockets map[*socket]int // socket -> number of its streams on this subject
}

func newHub(s *Server, nc *nats.Conn, limits StreamingLimits) *hub {
	return &hub{s: s, nc: nc, limits: limits.withDefaults(), subs: map[string]*liveSub{},
		perAccount: map[starling.ID]int{}, cache: map[payloadKey]cachedPayload{}}
}

// stream is one subscription of a socket: Mastodon's stream name and, for
// hashtag streams, the tag exactly as the client sent it.
type stream struct {
	name string
	tag  string
}

func (st stream) subject(viewer starling.ID) string {
	switch st.name {
	case "user", "user:notification":
		return starling.SubjectLiveUser + "." + viewer.String()
	case "public", "public:local":
		return starling.SubjectLivePublic
	}
	return starling.SubjectLiveTag + "." + strings.ToLower(strings.TrimPrefix(st.tag, "#"))
}

// frameStream is the "stream" array of a frame.
func (st stream) frameStream() []string {
	if st.tag != "" {
		return []string{st.name, st.tag}
	}
	return []string{st.name}
}

// socket is one WebSocket connection.
type socket struct {
	h      *hub
	conn   *websocket.Conn
	grant  *starling.Grant
	send   chan []byte
	cancel context.CancelFunc

	mu      sync.Mutex
	streams map[stream]bool
	closed  bool
}

// handleStreaming upgrades the request and serves the socket until it
// closes.
func (s *Server) handleStreaming(w http.ResponseWriter, r *http.Request) {
	if s.hub == nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "Streaming is not available on this node"})
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "This endpoint requires a WebSocket upgrade"})
		return
	}
	// The token: Authorization header, access_token parameter, or the
	// Sec-WebSocket-Protocol header (which browsers can set), echoed back.
	token := bearerToken(r, &params{v: r.URL.Query()})
	var protocols []string
	if token == "" {
		if p := headerTokens(r.Header.Get("Sec-WebSocket-Protocol")); len(p) > 0 {
			token = starling.Secret(p[0])
			protocols = p[:1]
		}
	}
	if token == "" {
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: "Missing access token"})
		return
	}
	g, err := s.auth.Authenticate(r.Context(), token)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !g.IsUser() {
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: "This stream requires an authenticated user"})
		return
	}
	if err := s.hub.admit(g.AccountID); err != nil {
		s.writeError(w, r, err)
		return
	}
	defer s.hub.leave(g.AccountID)
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: protocols,
		// Tokens, not cookies, authenticate: cross-origin clients (Elk,
		// the web client on another host) are expected.
		OriginPatterns:  []string{"*"},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept has answered
	}
	conn.SetReadLimit(4096)
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	sk := &socket{h: s.hub, conn: conn, grant: g, send: make(chan []byte, s.hub.limits.SendQueue), cancel: cancel, streams: map[stream]bool{}}
	s.tel.Metrics.WSConnections.Inc()
	defer s.tel.Metrics.WSConnections.Dec()
	defer sk.close(websocket.StatusNormalClosure, "")
	if name := r.URL.Query().Get("stream"); name != "" {
		sk.subscribe(stream{name: name, tag: r.URL.Query().Get("tag")})
	}
	go sk.writeLoop(ctx)
	sk.readLoop(ctx)
}

// headerTokens splits a comma-separated header.
func headerTokens(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (h *hub) admit(account starling.ID) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sockets >= h.limits.MaxSockets {
		return starling.Unavailablef(5*time.Second, "Too many streaming connections on this server")
	}
	if h.perAccount[account] >= h.limits.MaxPerAccount {
		return &starling.Error{Code: starling.RateLimited, Message: "Too many streaming connections for this account", RetryAfter: 5 * time.Second}
	}
	h.sockets++
	h.perAccount[account]++
	return nil
}

func (h *hub) leave(account starling.ID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sockets--
	if h.perAccount[account]--; h.perAccount[account] <= 0 {
		delete(h.perAccount, account)
	}
}

// readLoop handles subscribe and unsubscribe messages until the socket
// closes.
func (sk *socket) readLoop(ctx context.Context) {
	for {
		typ, data, err := sk.conn.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			sk.close(websocket.StatusUnsupportedData, "text frames only")
			return
		}
		var msg struct {
			Type   string `json:"type"`
			Stream string `json:"stream"`
			Tag    string `json:"tag"`
		}
		if json.Unmarshal(data, &msg) != nil {
			sk.sendError("Bad request", 400)
			continue
		}
		switch msg.Type {
		case "subscribe":
			sk.subscribe(stream{name: msg.Stream, tag: msg.Tag})
		case "unsubscribe":
			sk.unsubscribe(stream{name: msg.Stream, tag: msg.Tag})
		}
	}
}

// writeLoop sends queued frames and pings.
func (sk *socket) writeLoop(ctx context.Context) {
	ping := time.NewTicker(sk.h.limits.PingEvery)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case frame := <-sk.send:
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := sk.conn.Write(wctx, websocket.MessageText, frame)
			cancel()
			if err != nil {
				sk.close(websocket.StatusGoingAway, "write failed")
				return
			}
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, sk.h.limits.PingEvery)
			err := sk.conn.Ping(pctx)
			cancel()
			if err != nil {
				sk.h.s.tel.Metrics.WSDropped.WithLabelValues("ping_timeout").Inc()
				sk.close(websocket.StatusGoingAway, "no pong")
				return
			}
		}
	}
}

// streamScopes are the scopes a stream needs beyond a user token.
var streamScopes = map[string][]string{
	"user":              {"read:statuses"},
	"user:notification": {"read:notifications"},
	"public":            nil, "public:local": nil, "hashtag": nil, "hashtag:local": nil,
}

func (sk *socket) subscribe(st stream) {
	scopes, known := streamScopes[st.name]
	if !known || ((st.name == "hashtag" || st.name == "hashtag:local") && strings.TrimPrefix(st.tag, "#") == "") {
		sk.sendError("Unknown stream type", 400)
		return
	}
	if len(scopes) > 0 && !sk.grant.Scopes.AllowsAny(scopes...) {
		sk.sendError("Access token does not have the required scopes", 401)
		return
	}
	if !st.validTag() {
		sk.sendError("Invalid tag", 400)
		return
	}
	sk.mu.Lock()
	if sk.closed || sk.streams[st] {
		sk.mu.Unlock()
		return
	}
	sk.streams[st] = true
	sk.mu.Unlock()
	sk.h.attach(st.subject(sk.grant.AccountID), sk)
}

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

func (sk *socket) unsubscribe(st stream) {
	sk.mu.Lock()
	had := sk.streams[st]
	delete(sk.streams, st)
	sk.mu.Unlock()
	if had {
		sk.h.detach(st.subject(sk.grant.AccountID), sk)
	}
}

// close detaches the socket from every subject and closes it once.
func (sk *socket) close(code websocket.StatusCode, reason string) {
	sk.mu.Lock()
	if sk.closed {
		sk.mu.Unlock()
		return
	}
	sk.closed = true
	streams := sk.streams
	sk.streams = nil
	sk.mu.Unlock()
	for st := range streams {
		sk.h.detach(st.subject(sk.grant.AccountID), sk)
	}
	sk.cancel()
	go func() { _ = sk.conn.Close(code, reason) }()
}

func (sk *socket) sendError(msg string, status int) {
	b, _ := json.Marshal(map[string]any{"error": msg, "status": status})
	sk.enqueue(b)
}

// enqueue queues a frame; a full queue means the client cannot keep up and
// is cut off.
func (sk *socket) enqueue(frame []byte) {
	select {
	case sk.send <- frame:
	default:
		sk.h.s.tel.Metrics.WSDropped.WithLabelValues("slow_consumer").Inc()
		sk.close(websocket.StatusTryAgainLater, "too slow: events dropped")
	}
}

// attach adds a socket to a subject, subscribing on first use.
func (h *hub) attach(subject string, sk *socket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ls := h.subs[subject]
	if ls == nil {
		ls = &liveSub{sockets: map[*socket]int{}}
		sub, err := h.nc.Subscribe(subject, func(m *nats.Msg) { h.dispatch(subject, m.Data) })
		if err != nil {
			h.s.log.Warn("streaming subscribe", "subject", subject, "err", err)
			return
		}
		_ = sub.SetPendingLimits(65536, 64<<20)
		ls.sub = sub
		h.subs[subject] = ls
	}
	ls.sockets[sk]++
}

// detach removes a socket from a subject, unsubscribing when no socket
// needs it any more.
func (h *hub) detach(subject string, sk *socket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ls := h.subs[subject]
	if ls == nil {
		return
	}
	if ls.sockets[sk]--; ls.sockets[sk] <= 0 {
		delete(ls.sockets, sk)
	}
	if len(ls.sockets) == 0 {
		_ = ls.sub.Unsubscribe()
		delete(h.subs, subject)
	}
}

// dispatch renders one live event and queues it on every socket
// subscribed to subject.
func (h *hub) dispatch(subject string, data []byte) {
	var ev starling.LiveEvent
	if json.Unmarshal(data, &ev) != nil {
		return
	}
	payload, ok := h.payload(&ev)
	if !ok {
		return
	}
	h.mu.Lock()
	ls := h.subs[subject]
	var targets []*socket
	if ls != nil {
		for sk := range ls.sockets {
			targets = append(targets, sk)
		}
	}
	h.mu.Unlock()
	// A frame depends only on the stream (name and tag) and the event:
	// build each once for all sockets.
	built := map[stream][]byte{}
	sent := h.s.tel.Metrics.WSEvents.WithLabelValues(ev.Event)
	for _, sk := range targets {
		sk.mu.Lock()
		var frames [][]byte
		for st := range sk.streams {
			if st.subject(sk.grant.AccountID) != subject || !wants(st, &ev, sk.grant) {
				continue
			}
			f := built[st]
			if f == nil {
				f = appendFrame(nil, st, ev.Event, payload)
				built[st] = f
			}
			frames = append(frames, f)
		}
		sk.mu.Unlock()
		for _, f := range frames {
			sk.enqueue(f)
			sent.Inc()
		}
	}
}

// appendFrame appends a streaming frame:
// {"stream":[name(,tag)],"event":...,"payload":"<JSON as a string>"}.
func appendFrame(b []byte, st stream, event, payload string) []byte {
	b = append(b, `{"stream":[`...)
	b = appendString(b, st.name)
	if st.tag != "" {
		b = append(b, ',')
		b = appendString(b, st.tag)
	}
	b = append(b, `],"event":`...)
	b = appendString(b, event)
	b = append(b, `,"payload":`...)
	b = appendString(b, payload)
	return append(b, '}')
}

// wants reports whether a stream carries an event.
func wants(st stream, ev *starling.LiveEvent, g *starling.Grant) bool {
	switch st.name {
	case "user:notification":
		return ev.Event == "notification"
	case "user":
		return ev.Event != "notification" || g.Scopes.AllowsAny("read:notifications")
	}
	return ev.Event != "notification"
}

// payload renders an event's payload (a JSON string of the entity, or the
// bare ID for delete), reusing a rendering for payloadTTL.
func (h *hub) payload(ev *starling.LiveEvent) (string, bool) {
	switch ev.Event {
	case "delete":
		return ev.StatusID.String(), true
	case "notification":
		if ev.Notification == nil {
			return "", false
		}
		return string(h.s.render.appendNotification(nil, ev.Notification)), true
	case "update", "status.update":
	default:
		return "", false
	}
	key := payloadKey{ev.Event, ev.StatusID}
	now := time.Now()
	h.cacheMu.Lock()
	c, ok := h.cache[key]
	h.cacheMu.Unlock()
	if ok && now.Sub(c.at) < payloadTTL {
		return c.payload, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := h.s.feed.Status(ctx, ev.AuthorID, ev.StatusID)
	if err != nil {
		if !errors.Is(err, context.Canceled) && !starling.IsCode(err, starling.NotFound) {
			h.s.log.Warn("streaming: load status", "status", ev.StatusID, "err", err)
		}
		return "", false
	}
	stripViewer(st)
	payload := string(h.s.render.appendStatus(nil, st, false))
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
	h.cache[key] = cachedPayload{payload, now}
	h.cacheMu.Unlock()
	return payload, true
}

// stripViewer removes viewer flags: a streamed status is rendered once for
// every recipient, as Mastodon does.
func stripViewer(st *starling.Status) {
	st.Viewer = nil
	if st.Reblog != nil {
		st.Reblog.Viewer = nil
	}
}
