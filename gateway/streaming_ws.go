package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/starling-social/starling"
)

// handleStreaming upgrades GET /api/v1/streaming to a WebSocket and serves
// it until it closes: the client subscribes and unsubscribes with messages
// (or names one stream in the query).
func (s *Server) handleStreaming(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "This endpoint requires a WebSocket upgrade"})
		return
	}
	// The token may also come in the Sec-WebSocket-Protocol header (which
	// browsers can set), echoed back.
	var fallback starling.Secret
	var protocols []string
	if p := headerTokens(r.Header.Get("Sec-WebSocket-Protocol")); len(p) > 0 {
		fallback = starling.Secret(p[0])
	}
	g, ok := s.authenticateStream(w, r, fallback)
	if !ok {
		return
	}
	if fallback != "" && bearerToken(r, &params{v: r.URL.Query()}) == "" {
		protocols = []string{fallback.Reveal()}
	}
	c, ctx, err := s.hub.open(g, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: protocols,
		// Tokens, not cookies, authenticate: cross-origin clients (Elk,
		// the web client on another host) are expected.
		OriginPatterns:  []string{"*"},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		c.close(websocket.StatusInternalError, "") // Accept has answered
		return
	}
	ws.SetReadLimit(4096)
	c.mu.Lock()
	c.shut = func(code websocket.StatusCode, reason string) { _ = ws.Close(code, reason) }
	c.mu.Unlock()
	defer c.close(websocket.StatusNormalClosure, "")
	q := r.URL.Query()
	if name := q.Get("stream"); name != "" {
		if e := c.subscribe(stream{name: name, tag: q.Get("tag"), list: q.Get("list")}); e != nil {
			sendStreamError(c, e)
		}
	}
	go wsWriteLoop(ctx, c, ws)
	wsReadLoop(ctx, c, ws)
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

// wsReadLoop handles subscribe and unsubscribe messages until the socket
// closes.
func wsReadLoop(ctx context.Context, c *conn, ws *websocket.Conn) {
	for {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			c.close(websocket.StatusUnsupportedData, "text frames only")
			return
		}
		var msg struct {
			Type   string `json:"type"`
			Stream string `json:"stream"`
			Tag    string `json:"tag"`
			List   string `json:"list"`
		}
		if json.Unmarshal(data, &msg) != nil {
			sendStreamError(c, &streamError{http.StatusBadRequest, "Bad request"})
			continue
		}
		st := stream{name: msg.Stream, tag: msg.Tag, list: msg.List}
		switch msg.Type {
		case "subscribe":
			if e := c.subscribe(st); e != nil {
				sendStreamError(c, e)
			}
		case "unsubscribe":
			c.unsubscribe(st)
		}
	}
}

// sendStreamError queues Mastodon's WebSocket error frame.
func sendStreamError(c *conn, e *streamError) {
	b, _ := json.Marshal(map[string]any{"error": e.msg, "status": e.status})
	c.enqueue(frame{b: b})
}

// wsWriteLoop sends queued frames and pings.
func wsWriteLoop(ctx context.Context, c *conn, ws *websocket.Conn) {
	every := c.h.limits.PingEvery
	ping := time.NewTicker(every)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-c.send:
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := ws.Write(wctx, websocket.MessageText, f.b)
			cancel()
			if err != nil {
				c.close(websocket.StatusGoingAway, "write failed")
				return
			}
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, every)
			err := ws.Ping(pctx)
			cancel()
			if err != nil {
				c.h.s.tel.Metrics.WSDropped.WithLabelValues("ping_timeout").Inc()
				c.close(websocket.StatusGoingAway, "no pong")
				return
			}
		}
	}
}
