package content

import (
	"io"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// FuzzRender checks that whatever the text, Render's output is well-formed
// HTML made only of the markup this package writes, that it shows exactly
// the text that was typed, and that Render, Scan and Length agree.
func FuzzRender(f *testing.F) {
	for _, seed := range []string{
		"",
		"hello world",
		"a\nb\n\nc\r\n\r\nd\re",
		"\n\n  \n lead and trail \n \n",
		"<script>alert('x')</script> \"q\" & &amp; &#39;",
		"@alice @Bob @nobody @alice@social.example @x@other.example a@b.com x/@alice @a.b @alice@ @alicé",
		"#café #Café #123 #١٢٣ #a·b #·x foo#bar (#tag). &#x ##",
		"https://example.com/a/very/long/path/that/goes/on?x=1&y='2'#frag.",
		"(https://en.wikipedia.org/wiki/Go_(lang)). <https://example.com> \"https://a.b\"",
		"https://www.example.com/ HTTP://X.Y xhttps://a.b https:// http://[::1]:80/",
		"#foohttps://example.com @https://x.y",
		"https://example.com/@alice/#tag",
		"a\x00b\xffc\xe2\x82",
		"\ufeff\u2028\u00a0\t\v\f x",
		"👨\u200d👩\u200d👧 👍🏽",
		"@alice@localhost:3000",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		// Identity resolver and no host: every local mention is linked and
		// shows as written, so the visible text must equal the input.
		plain := Options{BaseURL: testBase, ResolveMention: func(u string) (string, bool) { return u, true }}
		r := Render(text, plain)
		checkMarkup(t, r.HTML, testBase)
		if got, want := visibleText(t, r.HTML), expectedText(text); got != want {
			t.Errorf("visible text\n got %q\nwant %q\nhtml %s", got, want, r.HTML)
		}
		checkLists(t, r)

		// A hostile resolver and a host: the structure must hold whatever
		// it returns.
		hostile := Options{BaseURL: testBase, Host: testHost, ResolveMention: func(u string) (string, bool) {
			return `"><script>` + u + `</script>&'`, len(u)%2 == 0
		}}
		rh := Render(text, hostile)
		checkMarkup(t, rh.HTML, testBase)
		checkLists(t, rh)

		mentions, tags, n := Scan(text, testHost)
		if !slices.Equal(tags, r.Tags) {
			t.Errorf("Scan tags %q != Render tags %q", tags, r.Tags)
		}
		if l := Length(text); n != l {
			t.Errorf("Scan length %d != Length %d", n, l)
		}
		if n < 0 || n > utf8.RuneCountInString(text)+URLLength*strings.Count(text, "://") {
			t.Errorf("Length %d out of range for %d runes", n, utf8.RuneCountInString(text))
		}
		// Every linked mention with the hostile resolver was a scanned
		// local mention.
		for _, m := range rh.Mentions {
			u := strings.TrimSuffix(strings.TrimPrefix(m, `"><script>`), `</script>&'`)
			if !slices.ContainsFunc(mentions, func(x string) bool { return strings.EqualFold(x, u) }) {
				t.Errorf("Render mentioned %q, Scan found only %q", u, mentions)
			}
		}
	})
}

var (
	allowedAttrs   = map[string]bool{"href": true, "rel": true, "class": true, "target": true, "translate": true}
	allowedClasses = map[string]bool{"h-card": true, "u-url": true, "mention": true, "hashtag": true, "invisible": true, "ellipsis": true}
)

// checkMarkup tokenizes out and checks it only holds p, br, a and span
// elements, properly nested (p at the top, everything else inside one, no
// link inside a link), with only the allowed attributes and classes, and
// links only to http(s) URLs.
func checkMarkup(t *testing.T, out, base string) {
	t.Helper()
	if out != "" && (!strings.HasPrefix(out, "<p>") || !strings.HasSuffix(out, "</p>")) {
		t.Fatalf("output not wrapped in paragraphs: %s", out)
	}
	if !utf8.ValidString(out) {
		t.Errorf("output is not valid UTF-8: %q", out)
	}
	z := html.NewTokenizer(strings.NewReader(out))
	var stack []string
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				t.Fatalf("tokenizer: %v", z.Err())
			}
			if len(stack) != 0 {
				t.Fatalf("unclosed elements %q in %s", stack, out)
			}
			return
		case html.TextToken:
			if len(stack) == 0 {
				t.Fatalf("text outside a paragraph in %s", out)
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			switch {
			case tok.Data == "br":
				if tt != html.SelfClosingTagToken || len(stack) == 0 {
					t.Fatalf("bad <br> in %s", out)
				}
			case tt == html.SelfClosingTagToken:
				t.Fatalf("self-closing <%s> in %s", tok.Data, out)
			case tok.Data == "p":
				if len(stack) != 0 {
					t.Fatalf("nested <p> in %s", out)
				}
			case tok.Data == "a":
				if len(stack) == 0 || slices.Contains(stack, "a") {
					t.Fatalf("misplaced <a> in %s", out)
				}
			case tok.Data == "span":
				if len(stack) == 0 {
					t.Fatalf("<span> outside a paragraph in %s", out)
				}
			default:
				t.Fatalf("disallowed element <%s> in %s", tok.Data, out)
			}
			if tok.Data != "br" {
				stack = append(stack, tok.Data)
			}
			checkAttrs(t, tok, base, out)
		case html.EndTagToken:
			tok := z.Token()
			if len(stack) == 0 || stack[len(stack)-1] != tok.Data {
				t.Fatalf("unexpected </%s> with open %q in %s", tok.Data, stack, out)
			}
			stack = stack[:len(stack)-1]
		default:
			t.Fatalf("unexpected %v token in %s", tt, out)
		}
	}
}

func checkAttrs(t *testing.T, tok html.Token, base, out string) {
	t.Helper()
	for _, a := range tok.Attr {
		if !allowedAttrs[a.Key] || a.Namespace != "" {
			t.Fatalf("disallowed attribute %s on <%s> in %s", a.Key, tok.Data, out)
		}
		switch a.Key {
		case "href":
			l := strings.ToLower(a.Val)
			if !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "https://") && !strings.HasPrefix(a.Val, base+"/") {
				t.Fatalf("disallowed href %q in %s", a.Val, out)
			}
		case "class":
			for _, c := range strings.Fields(a.Val) {
				if !allowedClasses[c] {
					t.Fatalf("disallowed class %q in %s", c, out)
				}
			}
		}
	}
}

// visibleText parses out as a fragment and returns its text, with <br> as
// "\n" and paragraphs separated by "\n\n", without surrounding whitespace.
func visibleText(t *testing.T, out string) string {
	t.Helper()
	nodes, err := html.ParseFragment(strings.NewReader(out), &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch {
		case n.Type == html.TextNode:
			b.WriteString(n.Data)
		case n.Type == html.ElementNode && n.DataAtom == atom.Br:
			b.WriteByte('\n')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	for i, n := range nodes {
		if n.Type != html.ElementNode || n.DataAtom != atom.P {
			t.Fatalf("top-level node %q is not a paragraph in %s", n.Data, out)
		}
		if i > 0 {
			b.WriteString("\n\n")
		}
		walk(n)
	}
	return strings.TrimSpace(b.String())
}

// expectedText is what Render must show for text: newlines normalised,
// NUL and invalid bytes as U+FFFD, runs of blank lines collapsed to one
// paragraph break, surrounding whitespace dropped.
func expectedText(text string) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	var b strings.Builder
	newlines := 0
	for _, r := range text {
		if r == '\n' {
			newlines++
			continue
		}
		switch newlines {
		case 0:
		case 1:
			b.WriteByte('\n')
		default:
			b.WriteString("\n\n")
		}
		newlines = 0
		if r == 0 {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// checkLists checks the invariants of Rendered's lists.
func checkLists(t *testing.T, r Rendered) {
	t.Helper()
	if len(r.Tags) > MaxTags {
		t.Errorf("%d tags, more than %d", len(r.Tags), MaxTags)
	}
	for i, tag := range r.Tags {
		if tag == "" || strings.ToLower(tag) != tag || slices.Contains(r.Tags[:i], tag) {
			t.Errorf("bad or duplicate tag %q in %q", tag, r.Tags)
		}
	}
	for i, m := range r.Mentions {
		if m == "" || slices.Contains(r.Mentions[:i], m) {
			t.Errorf("bad or duplicate mention %q in %q", m, r.Mentions)
		}
	}
	if r.HTML == "" && (r.Tags != nil || r.Mentions != nil) {
		t.Errorf("empty HTML with tags %q, mentions %q", r.Tags, r.Mentions)
	}
}
