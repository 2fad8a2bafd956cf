package gateway_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starling-social/starling/gateway"
	"github.com/starling-social/starling/internal/startest"
)

func newClient(t *testing.T, opts ...startest.NodeOption) *startest.Client {
	t.Helper()
	n := startest.Node(t, opts...)
	return startest.NewClient(t, n.URL())
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// browserAuthorize drives the authorization page as a browser would: it
// loads the form (getting the CSRF cookie), fills it in and submits it, and
// returns the redirect the server answers with.
func browserAuthorize(t *testing.T, base string, q url.Values, login, password string) *http.Response {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(base + "/oauth/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("authorize page: %d %s", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("authorize page CSP = %q", csp)
	}
	form := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	if form.Get("csrf") == "" || form.Get("client_id") != q.Get("client_id") {
		t.Fatalf("form fields = %v", form)
	}
	form.Set("login", login)
	form.Set("password", password)
	form.Set("decision", "allow")
	resp, err = browser.PostForm(base+"/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

// appToken returns a client-credentials token of the app id for scope.
func appToken(t *testing.T, c *startest.Client, id, secret, scope string) string {
	t.Helper()
	return c.Must(200, "POST", "/oauth/token", startest.Form{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret},
		"scope": {scope}}).Map(t)["access_token"].(string)
}

func TestAuthorizationCodeFlow(t *testing.T) {
	c := newClient(t)
	user := c.SignUp("alice")
	const redirect = "https://app.example/cb"
	clientID, secret := c.App("read write follow push", redirect)

	verifier := "this-is-a-pkce-verifier-with-enough-entropy-0123456789-abcdef"
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])

	tests := []struct {
		name  string
		login string
		pkce  bool
	}{
		{"without PKCE, by username", user.Username, false},
		{"with PKCE, by e-mail", user.Username + "@example.com", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "scope": {"read write"}, "state": {"xyz"}}
			if tc.pkce {
				q.Set("code_challenge", challenge)
				q.Set("code_challenge_method", "S256")
			}
			resp := browserAuthorize(t, c.Base, q, tc.login, "correct horse battery")
			readAll(t, resp)
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("submit: status %d", resp.StatusCode)
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if !strings.HasPrefix(loc.String(), redirect) || loc.Query().Get("state") != "xyz" || loc.Query().Get("code") == "" {
				t.Fatalf("redirect = %s", loc)
			}
			form := startest.JSONBody{"grant_type": "authorization_code", "code": loc.Query().Get("code"), "client_id": clientID,
				"client_secret": secret, "redirect_uri": redirect}
			if tc.pkce {
				form["code_verifier"] = verifier
			}
			tok := c.Must(200, "POST", "/oauth/token", form).Map(t)
			if tok["token_type"] != "Bearer" || tok["scope"] != "read write" {
				t.Fatalf("token = %v", tok)
			}
			// The code is single use.
			again := c.Must(400, "POST", "/oauth/token", form).Map(t)
			if again["error"] != "invalid_grant" || again["error_description"] == "" {
				t.Fatalf("second exchange = %v", again)
			}
			me := c.As(tok["access_token"].(string))
			acct := me.Must(200, "GET", "/api/v1/accounts/verify_credentials", nil).Map(t)
			if acct["id"] != user.ID || acct["source"] == nil {
				t.Fatalf("verify_credentials = %v", acct)
			}
			// Revocation takes effect at once.
			c.Must(200, "POST", "/oauth/revoke", startest.Form{"client_id": {clientID}, "client_secret": {secret}, "token": {tok["access_token"].(string)}})
			r := me.Must(401, "GET", "/api/v1/accounts/verify_credentials", nil)
			if r.Map(t)["error"] == "" {
				t.Fatal("401 without an error message")
			}
		})
	}

	t.Run("wrong password re-renders the form", func(t *testing.T) {
		q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "scope": {"read"}}
		resp := browserAuthorize(t, c.Base, q, user.Username, "wrong password!")
		page := readAll(t, resp)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "Invalid email or password") {
			t.Fatalf("status %d, page %q", resp.StatusCode, page)
		}
	})
	t.Run("unregistered redirect is never followed", func(t *testing.T) {
		r := c.Do("GET", "/oauth/authorize?"+url.Values{"client_id": {clientID}, "redirect_uri": {"https://evil.example/"}, "response_type": {"code"}}.Encode(), nil)
		if r.Status != 400 || r.Header.Get("Location") != "" {
			t.Fatalf("status %d location %q", r.Status, r.Header.Get("Location"))
		}
	})
	t.Run("form without CSRF token is refused", func(t *testing.T) {
		r := c.Do("POST", "/oauth/authorize", startest.Form{"client_id": {clientID}, "redirect_uri": {redirect}, "login": {user.Username},
			"password": {"correct horse battery"}, "decision": {"allow"}})
		if r.Status != 403 {
			t.Fatalf("status %d", r.Status)
		}
	})
	t.Run("out-of-band shows the code", func(t *testing.T) {
		oobID, _ := c.App("read", "urn:ietf:wg:oauth:2.0:oob")
		resp := browserAuthorize(t, c.Base, url.Values{"client_id": {oobID}, "redirect_uri": {"urn:ietf:wg:oauth:2.0:oob"}, "response_type": {"code"}}, user.Username, "correct horse battery")
		page := readAll(t, resp)
		if resp.StatusCode != 200 || !strings.Contains(page, `<code class="oob" id="code">`) {
			t.Fatalf("status %d page %q", resp.StatusCode, page)
		}
	})
}

func TestSignUpErrors(t *testing.T) {
	c := newClient(t)
	first := c.SignUp("bob")
	id, secret := c.App("read write", "urn:ietf:wg:oauth:2.0:oob")
	app := c.As(appToken(t, c, id, secret, "write"))

	t.Run("duplicate username is 422 with details", func(t *testing.T) {
		r := app.Must(422, "POST", "/api/v1/accounts", startest.JSONBody{"username": strings.ToUpper(first.Username), "email": "other@example.com",
			"password": "correct horse battery", "agreement": true, "locale": "en"})
		m := r.Map(t)
		details := m["details"].(map[string]any)["username"].([]any)[0].(map[string]any)
		if details["error"] != "ERR_TAKEN" || !strings.HasPrefix(m["error"].(string), "Validation failed") {
			t.Fatalf("body = %s", r.Body)
		}
	})
	t.Run("user endpoint with an app token is 422", func(t *testing.T) {
		r := app.Must(422, "GET", "/api/v1/accounts/verify_credentials", nil)
		if r.Map(t)["error"] != "This method requires an authenticated user" {
			t.Fatalf("body = %s", r.Body)
		}
	})
	t.Run("sign-up without a token is 401", func(t *testing.T) {
		c.Must(401, "POST", "/api/v1/accounts", startest.Form{"username": {"x"}})
	})
	t.Run("read-only token cannot write", func(t *testing.T) {
		r := c.As(appToken(t, c, id, secret, "read")).Must(403, "POST", "/api/v1/accounts", startest.Form{"username": {"someone"}, "email": {"s@example.com"}, "password": {"correct horse battery"}, "agreement": {"1"}})
		if r.Map(t)["error"] != "This action is outside the authorized scopes" {
			t.Fatalf("body = %s", r.Body)
		}
	})
	t.Run("malformed bodies", func(t *testing.T) {
		tests := []struct {
			name   string
			body   []byte
			ctype  string
			status int
		}{
			{"broken JSON", []byte(`{"username": `), "application/json", 400},
			{"JSON array", []byte(`["a"]`), "application/json", 400},
			{"unknown content type", []byte(`x`), "text/csv", 400},
			{"bad boolean", []byte(`agreement=maybe&username=x`), "application/x-www-form-urlencoded", 400},
			{"oversized", append([]byte(`{"username":"`), append([]byte(strings.Repeat("a", 2<<20)), '"', '}')...), "application/json", 422},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := app.Do("POST", "/api/v1/accounts", tc.body, "Content-Type", tc.ctype)
				if r.Status != tc.status || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || r.Map(t)["error"] == "" {
					t.Fatalf("status %d, type %q, body %s", r.Status, r.Header.Get("Content-Type"), truncate(r.Body))
				}
			})
		}
	})
	t.Run("oauth token errors use RFC 6749 bodies", func(t *testing.T) {
		tests := []struct {
			form   startest.Form
			status int
			err    string
		}{
			{startest.Form{"grant_type": {"implicit"}, "client_id": {id}, "client_secret": {secret}}, 400, "unsupported_grant_type"},
			{startest.Form{"grant_type": {"password"}, "client_id": {id}, "client_secret": {secret}}, 400, "invalid_grant"},
			{startest.Form{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {"bad"}}, 401, "invalid_client"},
			{startest.Form{"grant_type": {"authorization_code"}, "client_id": {id}, "client_secret": {secret}, "code": {"nope"}}, 400, "invalid_grant"},
			{startest.Form{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "scope": {"admin:read"}}, 400, "invalid_scope"},
		}
		for _, tc := range tests {
			r := c.Must(tc.status, "POST", "/oauth/token", tc.form)
			if m := r.Map(t); m["error"] != tc.err || m["error_description"] == "" {
				t.Fatalf("%v: body %s", tc.form, r.Body)
			}
		}
	})
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

func TestConcurrentSignUpsOfOneUsername(t *testing.T) {
	c := newClient(t)
	id, secret := c.App("read write", "urn:ietf:wg:oauth:2.0:oob")
	app := c.As(appToken(t, c, id, secret, "write"))
	const n = 50
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := app.Do("POST", "/api/v1/accounts", startest.Form{"username": {"contested"}, "email": {fmt.Sprintf("c%d@example.com", i)},
				"password": {"correct horse battery"}, "agreement": {"true"}})
			statuses[i] = r.Status
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	if count[200] != 1 || count[422] != n-1 {
		t.Fatalf("statuses = %v, want one 200 and %d 422", count, n-1)
	}
}

func TestProfileAndBootstrapEndpoints(t *testing.T) {
	c := newClient(t)
	u := c.SignUp("carol")

	t.Run("update_credentials accepts every body encoding", func(t *testing.T) {
		bodies := []struct {
			name string
			body any
		}{
			{"json", startest.JSONBody{"display_name": "Carol J", "note": "hi <there>", "locked": true, "source": map[string]any{"privacy": "private"}}},
			{"form", startest.Form{"display_name": {"Carol F"}, "locked": {"1"}, "source[privacy]": {"unlisted"}}},
			{"multipart", startest.Multipart{"display_name": "Carol M", "locked": "false", "source[privacy]": "public"}},
		}
		for _, b := range bodies {
			m := u.Must(200, "PATCH", "/api/v1/accounts/update_credentials", b.body).Map(t)
			if !strings.HasPrefix(m["display_name"].(string), "Carol") || m["display_name"].(string)[6:] != strings.ToUpper(b.name[:1]) {
				t.Fatalf("%s: display_name = %v", b.name, m["display_name"])
			}
		}
		m := u.Must(200, "GET", "/api/v1/accounts/verify_credentials", nil).Map(t)
		if m["display_name"] != "Carol M" || m["locked"] != false || m["source"].(map[string]any)["privacy"] != "public" || m["note"] != "<p>hi &lt;there&gt;</p>" {
			t.Fatalf("after updates: %v", m)
		}
	})
	t.Run("lookup and get", func(t *testing.T) {
		m := c.Must(200, "GET", "/api/v1/accounts/lookup?acct="+u.Username, nil).Map(t)
		if m["id"] != u.ID || m["acct"] != u.Username || !strings.HasSuffix(m["url"].(string), "/@"+u.Username) {
			t.Fatalf("lookup = %v", m)
		}
		if c.Must(200, "GET", "/api/v1/accounts/"+u.ID, nil).Map(t)["username"] != u.Username {
			t.Fatal("get account")
		}
		c.Must(404, "GET", "/api/v1/accounts/lookup?acct=nobody_here", nil)
		c.Must(404, "GET", "/api/v1/accounts/999", nil)
		c.Must(404, "GET", "/api/v1/accounts/not-an-id", nil)
	})
	t.Run("markers never set are left out", func(t *testing.T) {
		m := u.Must(200, "GET", "/api/v1/markers?timeline[]=notifications&timeline[]=home", nil).Map(t)
		if len(m) != 0 {
			t.Fatalf("markers before any was saved = %v, want {}", m)
		}
		u.Must(200, "POST", "/api/v1/markers", startest.JSONBody{"notifications": map[string]any{"last_read_id": "12345"}})
		m = u.Must(200, "GET", "/api/v1/markers?timeline[]=notifications&timeline[]=home", nil).Map(t)
		n := m["notifications"].(map[string]any)
		if _, home := m["home"]; n["last_read_id"] != "12345" || n["version"].(float64) != 1 || home {
			t.Fatalf("markers = %v, want only notifications", m)
		}
	})
	t.Run("instance and stubs", func(t *testing.T) {
		v2 := c.Must(200, "GET", "/api/v2/instance", nil).Map(t)
		conf := v2["configuration"].(map[string]any)
		if conf["urls"].(map[string]any)["streaming"] != "ws://"+strings.TrimPrefix(c.Base, "http://") && !strings.HasPrefix(conf["urls"].(map[string]any)["streaming"].(string), "ws://localhost:") {
			t.Fatalf("streaming url = %v", conf["urls"])
		}
		if conf["statuses"].(map[string]any)["max_characters"].(float64) != 500 {
			t.Fatalf("statuses = %v", conf["statuses"])
		}
		v1 := c.Must(200, "GET", "/api/v1/instance", nil).Map(t)
		if v1["uri"] == "" || v1["urls"].(map[string]any)["streaming_api"] == "" {
			t.Fatalf("v1 = %v", v1)
		}
		for _, p := range []string{"/api/v1/custom_emojis", "/api/v1/filters", "/api/v2/filters", "/api/v1/lists", "/api/v1/announcements", "/api/v1/followed_tags"} {
			if r := u.Must(200, "GET", p, nil); string(r.Body) != "[]" {
				t.Fatalf("%s = %s", p, r.Body)
			}
		}
		prefs := u.Must(200, "GET", "/api/v1/preferences", nil).Map(t)
		if prefs["posting:default:visibility"] != "public" {
			t.Fatalf("preferences = %v", prefs)
		}
		meta := c.Must(200, "GET", "/.well-known/oauth-authorization-server", nil).Map(t)
		if fmt.Sprint(meta["code_challenge_methods_supported"]) != "[S256]" {
			t.Fatalf("metadata = %v", meta)
		}
		app := u.Must(200, "GET", "/api/v1/apps/verify_credentials", nil).Map(t)
		if app["name"] != "test" {
			t.Fatalf("app = %v", app)
		}
	})
	t.Run("CORS preflight and headers", func(t *testing.T) {
		r := c.Do("OPTIONS", "/api/v1/timelines/home", nil, "Origin", "https://elk.example", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization")
		if r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "authorization") {
			t.Fatalf("preflight: %d %v", r.Status, r.Header)
		}
		r = u.Do("GET", "/api/v1/accounts/verify_credentials", nil)
		if !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "Link") || r.Header.Get("X-Request-Id") == "" {
			t.Fatalf("headers: %v", r.Header)
		}
	})
	t.Run("unknown routes and methods answer JSON", func(t *testing.T) {
		for _, tc := range []struct {
			method, path string
			status       int
		}{{"GET", "/api/v1/nope", 404}, {"DELETE", "/api/v1/instance", 404}, {"DELETE", "/healthz", 405}} {
			r := c.Do(tc.method, tc.path, nil)
			if r.Status != tc.status || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("%s %s: %d %q", tc.method, tc.path, r.Status, r.Header.Get("Content-Type"))
			}
		}
	})
}

func TestRateLimits(t *testing.T) {
	limits := gateway.DefaultLimits()
	limits.SignUp = gateway.Rate{N: 2, Per: time.Hour}
	limits.Token = gateway.Rate{N: 1000, Per: time.Hour}
	c := newClient(t, startest.WithLimits(limits))
	id, secret := c.App("read write", "urn:ietf:wg:oauth:2.0:oob")
	app := c.As(appToken(t, c, id, secret, "write"))
	for i := range 2 {
		app.Must(200, "POST", "/api/v1/accounts", startest.Form{"username": {fmt.Sprintf("rl%d", i)}, "email": {fmt.Sprintf("rl%d@example.com", i)},
			"password": {"correct horse battery"}, "agreement": {"true"}})
	}
	r := app.Must(429, "POST", "/api/v1/accounts", startest.Form{"username": {"rl9"}, "email": {"rl9@example.com"}, "password": {"correct horse battery"}, "agreement": {"true"}})
	if r.Header.Get("X-RateLimit-Remaining") != "0" || r.Header.Get("X-RateLimit-Limit") != "2" || r.Map(t)["error"] != "Too many requests" {
		t.Fatalf("429 headers %v body %s", r.Header, r.Body)
	}
	reset, err := time.Parse("2006-01-02T15:04:05.000000Z", r.Header.Get("X-RateLimit-Reset"))
	if err != nil || !reset.After(time.Now()) {
		t.Fatalf("X-RateLimit-Reset = %q", r.Header.Get("X-RateLimit-Reset"))
	}
}
