package gateway_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/starling-social/starling/internal/startest"
	"github.com/starling-social/starling/media/imaging/imagingtest"
)

// fields returns the fields of an Account (or of its source).
func fields(m map[string]any) []map[string]any {
	var out []map[string]any
	for _, f := range m["fields"].([]any) {
		out = append(out, f.(map[string]any))
	}
	return out
}

// TestProfileFields checks fields_attributes in every encoding and the
// verification of links (rel="me") by fetching the linked page.
func TestProfileFields(t *testing.T) {
	c := newClient(t, startest.WithPrivateLinks())
	u := c.SignUp("fld")
	other := c.SignUp("fldother")
	me := u.Must(200, "GET", "/api/v1/accounts/verify_credentials", nil).Map(t)
	profile, uri := me["url"].(string), me["uri"].(string) // on the public URL
	otherURL := c.Must(200, "GET", "/api/v1/accounts/"+other.ID, nil).Map(t)["url"].(string)
	pages := http.NewServeMux()
	page := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, "<!doctype html><html><head><title>me</title>"+body+"</head><body>hello</body></html>")
		}
	}
	pages.Handle("/good", page(`<link rel="author me" href="`+strings.ToUpper(profile[:4])+profile[4:]+`/">`))
	pages.Handle("/anchor", page(`</head><body><a href="`+uri+`" rel="me">me</a>`))
	pages.Handle("/other", page(`<a rel="me" href="`+otherURL+`">not me</a>`))
	pages.Handle("/norel", page(`<a href="`+profile+`">no rel</a>`))
	pages.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, `<a rel="me" href="`+profile+`">`)
	})
	site := httptest.NewServer(pages)
	t.Cleanup(site.Close)

	body := startest.JSONBody{"fields_attributes": []any{
		map[string]any{"name": "Site", "value": site.URL + "/good"},
		map[string]any{"name": "Blog", "value": site.URL + "/anchor"},
		map[string]any{"name": "Theirs", "value": site.URL + "/other"},
		map[string]any{"name": "Pronouns", "value": "they/them"},
	}}
	m := u.Must(200, "PATCH", "/api/v1/accounts/update_credentials", body).Map(t)
	got := fields(m)
	if len(got) != 4 || got[0]["name"] != "Site" || got[3]["value"] != "they/them" || got[0]["verified_at"] != nil {
		t.Fatalf("fields = %v", got)
	}
	if v := got[0]["value"].(string); !strings.HasPrefix(v, `<a href="`+site.URL+`/good"`) || strings.Contains(v, "<p>") {
		t.Fatalf("field value HTML = %q", v)
	}
	if src := fields(m["source"].(map[string]any)); src[0]["value"] != site.URL+"/good" {
		t.Fatalf("source fields = %v", src)
	}
	// The pages are fetched in the background.
	var verified []map[string]any
	startest.Eventually(t, 10*time.Second, "links verified", func() bool {
		verified = fields(c.Must(200, "GET", "/api/v1/accounts/"+u.ID, nil).Map(t))
		return verified[0]["verified_at"] != nil && verified[1]["verified_at"] != nil
	})
	if !strings.Contains(verified[0]["value"].(string), `rel="nofollow noopener me"`) {
		t.Fatalf("verified value = %q, want rel=me", verified[0]["value"])
	}
	time.Sleep(200 * time.Millisecond) // the others had as long
	if verified = fields(u.Must(200, "GET", "/api/v1/accounts/verify_credentials", nil).Map(t)); verified[2]["verified_at"] != nil || verified[3]["verified_at"] != nil {
		t.Fatalf("verified a link to someone else or plain text: %v", verified)
	}

	t.Run("an unchanged value keeps its verification, a changed one loses it", func(t *testing.T) {
		// Indexed form keys, sent out of order: the index orders them.
		m := u.Must(200, "PATCH", "/api/v1/accounts/update_credentials", startest.Multipart{
			"fields_attributes[1][name]": "Blog", "fields_attributes[1][value]": site.URL + "/norel",
			"fields_attributes[0][name]": "Website", "fields_attributes[0][value]": site.URL + "/good",
		}).Map(t)
		got := fields(m)
		if len(got) != 2 || got[0]["name"] != "Website" || got[0]["verified_at"] == nil || got[1]["verified_at"] != nil {
			t.Fatalf("fields = %v", got)
		}
	})
	t.Run("limits", func(t *testing.T) {
		five := []any{}
		for i := range 5 {
			five = append(five, map[string]any{"name": fmt.Sprint("f", i), "value": "v"})
		}
		u.Must(422, "PATCH", "/api/v1/accounts/update_credentials", startest.JSONBody{"fields_attributes": five})
		u.Must(422, "PATCH", "/api/v1/accounts/update_credentials", startest.JSONBody{"fields_attributes": []any{
			map[string]any{"name": "long", "value": strings.Repeat("x", 256)}}})
		// Clearing every field.
		if got := fields(u.Must(200, "PATCH", "/api/v1/accounts/update_credentials", startest.JSONBody{"fields_attributes": []any{}}).Map(t)); len(got) != 0 {
			t.Fatalf("fields after clearing = %v", got)
		}
	})
}

// TestProfileImages checks avatars and headers through the media pipeline:
// the type from the content, metadata stripped, cropped and resized.
func TestProfileImages(t *testing.T) {
	c := newClient(t)
	u := c.SignUp("img")
	placeholder := c.Must(200, "GET", "/api/v1/accounts/"+u.ID, nil).Map(t)["avatar"].(string)

	photo := imagingtest.InsertJPEGSegment(encodeJPEG(t, imagingtest.Gradient(1200, 800)), 0xE1, imagingtest.ExifAPP1(binary.BigEndian, 1))
	photo = imagingtest.InsertJPEGSegment(photo, 0xFE, []byte(imagingtest.Secret))
	m := u.Must(200, "PATCH", "/api/v1/accounts/update_credentials", startest.Multipart{
		"avatar":       startest.File{Name: "me.png", Data: photo}, // the name lies; the content decides
		"header":       startest.File{Name: "header.jpg", Data: encodeJPEG(t, imagingtest.Gradient(3000, 1200))},
		"display_name": "Pictured",
	}).Map(t)
	avatar, header := m["avatar"].(string), m["header"].(string)
	if avatar == placeholder || m["avatar_static"] != avatar || m["display_name"] != "Pictured" || !strings.Contains(avatar, "/media/") {
		t.Fatalf("account = %v", m)
	}
	for _, tc := range []struct {
		url  string
		w, h int
	}{{avatar, 400, 400}, {header, 1500, 500}} {
		r := c.Must(200, "GET", path(tc.url), nil)
		if bytes.Contains(r.Body, []byte("Exif")) || bytes.Contains(r.Body, []byte(imagingtest.Secret)) {
			t.Fatalf("%s kept metadata", tc.url)
		}
		img, err := jpeg.DecodeConfig(bytes.NewReader(r.Body))
		if err != nil || img.Width != tc.w || img.Height != tc.h {
			t.Fatalf("%s: %dx%d (%v), want %dx%d", tc.url, img.Width, img.Height, err, tc.w, tc.h)
		}
	}
	// Everyone sees it (the Feed's profile cache follows the change).
	startest.Eventually(t, 5*time.Second, "new avatar visible", func() bool {
		return c.Must(200, "GET", "/api/v1/accounts/"+u.ID, nil).Map(t)["avatar"] == avatar
	})

	t.Run("refused files change nothing", func(t *testing.T) {
		u.Must(422, "PATCH", "/api/v1/accounts/update_credentials", startest.Multipart{"avatar": startest.File{Name: "v.mp4", Data: mp4(1000)}})
		u.Must(422, "PATCH", "/api/v1/accounts/update_credentials", startest.Multipart{"header": startest.File{Name: "x.png", Data: []byte("not an image at all")}})
		if got := u.Must(200, "GET", "/api/v1/accounts/verify_credentials", nil).Map(t); got["avatar"] != avatar || got["header"] != header {
			t.Fatalf("after refusals: %v %v", got["avatar"], got["header"])
		}
	})
	t.Run("replacing and removing delete the old image", func(t *testing.T) {
		small := encodePNG(t, image.NewGray(image.Rect(0, 0, 100, 60)))
		m := u.Must(200, "PATCH", "/api/v1/accounts/update_credentials", startest.Multipart{"avatar": startest.File{Name: "a.png", Data: small}}).Map(t)
		replaced := m["avatar"].(string)
		if replaced == avatar || m["header"] != header {
			t.Fatalf("after replacing: %v", m)
		}
		startest.Eventually(t, 5*time.Second, "old avatar deleted", func() bool {
			return c.Do("GET", path(avatar), nil).Status == 404
		})
		img, err := jpeg.DecodeConfig(bytes.NewReader(c.Must(200, "GET", path(replaced), nil).Body))
		if err != nil || img.Width != 60 || img.Height != 60 {
			t.Fatalf("small avatar: %dx%d %v, want 60x60 (cropped, not upscaled)", img.Width, img.Height, err)
		}
		m = u.Must(200, "DELETE", "/api/v1/profile/avatar", nil).Map(t)
		if m["avatar"] != placeholder || m["header"] != header {
			t.Fatalf("after DELETE /api/v1/profile/avatar: %v", m)
		}
		startest.Eventually(t, 5*time.Second, "removed avatar deleted", func() bool {
			return c.Do("GET", path(replaced), nil).Status == 404
		})
	})
}

// path returns the path of an absolute URL the API returned (on the
// public URL, not the address the test dials).
func path(u string) string {
	_, rest, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://"), "/")
	return "/" + rest
}
