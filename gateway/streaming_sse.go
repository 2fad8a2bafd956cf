package gateway

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/starling-social/starling"
)

// Server-sent events: GET /api/v1/streaming/<channel> answers
// text/event-stream with one stream's events, "event: <name>" and
// "data: <payload>" per event, a ":)" comment at the start and ":thump"
// every HeartbeatEvery, as Mastodon's streaming server does.
//
// Unlike Mastodon, update and notification events also carry an "id:"
// line: the status's or the notification's ID. A client that reconnects
// with Last-Event-ID (EventSource does it by itself) first gets what it
// missed since that ID, from the timelines and notifications themselves:
// at most replayStatuses statuses and replayNotifications notifications,
// the oldest first. Deletes and edits made while it was away are not
// replayed (nothing durable records them); past the bound, a client
// refetches the timeline as it does after any gap.
const (
	replayStatuses      = 40 // the largest timeline page
	replayNotifications = 80 // the largest notifications page
)

// sseChannels maps the paths under /api/v1/streaming/ to stream names.
var sseChannels = map[string]string{
	"user": "user", "user/notification": "user:notification",
	"public": "public", "public/local": "public:local", "public/remote": "public:remote",
	"hashtag": "hashtag", "hashtag/local": "hashtag:local",
	"list": "list", "direct": "direct",
}

// handleSSE serves GET /api/v1/streaming/<channel>. A WebSocket upgrade
// on such a path is served as one on /api/v1/streaming, as Mastodon
// accepts WebSockets on any streaming path.
func (s *Server) handleSSE(w http.ResponseWriter, r *http.Request) {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		s.handleStreaming(w, r)
		return
	}
	q := r.URL.Query()
	name, known := sseChannels[r.PathValue("channel")]
	if !known {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "Unknown channel requested"})
		return
	}
	if strings.HasPrefix(name, "public") && (q.Get("only_media") == "true" || q.Get("only_media") == "1") {
		name += ":media"
	}
	st := stream{name: name, tag: q.Get("tag"), list: q.Get("list")}
	g, ok := s.authenticateStream(w, r, "")
	if !ok {
		return
	}
	if e := st.check(g); e != nil {
		writeJSON(w, e.status, errorBody{Error: e.msg})
		return
	}
	c, ctx, err := s.hub.open(g, true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer c.close(websocket.StatusNormalClosure, "")
	_ = c.subscribe(st) // checked above; live events queue from here on

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Accel-Buffering", "no") // proxies must not hold events back
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if !sseWrite(w, rc, []byte(":)\n")) {
		return
	}
	// The response lives as long as the client listens: it must not hold
	// the in-flight slots meant for requests.
	if rec, ok := w.(*recorder); ok {
		rec.releaseUpgraded()
	}

	var sent map[starling.ID]bool
	if last, err := starling.ParseID(r.Header.Get("Last-Event-ID")); err == nil {
		frames, err := s.replay(r.Context(), g, st, last)
		if err != nil {
			s.log.WarnContext(r.Context(), "streaming: replay", "stream", st.name, "err", err)
		}
		sent = make(map[starling.ID]bool, len(frames))
		for _, f := range frames {
			if !sseWrite(w, rc, f.b) {
				return
			}
			sent[f.id] = true
		}
	}
	sseLoop(ctx, r.Context(), c, w, rc, sent)
}

// sseLoop writes queued events and heartbeats until the connection is
// closed or the client leaves. Events already sent by the replay (sent)
// are skipped.
func sseLoop(ctx, client context.Context, c *conn, w http.ResponseWriter, rc *http.ResponseController, sent map[starling.ID]bool) {
	beat := time.NewTicker(c.h.limits.HeartbeatEvery)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-client.Done():
			return
		case f := <-c.send:
			if f.id != 0 && sent[f.id] {
				continue
			}
			if !sseWrite(w, rc, f.b) {
				return
			}
		case <-beat.C:
			if !sseWrite(w, rc, []byte(":thump\n")) {
				return
			}
		}
	}
}

// sseWrite writes and flushes b within a deadline: a client that stops
// reading is cut off, as a WebSocket one is.
func sseWrite(w http.ResponseWriter, rc *http.ResponseController, b []byte) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := w.Write(b); err != nil {
		return false
	}
	return rc.Flush() == nil
}

// appendSSEFrame appends one event: "id:" (when the event has one),
// "event:" and "data:" lines and the blank line that ends it.
func appendSSEFrame(b []byte, event, payload string, id starling.ID) []byte {
	if id != 0 {
		b = append(b, "id: "...)
		b = strconv.AppendInt(b, int64(id), 10)
		b = append(b, '\n')
	}
	b = append(b, "event: "...)
	b = append(b, event...)
	b = append(b, '\n')
	for line := range strings.SplitSeq(payload, "\n") {
		b = append(b, "data: "...)
		b = append(b, line...)
		b = append(b, '\n')
	}
	return append(b, '\n')
}

// replay reads what st carried after last from the durable timelines and
// notifications, as the events a connected client would have received,
// oldest first.
func (s *Server) replay(ctx context.Context, g *starling.Grant, st stream, last starling.ID) ([]frame, error) {
	viewer := g.AccountID
	page := starling.Page{MinID: last, Limit: replayStatuses}
	var statuses []*starling.Status
	var notifs []*starling.Notification
	var err error
	switch st.name {
	case "user":
		if statuses, err = s.feed.HomeTimeline(ctx, viewer, page); err != nil {
			return nil, err
		}
	case "public", "public:local", "public:media", "public:local:media":
		q := starling.TimelineQuery{Page: page, Local: strings.HasPrefix(st.name, "public:local"), OnlyMedia: strings.HasSuffix(st.name, ":media")}
		if statuses, err = s.feed.PublicTimeline(ctx, viewer, q); err != nil {
			return nil, err
		}
	case "hashtag", "hashtag:local":
		tag := strings.ToLower(strings.TrimPrefix(st.tag, "#"))
		if statuses, err = s.feed.TagTimeline(ctx, viewer, tag, starling.TimelineQuery{Page: page}); err != nil {
			return nil, err
		}
	}
	if (st.name == "user" && g.Scopes.AllowsAny("read:notifications")) || st.name == "user:notification" {
		q := starling.NotificationQuery{Page: starling.Page{MinID: last, Limit: replayNotifications}}
		if notifs, err = s.notify.Notifications(ctx, viewer, q); err != nil {
			return nil, err
		}
	}
	frames := make([]frame, 0, len(statuses)+len(notifs))
	for _, status := range statuses {
		payload, _ := s.hub.renderStatus(status)
		frames = append(frames, frame{appendSSEFrame(nil, "update", payload, status.ID), status.ID})
	}
	for _, n := range notifs {
		frames = append(frames, frame{appendSSEFrame(nil, "notification", string(s.render.appendNotification(nil, n)), n.ID), n.ID})
	}
	slices.SortFunc(frames, func(a, b frame) int { return cmp.Compare(a.id, b.id) })
	return frames, nil
}
