package gateway

import "net/http"

// routesWeb serves the web client at /. The client is plain ES modules,
// HTML and CSS embedded in the binary; it uses only the public API.
func (s *Server) routesWeb(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", pageCSP)
		_, _ = w.Write([]byte(`<!doctype html><html lang="en"><meta charset="utf-8"><title>Starling</title><p>Starling is running. Point a Mastodon app at this address.</p></html>`))
	})
}
