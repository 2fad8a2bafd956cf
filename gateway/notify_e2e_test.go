package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/starling-social/starling/gateway"
	"github.com/starling-social/starling/internal/startest"
)

// notifications waits until the user has n notifications and returns them.
func notifications(t *testing.T, u *startest.User, query string, n int) []map[string]any {
	t.Helper()
	var l []map[string]any
	startest.Eventually(t, 10*time.Second, fmt.Sprintf("%s: want %d notifications (%s)", u.Username, n, query), func() bool {
		l = u.Must(200, "GET", "/api/v1/notifications"+query, nil).List(t)
		return len(l) == n
	})
	return l
}

func types(l []map[string]any) []string {
	out := make([]string, len(l))
	for i, m := range l {
		out[i] = m["type"].(string)
	}
	return out
}

func TestNotifications(t *testing.T) {
	c := newClient(t)
	alice, bob, carol, locked := c.SignUp("nalice"), c.SignUp("nbob"), c.SignUp("ncarol"), c.SignUp("nlocked")
	locked.Must(200, "PATCH", "/api/v1/accounts/update_credentials", startest.Form{"locked": {"true"}})

	follow(t, bob, alice)                                                                            // follow
	bob.Must(200, "POST", "/api/v1/accounts/"+alice.ID+"/follow", startest.Form{"notify": {"true"}}) // subscribe
	p := post(t, alice, "hello world")["id"].(string)                                                // status -> bob
	bob.Must(200, "POST", "/api/v1/statuses/"+p+"/favourite", nil)                                   // favourite -> alice
	bob.Must(200, "POST", "/api/v1/statuses/"+p+"/reblog", nil)                                      // reblog -> alice
	reply := post(t, carol, "@"+alice.Username+" hi", "in_reply_to_id", p)["id"].(string)            // mention -> alice
	alice.Must(200, "POST", "/api/v1/statuses/"+p+"/favourite", nil)                                 // own action: nothing
	follow(t, alice, locked)                                                                         // follow_request -> locked
	secret := post(t, carol, "only for @"+bob.Username, "visibility", "direct")["id"].(string)       // mention -> bob

	// Events of different partitions are handled concurrently, so the
	// notifications' order is not the actions' order.
	got := notifications(t, alice, "", 4)
	byType := map[string]map[string]any{}
	for _, n := range got {
		byType[n["type"].(string)] = n
	}
	if len(byType) != 4 || byType["mention"] == nil || byType["reblog"] == nil || byType["favourite"] == nil || byType["follow"] == nil {
		t.Fatalf("alice's notifications = %v", types(got))
	}
	if m := byType["mention"]; m["status"].(map[string]any)["id"] != reply || m["account"].(map[string]any)["id"] != carol.ID {
		t.Fatalf("mention = %v", m)
	}
	if byType["reblog"]["status"].(map[string]any)["id"] != p || byType["favourite"]["account"].(map[string]any)["id"] != bob.ID {
		t.Fatalf("reblog/favourite = %v %v", byType["reblog"], byType["favourite"])
	}
	bobs := notifications(t, bob, "", 2)
	if got := types(bobs); !(len(got) == 2 && (got[0] == "mention" && got[1] == "status" || got[0] == "status" && got[1] == "mention")) {
		t.Fatalf("bob's notifications = %v", got)
	}
	for _, n := range bobs {
		if n["type"] == "mention" && n["status"].(map[string]any)["id"] != secret {
			t.Fatalf("bob's mention = %v", n)
		}
	}
	if l := notifications(t, locked, "", 1); l[0]["type"] != "follow_request" || l[0]["status"] != nil {
		t.Fatalf("locked's notifications = %v", l)
	}

	t.Run("filters, paging and single reads", func(t *testing.T) {
		all := notifications(t, alice, "", 4)
		if l := types(alice.Must(200, "GET", "/api/v1/notifications?exclude_types[]=favourite&exclude_types[]=reblog", nil).List(t)); len(l) != 2 || l[0] == l[1] || (l[0] != "mention" && l[0] != "follow") || (l[1] != "mention" && l[1] != "follow") {
			t.Fatalf("exclude_types = %v", l)
		}
		if l := alice.Must(200, "GET", "/api/v1/notifications?account_id="+bob.ID, nil).List(t); len(l) != 3 {
			t.Fatalf("account_id = %v", types(l))
		}
		r := alice.Must(200, "GET", "/api/v1/notifications?limit=2", nil)
		next := link(t, r.Header.Get("Link"), "next")
		if l := alice.Must(200, "GET", next, nil).List(t); len(l) != 2 || l[0]["id"] != all[2]["id"] {
			t.Fatalf("second page = %v", l)
		}
		one := alice.Must(200, "GET", "/api/v1/notifications/"+all[0]["id"].(string), nil).Map(t)
		if one["type"] != all[0]["type"] || one["group_key"] != "ungrouped-"+one["id"].(string) {
			t.Fatalf("notification = %v", one)
		}
		bob.Must(404, "GET", "/api/v1/notifications/"+all[0]["id"].(string), nil)
		alice.Must(400, "GET", "/api/v1/notifications?types[]=bogus", nil)
	})
	t.Run("unread count follows the marker", func(t *testing.T) {
		all := notifications(t, alice, "", 4)
		if n := alice.Must(200, "GET", "/api/v1/notifications/unread_count", nil).Map(t)["count"]; n.(float64) != 4 {
			t.Fatalf("unread = %v", n)
		}
		alice.Must(200, "POST", "/api/v1/markers", startest.JSONBody{"notifications": map[string]any{"last_read_id": all[1]["id"]}})
		if n := alice.Must(200, "GET", "/api/v1/notifications/unread_count", nil).Map(t)["count"]; n.(float64) != 1 {
			t.Fatalf("unread after marker = %v", n)
		}
	})
	t.Run("undoing an action removes its notification", func(t *testing.T) {
		bob.Must(200, "POST", "/api/v1/statuses/"+p+"/unfavourite", nil)
		notifications(t, alice, "?types[]=favourite", 0)
		carol.Must(200, "DELETE", "/api/v1/statuses/"+reply, nil)
		notifications(t, alice, "?types[]=mention", 0)
	})
	t.Run("an edit notifies those who reblogged", func(t *testing.T) {
		alice.Must(200, "PUT", "/api/v1/statuses/"+p, startest.Form{"status": {"hello, edited"}})
		if l := notifications(t, bob, "?types[]=update", 1); l[0]["status"].(map[string]any)["id"] != p {
			t.Fatalf("update notification = %v", l[0])
		}
	})
	t.Run("dismiss and clear", func(t *testing.T) {
		all := notifications(t, alice, "", 2)
		alice.Must(200, "POST", "/api/v1/notifications/"+all[0]["id"].(string)+"/dismiss", nil)
		if l := alice.Must(200, "GET", "/api/v1/notifications", nil).List(t); len(l) != 1 {
			t.Fatalf("after dismiss: %v", types(l))
		}
		alice.Must(200, "POST", "/api/v1/notifications/clear", nil)
		if l := alice.Must(200, "GET", "/api/v1/notifications", nil).List(t); len(l) != 0 {
			t.Fatalf("after clear: %v", types(l))
		}
	})
}

// wsClient is a streaming connection as masto.js opens it: token in
// Sec-WebSocket-Protocol, subscriptions as messages.
type wsClient struct {
	t       *testing.T
	conn    *websocket.Conn
	pending []frame // read but not yet expected
}

// streamingURL is the streaming endpoint of the gateway at base, with query.
func streamingURL(base, query string) string {
	return "ws" + strings.TrimPrefix(base, "http") + "/api/v1/streaming" + query
}

func dialStream(t *testing.T, base, token, query string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, streamingURL(base, query), &websocket.DialOptions{Subprotocols: []string{token}})
	if err != nil {
		t.Fatalf("dial streaming: %v", err)
	}
	if resp.Header.Get("Sec-WebSocket-Protocol") != token {
		t.Fatalf("subprotocol not echoed: %q", resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	t.Cleanup(func() { conn.CloseNow() })
	return &wsClient{t: t, conn: conn}
}

func (w *wsClient) send(v any) {
	w.t.Helper()
	b, _ := json.Marshal(v)
	if err := w.conn.Write(context.Background(), websocket.MessageText, b); err != nil {
		w.t.Fatal(err)
	}
}

type frame struct {
	Stream  []string `json:"stream"`
	Event   string   `json:"event"`
	Payload string   `json:"payload"`
	Error   string   `json:"error"`
}

// next reads the next frame, or fails after timeout.
func (w *wsClient) next(timeout time.Duration) (frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, b, err := w.conn.Read(ctx)
	if err != nil {
		return frame{}, err
	}
	var f frame
	err = json.Unmarshal(b, &f)
	return f, err
}

// expect returns the first frame, read now or earlier, that matches, and
// fails after a timeout. Frames of several streams may arrive in any order.
func (w *wsClient) expect(event, stream string, match func(payload string) bool) frame {
	w.t.Helper()
	ok := func(f frame) bool {
		return f.Event == event && len(f.Stream) > 0 && f.Stream[0] == stream && match(f.Payload)
	}
	for i, f := range w.pending {
		if ok(f) {
			w.pending = append(w.pending[:i], w.pending[i+1:]...)
			return f
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		f, err := w.next(time.Until(deadline))
		if err != nil {
			break
		}
		if ok(f) {
			return f
		}
		w.pending = append(w.pending, f)
	}
	w.t.Fatalf("no %s event on %s", event, stream)
	return frame{}
}

func TestStreaming(t *testing.T) {
	c := newClient(t)
	alice, bob, stranger := c.SignUp("salice"), c.SignUp("sbob"), c.SignUp("sstranger")
	follow(t, bob, alice)

	ws := dialStream(t, c.Base, bob.Token, "")
	ws.send(map[string]string{"type": "subscribe", "stream": "user"})
	ws.send(map[string]string{"type": "subscribe", "stream": "hashtag", "tag": "Streams"})
	time.Sleep(100 * time.Millisecond) // let the subscriptions land

	// On bob's hashtag stream if visibility were not checked.
	hidden := post(t, stranger, "private words #streams", "visibility", "private")["id"].(string)
	st := post(t, alice, "live #streams")["id"].(string)
	f := ws.expect("update", "user", func(p string) bool { return strings.Contains(p, st) })
	var status map[string]any
	if err := json.Unmarshal([]byte(f.Payload), &status); err != nil || status["id"] != st || status["account"].(map[string]any)["id"] != alice.ID {
		t.Fatalf("update payload = %s (%v)", f.Payload, err)
	}
	tf := ws.expect("update", "hashtag", func(p string) bool { return strings.Contains(p, st) })
	if len(tf.Stream) != 2 || tf.Stream[1] != "Streams" {
		t.Fatalf("hashtag frame stream = %v, want the tag as sent", tf.Stream)
	}
	// Notifications arrive on the user stream too.
	post(t, alice, "hey @"+bob.Username)
	nf := ws.expect("notification", "user", func(string) bool { return true })
	if !strings.Contains(nf.Payload, `"type":"mention"`) {
		t.Fatalf("notification payload = %s", nf.Payload)
	}
	alice.Must(200, "DELETE", "/api/v1/statuses/"+st, nil)
	ws.expect("delete", "user", func(p string) bool { return p == st })
	// Nothing for what bob may not see.
	for {
		f, err := ws.next(300 * time.Millisecond)
		if err != nil {
			break
		}
		ws.pending = append(ws.pending, f)
	}
	for _, f := range ws.pending {
		if strings.Contains(f.Payload, hidden) {
			t.Fatalf("a private status of a stranger reached bob: %v", f)
		}
	}

	t.Run("token in the query, initial stream, user:notification", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, _, err := websocket.Dial(ctx, streamingURL(c.Base, "?stream=user:notification&access_token="+alice.Token), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseNow()
		w := &wsClient{t: t, conn: conn}
		time.Sleep(100 * time.Millisecond)
		bob.Must(200, "POST", "/api/v1/accounts/"+alice.ID+"/unfollow", nil)
		follow(t, bob, alice)
		w.expect("notification", "user:notification", func(p string) bool { return strings.Contains(p, `"type":"follow"`) })
	})
	t.Run("refusals", func(t *testing.T) {
		r := c.Do("GET", "/api/v1/streaming", nil, "Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		if r.Status != 401 {
			t.Fatalf("no token: %d", r.Status)
		}
		if r := c.Do("GET", "/api/v1/streaming/health", nil); r.Status != 200 || string(r.Body) != "OK" {
			t.Fatalf("health = %d %s", r.Status, r.Body)
		}
		w := dialStream(t, c.Base, bob.Token, "")
		w.send(map[string]string{"type": "subscribe", "stream": "nonsense"})
		f, err := w.next(2 * time.Second)
		if err != nil || f.Error != "Unknown stream type" {
			t.Fatalf("unknown stream: %v %v", f, err)
		}
	})
}

// TestStreamingBackpressure checks that a client that stops reading is cut
// off instead of buffering without bound, and that per-account socket
// limits hold.
func TestStreamingBackpressure(t *testing.T) {
	n := startest.Node(t, startest.WithStreaming(gateway.StreamingLimits{SendQueue: 8, MaxPerAccount: 2}))
	c := startest.NewClient(t, n.URL())
	poster, reader := c.SignUp("bp"), c.SignUp("bpr")
	follow(t, reader, poster)
	// A client with a tiny receive buffer that never reads.
	slowConn, _, err := websocket.Dial(context.Background(), streamingURL(c.Base, "?stream=user"),
		&websocket.DialOptions{Subprotocols: []string{reader.Token}, HTTPClient: &http.Client{Transport: &http.Transport{
			DialContext: (&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			}}).DialContext}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slowConn.CloseNow() })
	slow := &wsClient{t: t, conn: slowConn}
	time.Sleep(100 * time.Millisecond)
	// The third socket of an account is refused.
	dialStream(t, c.Base, reader.Token, "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, streamingURL(c.Base, ""), &websocket.DialOptions{Subprotocols: []string{reader.Token}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third socket: %v %v", resp, err)
	}
	// Post far more than the queue holds without reading: the server
	// closes the socket with 1013 instead of queueing.
	// Kernel buffers on both ends absorb a few megabytes first.
	big := strings.Repeat("x", 480)
	var closed bool
	for i := 0; i < 5000 && !closed; i++ {
		post(t, poster, fmt.Sprintf("%d %s", i, big))
		if i%100 == 0 {
			m := c.Must(200, "GET", "/metrics", nil)
			closed = strings.Contains(string(m.Body), `starling_websocket_disconnects_total{reason="slow_consumer"} 1`)
		}
	}
	if !closed {
		t.Fatal("the slow socket was not cut off after 5000 posts")
	}
	var closeErr error
	for i := 0; i < 100000; i++ {
		if _, closeErr = slow.next(5 * time.Second); closeErr != nil {
			break
		}
	}
	// The close frame (1013) reaches the client only if its send path
	// has room; with both kernel buffers full the connection just ends.
	if closeErr == nil || (websocket.CloseStatus(closeErr) != websocket.StatusTryAgainLater && !strings.Contains(closeErr.Error(), "EOF")) {
		t.Fatalf("slow socket ended with %v, want close code 1013 or EOF", closeErr)
	}
}
