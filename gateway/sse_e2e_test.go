package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/starling-social/starling/gateway"
	"github.com/starling-social/starling/internal/startest"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	ID, Event, Data string
}

// sseClient reads a text/event-stream response.
type sseClient struct {
	t      *testing.T
	resp   *http.Response
	events chan sseEvent
	lines  chan string // comments (heartbeats)
	done   chan struct{}
	cancel context.CancelFunc
}

// dialSSE opens GET /api/v1/streaming/<path> with token and extra headers
// and fails the test unless it answers 200 text/event-stream.
func dialSSE(t *testing.T, base, token, path string, header ...string) *sseClient {
	t.Helper()
	c, status := trySSE(t, base, token, path, header...)
	if status != 200 {
		t.Fatalf("GET %s: %d", path, status)
	}
	return c
}

// trySSE opens an event stream and returns it, or nil and the status it
// was refused with.
func trySSE(t *testing.T, base, token, path string, header ...string) (*sseClient, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/streaming/"+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		defer cancel()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if body["error"] == nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("refusal of %s without a JSON error: %d %v", path, resp.StatusCode, body)
		}
		return nil, resp.StatusCode
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	c := &sseClient{t: t, resp: resp, events: make(chan sseEvent, 256), lines: make(chan string, 256), done: make(chan struct{}), cancel: cancel}
	go c.read()
	t.Cleanup(c.close)
	return c, 200
}

func (c *sseClient) read() {
	defer close(c.done)
	sc := bufio.NewScanner(c.resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Event != "" {
				c.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			select {
			case c.lines <- line:
			default:
			}
		case strings.HasPrefix(line, "id: "):
			ev.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.Event = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.Data += line[6:]
		}
	}
}

func (c *sseClient) close() {
	c.cancel()
	c.resp.Body.Close()
	<-c.done
}

// next returns the next event, or fails the test after timeout.
func (c *sseClient) next(timeout time.Duration) sseEvent {
	c.t.Helper()
	select {
	case ev := <-c.events:
		return ev
	case <-time.After(timeout):
		c.t.Fatal("no event in time")
	}
	return sseEvent{}
}

// quiet fails the test if an event arrives within d.
func (c *sseClient) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case ev := <-c.events:
		c.t.Fatalf("unexpected event %+v", ev)
	case <-time.After(d):
	}
}

func statusID(t *testing.T, ev sseEvent) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
		t.Fatalf("payload of %s: %v", ev.Event, err)
	}
	if ev.Event == "notification" {
		return m["status"].(map[string]any)["id"].(string)
	}
	return m["id"].(string)
}

// TestServerSentEvents checks streaming over HTTP: the same auth, streams,
// events and limits as the WebSocket, and replay from Last-Event-ID.
func TestServerSentEvents(t *testing.T) {
	n := startest.Node(t, startest.WithStreaming(gateway.StreamingLimits{MaxPerAccount: 3, HeartbeatEvery: 200 * time.Millisecond}))
	c := startest.NewClient(t, n.URL())
	alice, bob := c.SignUp("ssea"), c.SignUp("sseb")
	follow(t, bob, alice)

	t.Run("refusals", func(t *testing.T) {
		id, secret := c.App("read", "urn:ietf:wg:oauth:2.0:oob")
		notifOnly := c.Must(200, "POST", "/oauth/token", startest.Form{"grant_type": {"password"}, "client_id": {id}, "client_secret": {secret},
			"username": {bob.Username}, "password": {"correct horse battery"}, "scope": {"read:notifications"}}).Map(t)["access_token"].(string)
		for _, tc := range []struct {
			name, token, path string
			status            int
		}{
			{"no token", "", "user", 401},
			{"bad token", "nonsense", "public", 401},
			{"app token", appToken(t, c, id, secret, "read"), "public", 401},
			{"unknown channel", bob.Token, "everything", 400},
			{"hashtag without a tag", bob.Token, "hashtag", 400},
			{"list that is not theirs", bob.Token, "list?list=1", 401},
			{"scope without read:statuses", notifOnly, "public", 401},
		} {
			if _, status := trySSE(t, c.Base, tc.token, tc.path); status != tc.status {
				t.Errorf("%s: %d, want %d", tc.name, status, tc.status)
			}
		}
		dialSSE(t, c.Base, notifOnly, "user/notification")
		if r := c.Do("GET", "/api/v1/streaming/health", nil); r.Status != 200 || string(r.Body) != "OK" {
			t.Errorf("health = %d %s", r.Status, r.Body)
		}
	})

	t.Run("events, heartbeats and replay", func(t *testing.T) {
		user := dialSSE(t, c.Base, bob.Token, "user")
		tag := dialSSE(t, c.Base, bob.Token, "hashtag?tag=SSE")
		select {
		case l := <-user.lines:
			if l != ":)" {
				t.Fatalf("first line = %q, want the :) greeting", l)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no greeting")
		}
		select {
		case l := <-user.lines:
			if l != ":thump" {
				t.Fatalf("heartbeat = %q", l)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no heartbeat")
		}
		st := post(t, alice, "live over http #sse")["id"].(string)
		ev := user.next(5 * time.Second)
		if ev.Event != "update" || ev.ID != st || statusID(t, ev) != st {
			t.Fatalf("update = %+v", ev)
		}
		if ev := tag.next(5 * time.Second); ev.Event != "update" || statusID(t, ev) != st {
			t.Fatalf("hashtag update = %+v", ev)
		}
		post(t, alice, "hello @"+bob.Username)
		var notif sseEvent
		for notif.Event != "notification" {
			notif = user.next(5 * time.Second)
		}
		if notif.ID == "" || !strings.Contains(notif.Data, `"type":"mention"`) {
			t.Fatalf("notification = %+v", notif)
		}
		alice.Must(200, "DELETE", "/api/v1/statuses/"+st, nil)
		var del sseEvent
		for del.Event != "delete" {
			del = user.next(5 * time.Second)
		}
		if del.Data != st || del.ID != "" {
			t.Fatalf("delete = %+v", del)
		}
		last := notif.ID
		user.close()

		// Away: two posts and a mention; back with Last-Event-ID.
		missed1 := post(t, alice, "missed one")["id"].(string)
		missed2 := post(t, alice, "missed two @"+bob.Username)["id"].(string)
		notifications(t, bob, "?types[]=mention", 2)
		back := dialSSE(t, c.Base, bob.Token, "user", "Last-Event-ID", last)
		var got []string
		for len(got) < 3 {
			ev := back.next(5 * time.Second)
			got = append(got, ev.Event+" "+statusID(t, ev))
		}
		want := []string{"update " + missed1, "update " + missed2, "notification " + missed2}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("replay = %v, want %v", got, want)
		}
		// Then live again, and nothing twice.
		live := post(t, alice, "after the replay")["id"].(string)
		if ev := back.next(5 * time.Second); ev.Event != "update" || statusID(t, ev) != live {
			t.Fatalf("after replay = %+v", ev)
		}
		back.quiet(300 * time.Millisecond)
	})

	t.Run("user:notification carries only notifications", func(t *testing.T) {
		s := dialSSE(t, c.Base, bob.Token, "user/notification")
		post(t, alice, "not a notification")
		post(t, alice, "a mention @"+bob.Username)
		if ev := s.next(5 * time.Second); ev.Event != "notification" {
			t.Fatalf("event = %+v", ev)
		}
	})

	t.Run("limits are shared with the WebSocket", func(t *testing.T) {
		carol := c.SignUp("ssec")
		dialSSE(t, c.Base, carol.Token, "public")
		dialSSE(t, c.Base, carol.Token, "direct")
		dialStream(t, c.Base, carol.Token, "")
		if _, status := trySSE(t, c.Base, carol.Token, "public/local"); status != http.StatusTooManyRequests {
			t.Fatalf("fourth connection of an account: %d, want 429", status)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, resp, err := websocket.Dial(ctx, streamingURL(c.Base, ""), &websocket.DialOptions{Subprotocols: []string{carol.Token}}); err == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("fourth connection over WebSocket: %v", err)
		}
	})

	t.Run("shutdown ends the streams", func(t *testing.T) {
		s := dialSSE(t, c.Base, alice.Token, "public")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		n.Shutdown(ctx)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("shutdown took %v with an event stream open", d)
		}
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			t.Fatal("the event stream outlived the node")
		}
	})
}
