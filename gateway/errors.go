package gateway

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/starling-social/starling"
)

// httpStatus maps an error code to its HTTP status: the only place this
// mapping exists.
func httpStatus(code starling.Code) int {
	switch code {
	case starling.Invalid:
		return http.StatusUnprocessableEntity
	case starling.NotFound:
		return http.StatusNotFound
	case starling.Conflict:
		return http.StatusConflict
	case starling.Unauthorized:
		return http.StatusUnauthorized
	case starling.Forbidden:
		return http.StatusForbidden
	case starling.RateLimited:
		return http.StatusTooManyRequests
	case starling.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error       string                           `json:"error"`
	Description string                           `json:"error_description,omitempty"`
	Details     map[string][]starling.FieldError `json:"details,omitempty"`
}

// writeError answers with err's status and Mastodon's error body. Clients
// see the safe message; the cause of a server-side failure goes to the log,
// once, here.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var br *errBadRequest
	if errors.As(err, &br) {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: br.msg})
		return
	}
	code := starling.ErrorCode(err)
	status := httpStatus(code)
	body := errorBody{Error: starling.ErrorMessage(err)}
	if e := starling.AsError(err); e != nil {
		body.Details = e.Details
		if e.RetryAfter > 0 && (code == starling.Unavailable || code == starling.RateLimited) {
			w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
		}
	}
	if code == starling.Unavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelError
		if code == starling.Unavailable {
			level = slog.LevelWarn
		}
	}
	s.log.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	writeJSON(w, status, body)
}

// writeOAuthError answers an OAuth endpoint: the error field holds the
// RFC 6749 code and error_description the message.
func (s *Server) writeOAuthError(w http.ResponseWriter, r *http.Request, err error) {
	e := starling.AsError(err)
	if e == nil || e.Reason == "" {
		var br *errBadRequest
		if errors.As(err, &br) {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_request", Description: br.msg})
			return
		}
		s.writeError(w, r, err)
		return
	}
	status := http.StatusBadRequest
	switch e.Reason {
	case "invalid_client":
		status = http.StatusUnauthorized
	case "unauthorized_client":
		status = http.StatusForbidden
	}
	s.log.DebugContext(r.Context(), "oauth request refused", "path", r.URL.Path, "reason", e.Reason)
	writeJSON(w, status, errorBody{Error: e.Reason, Description: e.Message})
}

var errNotFound = &starling.Error{Code: starling.NotFound, Message: "Record not found"}
