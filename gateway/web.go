package gateway

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"
)

// The web client: a Mastodon API client for people, served by every
// gateway at /. It is plain ES modules, HTML and CSS embedded in the binary
// (no build step, no Node at run time) and uses only the public API and
// OAuth, exactly as a third-party app would.
//
// Assets are served under /web/<version>/, where the version is a hash of
// every embedded file: a new binary with changed files has a new prefix, so
// the files are cached as immutable. index.html is served, never cached
// without revalidation, for every route of the single-page app.

//go:embed web
var webFiles embed.FS

// webVersionToken is the placeholder in index.html that becomes the asset
// version; webPreloadToken becomes the modulepreload links of every module.
const (
	webVersionToken = "/web/VERSION/"
	webPreloadToken = "<!--MODULEPRELOAD-->"
)

// webClient is the embedded client, prepared once at start.
type webClient struct {
	version string
	index   []byte
	files   map[string]webFile // by path below web/, e.g. "js/main.js"
	csp     string
	modTime time.Time
}

type webFile struct {
	body        []byte
	contentType string
	etag        string
}

// webContentTypes are the types of the client's files, by extension.
var webContentTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
	".html": "text/html; charset=utf-8",
}

// newWebClient reads the embedded files, hashes them into the version and
// renders index.html with the versioned asset paths and the page's CSP.
func (s *Server) newWebClient() *webClient {
	wc := &webClient{files: map[string]webFile{}, modTime: time.Now().UTC().Truncate(time.Second)}
	var names []string
	err := fs.WalkDir(webFiles, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		panic(err) // embedded at build time
	}
	sort.Strings(names)
	all := sha256.New()
	var index []byte
	var modules []string
	for _, p := range names {
		b, err := webFiles.ReadFile(p)
		if err != nil {
			panic(err)
		}
		all.Write([]byte(p))
		all.Write(b)
		rel := strings.TrimPrefix(p, "web/")
		if rel == "index.html" {
			index = b
			continue
		}
		ct, ok := webContentTypes[path.Ext(rel)]
		if !ok {
			continue // not a client file (notes, tests)
		}
		sum := sha256.Sum256(b)
		wc.files[rel] = webFile{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		if strings.HasSuffix(rel, ".js") {
			modules = append(modules, rel)
		}
	}
	wc.version = hex.EncodeToString(all.Sum(nil)[:6])
	prefix := "/web/" + wc.version + "/"
	var preload strings.Builder
	for _, m := range modules {
		preload.WriteString(`<link rel="modulepreload" href="` + prefix + m + `">` + "\n")
	}
	index = bytes.ReplaceAll(index, []byte(webPreloadToken), []byte(preload.String()))
	wc.index = bytes.ReplaceAll(index, []byte(webVersionToken), []byte(prefix))
	wc.csp = s.webCSP()
	return wc
}

// webCSP is the client page's Content-Security-Policy: scripts and styles
// only from this origin (no inline script), images also from the public
// URL (media URLs are absolute) and blob: previews, and connections to the
// API and the streaming origin.
func (s *Server) webCSP() string {
	base := s.base
	if u, err := url.Parse(s.base); err == nil {
		base = u.Scheme + "://" + u.Host
	}
	stream := s.streamingURL()
	if u, err := url.Parse(stream); err == nil {
		stream = u.Scheme + "://" + u.Host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' " + base + " blob: data:; " +
		"connect-src 'self' " + base + " " + stream + "; font-src 'self'; manifest-src 'self'; " +
		"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

// webRoutes are the single-page app's routes: each serves index.html and
// the client renders the page. Profiles are /@username (a pattern wildcard
// must be a whole segment, so handleWebAccount checks the '@').
var webRoutes = []string{
	"GET /{$}",
	"GET /home",
	"GET /public",
	"GET /notifications",
	"GET /signup",
	"GET /oauth-callback",
	"GET /tags/{tag}",
	"GET /statuses/{id}",
}

// routesWeb serves the web client: its assets under /web/<version>/ and
// index.html at every route of the app.
func (s *Server) routesWeb(mux *http.ServeMux) {
	wc := s.newWebClient()
	s.webIndex = wc.handleIndex
	for _, p := range webRoutes {
		mux.HandleFunc(p, wc.handleIndex)
	}
	mux.HandleFunc("GET /{acct}", wc.handleAccount)
	mux.HandleFunc("GET /web/{version}/{file...}", wc.handleAsset)
}

// handleIndex serves the app's page with its security headers. It is
// revalidated on every load so a new binary's assets are picked up at once.
func (wc *webClient) handleIndex(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", wc.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", `"`+wc.version+`"`)
	http.ServeContent(w, r, "index.html", wc.modTime, bytes.NewReader(wc.index))
}

// handleAccount serves GET /@username (a profile page) and answers any
// other single-segment path with the API's 404.
func (wc *webClient) handleAccount(w http.ResponseWriter, r *http.Request) {
	acct := r.PathValue("acct")
	if len(acct) < 2 || acct[0] != '@' {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "Record not found"})
		return
	}
	wc.handleIndex(w, r)
}

// handleAsset serves GET /web/{version}/{file...}. Files of the current
// version are immutable; a request naming another version (a page loaded
// from an older binary during a rollout) gets today's file, revalidated.
func (wc *webClient) handleAsset(w http.ResponseWriter, r *http.Request) {
	f, ok := wc.files[r.PathValue("file")]
	if !ok {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "Record not found"})
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", f.etag)
	if r.PathValue("version") == wc.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", wc.modTime, bytes.NewReader(f.body))
}
