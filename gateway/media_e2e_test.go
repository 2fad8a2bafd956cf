package gateway_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/starling-social/starling/internal/startest"
	"github.com/starling-social/starling/media/imaging/imagingtest"
	"github.com/starling-social/starling/node"
)

func encodeJPEG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeGIF(t *testing.T) []byte {
	t.Helper()
	pal := color.Palette{color.Black, color.White}
	g := &gif.GIF{}
	for i := 0; i < 2; i++ {
		f := image.NewPaletted(image.Rect(0, 0, 20, 10), pal)
		f.SetColorIndex(i, i, 1)
		g.Image, g.Delay = append(g.Image, f), append(g.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// mp4 returns an ftyp box followed by an mdat of size bytes.
func mp4(size int) []byte {
	b := []byte{0, 0, 0, 20, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2, 0, 'm', 'p', '4', '1'}
	b = binary.BigEndian.AppendUint32(b, uint32(size+8))
	b = append(b, 'm', 'd', 'a', 't')
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i * 7)
	}
	return append(b, body...)
}

// upload sends a file to a media endpoint.
func upload(u *startest.User, path string, name string, data []byte, extra ...string) *startest.Response {
	m := startest.Multipart{"file": startest.File{Name: name, Data: data}}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return u.Do("POST", path, m)
}

// blobMessages counts stored chunks in the media blob store.
func blobMessages(t *testing.T, n *node.Node) uint64 {
	t.Helper()
	var total uint64
	js := n.Engine().JetStream()
	for p := 0; p < n.Engine().Config().Partitions; p++ {
		st, err := js.Stream(context.Background(), fmt.Sprintf("BLOB_media_%d", p))
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		total += info.State.Msgs
	}
	return total
}

func TestMediaUploadAndProcessing(t *testing.T) {
	n := startest.Node(t)
	c := startest.NewClient(t, n.URL())
	alice, bob := c.SignUp("malice"), c.SignUp("mbob")
	follow(t, bob, alice)

	exifJPEG := imagingtest.InsertJPEGSegment(encodeJPEG(t, imagingtest.Gradient(64, 32)), 0xE1, imagingtest.ExifAPP1(binary.BigEndian, 6))
	tests := []struct {
		name, file    string
		data          []byte
		mime          string
		width, height int
	}{
		{"jpeg with EXIF GPS, rotated", "photo.jpg", exifJPEG, "image/jpeg", 32, 64},
		{"png", "pic.png", encodePNG(t, imagingtest.Gradient(40, 30)), "image/png", 40, 30},
		{"gif", "anim.gif", encodeGIF(t), "image/gif", 20, 10},
		{"webp", "pic.webp", imagingtest.WebPLossless, "image/jpeg", 3, 2},
		{"a png named .jpg", "lies.jpg", encodePNG(t, imagingtest.Gradient(8, 8)), "image/png", 8, 8},
	}
	var mediaIDs []string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := upload(alice, "/api/v1/media", tc.file, tc.data, "description", "alt: "+tc.name).Map(t)
			meta := m["meta"].(map[string]any)
			orig := meta["original"].(map[string]any)
			if m["type"] != "image" || m["url"] == nil || m["preview_url"] == nil || m["blurhash"] == nil || m["description"] != "alt: "+tc.name {
				t.Fatalf("attachment = %v", m)
			}
			if int(orig["width"].(float64)) != tc.width || int(orig["height"].(float64)) != tc.height || meta["small"] == nil {
				t.Fatalf("meta = %v", meta)
			}
			r := c.Must(200, "GET", m["url"].(string), nil)
			if r.Header.Get("Content-Type") != tc.mime || r.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("served as %q", r.Header.Get("Content-Type"))
			}
			if bytes.Contains(r.Body, []byte("Exif")) || bytes.Contains(r.Body, []byte(imagingtest.Secret)) {
				t.Fatal("metadata survived processing")
			}
			c.Must(200, "GET", m["preview_url"].(string), nil)
			mediaIDs = append(mediaIDs, m["id"].(string))
		})
	}

	t.Run("v2 upload, then polling", func(t *testing.T) {
		r := upload(alice, "/api/v2/media", "x.png", encodePNG(t, imagingtest.Gradient(300, 200)))
		if r.Status != 200 && r.Status != 202 {
			t.Fatalf("v2 upload: %d %s", r.Status, r.Body)
		}
		id := r.Map(t)["id"].(string)
		startest.Eventually(t, 10*time.Second, "media processed", func() bool {
			return alice.Do("GET", "/api/v1/media/"+id, nil).Status == 200
		})
		bob.Must(404, "GET", "/api/v1/media/"+id, nil)
	})
	t.Run("alt text and focus", func(t *testing.T) {
		m := alice.Must(200, "PUT", "/api/v1/media/"+mediaIDs[0], startest.JSONBody{"description": "a gradient", "focus": "0.5,-0.25"}).Map(t)
		focus := m["meta"].(map[string]any)["focus"].(map[string]any)
		if m["description"] != "a gradient" || focus["x"] != 0.5 || focus["y"] != -0.25 {
			t.Fatalf("updated = %v", m)
		}
		alice.Must(422, "PUT", "/api/v1/media/"+mediaIDs[0], startest.Form{"focus": {"3,3"}})
		bob.Must(404, "PUT", "/api/v1/media/"+mediaIDs[0], startest.Form{"description": {"mine now"}})
	})
	t.Run("attach to a status", func(t *testing.T) {
		bob.Must(422, "POST", "/api/v1/statuses", startest.Form{"status": {"stolen"}, "media_ids[]": {mediaIDs[0]}})
		alice.Must(422, "POST", "/api/v1/statuses", startest.Form{"status": {"five"}, "media_ids[]": mediaIDs})
		st := alice.Must(200, "POST", "/api/v1/statuses", startest.JSONBody{"status": "look", "media_ids": mediaIDs[:2]}).Map(t)
		att := st["media_attachments"].([]any)
		if len(att) != 2 || att[0].(map[string]any)["description"] != "a gradient" || att[1].(map[string]any)["blurhash"] == nil {
			t.Fatalf("media_attachments = %v", att)
		}
		home := bob.Must(200, "GET", "/api/v1/timelines/home", nil).List(t)
		if len(home) == 0 || len(home[0]["media_attachments"].([]any)) != 2 {
			t.Fatalf("home = %v", home)
		}
		only := ids(c.Must(200, "GET", "/api/v1/accounts/"+alice.ID+"/statuses?only_media=true", nil).List(t))
		plain := post(t, alice, "no media")["id"].(string)
		if len(only) != 1 || only[0] != st["id"] || slices.Contains(ids(c.Must(200, "GET", "/api/v1/accounts/"+alice.ID+"/statuses?only_media=true", nil).List(t)), plain) {
			t.Fatalf("only_media = %v", only)
		}
		alice.Must(422, "DELETE", "/api/v1/media/"+mediaIDs[0], nil) // in use
		alice.Must(422, "POST", "/api/v1/statuses", startest.Form{"status": {"again"}, "media_ids[]": {mediaIDs[0]}})
		// Deleting the status with delete_media removes its media.
		url := att[0].(map[string]any)["url"].(string)
		alice.Must(200, "DELETE", "/api/v1/statuses/"+st["id"].(string)+"?delete_media=true", nil)
		startest.Eventually(t, 5*time.Second, "media of a deleted status still served", func() bool {
			return c.Do("GET", url, nil).Status == 404
		})
	})
	t.Run("unattached media can be deleted", func(t *testing.T) {
		alice.Must(200, "DELETE", "/api/v1/media/"+mediaIDs[4], nil)
		alice.Must(404, "GET", "/api/v1/media/"+mediaIDs[4], nil)
	})
	t.Run("bad and hostile files are refused and leave nothing behind", func(t *testing.T) {
		before := blobMessages(t, n)
		jpg := encodeJPEG(t, imagingtest.Gradient(64, 64))
		bad := []struct {
			name string
			data []byte
			want string
		}{
			{"decompression bomb", imagingtest.BombPNG(100000, 100000), "dimensions"},
			{"truncated jpeg", jpg[:len(jpg)/2], "damaged"},
			{"png magic then garbage", append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte("garbage!"), 64)...), "damaged"},
			{"text", []byte("just some text, not an image at all"), "Unsupported"},
			{"too large", append(append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, make([]byte, 17<<20)...), 0xFF, 0xD9), "too large"},
		}
		for _, tc := range bad {
			r := upload(alice, "/api/v1/media", "f.jpg", tc.data)
			if r.Status != 422 || !strings.Contains(r.Map(t)["error"].(string), tc.want) {
				t.Errorf("%s: %d %s", tc.name, r.Status, truncate(r.Body))
			}
		}
		if after := blobMessages(t, n); after != before {
			t.Fatalf("refused uploads left %d stored chunks", after-before)
		}
	})
}

// TestMediaDelivery checks HTTP caching and ranges on a video that spans
// several chunks, from the edge cache and around it.
func TestMediaDelivery(t *testing.T) {
	n := startest.Node(t)
	c := startest.NewClient(t, n.URL())
	u := c.SignUp("deliver")
	for _, size := range []int{600 << 10, 9 << 20} { // cached, and too large to cache
		t.Run(fmt.Sprintf("%d KiB", size>>10), func(t *testing.T) {
			data := mp4(size)
			m := upload(u, "/api/v1/media", "v.mp4", data).Map(t)
			if m["type"] != "video" {
				t.Fatalf("attachment = %v", m)
			}
			url := m["url"].(string)
			full := c.Must(200, "GET", url, nil)
			if !bytes.Equal(full.Body, data) || full.Header.Get("Content-Type") != "video/mp4" {
				t.Fatalf("body differs or type %q", full.Header.Get("Content-Type"))
			}
			if cc := full.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
				t.Fatalf("Cache-Control = %q", cc)
			}
			etag := full.Header.Get("ETag")
			if etag == "" || full.Header.Get("Last-Modified") == "" || full.Header.Get("Content-Length") != fmt.Sprint(len(data)) {
				t.Fatalf("headers = %v", full.Header)
			}
			if r := c.Do("GET", url, nil, "If-None-Match", etag); r.Status != http.StatusNotModified || len(r.Body) != 0 {
				t.Fatalf("If-None-Match: %d", r.Status)
			}
			last := len(data) - 1
			for _, rg := range []struct {
				header, want string
				from, to     int
			}{
				{"bytes=0-9", "bytes 0-9/%d", 0, 9},
				{"bytes=262140-262150", "bytes 262140-262150/%d", 262140, 262150},
				{fmt.Sprintf("bytes=%d-", last), fmt.Sprintf("bytes %d-%d/%%d", last, last), last, last},
				{"bytes=-1", fmt.Sprintf("bytes %d-%d/%%d", last, last), last, last},
			} {
				r := c.Do("GET", url, nil, "Range", rg.header)
				if r.Status != http.StatusPartialContent || r.Header.Get("Content-Range") != fmt.Sprintf(rg.want, len(data)) || !bytes.Equal(r.Body, data[rg.from:rg.to+1]) {
					t.Fatalf("Range %s: %d %q (%d bytes)", rg.header, r.Status, r.Header.Get("Content-Range"), len(r.Body))
				}
			}
			if r := c.Do("GET", url, nil, "Range", "bytes=0-0,5-6"); r.Status != http.StatusPartialContent || !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/byteranges") {
				t.Fatalf("multi-range: %d %q", r.Status, r.Header.Get("Content-Type"))
			}
			if r := c.Do("GET", url, nil, "Range", fmt.Sprintf("bytes=%d-", len(data))); r.Status != http.StatusRequestedRangeNotSatisfiable {
				t.Fatalf("unsatisfiable range: %d", r.Status)
			}
		})
	}
	c.Must(404, "GET", "/media/1/original-0000000000000000.mp4", nil)
}

func TestUnattachedMediaIsCollected(t *testing.T) {
	n := startest.Node(t, func(cfg *node.Config) { cfg.MediaUnattachedTTL = 2 * time.Second })
	c := startest.NewClient(t, n.URL())
	u := c.SignUp("gc")
	m := upload(u, "/api/v1/media", "p.png", encodePNG(t, imagingtest.Gradient(10, 10))).Map(t)
	startest.Eventually(t, 30*time.Second, "unattached upload not collected", func() bool {
		return u.Do("GET", "/api/v1/media/"+m["id"].(string), nil).Status == 404
	})
}
