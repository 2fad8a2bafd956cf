package starling

import "log/slog"

// Secret is a password, token, client secret or authorization code. It
// cannot be logged or printed by accident: fmt, log/slog and encoding/json
// all see "[REDACTED]". Code that must send the value (to a hash function, or
// in the one API response that shows a new token) calls Reveal.
type Secret string

const redacted = "[REDACTED]"

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String returns a redaction marker, never the value.
func (s Secret) String() string { return redacted }

// GoString returns a redaction marker, never the value.
func (s Secret) GoString() string { return redacted }

// LogValue makes log/slog print a redaction marker.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON encodes a redaction marker. Transports that must carry the
// value use a plain string field and Reveal.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText encodes a redaction marker.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
