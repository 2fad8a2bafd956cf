// Package content turns the plain text of a local status, as its author typed
// it, into the HTML Mastodon serves for it, and extracts what Mastodon derives
// from the same text: the mentioned local accounts, the hashtags and the
// countable length.
//
// The markup is that of Mastodon's TextFormatter for local statuses, since
// clients depend on it (Elk, for one, only makes a mention clickable when its
// markup matches). Every character of user text is HTML-escaped; the only markup in
// the output is the fixed markup this package writes around paragraphs, line
// breaks, links, mentions and hashtags.
//
// # Entities
//
// Text is scanned left to right; the earliest entity wins and nothing inside
// an entity is looked at again, so a mention or hashtag inside a URL is part
// of the URL.
//
//   - URL: "http://" or "https://" (scheme matched case-insensitively) at the
//     start of the text or after a character that is not an ASCII letter or
//     digit, '@', '$' or '#'; the host must start with a letter, a digit or
//     '['. It runs to the next whitespace, control character, '<' or '>';
//     trailing ".,;:!?'\"" and unbalanced trailing ')' are not part of it.
//     A URL-looking run after a disallowed character is not linked, but is
//     still not searched for mentions or hashtags.
//   - Mention: '@' + username + optional '@' + domain, where the '@' is at the
//     start or after a character that is not a letter, digit, mark, '_', '/'
//     or '@'. A username is ASCII letters, digits and '_' (at most 30 bytes);
//     like Mastodon it may continue with '.' or '-' followed by more of those,
//     which only remote accounts have. The domain is Unicode word characters
//     joined by '.' or '-', plus ":port" when that makes it equal to
//     Options.Host. Like Mastodon, a candidate followed by '@', a letter,
//     digit or mark, or "://" is not a mention at all.
//   - Hashtag: '#' at the start or after a character that is not a letter,
//     digit, mark, '_', '/', ')' or '&', then a name of Unicode letters,
//     marks, digits, '_' and the separators '·', '・' and ZWNJ (not first, and
//     dropped when trailing), with at least one character that is not a digit
//     and at most 100 characters. As in Mastodon, a name ending in "http" or
//     "https" right before "://" loses that suffix.
//
// Nothing here keeps state between calls; all functions are safe for
// concurrent use.
package content

import (
	"strings"
	"unicode/utf8"
)

// Limits on entities, exported for callers that validate
// input against the same numbers.
const (
	// MaxUsernameLength is the longest username, in bytes (usernames are
	// ASCII), that is recognised in a mention.
	MaxUsernameLength = 30
	// MaxTagLength is the longest hashtag name, in runes, that is recognised.
	MaxTagLength = 100
	// MaxTags is how many distinct hashtags Render and Scan report; further
	// hashtags are still linked but not reported.
	MaxTags = 20
	// URLLength is the length every linked URL counts as in Length.
	URLLength = 23
)

// Options for Render.
type Options struct {
	// BaseURL is the instance's public URL without a trailing slash, e.g.
	// "https://social.example". Mention and hashtag links start with it.
	BaseURL string
	// Host is BaseURL's host[:port]; mentions written as @user@Host (compared
	// case-insensitively) are local.
	Host string
	// ResolveMention returns the stored username of a local account and true,
	// or false if no such account exists (the mention then stays plain,
	// escaped text); an empty canonical name counts as false. It receives
	// the username as written (ASCII letters, digits and '_'), is called at
	// most once per distinct spelling per Render call, and is only called
	// from the goroutine calling Render. nil resolves nothing.
	ResolveMention func(username string) (canonical string, ok bool)
}

// Rendered is the result of Render.
type Rendered struct {
	// HTML is the status as safe HTML: a sequence of <p> elements containing
	// escaped text, <br />, and the link markup described on Render. It is ""
	// for empty or whitespace-only text.
	HTML string
	// Mentions are the canonical usernames of resolved mentions, in order of
	// first appearance, without duplicates. nil if there are none.
	Mentions []string
	// Tags are the hashtag names lower-cased (Unicode-aware), without '#', in
	// order of first appearance, without duplicates, at most MaxTags. nil if
	// there are none.
	Tags []string
}

// Render turns text into the HTML Mastodon would serve for it.
//
// "\r\n" and "\r" become "\n" and NUL bytes and invalid UTF-8 bytes become
// U+FFFD. Lines that are empty or whitespace-only are dropped from the start
// and end; what remains is split into paragraphs at runs of two or more
// newlines, each written as <p>…</p>, and a single newline inside a paragraph
// becomes <br />. Text is escaped as Rails does (&amp; &lt; &gt; &quot; &#39;).
//
// Entities (see the package documentation) are written as:
//
//	URL:      <a href="URL" target="_blank" rel="nofollow noopener" translate="no"><span class="invisible">https://www.</span><span class="ellipsis">first 30 runes</span><span class="invisible">rest</span></a>
//	mention:  <span class="h-card" translate="no"><a href="BASE/@canonical" class="u-url mention">@<span>canonical</span></a></span>
//	hashtag:  <a href="BASE/tags/lowercased-path-escaped" class="mention hashtag" rel="tag">#<span>name as written</span></a>
//
// The URL's first span holds the scheme and "://" plus a "www." right after
// it. When what follows is at most 31 runes it is shown whole in a span with
// class="" and the last span is empty: like Mastodon, a single hidden rune is
// not worth an ellipsis. The href is the URL exactly as written, escaped.
//
// Only local mentions (no domain, or Host) whose username ResolveMention
// accepts are linked; others stay as escaped text.
func Render(text string, o Options) Rendered {
	s := trimBlankLines(normalize(text))
	if s == "" {
		return Rendered{}
	}
	base := strings.TrimSuffix(o.BaseURL, "/")

	var (
		r        Rendered
		b        strings.Builder
		mentions uniqList
		resolved memo
	)
	b.Grow(estimateHTML(s, base))
	b.WriteString("<p>")
	sc := scanner{s: s, host: o.Host}
	last := 0
	for {
		e, ok := sc.next()
		if !ok {
			break
		}
		writeText(&b, s[last:e.start])
		last = e.end
		raw := s[e.start:e.end]
		switch e.kind {
		case kindURL:
			writeURL(&b, raw)
		case kindTag:
			lower := strings.ToLower(e.name)
			r.Tags = addTag(r.Tags, lower)
			writeTag(&b, base, lower, e.name)
		case kindMention:
			if o.ResolveMention == nil || !e.local(o.Host) {
				writeText(&b, raw)
				break
			}
			res, seen := resolved.get(e.name)
			if !seen {
				res.canonical, res.ok = o.ResolveMention(e.name)
				res.ok = res.ok && res.canonical != ""
				resolved.put(e.name, res)
			}
			if !res.ok {
				writeText(&b, raw)
				break
			}
			mentions.add(res.canonical)
			writeMention(&b, base, res.canonical)
		default: // kindPlain
			writeText(&b, raw)
		}
	}
	writeText(&b, s[last:])
	b.WriteString("</p>")
	r.HTML = b.String()
	r.Mentions = mentions.list
	return r
}

// estimateHTML is a generous guess of the length of the HTML for s, so that
// Render's builder rarely grows: the text, room for escapes and breaks, the
// markup of every candidate mention or hashtag, and each URL twice. It is
// capped so that text full of '@' or '#' that are not entities cannot make
// Render reserve many times the memory its output needs.
func estimateHTML(s, base string) int {
	n := len(s) + len(s)/4 + len("<p></p>")
	if c := strings.Count(s, "@") + strings.Count(s, "#"); c > 0 {
		n += c * (len(base) + 100)
	}
	if c := strings.Count(s, "://"); c > 0 {
		n += len(s) + c*140
	}
	return min(n, 2*len(s)+4096)
}

// resolution is a memoized ResolveMention answer.
type resolution struct {
	canonical string
	ok        bool
}

// memo remembers ResolveMention answers for one Render call, searched
// linearly while few (the common case) and through a map index past
// uniqLinearMax.
type memo struct {
	names []string
	res   []resolution
	idx   map[string]int
}

func (m *memo) get(name string) (resolution, bool) {
	if m.idx != nil {
		i, ok := m.idx[name]
		if !ok {
			return resolution{}, false
		}
		return m.res[i], true
	}
	for i, n := range m.names {
		if n == name {
			return m.res[i], true
		}
	}
	return resolution{}, false
}

// put records the answer for a name get did not find.
func (m *memo) put(name string, r resolution) {
	if m.names == nil {
		m.names, m.res = make([]string, 0, 4), make([]resolution, 0, 4)
	}
	m.names = append(m.names, name)
	m.res = append(m.res, r)
	if m.idx != nil {
		m.idx[name] = len(m.names) - 1
	} else if len(m.names) > uniqLinearMax {
		m.idx = make(map[string]int, 2*len(m.names))
		for i, n := range m.names {
			m.idx[n] = i
		}
	}
}

// Scan finds, without resolving anything, what Render would act on:
//
//   - mentions: the local-looking mentions, usernames as written without '@',
//     in order of first appearance, without case-insensitive duplicates.
//     @user@host counts as local "user"; mentions of other domains, and
//     usernames with '.' or '-' (which no local account has), are skipped.
//   - tags: the hashtags exactly as Render reports them in Rendered.Tags.
//   - length: Length(text).
//
// host is Options.Host. The slices are nil when empty.
func Scan(text string, host string) (mentions []string, tags []string, length int) {
	var ms uniqList
	ms.fold = true
	length = runeLength(text)
	sc := scanner{s: text, host: host}
	for {
		e, ok := sc.next()
		if !ok {
			break
		}
		length -= e.lengthDiscount(text)
		switch e.kind {
		case kindTag:
			tags = addTag(tags, strings.ToLower(e.name))
		case kindMention:
			if e.local(host) {
				ms.add(e.name)
			}
		}
	}
	return ms.list, tags, length
}

// Length is Mastodon's countable length of text: every linked http(s) URL
// counts as URLLength (23) characters, a mention @user@domain counts as
// @user, and everything else counts in Unicode code points, with "\r\n"
// counting once (as the single newline Render turns it into) and each invalid
// UTF-8 byte counting once. Unlike Render, it does not drop leading or
// trailing blank lines. (Mastodon counts grapheme clusters; this counts code
// points, so an emoji built from several code points counts as several.)
func Length(text string) int {
	n := runeLength(text)
	sc := scanner{s: text}
	for {
		e, ok := sc.next()
		if !ok {
			return n
		}
		n -= e.lengthDiscount(text)
	}
}

// runeLength counts s in runes, with "\r\n" counting once.
func runeLength(s string) int {
	return utf8.RuneCountInString(s) - strings.Count(s, "\r\n")
}

// lengthDiscount is how many fewer characters e counts for in Length than its
// runes in s.
func (e *entity) lengthDiscount(s string) int {
	switch e.kind {
	case kindURL:
		return utf8.RuneCountInString(s[e.start:e.end]) - URLLength
	case kindMention:
		// The domain is discounted, except a ":port" the scanner only
		// attached because it matched the host: Length has no host, so
		// it counts the port as text, and Scan must agree with it.
		if e.domain == "" {
			return 0
		}
		return 1 + utf8.RuneCountInString(e.domain) - e.port
	}
	return 0
}

// addTag appends tag to tags unless it is already there or MaxTags are kept.
func addTag(tags []string, tag string) []string {
	if len(tags) >= MaxTags {
		return tags
	}
	for _, t := range tags {
		if t == tag {
			return tags
		}
	}
	if tags == nil {
		tags = make([]string, 0, 4)
	}
	return append(tags, tag)
}

// uniqLinearMax is how long a uniqList stays a plain slice before it builds
// a map index.
const uniqLinearMax = 16

// uniqList collects strings in order of first appearance without duplicates.
// Lookups are linear while the list is short, which is the common case and
// allocates nothing extra; past uniqLinearMax entries a map index keeps
// adversarial input linear overall.
type uniqList struct {
	list []string
	fold bool // compare ASCII-case-insensitively
	idx  map[string]struct{}
}

func (u *uniqList) key(v string) string {
	if u.fold {
		return strings.ToLower(v)
	}
	return v
}

func (u *uniqList) add(v string) {
	if u.idx == nil {
		for _, x := range u.list {
			if x == v || u.fold && strings.EqualFold(x, v) {
				return
			}
		}
		if u.list == nil {
			u.list = make([]string, 0, 4)
		}
		u.list = append(u.list, v)
		if len(u.list) > uniqLinearMax {
			u.idx = make(map[string]struct{}, 2*len(u.list))
			for _, x := range u.list {
				u.idx[u.key(x)] = struct{}{}
			}
		}
		return
	}
	k := u.key(v)
	if _, ok := u.idx[k]; ok {
		return
	}
	u.idx[k] = struct{}{}
	u.list = append(u.list, v)
}
