package starling

import (
	"slices"
	"strings"
)

// Scopes is a set of OAuth 2 scopes, in Mastodon's vocabulary. A parent
// scope ("read") grants all its children ("read:statuses"); "follow" grants
// the follow, block and mute scopes of both read and write.
type Scopes []string

// The scopes Starling understands.
var knownScopes = map[string]bool{
	"read": true, "write": true, "follow": true, "push": true, "profile": true,
	"read:accounts": true, "read:blocks": true, "read:bookmarks": true, "read:favourites": true,
	"read:filters": true, "read:follows": true, "read:lists": true, "read:mutes": true,
	"read:notifications": true, "read:search": true, "read:statuses": true,
	"write:accounts": true, "write:blocks": true, "write:bookmarks": true, "write:conversations": true,
	"write:favourites": true, "write:filters": true, "write:follows": true, "write:lists": true,
	"write:media": true, "write:mutes": true, "write:notifications": true, "write:reports": true,
	"write:statuses": true,
}

// followGrants lists what the deprecated "follow" scope grants.
var followGrants = []string{"read:follows", "write:follows", "read:blocks", "write:blocks", "read:mutes", "write:mutes"}

// ParseScopes parses a space- or plus-separated scope list. An empty string
// yields the default scope "read", as in Doorkeeper. Unknown scopes are an
// Invalid error with reason "invalid_scope".
func ParseScopes(s string) (Scopes, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '+' || r == '\t' || r == '\n' })
	if len(fields) == 0 {
		return Scopes{"read"}, nil
	}
	if len(fields) > 64 {
		return nil, &Error{Code: Invalid, Reason: "invalid_scope", Message: "too many scopes"}
	}
	out := make(Scopes, 0, len(fields))
	for _, f := range fields {
		if !knownScopes[f] {
			return nil, &Error{Code: Invalid, Reason: "invalid_scope", Message: "The requested scope is invalid, unknown, or malformed: " + truncate(f, 40)}
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out, nil
}

// String returns the space-separated form.
func (s Scopes) String() string { return strings.Join(s, " ") }

// Allows reports whether the set grants scope, directly or through a parent.
func (s Scopes) Allows(scope string) bool {
	for _, have := range s {
		if have == scope {
			return true
		}
		if parent, _, ok := strings.Cut(scope, ":"); ok && have == parent {
			return true
		}
		if have == "follow" && slices.Contains(followGrants, scope) {
			return true
		}
	}
	return false
}

// AllowsAny reports whether the set grants at least one of scopes.
func (s Scopes) AllowsAny(scopes ...string) bool {
	for _, sc := range scopes {
		if s.Allows(sc) {
			return true
		}
	}
	return false
}

// Within reports whether every scope in s is granted by limit (a token may
// only ask for scopes its app registered).
func (s Scopes) Within(limit Scopes) bool {
	for _, sc := range s {
		if !limit.Allows(sc) {
			return false
		}
	}
	return true
}
