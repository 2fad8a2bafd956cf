package gateway_test

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/starling-social/starling/internal/startest"
)

// noisyJPEG returns a JPEG of w x h random pixels (noise compresses badly,
// so sizes are predictable).
func noisyJPEG(tb testing.TB, w, h int) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.IntN(256))
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// BenchmarkMediaDelivery serves one cached image (about 200 KB once
// processed) to 16 concurrent clients from a node's edge cache, and the
// same bytes from a plain Go file server, in the same run: compare
// "starling" with "fileserver" for the ratio.
func BenchmarkMediaDelivery(b *testing.B) {
	n := startest.Node(b)
	c := startest.NewClient(b, n.URL())
	u := c.SignUp("bench")
	r := u.Must(200, "POST", "/api/v1/media", startest.Multipart{"file": startest.File{Name: "x.jpg", Data: noisyJPEG(b, 600, 420)}})
	url := r.Map(b)["url"].(string)
	path := url[strings.Index(url, "/media/"):]
	body := c.Must(200, "GET", path, nil).Body
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.jpg"), body, 0o600); err != nil {
		b.Fatal(err)
	}
	fs := httptest.NewServer(http.FileServer(http.Dir(dir)))
	b.Cleanup(fs.Close)
	for _, target := range []struct{ name, url string }{{"starling", n.URL() + path}, {"fileserver", fs.URL + "/x.jpg"}} {
		b.Run(target.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
			b.SetBytes(int64(len(body)))
			b.SetParallelism(8) // 16 clients on 2 cores
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(target.url)
					if err != nil {
						b.Error(err)
						return
					}
					nr, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || nr != int64(len(body)) {
						b.Errorf("status %d, %d bytes", resp.StatusCode, nr)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
	b.Logf("image: %d bytes", len(body))
}

// BenchmarkUploadJPEG1MB uploads 1 MB JPEGs through the synchronous
// endpoint (stored, processed by the worker, answered when done), two at a
// time per core.
func BenchmarkUploadJPEG1MB(b *testing.B) {
	n := startest.Node(b)
	c := startest.NewClient(b, n.URL())
	u := c.SignUp("upload")
	data := noisyJPEG(b, 1360, 1000) // about 1 MB: noise does not compress
	if len(data) < 900<<10 || len(data) > 1200<<10 {
		b.Fatalf("fixture is %d bytes, want about 1 MB", len(data))
	}
	b.SetBytes(int64(len(data)))
	start := time.Now()
	b.ResetTimer()
	b.SetParallelism(2)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := u.Do("POST", "/api/v1/media", startest.Multipart{"file": startest.File{Name: "p.jpg", Data: data}})
			if r.Status != 200 {
				b.Errorf("upload: %d %s", r.Status, r.Body)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "uploads/s")
	b.Logf("upload: %d bytes (%s)", len(data), fmt.Sprintf("%.1f MB", float64(len(data))/1e6))
}
