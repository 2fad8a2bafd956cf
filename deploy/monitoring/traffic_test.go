package monitoring

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// upload posts a small PNG as media (a media job then processes it).
func (c client) upload() {
	c.t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", "pixels.png")
	if err != nil {
		c.t.Fatal(err)
	}
	if err := png.Encode(fw, img); err != nil {
		c.t.Fatal(err)
	}
	_ = mw.WriteField("description", "a few pixels")
	_ = mw.Close()
	req, _ := http.NewRequest("POST", c.base+"/api/v2/media", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 && resp.StatusCode != 202 {
		c.t.Fatalf("media upload: %d %s", resp.StatusCode, data)
	}
}

// stream is a streaming API socket, spoken by hand (RFC 6455: the
// handshake, then unmasked text frames from the server).
type stream struct {
	conn net.Conn
	r    *bufio.Reader
}

// openStream opens the user stream of c's account.
func (c client) openStream() *stream {
	c.t.Helper()
	u, err := url.Parse(c.base)
	if err != nil {
		c.t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	fmt.Fprintf(conn, "GET /api/v1/streaming?stream=user HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n", u.Host, base64.StdEncoding.EncodeToString(key), c.token)
	s := &stream{conn: conn, r: bufio.NewReader(conn)}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, err := s.r.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		c.t.Fatalf("streaming handshake: %q %v", status, err)
	}
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			c.t.Fatal(err)
		}
		if line == "\r\n" {
			return s
		}
	}
}

// next returns the payload of the next text frame (pings are skipped).
func (s *stream) next(t *testing.T) string {
	t.Helper()
	_ = s.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		var h [2]byte
		if _, err := io.ReadFull(s.r, h[:]); err != nil {
			t.Fatalf("streaming: %v", err)
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			_, _ = io.ReadFull(s.r, b[:])
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			_, _ = io.ReadFull(s.r, b[:])
			n = binary.BigEndian.Uint64(b[:])
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(s.r, payload); err != nil {
			t.Fatalf("streaming: %v", err)
		}
		if h[0]&0x0f == 1 {
			return string(payload)
		}
	}
}
