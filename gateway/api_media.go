package gateway

import (
	"bytes"
	"container/list"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/starling-social/starling"
)

// How long uploads wait for processing: v1 is synchronous, v2 answers 202
// if processing takes longer than a moment.
const (
	uploadWaitV1 = 60 * time.Second
	uploadWaitV2 = 2 * time.Second
)

// handleUpload serves POST /api/v1/media and /api/v2/media.
func (s *Server) handleUpload(wait time.Duration) apiFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
		fh := c.p.File("file")
		if fh == nil {
			return nil, &starling.Error{Code: starling.Invalid, Message: "Validation failed: File can't be blank"}
		}
		f, err := fh.Open()
		if err != nil {
			return nil, badRequest("Unreadable upload")
		}
		defer f.Close()
		a, err := s.media.Upload(r.Context(), c.viewer(), starling.MediaUpload{Body: f, Description: c.p.Get("description"), Focus: c.p.Get("focus"), Wait: wait})
		if err != nil {
			return nil, err
		}
		body := rawJSON(s.render.appendMedia(nil, a))
		if !a.Processed {
			return withStatus{http.StatusAccepted, body}, nil
		}
		return body, nil
	}
}

// GET /api/v1/media/{id}: 206 while processing, 200 when done.
func (s *Server) handleGetMedia(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	a, err := s.media.Media(r.Context(), c.viewer(), id)
	if err != nil {
		return nil, err
	}
	body := rawJSON(s.render.appendMedia(nil, a))
	if !a.Processed {
		return withStatus{http.StatusPartialContent, body}, nil
	}
	return body, nil
}

// PUT /api/v1/media/{id}
func (s *Server) handleUpdateMedia(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	a, err := s.media.UpdateMedia(r.Context(), c.viewer(), id, starling.MediaUpdate{Description: c.p.OptString("description"), Focus: c.p.OptString("focus")})
	if err != nil {
		return nil, err
	}
	return rawJSON(s.render.appendMedia(nil, a)), nil
}

// DELETE /api/v1/media/{id}
func (s *Server) handleDeleteMedia(w http.ResponseWriter, r *http.Request, c *call) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return nil, s.media.DeleteMedia(r.Context(), c.viewer(), id)
}

// mediaCSP keeps a served file from ever acting as a page.
const mediaCSP = "default-src 'none'; sandbox"

// handleMediaFile serves GET /media/{id}/{name} on any node: from this
// node's edge cache when it can, with strong validators, immutable caching
// (names carry the content hash) and byte ranges.
func (s *Server) handleMediaFile(w http.ResponseWriter, r *http.Request) {
	id, err := starling.ParseID(r.PathValue("id"))
	name := r.PathValue("name")
	if err != nil || name == "" || len(name) > 100 {
		http.NotFound(w, r)
		return
	}
	key := r.PathValue("id") + "/" + name
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", mediaCSP)
	if cf := s.files.get(key); cf != nil {
		s.tel.Metrics.MediaCache.WithLabelValues("hit").Inc()
		if !s.serveWhole(w, r, cf) {
			s.serveFile(w, r, cf.mime, cf.etag, cf.modified, bytes.NewReader(cf.data))
		}
		return
	}
	s.tel.Metrics.MediaCache.WithLabelValues("miss").Inc()
	f, err := s.media.Open(r.Context(), id, name)
	if err != nil {
		h.Del("Content-Security-Policy")
		s.writeError(w, r, err)
		return
	}
	defer f.Close()
	if f.Size <= s.files.maxItem {
		data, err := io.ReadAll(io.LimitReader(f, f.Size))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.files.put(&cachedFile{key: key, data: data, mime: f.MIMEType, etag: f.ETag, modified: f.Modified})
		s.serveFile(w, r, f.MIMEType, f.ETag, f.Modified, bytes.NewReader(data))
		return
	}
	s.serveFile(w, r, f.MIMEType, f.ETag, f.Modified, f)
}

// serveWhole answers the common request for a whole cached file in one
// write (http.ServeContent copies in 32 KiB pieces), and If-None-Match with
// 304. It leaves ranges and date conditions to ServeContent (false).
func (s *Server) serveWhole(w http.ResponseWriter, r *http.Request, cf *cachedFile) bool {
	if r.Header.Get("Range") != "" || r.Header.Get("If-Modified-Since") != "" || r.Header.Get("If-Match") != "" ||
		r.Header.Get("If-Unmodified-Since") != "" || r.Header.Get("If-Range") != "" {
		return false
	}
	h := w.Header()
	h.Set("ETag", cf.etag)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("Last-Modified", cf.modified.UTC().Format(http.TimeFormat))
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if inm == "*" || strings.Contains(inm, cf.etag) {
			w.WriteHeader(http.StatusNotModified)
			return true
		}
	}
	h.Set("Content-Type", cf.mime)
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Length", strconv.Itoa(len(cf.data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(cf.data)
	}
	return true
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, mime, etag string, modified time.Time, content io.ReadSeeker) {
	h := w.Header()
	h.Set("Content-Type", mime)
	h.Set("ETag", etag)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", modified, content)
}

// fileCache is a node's edge cache of media files: least recently used
// files are dropped to keep it under its byte budget. Safe for concurrent
// use.
type fileCache struct {
	mu      sync.Mutex
	max     int64
	maxItem int64
	size    int64
	ll      *list.List
	items   map[string]*list.Element
}

type cachedFile struct {
	key      string
	data     []byte
	mime     string
	etag     string
	modified time.Time
}

func newFileCache(max, maxItem int64) *fileCache {
	return &fileCache{max: max, maxItem: maxItem, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *fileCache) get(key string) *cachedFile {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.items[key]; e != nil {
		c.ll.MoveToFront(e)
		return e.Value.(*cachedFile)
	}
	return nil
}

func (c *fileCache) put(f *cachedFile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items[f.key] != nil || int64(len(f.data)) > c.maxItem {
		return
	}
	c.items[f.key] = c.ll.PushFront(f)
	c.size += int64(len(f.data))
	for c.size > c.max {
		e := c.ll.Back()
		old := e.Value.(*cachedFile)
		c.ll.Remove(e)
		delete(c.items, old.key)
		c.size -= int64(len(old.data))
	}
}

// evictPrefix drops the files whose key starts with prefix ("<media id>/").
func (c *fileCache) evictPrefix(prefix string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, e := range c.items {
		if strings.HasPrefix(key, prefix) {
			c.ll.Remove(e)
			delete(c.items, key)
			c.size -= int64(len(e.Value.(*cachedFile).data))
		}
	}
}
