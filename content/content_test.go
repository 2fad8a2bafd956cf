package content

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

const (
	testBase = "https://social.example"
	testHost = "social.example"
)

// accounts is the local directory the tests resolve mentions against, keyed
// by lower-cased username.
var accounts = map[string]string{"alice": "alice", "bob": "Bob", "carol_1": "carol_1"}

// resolver returns a ResolveMention over accounts that records its calls.
func resolver(calls *[]string) func(string) (string, bool) {
	return func(u string) (string, bool) {
		if calls != nil {
			*calls = append(*calls, u)
		}
		c, ok := accounts[strings.ToLower(u)]
		return c, ok
	}
}

func opts(calls *[]string) Options {
	return Options{BaseURL: testBase, Host: testHost, ResolveMention: resolver(calls)}
}

func mention(canonical string) string {
	return `<span class="h-card" translate="no"><a href="` + testBase + `/@` + canonical +
		`" class="u-url mention">@<span>` + canonical + `</span></a></span>`
}

func hashtag(path, name string) string {
	return `<a href="` + testBase + `/tags/` + path + `" class="mention hashtag" rel="tag">#<span>` + name + `</span></a>`
}

// link is the markup of a URL whose href is href (already escaped) and
// whose spans hold prefix, display (with class) and suffix.
func link(href, prefix, class, display, suffix string) string {
	return `<a href="` + href + `" target="_blank" rel="nofollow noopener" translate="no"><span class="invisible">` +
		prefix + `</span><span class="` + class + `">` + display + `</span><span class="invisible">` + suffix + `</span></a>`
}

// shortLink is the markup of an http(s) URL short enough to show whole.
func shortLink(url string) string {
	prefix, rest, _ := strings.Cut(url, "://")
	return link(url, prefix+"://", "", rest, "")
}

type renderCase struct {
	name     string
	text     string
	opts     *Options // nil means opts(nil)
	html     string
	mentions []string
	tags     []string
}

func runRender(t *testing.T, cases []renderCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := opts(nil)
			if tc.opts != nil {
				o = *tc.opts
			}
			got := Render(tc.text, o)
			checkRendered(t, got, tc.html, tc.mentions, tc.tags)
		})
	}
}

func checkRendered(t *testing.T, got Rendered, html string, mentions, tags []string) {
	t.Helper()
	if got.HTML != html {
		t.Errorf("HTML:\n got %s\nwant %s", got.HTML, html)
	}
	if !slices.Equal(got.Mentions, mentions) {
		t.Errorf("Mentions = %q, want %q", got.Mentions, mentions)
	}
	if !slices.Equal(got.Tags, tags) {
		t.Errorf("Tags = %q, want %q", got.Tags, tags)
	}
}

func TestRenderParagraphs(t *testing.T) {
	runRender(t, []renderCase{
		{name: "empty", text: "", html: ""},
		{name: "whitespace only", text: " \n\t\r\n \u00a0", html: ""},
		{name: "one line", text: "hello world", html: "<p>hello world</p>"},
		{name: "line break", text: "a\nb", html: "<p>a<br />b</p>"},
		{name: "paragraphs", text: "a\n\nb", html: "<p>a</p><p>b</p>"},
		{name: "newline run is one break", text: "a\n\n\n\nb\nc", html: "<p>a</p><p>b<br />c</p>"},
		{name: "crlf", text: "a\r\nb\r\n\r\nc", html: "<p>a<br />b</p><p>c</p>"},
		{name: "lone cr", text: "a\rb\r\rc", html: "<p>a<br />b</p><p>c</p>"},
		{name: "leading and trailing blank lines", text: "\n\n \t\nhello\n\n \n", html: "<p>hello</p>"},
		{name: "indentation kept", text: "  hi  ", html: "<p>  hi  </p>"},
		{name: "whitespace line is not a paragraph break", text: "a\n \nb", html: "<p>a<br /> <br />b</p>"},
		{name: "whitespace paragraph kept in the middle", text: "a\n\n \n\nb", html: "<p>a</p><p> </p><p>b</p>"},
	})
}

func TestRenderEscaping(t *testing.T) {
	runRender(t, []renderCase{
		{
			name: "script",
			text: "<script>alert('x')</script>",
			html: "<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</p>",
		},
		{
			name: "quotes and ampersand",
			text: `"double" & 'single' &amp;`,
			html: "<p>&quot;double&quot; &amp; &#39;single&#39; &amp;amp;</p>",
		},
		{
			name: "markup is text",
			text: `<a href="javascript:alert(1)" onclick='x'>hi</a>`,
			html: "<p>&lt;a href=&quot;javascript:alert(1)&quot; onclick=&#39;x&#39;&gt;hi&lt;/a&gt;</p>",
		},
		{
			name: "nul and invalid utf-8",
			text: "a\x00b\xffc",
			html: "<p>a\uFFFDb\uFFFDc</p>",
		},
		{
			name: "javascript scheme is not linked",
			text: "javascript:alert(1)",
			html: "<p>javascript:alert(1)</p>",
		},
	})
}

func TestRenderMentions(t *testing.T) {
	noResolver := Options{BaseURL: testBase, Host: testHost}
	portHost := Options{BaseURL: "http://localhost:3000", Host: "localhost:3000", ResolveMention: resolver(nil)}
	runRender(t, []renderCase{
		{name: "resolved", text: "hi @alice!", html: "<p>hi " + mention("alice") + "!</p>", mentions: []string{"alice"}},
		{name: "canonical spelling", text: "@BOB", html: "<p>" + mention("Bob") + "</p>", mentions: []string{"Bob"}},
		{name: "unresolved", text: "@nobody here", html: "<p>@nobody here</p>"},
		{name: "nil resolver", text: "@alice", opts: &noResolver, html: "<p>@alice</p>"},
		{name: "remote", text: "@alice@other.example", html: "<p>@alice@other.example</p>"},
		{name: "at host", text: "@alice@social.example", html: "<p>" + mention("alice") + "</p>", mentions: []string{"alice"}},
		{name: "at host any case", text: "@alice@Social.Example.", html: "<p>" + mention("alice") + ".</p>", mentions: []string{"alice"}},
		{
			name: "host with port", text: "@alice@localhost:3000 @bob@localhost:4000", opts: &portHost,
			html:     `<p><span class="h-card" translate="no"><a href="http://localhost:3000/@alice" class="u-url mention">@<span>alice</span></a></span> @bob@localhost:4000</p>`,
			mentions: []string{"alice"},
		},
		{name: "email address", text: "mail a@b.com or alice@social.example", html: "<p>mail a@b.com or alice@social.example</p>"},
		{name: "after slash", text: "x/@alice", html: "<p>x/@alice</p>"},
		{name: "after at", text: "@@alice", html: "<p>@@alice</p>"},
		{name: "after non-ascii letter", text: "é@alice", html: "<p>é@alice</p>"},
		{name: "in parentheses", text: "(@alice)", html: "<p>(" + mention("alice") + ")</p>", mentions: []string{"alice"}},
		{name: "after line break", text: "hi\n@alice", html: "<p>hi<br />" + mention("alice") + "</p>", mentions: []string{"alice"}},
		{name: "followed by at", text: "@alice@ x", html: "<p>@alice@ x</p>"},
		{name: "followed by accented letter", text: "@alicé", html: "<p>@alicé</p>"},
		{name: "followed by scheme separator", text: "@alice://x", html: "<p>@alice://x</p>"},
		{name: "dotted username is never local", text: "@alice.b", html: "<p>@alice.b</p>"},
		{name: "remote dotted username", text: "@alice.b@other.example", html: "<p>@alice.b@other.example</p>"},
		{name: "trailing dot is not username", text: "@alice.", html: "<p>" + mention("alice") + ".</p>", mentions: []string{"alice"}},
		{name: "username too long", text: "@" + strings.Repeat("a", 31), html: "<p>@" + strings.Repeat("a", 31) + "</p>"},
		{
			name: "deduplicated", text: "@alice @Bob @ALICE @alice",
			html:     "<p>" + mention("alice") + " " + mention("Bob") + " " + mention("alice") + " " + mention("alice") + "</p>",
			mentions: []string{"alice", "Bob"},
		},
		{name: "escaped around", text: "<@alice>", html: "<p>&lt;" + mention("alice") + "&gt;</p>", mentions: []string{"alice"}},
	})
}

func TestRenderResolverCalls(t *testing.T) {
	var calls []string
	Render("@alice @alice @Alice @x@other.example a@b.com @alice@social.example @no.pe", opts(&calls))
	// Once per spelling; remote, email-like and dotted candidates are
	// never looked up.
	if want := []string{"alice", "Alice"}; !slices.Equal(calls, want) {
		t.Errorf("ResolveMention calls = %q, want %q", calls, want)
	}
}

func TestRenderResolverOutputEscaped(t *testing.T) {
	o := Options{BaseURL: testBase, ResolveMention: func(string) (string, bool) { return `x"<y>`, true }}
	got := Render("@alice", o).HTML
	want := `<p><span class="h-card" translate="no"><a href="` + testBase +
		`/@x%22%3Cy%3E" class="u-url mention">@<span>x&quot;&lt;y&gt;</span></a></span></p>`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	o.ResolveMention = func(string) (string, bool) { return "", true }
	if got := Render("@alice", o); got.HTML != "<p>@alice</p>" || got.Mentions != nil {
		t.Errorf("empty canonical: got %q %q, want it unresolved", got.HTML, got.Mentions)
	}
}

func TestRenderManyMentions(t *testing.T) {
	// Past the linear-search size the memo and the mention list switch to
	// map indexes; answers, order and deduplication must not change.
	calls := 0
	o := Options{BaseURL: testBase, ResolveMention: func(u string) (string, bool) {
		calls++
		return strings.ToLower(u), !strings.HasSuffix(u, "7")
	}}
	var text, html strings.Builder
	var want []string
	html.WriteString("<p>")
	for i := range 40 {
		u := "user" + strconv.Itoa(i)
		for _, spelling := range []string{u, strings.ToUpper(u), u} {
			if text.Len() > 0 {
				text.WriteByte(' ')
				html.WriteByte(' ')
			}
			text.WriteString("@" + spelling)
			if strings.HasSuffix(u, "7") {
				html.WriteString("@" + spelling)
			} else {
				html.WriteString(mention(u))
			}
		}
		if !strings.HasSuffix(u, "7") {
			want = append(want, u)
		}
	}
	html.WriteString("</p>")
	checkRendered(t, Render(text.String(), o), html.String(), want, nil)
	if calls != 80 {
		t.Errorf("ResolveMention called %d times, want 80 (once per spelling)", calls)
	}
}

func TestRenderBaseURLTrailingSlash(t *testing.T) {
	o := opts(nil)
	o.BaseURL += "/"
	checkRendered(t, Render("@alice #x", o), "<p>"+mention("alice")+" "+hashtag("x", "x")+"</p>", []string{"alice"}, []string{"x"})
}

func TestRenderHashtags(t *testing.T) {
	var many strings.Builder
	var manyHTML strings.Builder
	var manyTags []string
	for i := range 21 {
		name := "t" + string(rune('a'+i))
		many.WriteString(" #" + name)
		manyHTML.WriteString(" " + hashtag(name, name))
		if i < MaxTags {
			manyTags = append(manyTags, name)
		}
	}
	long := strings.Repeat("é", MaxTagLength)
	runRender(t, []renderCase{
		{name: "simple", text: "#hello", html: "<p>" + hashtag("hello", "hello") + "</p>", tags: []string{"hello"}},
		{name: "unicode", text: "#café", html: "<p>" + hashtag("caf%C3%A9", "café") + "</p>", tags: []string{"café"}},
		{
			name: "case and dedupe", text: "#Café #CAFÉ #café #other",
			html: "<p>" + hashtag("caf%C3%A9", "Café") + " " + hashtag("caf%C3%A9", "CAFÉ") + " " +
				hashtag("caf%C3%A9", "café") + " " + hashtag("other", "other") + "</p>",
			tags: []string{"café", "other"},
		},
		{name: "cjk", text: "#日本語", html: "<p>" + hashtag("%E6%97%A5%E6%9C%AC%E8%AA%9E", "日本語") + "</p>", tags: []string{"日本語"}},
		{name: "digits only", text: "#123 #٣٤", html: "<p>#123 #٣٤</p>"},
		{name: "digits and letters", text: "#1a", html: "<p>" + hashtag("1a", "1a") + "</p>", tags: []string{"1a"}},
		{name: "underscore", text: "#foo_bar", html: "<p>" + hashtag("foo_bar", "foo_bar") + "</p>", tags: []string{"foo_bar"}},
		{name: "middle dot", text: "#l·l #ab·", html: "<p>" + hashtag("l%C2%B7l", "l·l") + " " + hashtag("ab", "ab") + "·</p>", tags: []string{"l·l", "ab"}},
		{name: "leading separator", text: "#·ab", html: "<p>#·ab</p>"},
		{name: "inside a word", text: "foo#bar", html: "<p>foo#bar</p>"},
		{name: "after slash or paren or ampersand", text: "a/#b )#c &#d", html: "<p>a/#b )#c &amp;#d</p>"},
		{name: "in parentheses", text: "(#tag).", html: "<p>(" + hashtag("tag", "tag") + ").</p>", tags: []string{"tag"}},
		{name: "bare hash", text: "# #! ##", html: "<p># #! ##</p>"},
		{name: "at most 20 reported", text: many.String(), html: "<p>" + manyHTML.String() + "</p>", tags: manyTags},
		{name: "100 runes", text: "#" + long, html: "<p>" + hashtag(strings.Repeat("%C3%A9", MaxTagLength), long) + "</p>", tags: []string{long}},
		{name: "101 runes", text: "#" + long + "e", html: "<p>#" + long + "e</p>"},
		{
			name: "glued to url", text: "#foohttps://example.com",
			html: "<p>" + hashtag("foo", "foo") + "https://example.com</p>", tags: []string{"foo"},
		},
	})
}

func TestRenderURLs(t *testing.T) {
	long := "https://example.com/a/very/long/path/that/goes/on?x=1&y=2"
	rest30 := "example.com/" + strings.Repeat("x", 18)
	runRender(t, []renderCase{
		{name: "simple", text: "see https://example.com", html: "<p>see " + shortLink("https://example.com") + "</p>"},
		{name: "http", text: "http://example.com/", html: "<p>" + shortLink("http://example.com/") + "</p>"},
		{name: "upper-case scheme", text: "HTTPS://EXAMPLE.COM", html: "<p>" + shortLink("HTTPS://EXAMPLE.COM") + "</p>"},
		{name: "trailing period", text: "https://example.com.", html: "<p>" + shortLink("https://example.com") + ".</p>"},
		{
			name: "trailing punctuation run", text: `"https://example.com/a?!";:'`,
			html: "<p>&quot;" + shortLink("https://example.com/a") + "?!&quot;;:&#39;</p>",
		},
		{
			name: "balanced parentheses kept", text: "https://en.wikipedia.org/wiki/Go_(lang)",
			html: "<p>" + shortLink("https://en.wikipedia.org/wiki/Go_(lang)") + "</p>",
		},
		{
			name: "unbalanced parenthesis dropped", text: "(see https://example.com/x)",
			html: "<p>(see " + shortLink("https://example.com/x") + ")</p>",
		},
		{
			name: "nested parentheses", text: "(https://en.wikipedia.org/wiki/Go_(lang)).",
			html: "<p>(" + shortLink("https://en.wikipedia.org/wiki/Go_(lang)") + ").</p>",
		},
		{
			name: "long url ellipsis", text: long,
			html: "<p>" + link("https://example.com/a/very/long/path/that/goes/on?x=1&amp;y=2", "https://",
				"ellipsis", "example.com/a/very/long/path/t", "hat/goes/on?x=1&amp;y=2") + "</p>",
		},
		{name: "rest of 30", text: "https://" + rest30, html: "<p>" + shortLink("https://"+rest30) + "</p>"},
		{name: "rest of 31 shown whole", text: "https://" + rest30 + "y", html: "<p>" + shortLink("https://"+rest30+"y") + "</p>"},
		{
			name: "rest of 32 cut", text: "https://" + rest30 + "yz",
			html: "<p>" + link("https://"+rest30+"yz", "https://", "ellipsis", rest30, "yz") + "</p>",
		},
		{
			name: "www is invisible", text: "https://www.example.com/",
			html: "<p>" + link("https://www.example.com/", "https://www.", "", "example.com/", "") + "</p>",
		},
		{
			name: "cut counts runes", text: "https://例え.jp/" + strings.Repeat("パ", 40),
			html: "<p>" + link("https://例え.jp/"+strings.Repeat("パ", 40), "https://", "ellipsis",
				"例え.jp/"+strings.Repeat("パ", 24), strings.Repeat("パ", 16)) + "</p>",
		},
		{
			name: "href escaped", text: `https://example.com/?a='1'&b="2"<b>`,
			html: "<p>" + shortLink(`https://example.com/?a=&#39;1&#39;&amp;b=&quot;2`) + "&quot;&lt;b&gt;</p>",
		},
		{
			name: "mention and hashtag inside url", text: "https://example.com/@alice/#tag @alice",
			html:     "<p>" + shortLink("https://example.com/@alice/#tag") + " " + mention("alice") + "</p>",
			mentions: []string{"alice"},
		},
		{name: "other schemes", text: "ftp://example.com mailto:a@b.c", html: "<p>ftp://example.com mailto:a@b.c</p>"},
		{name: "scheme only", text: "https:// http://.", html: "<p>https:// http://.</p>"},
		{name: "glued to a word", text: "xhttps://example.com/#t", html: "<p>xhttps://example.com/#t</p>"},
		{
			name: "ends at whitespace and angle brackets", text: "<https://example.com>\thttps://a.b\nx",
			html: "<p>&lt;" + shortLink("https://example.com") + "&gt;\t" + shortLink("https://a.b") + "<br />x</p>",
		},
	})
}

func TestLength(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want int
	}{
		{"empty", "", 0},
		{"ascii", "hello", 5},
		{"accented", "café", 4},
		{"long url counts 23", "https://example.com/a/very/long/path/indeed", 23},
		{"short url counts 23", "see https://x.co", 4 + 23},
		{"url trailing punctuation counted", "https://example.com/long/enough/path!", 24},
		{"unlinked url counts runes", "xhttps://example.com", 20},
		{"local mention", "@alice", 6},
		{"remote mention counts without domain", "@alice@other.example hi", 6 + 3},
		{"email is not a mention", "a@b.com", 7},
		{"emoji", "👍", 1},
		{"emoji with modifier counts as runes", "👍🏽", 2},
		{"zwj sequence counts as runes", "👨\u200d👩\u200d👧", 5},
		{"crlf counts once", "a\r\nb", 3},
		{"invalid bytes count once each", "a\xff\xfe", 3},
		{"hashtag counts as written", "#café", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Length(tc.text); got != tc.want {
				t.Errorf("Length(%q) = %d, want %d", tc.text, got, tc.want)
			}
		})
	}
}

func TestScan(t *testing.T) {
	for _, tc := range []struct {
		name     string
		text     string
		host     string
		mentions []string
		tags     []string
	}{
		{name: "empty", text: ""},
		{
			name: "mixed", host: testHost,
			text:     "@alice @Alice @bob@social.example @carol@other.example #Tag #tag https://x.example/@dave #2",
			mentions: []string{"alice", "bob"}, tags: []string{"tag"},
		},
		{name: "unknown accounts still listed", text: "@whoever", mentions: []string{"whoever"}},
		{name: "email not a mention", text: "a@b.com", host: "b.com"},
		{name: "dotted skipped", text: "@a.b @c-d", host: testHost},
		{name: "no host", text: "@a@social.example @b", mentions: []string{"b"}},
		{name: "host with port", text: "@a@localhost:3000 @b@localhost", host: "localhost:3000", mentions: []string{"a"}},
		{name: "unicode tags", text: "#Café #ÜBER #über", tags: []string{"café", "über"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mentions, tags, n := Scan(tc.text, tc.host)
			if !slices.Equal(mentions, tc.mentions) {
				t.Errorf("mentions = %q, want %q", mentions, tc.mentions)
			}
			if !slices.Equal(tags, tc.tags) {
				t.Errorf("tags = %q, want %q", tags, tc.tags)
			}
			if want := Length(tc.text); n != want {
				t.Errorf("length = %d, want Length = %d", n, want)
			}
			if r := Render(tc.text, Options{BaseURL: testBase, Host: tc.host}); !slices.Equal(r.Tags, tags) {
				t.Errorf("Render tags = %q, Scan tags = %q", r.Tags, tags)
			}
		})
	}
}

func TestScanManyMentions(t *testing.T) {
	// Past the linear-search size the index must keep deduplicating
	// case-insensitively and in order.
	var text strings.Builder
	var want []string
	for i := range 40 {
		u := "user" + strconv.Itoa(i) + "x"
		want = append(want, u)
		text.WriteString("@" + u + " @" + strings.ToUpper(u) + " ")
	}
	got, _, _ := Scan(text.String(), "")
	if !slices.Equal(got, want) {
		t.Errorf("got %d mentions %q, want %d", len(got), got, len(want))
	}
}

func BenchmarkRender(b *testing.B) {
	text := "Hello @alice and @bob@social.example! Have you seen https://example.com/some/long/path/to/an/article?id=42 yet?\n\n" +
		"It's about #Go, #Fediverse and <html> & \"escaping\". @nobody cares. #café"
	o := opts(nil)
	b.ReportAllocs()
	for b.Loop() {
		Render(text, o)
	}
}

func BenchmarkLength(b *testing.B) {
	text := strings.Repeat("Hello @alice@other.example, see https://example.com/path #tag. ", 8)
	b.ReportAllocs()
	for b.Loop() {
		Length(text)
	}
}
