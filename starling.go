// Package starling holds the domain of the Starling social platform: the
// types every service shares (accounts, statuses, relationships,
// notifications, media), one Go interface per service, the error codes that
// travel between services, and the identifiers they exchange.
//
// The packages below this one implement the services (auth, feed, media,
// notify), wire them to the engine (engine), carry them across NATS
// (remote) and serve them as the Mastodon client API (gateway). Callers hold
// a service interface and never know whether the implementation runs in the
// same process or on another node.
package starling

import (
	"strconv"
	"time"
)

// Version is the version printed by `starling version` and reported by the
// instance endpoints. Release builds set it with -ldflags "-X".
var Version = "0.1.0-dev"

// ID identifies an account, status, media attachment, notification or any
// other record. IDs are time ordered like Mastodon's: the high 48 bits hold
// Unix milliseconds and the low 16 bits a generator slot and sequence, so a
// larger ID is newer. They travel as decimal strings in the API.
type ID int64

// idTimeShift is how far the millisecond timestamp is shifted in an ID.
const idTimeShift = 16

// String returns the decimal form used in the API.
func (id ID) String() string { return strconv.FormatInt(int64(id), 10) }

// Time returns the moment the ID was generated, to the millisecond.
func (id ID) Time() time.Time { return time.UnixMilli(int64(id) >> idTimeShift).UTC() }

// MarshalJSON encodes the ID as a JSON string, as Mastodon does, so that
// clients that parse numbers as doubles do not lose precision.
func (id ID) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 22)
	b = append(b, '"')
	b = strconv.AppendInt(b, int64(id), 10)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts a JSON string or number.
func (id *ID) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		*id = 0
		return nil
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if s == "" || s == "0" {
		*id = 0
		return nil
	}
	v, err := ParseID(s)
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseID parses the decimal form of an ID. It returns an Invalid error for
// anything that is not a positive decimal integer.
func ParseID(s string) (ID, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, Errorf(Invalid, "invalid id %q", truncate(s, 32))
	}
	return ID(v), nil
}

// MakeID composes an ID from a time and the 16 low bits (generator slot and
// sequence). Generators live in the engine package; MakeID is exported for
// them and for tests.
func MakeID(t time.Time, low uint16) ID {
	return ID(t.UnixMilli()<<idTimeShift | int64(low))
}

// MinIDAt returns the smallest ID that can be generated at t. It turns a time
// into a pagination cursor.
func MinIDAt(t time.Time) ID { return MakeID(t, 0) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
