package content

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// kind is the kind of an entity found by the scanner.
type kind uint8

const (
	// kindPlain is a URL-looking run that is not linked because of the
	// character before it; it is plain text, but nothing inside it is an
	// entity.
	kindPlain kind = iota
	kindURL
	kindMention
	kindTag
)

// entity is a span of the scanned text with special meaning. It never
// contains whitespace, so never a newline.
type entity struct {
	kind       kind
	start, end int // byte offsets of the whole entity, '@' or '#' included
	// name is the username of a mention, or the name of a hashtag, as
	// written and without '@' or '#'.
	name string
	// domain is a mention's domain as written, "" if none. It includes a
	// ":port" only when that made it equal to the host.
	domain string
	// port is the byte length of such a ":port" in domain, or 0.
	port int
}

// local reports whether a mention is of a local account: no domain or the
// host's, and a username a local account can have (no '.' or '-').
func (e *entity) local(host string) bool {
	if e.domain != "" && !strings.EqualFold(e.domain, host) {
		return false
	}
	return strings.IndexAny(e.name, ".-") < 0
}

// scanner finds the entities of s from left to right. The zero host matches
// no domain. The scanner gives the same entities for s whether or not "\r\n"
// and "\r" have been turned into "\n" and NUL and invalid UTF-8 bytes into
// U+FFFD, so Length and Scan need not copy their input.
type scanner struct {
	s    string
	host string
	pos  int // where the search for the next entity starts
}

// next returns the next entity, or false when there is none.
func (sc *scanner) next() (entity, bool) {
	s := sc.s
	for sc.pos < len(s) {
		k := strings.IndexAny(s[sc.pos:], "hH@#")
		if k < 0 {
			break
		}
		i := sc.pos + k
		var (
			e  entity
			ok bool
		)
		switch s[i] {
		case 'h', 'H':
			e, ok = scanURL(s, i)
		case '@':
			e, ok = sc.scanMention(i)
		case '#':
			e, ok = scanTag(s, i)
		}
		if ok {
			sc.pos = e.end
			return e, true
		}
		sc.pos = i + 1
	}
	sc.pos = len(s)
	return entity{}, false
}

// decode returns the rune at s[i:] and its width; invalid bytes decode as
// utf8.RuneError of width 1, just like the U+FFFD Render puts in their place.
func decode(s string, i int) (rune, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// before returns the rune ending at s[i], or -1 at the start of s.
func before(s string, i int) rune {
	if i == 0 {
		return -1
	}
	if c := s[i-1]; c < utf8.RuneSelf {
		return rune(c)
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return r
}

// isWord reports whether r is a word character as in Ruby's [[:word:]]:
// a letter, mark, decimal digit or connector punctuation (such as '_').
func isWord(r rune) bool {
	if r < utf8.RuneSelf {
		return isASCIIWord(byte(r))
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || unicode.Is(unicode.Pc, r)
}

func isASCIIWord(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

func isASCIIAlnum(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// isTagSeparator reports whether r may join the words of a hashtag name, as
// Mastodon's HASHTAG_SEPARATORS (besides '_', which is a word character).
func isTagSeparator(r rune) bool {
	return r == '\u00b7' || r == '\u30fb' || r == '\u200c'
}

// wordRun returns the end of the run of word characters starting at s[i:],
// ASCII-only when ascii is set.
func wordRun(s string, i int, ascii bool) int {
	for i < len(s) {
		if isASCIIWord(s[i]) {
			i++
			continue
		}
		if ascii {
			break
		}
		r, w := decode(s, i)
		if !isWord(r) {
			break
		}
		i += w
	}
	return i
}

// dottedRun returns the end of word-run([.-]+word-run)* starting at s[i:], or
// i if s[i:] does not start with a word character.
func dottedRun(s string, i int, ascii bool) int {
	j := wordRun(s, i, ascii)
	if j == i {
		return i
	}
	for {
		k := j
		for k < len(s) && (s[k] == '.' || s[k] == '-') {
			k++
		}
		if k == j {
			return j
		}
		m := wordRun(s, k, ascii)
		if m == k {
			return j
		}
		j = m
	}
}

// scanMention recognises a mention at s[i] == '@'.
func (sc *scanner) scanMention(i int) (entity, bool) {
	s := sc.s
	if p := before(s, i); p == '/' || p == '@' || p >= 0 && isWord(p) {
		return entity{}, false
	}
	j := dottedRun(s, i+1, true)
	if j == i+1 || j-(i+1) > MaxUsernameLength {
		return entity{}, false
	}
	e := entity{kind: kindMention, start: i, end: j, name: s[i+1 : j]}
	if j < len(s) && s[j] == '@' {
		if d := dottedRun(s, j+1, false); d > j+1 {
			e.domain, e.end = s[j+1:d], d
			// A ":port" belongs to the domain only if that makes it the
			// host (a port is not part of Mastodon's mention syntax).
			if sc.host != "" && d+1 < len(s) && s[d] == ':' {
				p := d + 1
				for p < len(s) && '0' <= s[p] && s[p] <= '9' {
					p++
				}
				if p > d+1 && strings.EqualFold(s[j+1:p], sc.host) && mentionEnds(s, p) {
					e.domain, e.end, e.port = s[j+1:p], p, p-d
				}
			}
		}
	}
	if !mentionEnds(s, e.end) {
		return entity{}, false
	}
	return e, true
}

// mentionEnds reports whether a mention may end before s[i]: not before '@',
// a word character or "://" (Mastodon's end_mention_match, widened from
// Latin accents to all letters).
func mentionEnds(s string, i int) bool {
	if i >= len(s) {
		return true
	}
	r, _ := decode(s, i)
	return r != '@' && !isWord(r) && !strings.HasPrefix(s[i:], "://")
}

// scanTag recognises a hashtag at s[i] == '#'.
func scanTag(s string, i int) (entity, bool) {
	switch p := before(s, i); {
	case p == '/' || p == ')' || p == '&' || p >= 0 && isWord(p):
		return entity{}, false
	}
	start := i + 1
	if start >= len(s) {
		return entity{}, false
	}
	if r, _ := decode(s, start); !isWord(r) {
		return entity{}, false
	}
	// The name runs over word characters and separators and ends after its
	// last word character.
	end := start
	for k := start; k < len(s); {
		if isASCIIWord(s[k]) {
			k++
			end = k
			continue
		}
		r, w := decode(s, k)
		if isWord(r) {
			k += w
			end = k
		} else if isTagSeparator(r) {
			k += w
		} else {
			break
		}
	}
	if strings.HasPrefix(s[end:], "://") {
		// "#foohttps://…": Mastodon keeps the tag "foo".
		for _, scheme := range [...]string{"https", "http"} {
			if n := end - len(scheme); n > start && strings.HasSuffix(s[start:end], scheme) {
				end = n
				for end > start {
					r, w := utf8.DecodeLastRuneInString(s[start:end])
					if !isTagSeparator(r) {
						break
					}
					end -= w
				}
				break
			}
		}
	}
	name := s[start:end]
	if !validTagName(name) {
		return entity{}, false
	}
	return entity{kind: kindTag, start: i, end: end, name: name}, true
}

// validTagName reports whether name has at most MaxTagLength runes and at
// least one that is not a decimal digit.
func validTagName(name string) bool {
	n, digitsOnly := 0, true
	for _, r := range name {
		n++
		if n > MaxTagLength {
			return false
		}
		if digitsOnly && !('0' <= r && r <= '9' || r >= utf8.RuneSelf && unicode.IsDigit(r)) {
			digitsOnly = false
		}
	}
	return !digitsOnly
}

// scanURL recognises a URL at s[i], which is 'h' or 'H'.
func scanURL(s string, i int) (entity, bool) {
	host := i
	switch {
	case hasPrefixFold(s[i:], "https://"):
		host += len("https://")
	case hasPrefixFold(s[i:], "http://"):
		host += len("http://")
	default:
		return entity{}, false
	}
	if host >= len(s) {
		return entity{}, false
	}
	if r, _ := decode(s, host); r != '[' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
		return entity{}, false
	}
	end, opens, closes := host, 0, 0
	for end < len(s) {
		r, w := decode(s, end)
		if r == '<' || r == '>' || unicode.IsSpace(r) || r != 0 && unicode.IsControl(r) {
			// NUL is let through as Render's U+FFFD in its place would be.
			break
		}
		switch r {
		case '(':
			opens++
		case ')':
			closes++
		}
		end += w
	}
	for end > host {
		switch s[end-1] {
		case '.', ',', ';', ':', '!', '?', '\'', '"':
			end--
			continue
		case ')':
			if closes > opens {
				closes--
				end--
				continue
			}
		}
		break
	}
	// The host starts with a letter, digit or '[', none of which is ever
	// trimmed, so the URL is never empty after the scheme.
	k := kindURL
	if p := before(s, i); p == '@' || p == '$' || p == '#' || isASCIIAlnum(p) {
		k = kindPlain
	}
	return entity{kind: k, start: i, end: end}, true
}

// hasPrefixFold reports whether s starts with prefix, which is lower-case
// ASCII, ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}
