package content

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// normalize turns "\r\n" and "\r" into "\n" and NUL bytes and invalid UTF-8
// bytes into U+FFFD (one per byte, as ranging over the string would). It
// returns s itself when there is nothing to change.
func normalize(s string) string {
	if strings.IndexByte(s, '\r') < 0 && strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\r':
			b.WriteByte('\n')
			i++
			if i < len(s) && s[i] == '\n' {
				i++
			}
		case c == 0:
			b.WriteString("\uFFFD")
			i++
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			i++
		default:
			r, w := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && w == 1 {
				b.WriteString("\uFFFD")
			} else {
				b.WriteString(s[i : i+w])
			}
			i += w
		}
	}
	return b.String()
}

func notSpace(r rune) bool { return !unicode.IsSpace(r) }

// trimBlankLines drops the empty and whitespace-only lines at the start and
// end of s, which uses "\n" for newlines; it returns "" if s is blank.
// Whitespace at the start of the first kept line and the end of the last one
// is kept.
func trimBlankLines(s string) string {
	first := strings.IndexFunc(s, notSpace)
	if first < 0 {
		return ""
	}
	start := strings.LastIndexByte(s[:first], '\n') + 1
	last := strings.LastIndexFunc(s, notSpace)
	_, w := utf8.DecodeRuneInString(s[last:])
	end := last + w
	if k := strings.IndexByte(s[end:], '\n'); k >= 0 {
		end += k
	} else {
		end = len(s)
	}
	return s[start:end]
}

// writeText writes text, in which newlines are "\n", escaped as Rails'
// html_escape does, turning one newline into <br /> and a run of two or more
// into a paragraph break.
func writeText(b *strings.Builder, s string) {
	for len(s) > 0 {
		k := strings.IndexAny(s, "&<>\"'\n")
		if k < 0 {
			b.WriteString(s)
			return
		}
		b.WriteString(s[:k])
		switch s[k] {
		case '\n':
			n := k + 1
			for n < len(s) && s[n] == '\n' {
				n++
			}
			if n-k == 1 {
				b.WriteString("<br />")
			} else {
				b.WriteString("</p><p>")
			}
			s = s[n:]
			continue
		default:
			writeEscapedByte(b, s[k])
		}
		s = s[k+1:]
	}
}

// escape writes s HTML-escaped, for text or a quoted attribute value. s
// holds no newline that should become markup.
func escape(b *strings.Builder, s string) {
	for len(s) > 0 {
		k := strings.IndexAny(s, "&<>\"'")
		if k < 0 {
			b.WriteString(s)
			return
		}
		b.WriteString(s[:k])
		writeEscapedByte(b, s[k])
		s = s[k+1:]
	}
}

func writeEscapedByte(b *strings.Builder, c byte) {
	switch c {
	case '&':
		b.WriteString("&amp;")
	case '<':
		b.WriteString("&lt;")
	case '>':
		b.WriteString("&gt;")
	case '"':
		b.WriteString("&quot;")
	case '\'':
		b.WriteString("&#39;")
	default:
		b.WriteByte(c)
	}
}

// pathEscape writes s as one URL path segment: every byte other than ASCII
// letters, digits and "-._~" is percent-encoded. The result needs no HTML
// escaping.
func pathEscape(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isASCIIAlnum(rune(c)) || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
}

// urlVisible is how many runes after the prefix a link shows before it is
// cut off with an ellipsis.
const urlVisible = 30

// writeURL writes the link for url as Mastodon's TextFormatter.shortened_link
// does.
func writeURL(b *strings.Builder, url string) {
	prefix := len("http://")
	if url[4] == 's' || url[4] == 'S' {
		prefix = len("https://")
	}
	if hasPrefixFold(url[prefix:], "www.") {
		prefix += len("www.")
	}
	rest := url[prefix:]
	display, suffix := rest, ""
	cut := 0
	for i := range rest {
		if cut == urlVisible {
			display, suffix = rest[:i], rest[i:]
			break
		}
		cut++
	}
	class := ""
	if suffix != "" {
		if utf8.RuneCountInString(suffix) == 1 {
			// Mastodon: a lone hidden rune is not worth an ellipsis.
			display, suffix = rest, ""
		} else {
			class = "ellipsis"
		}
	}
	b.WriteString(`<a href="`)
	escape(b, url)
	b.WriteString(`" target="_blank" rel="nofollow noopener" translate="no"><span class="invisible">`)
	escape(b, url[:prefix])
	b.WriteString(`</span><span class="`)
	b.WriteString(class)
	b.WriteString(`">`)
	escape(b, display)
	b.WriteString(`</span><span class="invisible">`)
	escape(b, suffix)
	b.WriteString(`</span></a>`)
}

// writeTag writes the link for a hashtag name as written, lower being its
// lower-cased form.
func writeTag(b *strings.Builder, base, lower, name string) {
	b.WriteString(`<a href="`)
	escape(b, base)
	b.WriteString(`/tags/`)
	pathEscape(b, lower)
	b.WriteString(`" class="mention hashtag" rel="tag">#<span>`)
	escape(b, name)
	b.WriteString(`</span></a>`)
}

// writeMention writes the link for a local account's canonical username.
func writeMention(b *strings.Builder, base, canonical string) {
	b.WriteString(`<span class="h-card" translate="no"><a href="`)
	escape(b, base)
	b.WriteString(`/@`)
	pathEscape(b, canonical)
	b.WriteString(`" class="u-url mention">@<span>`)
	escape(b, canonical)
	b.WriteString(`</span></a></span>`)
}
