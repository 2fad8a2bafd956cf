package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/starling-social/starling/internal/startest"
)

// TestTwoNodesShareMediaAndStreams runs two processes: the first embeds the
// engine and runs every service, the second runs only a gateway against
// the first's engine. Media uploaded through one is served by the other,
// and a socket on the second receives a post made through the first.
func TestTwoNodesShareMediaAndStreams(t *testing.T) {
	a := startProc(t, "serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:-1",
		"--node-name", "node-a", "--ratelimit", "off", "--log-level", "warn")
	b := startProc(t, "serve", "--services", "gateway", "--nats-url", a.NATS, "--http", "127.0.0.1:0",
		"--node-name", "node-b", "--ratelimit", "off", "--log-level", "warn")
	ca, cb := startest.NewClient(t, a.URL), startest.NewClient(t, b.URL)

	t.Run("media uploaded on A is served by B", func(t *testing.T) {
		u := ca.SignUp("media2")
		img := image.NewRGBA(image.Rect(0, 0, 50, 40))
		for i := range img.Pix {
			img.Pix[i] = byte(i)
		}
		img.Set(0, 0, color.White)
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		m := u.Must(200, "POST", "/api/v1/media", startest.Multipart{"file": startest.File{Name: "a.png", Data: buf.Bytes()}}).Map(t)
		url := m["url"].(string)
		path := url[strings.Index(url, "/media/"):]
		fromA := ca.Must(200, "GET", path, nil)
		fromB := cb.Must(200, "GET", path, nil)
		if !bytes.Equal(fromA.Body, fromB.Body) || fromB.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("node B served %d bytes of %q, node A %d", len(fromB.Body), fromB.Header.Get("Content-Type"), len(fromA.Body))
		}
		// And an upload through B's gateway (whose media client writes
		// the bytes to the engine itself) is served by A.
		m = cb.As(u.Token).Must(200, "POST", "/api/v1/media", startest.Multipart{"file": startest.File{Name: "b.png", Data: buf.Bytes()}}).Map(t)
		url = m["url"].(string)
		ca.Must(200, "GET", url[strings.Index(url, "/media/"):], nil)
	})

	t.Run("a token revoked through A is refused by B at once", func(t *testing.T) {
		id, secret := ca.App("read write", "urn:ietf:wg:oauth:2.0:oob")
		appTok := ca.Must(200, "POST", "/oauth/token", startest.Form{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "scope": {"read write"}}).Map(t)["access_token"].(string)
		tok := ca.As(appTok).Must(200, "POST", "/api/v1/accounts", startest.Form{"username": {"revokee"}, "email": {"revokee@example.com"},
			"password": {"correct horse battery"}, "agreement": {"true"}}).Map(t)["access_token"].(string)
		onB := cb.As(tok)
		for range 3 { // warm B's token cache
			onB.Must(200, "GET", "/api/v1/accounts/verify_credentials", nil)
		}
		ca.Must(200, "POST", "/oauth/revoke", startest.Form{"client_id": {id}, "client_secret": {secret}, "token": {tok}})
		onB.Must(401, "GET", "/api/v1/accounts/verify_credentials", nil)
	})

	t.Run("a socket on B receives a post made on A within a second", func(t *testing.T) {
		poster, reader := ca.SignUp("poster"), ca.SignUp("reader")
		reader.Must(200, "POST", "/api/v1/accounts/"+poster.ID+"/follow", nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(b.URL, "http")+"/api/v1/streaming?stream=user",
			&websocket.DialOptions{Subprotocols: []string{reader.Token}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseNow()
		time.Sleep(200 * time.Millisecond) // the subscription reaches A's server
		sent := time.Now()
		id := poster.Must(200, "POST", "/api/v1/statuses", startest.Form{"status": {"across nodes"}}).Map(t)["id"].(string)
		for {
			rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
			_, data, err := conn.Read(rctx)
			rcancel()
			if err != nil {
				t.Fatalf("no update within a second: %v", err)
			}
			var f struct{ Event, Payload string }
			_ = json.Unmarshal(data, &f)
			if f.Event == "update" && strings.Contains(f.Payload, id) {
				if d := time.Since(sent); d > time.Second {
					t.Fatalf("update took %v", d)
				}
				return
			}
		}
	})
}
