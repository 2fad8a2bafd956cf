package gateway_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/starling-social/starling/internal/startest"
)

// post publishes a status and returns its JSON.
func post(t *testing.T, u *startest.User, text string, extra ...string) map[string]any {
	t.Helper()
	f := startest.Form{"status": {text}}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Add(extra[i], extra[i+1])
	}
	return u.Must(200, "POST", "/api/v1/statuses", f).Map(t)
}

func follow(t *testing.T, a, b *startest.User) map[string]any {
	t.Helper()
	return a.Must(200, "POST", "/api/v1/accounts/"+b.ID+"/follow", nil).Map(t)
}

// ids returns the ids of a list of statuses.
func ids(l []map[string]any) []string {
	out := make([]string, len(l))
	for i, m := range l {
		out[i] = m["id"].(string)
	}
	return out
}

func TestStatusLifecycle(t *testing.T) {
	c := newClient(t)
	alice, bob := c.SignUp("alice"), c.SignUp("bob")
	follow(t, bob, alice)

	st := post(t, alice, "Hello @"+bob.Username+" and @nobody, see #Golang at https://example.com/a/very/long/path/that/goes/on/and/on?x=<1>\n\nsecond <b>para</b>",
		"spoiler_text", "cw", "language", "en")
	content := st["content"].(string)
	base := strings.Replace(c.Base, "127.0.0.1", "localhost", 1) // the default public URL
	for _, want := range []string{
		`<span class="h-card" translate="no"><a href="` + base + `/@` + bob.Username + `" class="u-url mention">@<span>` + bob.Username + `</span></a></span>`,
		`<a href="` + base + `/tags/golang" class="mention hashtag" rel="tag">#<span>Golang</span></a>`,
		`@nobody`, `</p><p>second &lt;b&gt;para&lt;/b&gt;</p>`, `rel="nofollow noopener"`,
	} {
		if !strings.Contains(content, want) {
			t.Errorf("content lacks %q:\n%s", want, content)
		}
	}
	if st["spoiler_text"] != "cw" || st["sensitive"] != true || st["language"] != "en" || st["visibility"] != "public" {
		t.Errorf("status fields: %v", st)
	}
	if m := st["mentions"].([]any); len(m) != 1 || m[0].(map[string]any)["id"] != bob.ID {
		t.Errorf("mentions = %v", st["mentions"])
	}
	if tags := st["tags"].([]any); len(tags) != 1 || tags[0].(map[string]any)["name"] != "golang" {
		t.Errorf("tags = %v", st["tags"])
	}
	if st["application"].(map[string]any)["name"] != "test" || st["account"].(map[string]any)["id"] != alice.ID {
		t.Errorf("application/account = %v %v", st["application"], st["account"])
	}
	id := st["id"].(string)

	t.Run("read by id, anonymous", func(t *testing.T) {
		got := c.Must(200, "GET", "/api/v1/statuses/"+id, nil).Map(t)
		if got["content"] != content {
			t.Fatal("content differs")
		}
		if _, ok := got["favourited"]; ok {
			t.Fatal("viewer flags without a viewer")
		}
	})
	t.Run("home timelines", func(t *testing.T) {
		for _, u := range []*startest.User{alice, bob} {
			if h := ids(u.Must(200, "GET", "/api/v1/timelines/home", nil).List(t)); !slices.Contains(h, id) {
				t.Fatalf("%s's home lacks the post: %v", u.Username, h)
			}
		}
	})
	t.Run("edit", func(t *testing.T) {
		ed := alice.Must(200, "PUT", "/api/v1/statuses/"+id, startest.JSONBody{"status": "edited text #news"}).Map(t)
		if ed["edited_at"] == nil || !strings.Contains(ed["content"].(string), "edited text") || ed["id"] != id {
			t.Fatalf("edited = %v", ed)
		}
		bob.Must(404, "PUT", "/api/v1/statuses/"+id, startest.JSONBody{"status": "not mine"})
		tag := ids(c.Must(200, "GET", "/api/v1/timelines/tag/news", nil).List(t))
		if !slices.Contains(tag, id) || slices.Contains(ids(c.Must(200, "GET", "/api/v1/timelines/tag/golang", nil).List(t)), id) {
			t.Fatalf("tags not updated by the edit: %v", tag)
		}
	})
	t.Run("favourite and reblog", func(t *testing.T) {
		f := bob.Must(200, "POST", "/api/v1/statuses/"+id+"/favourite", nil).Map(t)
		if f["favourited"] != true || f["favourites_count"].(float64) != 1 {
			t.Fatalf("favourite = %v", f)
		}
		bob.Must(200, "POST", "/api/v1/statuses/"+id+"/favourite", nil) // idempotent
		by := c.Must(200, "GET", "/api/v1/statuses/"+id+"/favourited_by", nil).List(t)
		if len(by) != 1 || by[0]["id"] != bob.ID {
			t.Fatalf("favourited_by = %v", by)
		}
		rb := bob.Must(200, "POST", "/api/v1/statuses/"+id+"/reblog", nil).Map(t)
		if rb["reblog"].(map[string]any)["id"] != id || rb["id"] == id || rb["reblogged"] != true {
			t.Fatalf("reblog = %v", rb)
		}
		again := bob.Must(200, "POST", "/api/v1/statuses/"+id+"/reblog", nil).Map(t)
		if again["id"] != rb["id"] {
			t.Fatalf("second reblog made a new wrapper: %v vs %v", again["id"], rb["id"])
		}
		orig := bob.Must(200, "GET", "/api/v1/statuses/"+id, nil).Map(t)
		if orig["reblogs_count"].(float64) != 1 || orig["reblogged"] != true || orig["favourited"] != true {
			t.Fatalf("original after interactions = %v", orig)
		}
		if rbBy := c.Must(200, "GET", "/api/v1/statuses/"+id+"/reblogged_by", nil).List(t); len(rbBy) != 1 || rbBy[0]["id"] != bob.ID {
			t.Fatalf("reblogged_by = %v", rbBy)
		}
		// Bob's own profile shows the reblog.
		if l := ids(c.Must(200, "GET", "/api/v1/accounts/"+bob.ID+"/statuses", nil).List(t)); !slices.Contains(l, rb["id"].(string)) {
			t.Fatalf("bob's statuses lack the reblog: %v", l)
		}
		if l := ids(c.Must(200, "GET", "/api/v1/accounts/"+bob.ID+"/statuses?exclude_reblogs=true", nil).List(t)); slices.Contains(l, rb["id"].(string)) {
			t.Fatal("exclude_reblogs kept a reblog")
		}
		un := bob.Must(200, "POST", "/api/v1/statuses/"+id+"/unreblog", nil).Map(t)
		if un["reblogged"] != false || un["reblogs_count"].(float64) != 0 || un["id"] != id {
			t.Fatalf("unreblog = %v", un)
		}
		c.Must(404, "GET", "/api/v1/statuses/"+rb["id"].(string), nil)
		uf := bob.Must(200, "POST", "/api/v1/statuses/"+id+"/unfavourite", nil).Map(t)
		if uf["favourited"] != false || uf["favourites_count"].(float64) != 0 {
			t.Fatalf("unfavourite = %v", uf)
		}
	})
	t.Run("delete", func(t *testing.T) {
		bob.Must(404, "DELETE", "/api/v1/statuses/"+id, nil)
		del := alice.Must(200, "DELETE", "/api/v1/statuses/"+id, nil).Map(t)
		if del["text"] != "edited text #news" {
			t.Fatalf("deleted status text = %v", del["text"])
		}
		c.Must(404, "GET", "/api/v1/statuses/"+id, nil)
		for _, u := range []*startest.User{alice, bob} {
			if slices.Contains(ids(u.Must(200, "GET", "/api/v1/timelines/home", nil).List(t)), id) {
				t.Fatalf("deleted post still in %s's home", u.Username)
			}
		}
		if slices.Contains(ids(c.Must(200, "GET", "/api/v1/timelines/tag/news", nil).List(t)), id) {
			t.Fatal("deleted post still on its tag timeline")
		}
	})
	t.Run("validation", func(t *testing.T) {
		alice.Must(422, "POST", "/api/v1/statuses", startest.Form{"status": {strings.Repeat("a", 501)}})
		alice.Must(422, "POST", "/api/v1/statuses", startest.Form{"status": {"   "}})
		alice.Must(422, "POST", "/api/v1/statuses", startest.Form{"status": {"x"}, "visibility": {"everyone"}})
		alice.Must(404, "POST", "/api/v1/statuses", startest.Form{"status": {"x"}, "in_reply_to_id": {"12345"}})
		alice.Must(422, "POST", "/api/v1/statuses", startest.Form{"status": {"x"}, "media_ids[]": {"1"}})
		// URLs count as 23 characters.
		long := strings.Repeat("a", 470) + " https://example.com/" + strings.Repeat("p", 200)
		post(t, alice, long)
	})
}

// TestVisibilityMatrix checks who sees a status of each visibility, by id
// and on every timeline.
func TestVisibilityMatrix(t *testing.T) {
	c := newClient(t)
	author, follower, mentioned, stranger := c.SignUp("author"), c.SignUp("follower"), c.SignUp("mentioned"), c.SignUp("stranger")
	anon := &startest.User{Client: c}
	follow(t, follower, author)
	type viewers = map[string]bool
	cases := []struct {
		vis                         string
		byID, home, account, public viewers
	}{
		{"public",
			viewers{"author": true, "follower": true, "mentioned": true, "stranger": true, "anonymous": true},
			viewers{"author": true, "follower": true},
			viewers{"author": true, "follower": true, "mentioned": true, "stranger": true, "anonymous": true},
			viewers{"author": true, "follower": true, "mentioned": true, "stranger": true, "anonymous": true}},
		{"unlisted",
			viewers{"author": true, "follower": true, "mentioned": true, "stranger": true, "anonymous": true},
			viewers{"author": true, "follower": true},
			viewers{"author": true, "follower": true, "mentioned": true, "stranger": true, "anonymous": true},
			viewers{}},
		{"private",
			viewers{"author": true, "follower": true, "mentioned": true},
			viewers{"author": true, "follower": true},
			viewers{"author": true, "follower": true, "mentioned": true},
			viewers{}},
		{"direct",
			viewers{"author": true, "mentioned": true},
			viewers{"author": true},
			viewers{"author": true, "mentioned": true},
			viewers{}},
	}
	all := map[string]*startest.User{"author": author, "follower": follower, "mentioned": mentioned, "stranger": stranger, "anonymous": anon}
	for _, tc := range cases {
		t.Run(tc.vis, func(t *testing.T) {
			id := post(t, author, "hi @"+mentioned.Username+" #matrix"+tc.vis, "visibility", tc.vis)["id"].(string)
			for name, u := range all {
				r := u.Do("GET", "/api/v1/statuses/"+id, nil)
				if (r.Status == 200) != tc.byID[name] {
					t.Errorf("GET by id as %s: %d, want visible=%v", name, r.Status, tc.byID[name])
				}
				if name != "anonymous" {
					got := slices.Contains(ids(u.Must(200, "GET", "/api/v1/timelines/home", nil).List(t)), id)
					if got != tc.home[name] {
						t.Errorf("home of %s contains it: %v, want %v", name, got, tc.home[name])
					}
				}
				got := slices.Contains(ids(u.Must(200, "GET", "/api/v1/accounts/"+author.ID+"/statuses", nil).List(t)), id)
				if got != tc.account[name] {
					t.Errorf("account statuses as %s contain it: %v, want %v", name, got, tc.account[name])
				}
				got = slices.Contains(ids(u.Must(200, "GET", "/api/v1/timelines/public", nil).List(t)), id)
				if got != tc.public[name] {
					t.Errorf("public timeline as %s contains it: %v, want %v", name, got, tc.public[name])
				}
				got = slices.Contains(ids(u.Must(200, "GET", "/api/v1/timelines/tag/matrix"+tc.vis, nil).List(t)), id)
				if got != tc.public[name] {
					t.Errorf("tag timeline as %s contains it: %v, want %v", name, got, tc.public[name])
				}
				if rel := u.Do("GET", "/api/v1/statuses/"+id+"/context", nil); (rel.Status == 200) != tc.byID[name] {
					t.Errorf("context as %s: %d", name, rel.Status)
				}
			}
			// Reblogging: nobody may reblog direct; only the author may
			// reblog private.
			wantFollower, wantAuthor := 200, 200
			switch tc.vis {
			case "direct":
				wantFollower, wantAuthor = 404, 403
				if tc.byID["follower"] {
					wantFollower = 403
				}
			case "private":
				wantFollower = 403
			}
			follower.Must(wantFollower, "POST", "/api/v1/statuses/"+id+"/reblog", nil)
			author.Must(wantAuthor, "POST", "/api/v1/statuses/"+id+"/reblog", nil)
		})
	}
}

func TestPagination(t *testing.T) {
	c := newClient(t)
	u := c.SignUp("pager")
	var all []string
	for i := 0; i < 45; i++ {
		all = append([]string{post(t, u, fmt.Sprintf("post %d", i))["id"].(string)}, all...) // newest first
	}
	path := "/api/v1/accounts/" + u.ID + "/statuses"

	t.Run("next links walk every page without gaps", func(t *testing.T) {
		var got []string
		next := path + "?limit=10"
		for pages := 0; next != "" && pages < 10; pages++ {
			r := c.Must(200, "GET", next, nil)
			l := ids(r.List(t))
			got = append(got, l...)
			next = link(t, r.Header.Get("Link"), "next")
			if len(l) == 0 && r.Header.Get("Link") != "" {
				t.Fatal("Link header on an empty page")
			}
		}
		if strings.Join(got, ",") != strings.Join(all, ",") {
			t.Fatalf("paged %d ids, want %d in order", len(got), len(all))
		}
	})
	t.Run("min_id pages forward with no gaps", func(t *testing.T) {
		oldest := all[len(all)-1]
		var got []string
		cursor := oldest
		for pages := 0; pages < 10; pages++ {
			l := ids(c.Must(200, "GET", path+"?limit=10&min_id="+cursor, nil).List(t))
			if len(l) == 0 {
				break
			}
			got = append(l, got...)
			cursor = l[0]
		}
		if strings.Join(got, ",") != strings.Join(all[:len(all)-1], ",") {
			t.Fatalf("forward paging got %d ids, want %d", len(got), len(all)-1)
		}
		// min_id pages come back newest first.
		l := ids(c.Must(200, "GET", path+"?limit=3&min_id="+oldest, nil).List(t))
		if strings.Join(l, ",") != strings.Join([]string{all[len(all)-4], all[len(all)-3], all[len(all)-2]}, ",") {
			t.Fatalf("min_id page = %v", l)
		}
	})
	t.Run("since_id returns the newest", func(t *testing.T) {
		l := ids(c.Must(200, "GET", path+"?limit=5&since_id="+all[len(all)-1], nil).List(t))
		if strings.Join(l, ",") != strings.Join(all[:5], ",") {
			t.Fatalf("since_id page = %v", l)
		}
	})
	t.Run("max_id and min_id combined", func(t *testing.T) {
		l := ids(c.Must(200, "GET", path+"?min_id="+all[10]+"&max_id="+all[5], nil).List(t))
		if strings.Join(l, ",") != strings.Join(all[6:10], ",") {
			t.Fatalf("window = %v, want %v", l, all[6:10])
		}
	})
	t.Run("limit clamping and errors", func(t *testing.T) {
		if n := len(c.Must(200, "GET", path+"?limit=1000", nil).List(t)); n != 40 {
			t.Fatalf("limit=1000 gave %d, want 40", n)
		}
		if n := len(c.Must(200, "GET", path, nil).List(t)); n != 20 {
			t.Fatalf("default page has %d, want 20", n)
		}
		c.Must(400, "GET", path+"?limit=-1", nil)
	})
	t.Run("empty page has no Link", func(t *testing.T) {
		r := c.Must(200, "GET", path+"?max_id="+all[len(all)-1], nil)
		if string(r.Body) != "[]" || r.Header.Get("Link") != "" {
			t.Fatalf("empty page: %s Link=%q", r.Body, r.Header.Get("Link"))
		}
	})
	t.Run("link carries filters", func(t *testing.T) {
		r := c.Must(200, "GET", path+"?limit=5&exclude_replies=true", nil)
		next := link(t, r.Header.Get("Link"), "next")
		if !strings.Contains(next, "exclude_replies=true") || !strings.Contains(next, "limit=5") {
			t.Fatalf("next = %s", next)
		}
	})
}

// link extracts a rel's URL from a Link header, as masto.js does.
func link(t *testing.T, header, rel string) string {
	t.Helper()
	for _, part := range strings.Split(header, ", ") {
		if strings.HasSuffix(part, `rel="`+rel+`"`) {
			u := part[strings.Index(part, "<")+1 : strings.Index(part, ">")]
			pu, err := url.Parse(u)
			if err != nil {
				t.Fatal(err)
			}
			return pu.RequestURI()
		}
	}
	return ""
}

func TestThreads(t *testing.T) {
	c := newClient(t)
	a, b, d := c.SignUp("ta"), c.SignUp("tb"), c.SignUp("td")
	root := post(t, a, "root")["id"].(string)
	r1 := post(t, b, "reply 1", "in_reply_to_id", root)
	if r1["in_reply_to_id"] != root || r1["in_reply_to_account_id"] != a.ID {
		t.Fatalf("reply = %v", r1)
	}
	r2 := post(t, a, "reply to reply", "in_reply_to_id", r1["id"].(string))["id"].(string)
	r3 := post(t, d, "another reply", "in_reply_to_id", root)["id"].(string)
	hidden := post(t, d, "private reply", "in_reply_to_id", root, "visibility", "private")["id"].(string)

	// context returns the ids of a status's ancestors and descendants as
	// viewer sees them.
	context := func(viewer *startest.Client, id string) (ancestors, descendants []string) {
		var ctx map[string][]map[string]any
		viewer.Must(200, "GET", "/api/v1/statuses/"+id+"/context", nil).JSON(t, &ctx)
		return ids(ctx["ancestors"]), ids(ctx["descendants"])
	}
	_, desc := context(c, root)
	if want := []string{r1["id"].(string), r2, r3}; strings.Join(desc, ",") != strings.Join(want, ",") {
		t.Fatalf("descendants = %v, want %v (thread order, hidden reply left out)", desc, want)
	}
	if _, desc := context(d.Client, root); len(desc) != 4 || !slices.Contains(desc, hidden) {
		t.Fatalf("the author of the private reply should see it: %v", desc)
	}
	if anc, _ := context(c, r2); strings.Join(anc, ",") != root+","+r1["id"].(string) {
		t.Fatalf("ancestors = %v", anc)
	}
	if got := c.Must(200, "GET", "/api/v1/statuses/"+root, nil).Map(t)["replies_count"].(float64); got != 3 {
		t.Fatalf("replies_count = %v, want 3 (direct replies, whoever may see them)", got)
	}
	// exclude_replies keeps self-replies out only when they reply to others.
	l := ids(c.Must(200, "GET", "/api/v1/accounts/"+a.ID+"/statuses?exclude_replies=true", nil).List(t))
	if !slices.Contains(l, root) || slices.Contains(l, r2) {
		t.Fatalf("exclude_replies = %v", l)
	}
}

func TestIdempotencyKey(t *testing.T) {
	c := newClient(t)
	u, other := c.SignUp("idem"), c.SignUp("idem2")
	const n = 10
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := u.Do("POST", "/api/v1/statuses", startest.Form{"status": {fmt.Sprintf("attempt %d", i)}}, "Idempotency-Key", "same-key")
			if r.Status != 200 {
				t.Errorf("attempt %d: %d %s", i, r.Status, r.Body)
				return
			}
			got[i] = r.Map(t)["id"].(string)
		}()
	}
	wg.Wait()
	for _, id := range got {
		if id != got[0] {
			t.Fatalf("racing retries made different posts: %v", got)
		}
	}
	if l := u.Must(200, "GET", "/api/v1/accounts/"+u.ID+"/statuses", nil).List(t); len(l) != 1 {
		t.Fatalf("%d posts stored, want 1", len(l))
	}
	if id := u.Must(200, "POST", "/api/v1/statuses", startest.Form{"status": {"x"}}, "Idempotency-Key", "other-key").Map(t)["id"]; id == got[0] {
		t.Fatal("a different key returned the same post")
	}
	if id := other.Must(200, "POST", "/api/v1/statuses", startest.Form{"status": {"x"}}, "Idempotency-Key", "same-key").Map(t)["id"]; id == got[0] {
		t.Fatal("keys are not per account")
	}
}

func TestFollowGraph(t *testing.T) {
	c := newClient(t)
	a, b, locked, x := c.SignUp("fa"), c.SignUp("fb"), c.SignUp("locked"), c.SignUp("fx")
	locked.Must(200, "PATCH", "/api/v1/accounts/update_credentials", startest.Form{"locked": {"true"}})

	t.Run("follow, counts, relationships", func(t *testing.T) {
		rel := follow(t, a, b)
		if rel["following"] != true || rel["showing_reblogs"] != true || rel["id"] != b.ID {
			t.Fatalf("follow = %v", rel)
		}
		follow(t, a, b) // no duplicate edge
		follow(t, b, a)
		acct := c.Must(200, "GET", "/api/v1/accounts/"+b.ID, nil).Map(t)
		if acct["followers_count"].(float64) != 1 || acct["following_count"].(float64) != 1 {
			t.Fatalf("counts = %v / %v", acct["followers_count"], acct["following_count"])
		}
		rels := a.Must(200, "GET", "/api/v1/accounts/relationships?id[]="+b.ID+"&id[]="+x.ID, nil).List(t)
		if len(rels) != 2 || rels[0]["following"] != true || rels[0]["followed_by"] != true || rels[1]["following"] != false {
			t.Fatalf("relationships = %v", rels)
		}
		if r := a.Must(200, "POST", "/api/v1/accounts/"+b.ID+"/follow", startest.JSONBody{"reblogs": false, "notify": true}).Map(t); r["showing_reblogs"] != false || r["notifying"] != true {
			t.Fatalf("follow options = %v", r)
		}
		a.Must(403, "POST", "/api/v1/accounts/"+a.ID+"/follow", nil)
		a.Must(404, "POST", "/api/v1/accounts/424242/follow", nil)
	})
	t.Run("followers and following lists page with Link", func(t *testing.T) {
		var fans []*startest.User
		for i := 0; i < 5; i++ {
			f := c.SignUp("fan")
			follow(t, f, x)
			fans = append(fans, f)
		}
		r := c.Must(200, "GET", "/api/v1/accounts/"+x.ID+"/followers?limit=2", nil)
		var got []string
		for pages := 0; pages < 5; pages++ {
			got = append(got, ids(r.List(t))...)
			next := link(t, r.Header.Get("Link"), "next")
			if next == "" {
				break
			}
			r = c.Must(200, "GET", next, nil)
		}
		if len(got) != 5 || got[0] != fans[4].ID || got[4] != fans[0].ID {
			t.Fatalf("followers = %v", got)
		}
		if l := ids(c.Must(200, "GET", "/api/v1/accounts/"+fans[0].ID+"/following", nil).List(t)); len(l) != 1 || l[0] != x.ID {
			t.Fatalf("following = %v", l)
		}
	})
	t.Run("locked account requests", func(t *testing.T) {
		rel := follow(t, a, locked)
		if rel["requested"] != true || rel["following"] != false {
			t.Fatalf("follow of locked = %v", rel)
		}
		follow(t, b, locked)
		reqs := ids(locked.Must(200, "GET", "/api/v1/follow_requests", nil).List(t))
		if len(reqs) != 2 {
			t.Fatalf("follow_requests = %v", reqs)
		}
		vc := locked.Must(200, "GET", "/api/v1/accounts/verify_credentials", nil).Map(t)
		if vc["source"].(map[string]any)["follow_requests_count"].(float64) != 2 {
			t.Fatalf("follow_requests_count = %v", vc["source"])
		}
		secret := post(t, locked, "followers only", "visibility", "private")["id"].(string)
		a.Must(404, "GET", "/api/v1/statuses/"+secret, nil)
		r := locked.Must(200, "POST", "/api/v1/follow_requests/"+a.ID+"/authorize", nil).Map(t)
		if r["followed_by"] != true {
			t.Fatalf("authorize = %v", r)
		}
		a.Must(200, "GET", "/api/v1/statuses/"+secret, nil)
		if !slices.Contains(ids(a.Must(200, "GET", "/api/v1/timelines/home", nil).List(t)), secret) {
			t.Fatal("an accepted follower's home lacks the locked account's recent post")
		}
		locked.Must(200, "POST", "/api/v1/follow_requests/"+b.ID+"/reject", nil)
		if rel := b.Must(200, "GET", "/api/v1/accounts/relationships?id[]="+locked.ID, nil).List(t)[0]; rel["requested"] != false || rel["following"] != false {
			t.Fatalf("after reject = %v", rel)
		}
		if l := locked.Must(200, "GET", "/api/v1/follow_requests", nil).List(t); len(l) != 0 {
			t.Fatalf("requests left = %v", l)
		}
	})
	t.Run("unfollow removes posts from home; follow brings recent ones", func(t *testing.T) {
		p := post(t, x, "x speaks")["id"].(string)
		follow(t, a, x)
		if !slices.Contains(ids(a.Must(200, "GET", "/api/v1/timelines/home", nil).List(t)), p) {
			t.Fatal("new follower does not see recent posts")
		}
		rel := a.Must(200, "POST", "/api/v1/accounts/"+x.ID+"/unfollow", nil).Map(t)
		if rel["following"] != false {
			t.Fatalf("unfollow = %v", rel)
		}
		if slices.Contains(ids(a.Must(200, "GET", "/api/v1/timelines/home", nil).List(t)), p) {
			t.Fatal("unfollowed account's post still in home")
		}
		a.Must(200, "POST", "/api/v1/accounts/"+x.ID+"/unfollow", nil) // idempotent
	})
}

// TestBigAccountsMergeAtRead uses a fan-out threshold of 2 followers: the
// posts of an account with more are merged into homes when read.
func TestBigAccountsMergeAtRead(t *testing.T) {
	c := newClient(t, startest.WithFanoutThreshold(2))
	star := c.SignUp("star")
	var fans []*startest.User
	for i := 0; i < 3; i++ {
		f := c.SignUp("fan")
		follow(t, f, star)
		fans = append(fans, f)
	}
	own := post(t, fans[0], "my own")["id"].(string)
	p1 := post(t, star, "hello fans")["id"].(string)
	p2 := post(t, star, "again")["id"].(string)
	for _, f := range fans {
		h := ids(f.Must(200, "GET", "/api/v1/timelines/home", nil).List(t))
		if !slices.Contains(h, p1) || !slices.Contains(h, p2) {
			t.Fatalf("%s's home lacks the star's posts: %v", f.Username, h)
		}
	}
	h := ids(fans[0].Must(200, "GET", "/api/v1/timelines/home", nil).List(t))
	if strings.Join(h, ",") != strings.Join([]string{p2, p1, own}, ",") {
		t.Fatalf("merged home = %v, want [%s %s %s]", h, p2, p1, own)
	}
	// Paging through the merge.
	h2 := ids(fans[0].Must(200, "GET", "/api/v1/timelines/home?limit=1&max_id="+p2, nil).List(t))
	if len(h2) != 1 || h2[0] != p1 {
		t.Fatalf("second page = %v", h2)
	}
	// Dropping below the threshold: the posts are still there.
	fans[2].Must(200, "POST", "/api/v1/accounts/"+star.ID+"/unfollow", nil)
	p3 := post(t, star, "fanned out again")["id"].(string)
	if h := ids(fans[1].Must(200, "GET", "/api/v1/timelines/home", nil).List(t)); !slices.Contains(h, p1) || !slices.Contains(h, p3) {
		t.Fatalf("home after the threshold change = %v", h)
	}
}

// TestStatusURLsAndBios checks that a status's url opens (the web client
// shows the thread) and that bios are rendered like statuses.
func TestStatusURLsAndBios(t *testing.T) {
	c := newClient(t)
	u := c.SignUp("urls")
	st := post(t, u, "hello")
	url := st["url"].(string)
	r := c.Must(200, "GET", url[strings.Index(url, "/@"):], nil)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status url answered %q", r.Header.Get("Content-Type"))
	}
	c.Must(404, "GET", "/@"+u.Username+"/not-an-id", nil)
	m := u.Must(200, "PATCH", "/api/v1/accounts/update_credentials", startest.Form{"note": {"I post about #sunsets at https://example.com"}}).Map(t)
	if note := m["note"].(string); !strings.Contains(note, `class="mention hashtag"`) || !strings.Contains(note, `href="https://example.com"`) {
		t.Fatalf("note = %s", note)
	}
	if page := c.Do("GET", "/oauth/authorize?response_type=code&client_id=x&login_hint=someone", nil); page.Status != 404 && page.Status != 400 {
		t.Fatalf("authorize with an unknown client: %d", page.Status)
	}
}
