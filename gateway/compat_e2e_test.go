package gateway_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/starling-social/starling/gateway"
	"github.com/starling-social/starling/internal/startest"
)

// Regression tests for the compatibility faults real clients hit (issue
// 17): each subtest is one fault.

func TestTrailingSlashes(t *testing.T) {
	c := newClient(t)
	u := c.SignUp("slash")
	for _, tc := range []struct {
		method, path string
		status       int
		who          *startest.Client
	}{
		{"GET", "/api/v1/instance/", 200, c},
		{"GET", "/api/v2/instance/", 200, c},
		{"GET", "/api/v1/accounts/verify_credentials/", 200, u.Client},
		{"GET", "/api/v1/timelines/home/?limit=2", 200, u.Client},
		{"GET", "/nodeinfo/2.0/", 200, c},
		{"GET", "/.well-known/nodeinfo/", 200, c},
		{"GET", "/api/v1/nope/", 404, c},
		{"GET", "/api/", 404, c},
	} {
		r := tc.who.Do(tc.method, tc.path, nil)
		if r.Status != tc.status || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, r.Status, r.Body)
		}
	}
	// A POST keeps its body: nothing is redirected.
	if m := u.Must(200, "POST", "/api/v1/statuses/", startest.Form{"status": {"slash"}}).Map(t); m["content"] != "<p>slash</p>" {
		t.Errorf("POST /api/v1/statuses/ = %v", m)
	}
	// The sign-in page, as a browser asks for it.
	id, _ := c.App("read", "https://app.example/cb")
	q := url.Values{"client_id": {id}, "redirect_uri": {"https://app.example/cb"}, "response_type": {"code"}, "scope": {"read"}}
	resp, err := c.HTTP.Get(c.Base + "/oauth/authorize/?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if page := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(page, `name="csrf"`) {
		t.Errorf("GET /oauth/authorize/: %d %.200s", resp.StatusCode, page)
	}
}

func TestPasswordGrant(t *testing.T) {
	limits := gateway.DefaultLimits()
	limits.SignIn = gateway.Rate{N: 4, Per: time.Hour}
	c := newClient(t, startest.WithLimits(limits))
	u := c.SignUp("pw") // its client_credentials token is sign-in 1 of 4
	id, secret := c.App("read write", "urn:ietf:wg:oauth:2.0:oob")
	grant := func(login, password, scope string) *startest.Response {
		return c.Do("POST", "/oauth/token", startest.Form{"grant_type": {"password"}, "client_id": {id}, "client_secret": {secret},
			"username": {login}, "password": {password}, "scope": {scope}})
	}
	// 2 of 4: a command-line client signs in with the e-mail address.
	r := grant(u.Username+"@example.com", "correct horse battery", "read write")
	if r.Status != 200 {
		t.Fatalf("password grant: %d %s", r.Status, r.Body)
	}
	tok := r.Map(t)
	if tok["token_type"] != "Bearer" || tok["scope"] != "read write" {
		t.Fatalf("token = %v", tok)
	}
	me := c.As(tok["access_token"].(string)).Must(200, "GET", "/api/v1/accounts/verify_credentials", nil).Map(t)
	if me["id"] != u.ID {
		t.Fatalf("signed in as %v, want %s", me["id"], u.ID)
	}
	// 3 of 4: a wrong password is RFC 6749's invalid_grant.
	if r := grant(u.Username, "not the password", "read"); r.Status != 400 || r.Map(t)["error"] != "invalid_grant" {
		t.Fatalf("wrong password: %d %s", r.Status, r.Body)
	}
	// 4 of 4: a scope the app did not register.
	if r := grant(u.Username, "correct horse battery", "follow"); r.Status != 400 || r.Map(t)["error"] != "invalid_scope" {
		t.Fatalf("scope outside the app: %d %s", r.Status, r.Body)
	}
	// The sign-in budget is spent: even the right password waits.
	if r := grant(u.Username, "correct horse battery", "read"); r.Status != http.StatusTooManyRequests {
		t.Fatalf("past the sign-in budget: %d %s", r.Status, r.Body)
	}
	meta := c.Must(200, "GET", "/.well-known/oauth-authorization-server", nil).Map(t)
	if !strings.Contains(strings.Join(toStrings(meta["grant_types_supported"]), " "), "password") {
		t.Fatalf("grant_types_supported = %v", meta["grant_types_supported"])
	}
}

// TestReplyWithoutMention checks Mastodon's rule: replying is not
// mentioning, so a reply that leaves the parent's author out of its text
// does not notify them; one that names them does.
func TestReplyWithoutMention(t *testing.T) {
	c := newClient(t)
	alice, bob := c.SignUp("ralice"), c.SignUp("rbob")
	parent := post(t, alice, "a question")["id"].(string)
	quiet := post(t, bob, "an aside", "in_reply_to_id", parent)["id"].(string)
	loud := post(t, bob, "@"+alice.Username+" an answer", "in_reply_to_id", parent)["id"].(string)
	n := notifications(t, alice, "", 1)
	if n[0]["type"] != "mention" || n[0]["status"].(map[string]any)["id"] != loud {
		t.Fatalf("notifications = %v", n)
	}
	// The quiet reply was handled before the loud one: had it notified,
	// it would be there by now.
	time.Sleep(200 * time.Millisecond)
	for _, m := range alice.Must(200, "GET", "/api/v1/notifications", nil).List(t) {
		if m["status"].(map[string]any)["id"] == quiet {
			t.Fatalf("a reply without a mention notified its parent's author: %v", m)
		}
	}
}

func toStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, len(l))
	for i, x := range l {
		out[i], _ = x.(string)
	}
	return out
}

// TestInstanceCountsAndNodeInfo checks the real figures of the instance
// endpoints and nodeinfo, and that nodeinfo names Starling while saying
// whose client API it speaks (megalodon's detector reads
// metadata.upstream.name).
func TestInstanceCountsAndNodeInfo(t *testing.T) {
	c := newClient(t)
	alice, bob := c.SignUp("cnta"), c.SignUp("cntb")
	post(t, alice, "one")
	post(t, alice, "two")
	gone := post(t, bob, "three")["id"].(string)
	bob.Must(200, "DELETE", "/api/v1/statuses/"+gone, nil)

	v1 := c.Must(200, "GET", "/api/v1/instance", nil).Map(t)
	if s := v1["stats"].(map[string]any); s["user_count"] != 2.0 || s["status_count"] != 2.0 || s["domain_count"] != 0.0 {
		t.Errorf("v1 stats = %v", s)
	}
	v2 := c.Must(200, "GET", "/api/v2/instance", nil).Map(t)
	if u := v2["usage"].(map[string]any)["users"].(map[string]any); u["active_month"] != 1.0 {
		t.Errorf("v2 usage = %v, want the one account that posted", u)
	}
	idx := c.Must(200, "GET", "/.well-known/nodeinfo", nil).Map(t)
	links := idx["links"].([]any)
	if len(links) != 2 || links[0].(map[string]any)["rel"] != "http://nodeinfo.diaspora.software/ns/schema/2.0" {
		t.Fatalf("nodeinfo links = %v", links)
	}
	for _, version := range []string{"2.0", "2.1"} {
		r := c.Must(200, "GET", "/nodeinfo/"+version, nil)
		if ct := r.Header.Get("Content-Type"); !strings.Contains(ct, "schema/"+version+"#") {
			t.Errorf("nodeinfo %s Content-Type = %q", version, ct)
		}
		ni := r.Map(t)
		sw := ni["software"].(map[string]any)
		up := ni["metadata"].(map[string]any)["upstream"].(map[string]any)
		usage := ni["usage"].(map[string]any)
		if ni["version"] != version || sw["name"] != "starling" || up["name"] != "mastodon" ||
			usage["localPosts"] != 2.0 || usage["users"].(map[string]any)["total"] != 2.0 || usage["users"].(map[string]any)["activeHalfyear"] != 1.0 {
			t.Errorf("nodeinfo %s = %v", version, ni)
		}
		if (version == "2.1") != (sw["repository"] != nil) {
			t.Errorf("nodeinfo %s software = %v", version, sw)
		}
	}
	act := c.Must(200, "GET", "/api/v1/instance/activity", nil).List(t)
	if len(act) != 12 {
		t.Fatalf("activity has %d weeks", len(act))
	}
	if w := act[0]; w["statuses"] != "2" || w["registrations"] != "2" || w["logins"] != "1" {
		t.Errorf("this week = %v", w)
	}
	if w := act[1]; w["statuses"] != "0" || w["registrations"] != "0" {
		t.Errorf("last week = %v", w)
	}
	week, _ := strconv.ParseInt(act[0]["week"].(string), 10, 64)
	if start := time.Unix(week, 0).UTC(); start.Weekday() != time.Monday || start.Hour() != 0 || time.Since(start) > 7*24*time.Hour {
		t.Errorf("this week starts %v", start)
	}

	// The small endpoints clients call at start answer Mastodon's empty
	// forms, without a token.
	for path, want := range map[string]string{"/api/v1/instance/peers": "[]", "/api/v1/instance/rules": "[]",
		"/api/v1/instance/domain_blocks": "[]", "/api/v1/instance/translation_languages": "{}", "/api/v1/custom_emojis": "[]"} {
		if r := c.Must(200, "GET", path, nil); string(r.Body) != want {
			t.Errorf("%s = %s, want %s", path, r.Body, want)
		}
	}
	if d := c.Must(200, "GET", "/api/v1/instance/extended_description", nil).Map(t); !strings.HasPrefix(d["content"].(string), "<p>") || d["updated_at"] == "" {
		t.Errorf("extended_description = %v", d)
	}
	if r := c.Must(200, "GET", "/health", nil); string(r.Body) != "OK" {
		t.Errorf("/health = %s", r.Body)
	}
	c.Must(404, "GET", "/api/v1/instance/privacy_policy", nil)
	c.Must(404, "GET", "/api/v1/instance/terms_of_service", nil)
}
