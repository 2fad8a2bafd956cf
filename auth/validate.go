package auth

import (
	_ "embed"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/starling-social/starling"
)

// Limits on user input.
const (
	maxUsername     = 30
	minPassword     = 8
	maxPassword     = 1024 // bytes; long passphrases are fine, megabytes are not
	maxEmail        = 320
	maxAppName      = 100
	maxWebsite      = 2000
	maxRedirectURIs = 16
	maxRedirectURI  = 2000
	maxDisplayName  = 30
	maxNote         = 500
)

//go:embed common-passwords.txt
var commonPasswordList string

var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(commonPasswordList, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			m[l] = true
		}
	}
	return m
}()

// reserved usernames cannot be registered.
var reserved = map[string]bool{
	"admin": true, "administrator": true, "root": true, "support": true, "help": true, "starling": true,
	"mastodon": true, "moderator": true, "postmaster": true, "webmaster": true, "abuse": true, "security": true,
	"system": true, "api": true, "oauth": true, "www": true, "media": true, "settings": true,
}

// fieldErrors collects validation failures per field.
type fieldErrors map[string][]starling.FieldError

func (f fieldErrors) add(field, code, desc string) {
	f[field] = append(f[field], starling.FieldError{Error: code, Description: desc})
}

// err returns an Invalid error listing every failure, or nil.
func (f fieldErrors) err() error {
	if len(f) == 0 {
		return nil
	}
	var parts []string
	for _, field := range []string{"username", "email", "password", "agreement", "locale", "reason"} {
		for _, e := range f[field] {
			parts = append(parts, capitalise(field)+" "+e.Description)
		}
	}
	return &starling.Error{Code: starling.Invalid, Message: "Validation failed: " + strings.Join(parts, ", "), Details: f}
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func validUsername(u string) bool {
	if u == "" || len(u) > maxUsername {
		return false
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

func validEmail(e string) bool {
	if len(e) > maxEmail || strings.ContainsAny(e, " \t\r\n<>") {
		return false
	}
	local, domain, ok := strings.Cut(e, "@")
	return ok && local != "" && domain != "" && !strings.Contains(domain, "@") && strings.Contains(domain, ".")
}

func checkSignUp(req starling.SignUpRequest) error {
	f := fieldErrors{}
	switch u := req.Username; {
	case u == "":
		f.add("username", "ERR_BLANK", "can't be blank")
	case len(u) > maxUsername:
		f.add("username", "ERR_TOO_LONG", "is too long (maximum is 30 characters)")
	case !validUsername(u):
		f.add("username", "ERR_INVALID", "must contain only letters, numbers and underscores")
	case reserved[strings.ToLower(u)]:
		f.add("username", "ERR_RESERVED", "is reserved")
	}
	switch e := req.Email; {
	case e == "":
		f.add("email", "ERR_BLANK", "can't be blank")
	case !validEmail(e):
		f.add("email", "ERR_INVALID", "is invalid")
	}
	switch pw := req.Password.Reveal(); {
	case pw == "":
		f.add("password", "ERR_BLANK", "can't be blank")
	case utf8.RuneCountInString(pw) < minPassword:
		f.add("password", "ERR_TOO_SHORT", "is too short (minimum is 8 characters)")
	case len(pw) > maxPassword:
		f.add("password", "ERR_TOO_LONG", "is too long (maximum is 1024 bytes)")
	case commonPasswords[strings.ToLower(pw)]:
		f.add("password", "ERR_INVALID", "is too common; choose another")
	}
	if !req.Agreement {
		f.add("agreement", "ERR_ACCEPTED", "must be accepted")
	}
	if len(req.Locale) > 16 {
		f.add("locale", "ERR_INVALID", "is invalid")
	}
	if len(req.Reason) > 500 {
		f.add("reason", "ERR_TOO_LONG", "is too long (maximum is 500 characters)")
	}
	return f.err()
}

// checkRedirectURI accepts any absolute URI, including custom app schemes
// and the out-of-band marker, but never script-bearing schemes.
func checkRedirectURI(u string) bool {
	if u == OOB {
		return true
	}
	if u == "" || len(u) > maxRedirectURI {
		return false
	}
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" || p.Fragment != "" {
		return false
	}
	switch strings.ToLower(p.Scheme) {
	case "javascript", "data", "vbscript", "file":
		return false
	}
	return true
}

// OOB is the redirect URI that asks the authorization page to show the code.
const OOB = "urn:ietf:wg:oauth:2.0:oob"
