package gateway

import (
	"net/http"
	"strings"
)

// trailingSlash routes a path with trailing slashes as the path without
// them, as Mastodon (Rails) does: "GET /api/v1/instance/" is
// "GET /api/v1/instance", and "/oauth/authorize/?..." is the sign-in page.
// Clients and browsers send both forms; answering 404 to one of them makes
// a client believe the server lacks the endpoint. Nothing is redirected (a
// redirect would lose a POST's body), and "/" itself is left alone, as is
// "/api/", the root of the API's not-found answer.
func trailingSlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if len(p) > 1 && p[len(p)-1] == '/' {
			if trimmed := strings.TrimRight(p, "/"); trimmed != "" && trimmed != "/api" {
				r2 := new(http.Request)
				*r2 = *r
				u := *r.URL
				u.Path = trimmed
				u.RawPath = strings.TrimRight(u.RawPath, "/")
				r2.URL = &u
				r = r2
			}
		}
		next.ServeHTTP(w, r)
	})
}
