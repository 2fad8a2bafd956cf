package starling

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Code classifies an error. The set is small on purpose: each code has one
// meaning on the wire and one HTTP status at the edge.
type Code string

// The error codes. Anything that is not an *Error is Internal.
const (
	Invalid      Code = "invalid"      // the request is malformed or fails validation (HTTP 422, or 400 at the edge for unparseable input)
	NotFound     Code = "not_found"    // no such record, or one the caller may not see (404)
	Conflict     Code = "conflict"     // a concurrent change won; retrying may succeed (409)
	Unauthorized Code = "unauthorized" // missing, invalid or revoked credentials (401)
	Forbidden    Code = "forbidden"    // authenticated but not allowed, e.g. outside the token's scopes (403)
	RateLimited  Code = "rate_limited" // too many requests (429)
	Unavailable  Code = "unavailable"  // a dependency is down, overloaded or out of quorum; retry later (503)
	Internal     Code = "internal"     // a bug or an unexpected failure (500)
)

// FieldError describes one validation failure of one field, in the shape
// Mastodon's sign-up errors use ("ERR_TAKEN", "ERR_BLANK", ...).
type FieldError struct {
	Error       string `json:"error"`
	Description string `json:"description"`
}

// Error is the error type every service returns. Message is safe to show to
// clients; Err is the cause, for logs only. Errors cross the wire with their
// Code, Message, Reason, Details and RetryAfter; the cause stays behind.
type Error struct {
	Code    Code
	Message string
	// Reason is an optional machine-readable sub-code, such as the OAuth 2
	// error ("invalid_grant") an OAuth endpoint must report.
	Reason string
	// Details holds per-field validation failures.
	Details map[string][]FieldError
	// RetryAfter, when set, tells the client when to try again.
	RetryAfter time.Duration
	// Err is the underlying cause, never sent to clients.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Code))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a client-safe message.
func Errorf(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given code and client-safe message whose
// cause is err. Wrap(code, msg, nil) is the same as Errorf(code, "%s", msg).
func Wrap(code Code, message string, err error) error {
	return &Error{Code: code, Message: message, Err: err}
}

// Unavailablef returns an Unavailable error that asks the client to retry
// after d.
func Unavailablef(d time.Duration, format string, args ...any) error {
	return &Error{Code: Unavailable, Message: fmt.Sprintf(format, args...), RetryAfter: d}
}

// ErrorCode returns the code of the first *Error in err's chain. A context
// deadline or cancellation is Unavailable; any other error is Internal; nil
// has no code.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return Unavailable
	}
	return Internal
}

// ErrorMessage returns the client-safe message of err. Internal errors get a
// generic message so that causes never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != Internal && e.Message != "" {
		return e.Message
	}
	switch ErrorCode(err) {
	case Unavailable:
		return "Service temporarily unavailable"
	case "":
		return ""
	}
	return "Internal error"
}

// AsError returns the first *Error in err's chain, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// IsCode reports whether err carries code.
func IsCode(err error, code Code) bool { return ErrorCode(err) == code }
