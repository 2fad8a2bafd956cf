package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Capture fetches one response body (e.g. a page of a home timeline) with a
// bearer token, for a ceiling server to serve.
func Capture(ctx context.Context, client *http.Client, url, token string) (body []byte, contentType string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", &apiError{http.MethodGet, url, resp.StatusCode, string(body)}
	}
	return body, resp.Header.Get("Content-Type"), nil
}

// CeilingServer answers every request, whatever its method and path, with
// the same status 200, Content-Type and body, from a plain net/http handler.
// Loading it like a real server measures the fastest a Go HTTP server can
// answer those bytes on this machine: the ceiling a real server can be
// reported against.
type CeilingServer struct {
	URL string // http://host:port
	srv *http.Server
}

// StartCeiling starts a ceiling server on listen (e.g. 127.0.0.1:0).
func StartCeiling(listen string, body []byte, contentType string) (*CeilingServer, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	return ServeCeiling(ln, body, contentType), nil
}

// ServeCeiling serves a ceiling server on ln until Close.
func ServeCeiling(ln net.Listener, body []byte, contentType string) *CeilingServer {
	ctype, length := []string{contentType}, []string{strconv.Itoa(len(body))}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hdr := w.Header()
		hdr["Content-Type"], hdr["Content-Length"] = ctype, length
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	go func() { _ = srv.Serve(ln) }()
	return &CeilingServer{URL: "http://" + ln.Addr().String(), srv: srv}
}

// Close stops the server and closes its connections.
func (c *CeilingServer) Close() error {
	err := c.srv.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Wait serves until ctx ends, then closes the server.
func (c *CeilingServer) Wait(ctx context.Context) error {
	<-ctx.Done()
	if err := c.Close(); err != nil {
		return fmt.Errorf("ceiling: %w", err)
	}
	return nil
}
