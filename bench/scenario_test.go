package bench

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestMakeJPEG(t *testing.T) {
	for _, size := range []int{2048, 10000, 100000, 1 << 20} {
		b, err := makeJPEG(size, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != size {
			t.Fatalf("size %d: got %d bytes", size, len(b))
		}
		if _, err := jpeg.Decode(bytes.NewReader(b)); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
	}
	if _, err := makeJPEG(100, 1); err == nil {
		t.Error("a 100-byte JPEG did not fail")
	}
	// Padding far beyond one comment segment, and every awkward remainder.
	var small bytes.Buffer
	_ = jpeg.Encode(&small, image.NewGray(image.Rect(0, 0, 8, 8)), nil)
	for _, extra := range []int{0, 4, 5, 65537, 65538, 65540, 65541, 3*65537 + 2, 200000} {
		b, err := padJPEG(small.Bytes(), small.Len()+extra)
		if err != nil {
			t.Fatalf("pad %d: %v", extra, err)
		}
		if len(b) != small.Len()+extra {
			t.Fatalf("pad %d: %d bytes", extra, len(b))
		}
		if _, err := jpeg.Decode(bytes.NewReader(b)); err != nil {
			t.Fatalf("pad %d: %v", extra, err)
		}
	}
}

// setupFake signs n accounts up on a fake server.
func setupFake(t *testing.T, f *fakeMastodon, n int) *State {
	t.Helper()
	st, err := Setup(context.Background(), SetupConfig{Targets: []string{f.URL}, Graph: fmt.Sprintf("none:%d", n), Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestMediaWorkload(t *testing.T) {
	f := newFakeMastodon(t)
	st := setupFake(t, f, 3)
	rep, err := Run(context.Background(), RunConfig{State: st, Workload: "media", Connections: 2, Duration: 400 * time.Millisecond,
		Warmup: 50 * time.Millisecond, MediaSize: 20000, MediaPoll: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	media, up, proc := rep.Op("media"), rep.Op("media.upload"), rep.Op("media.processing")
	if media == nil || up == nil || proc == nil {
		t.Fatalf("ops: %+v", rep.Ops)
	}
	if media.OK == 0 || media.Errors != 0 {
		t.Fatalf("media: %v", media.Status)
	}
	// Every media op is one upload (202) and, in this fake, two 206 polls
	// and one 200.
	if up.Total("202") != total(media) || proc.Total("206") != 2*total(media) || proc.Total("200") != total(media) {
		t.Errorf("media %v, upload %v, processing %v", media.Status, up.Status, proc.Status)
	}
	if !up.Phase || !proc.Phase || rep.Overall.OK != media.OK {
		t.Errorf("phases counted in overall: %+v", rep.Overall)
	}
	if media.Latency.P50 < proc.Latency.P50 || proc.Latency.P50 < 10 { // two 5ms polls at least
		t.Errorf("media p50 %.2fms, processing p50 %.2fms", media.Latency.P50, proc.Latency.P50)
	}
	if rep.MediaSize != 20000 {
		t.Errorf("media size %d", rep.MediaSize)
	}
}

func TestStreamWorkload(t *testing.T) {
	tests := []struct {
		name    string
		deliver bool
	}{
		{"delivered", true},
		{"lost", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMastodon(t)
			st := setupFake(t, f, 4)
			f.noDeliver = !tt.deliver
			rep, err := Run(context.Background(), RunConfig{State: st, Workload: "stream", Sockets: 3, Rate: 20,
				Duration: 500 * time.Millisecond, Warmup: 200 * time.Millisecond, Timeout: 500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			stream, post := rep.Op("stream"), rep.Op("stream.post")
			if rep.Connected != 3 || post.OK < 8 || post.Errors != 0 {
				t.Fatalf("connected %d, posts %v", rep.Connected, post.Status)
			}
			_, follows, _ := f.counts()
			for _, u := range st.Users[1:] {
				if follows[[2]string{u.ID, st.Users[0].ID}] == 0 {
					t.Errorf("%s does not follow the poster", u.Username)
				}
			}
			if tt.deliver {
				if stream.OK != 3*post.OK || stream.Errors != 0 {
					t.Errorf("deliveries %v for %d posts on 3 sockets", stream.Status, post.OK)
				}
				if stream.Latency.Max <= 0 || stream.Latency.Max > 500 {
					t.Errorf("fan-out latency %+v", stream.Latency)
				}
			} else if stream.Status["lost"] != 3*post.OK || stream.OK != 0 {
				t.Errorf("lost %v for %d posts on 3 sockets", stream.Status, post.OK)
			}
			if rep.Overall.Requests != stream.Requests {
				t.Errorf("overall counts posts: %+v", rep.Overall)
			}
		})
	}
}

func TestCeiling(t *testing.T) {
	f := newFakeMastodon(t)
	st := setupFake(t, f, 2)
	client := &http.Client{}
	body, ctype, err := Capture(context.Background(), client, f.URL+"/api/v1/timelines/home?limit=10", st.Users[0].Token)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Capture(context.Background(), client, f.URL+"/api/v1/timelines/home?limit=10", "bad"); err == nil {
		t.Error("capture with a bad token did not fail")
	}
	srv, err := StartCeiling("127.0.0.1:0", body, ctype)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for _, req := range []struct{ method, path string }{{"GET", "/api/v1/timelines/home?limit=10"}, {"GET", "/"}, {"POST", "/x/y"}} {
		r, _ := http.NewRequest(req.method, srv.URL+req.path, strings.NewReader("ignored"))
		resp, err := client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, body) || resp.Header.Get("Content-Type") != ctype {
			t.Errorf("%s %s: %d %q %q", req.method, req.path, resp.StatusCode, resp.Header.Get("Content-Type"), got)
		}
	}

	rep, err := Run(context.Background(), RunConfig{State: st, Workload: "home", Connections: 2, Duration: 300 * time.Millisecond, Ceiling: true})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Ceiling
	if c == nil || c.Overall.OK == 0 || rep.CeilingRatio <= 0 || !strings.HasPrefix(c.Targets[0], "http://127.0.0.1:") || c.Targets[0] == f.URL {
		t.Fatalf("ceiling report %+v, ratio %v", c, rep.CeilingRatio)
	}
	var b strings.Builder
	rep.WriteText(&b)
	if !strings.Contains(b.String(), "of the ceiling's") {
		t.Errorf("no ceiling line:\n%s", b.String())
	}
}

// TestStreamNoSocket: a server without a streaming API fails the run with
// the reason, before any load.
func TestStreamNoSocket(t *testing.T) {
	f := newFakeMastodon(t)
	st := setupFake(t, f, 3)
	_, err := Run(context.Background(), RunConfig{State: st, Workload: "stream", Sockets: 5, Rate: 10,
		Duration: time.Second, StreamingURL: "ws://127.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "no socket opened") {
		t.Fatalf("err = %v", err)
	}
}
