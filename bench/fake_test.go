package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"
)

// fakeMastodon is a small Mastodon API on loopback: apps, tokens, sign-up,
// follows, statuses, timelines, media and the user stream. It counts what
// it is asked so tests can check what a tool did.
type fakeMastodon struct {
	srv *httptest.Server
	URL string

	mu        sync.Mutex
	nextID    int
	appTokens map[string]bool
	clients   map[string]string // client_id → secret
	accounts  map[string]*fakeAccount
	byToken   map[string]*fakeAccount
	byID      map[string]*fakeAccount
	created   map[string]int               // username → successful sign-ups
	follows   map[[2]string]int            // follower id, followee id → follow requests
	posts     map[string]int               // account id → statuses
	sockets   map[string][]*websocket.Conn // account id → user-stream sockets
	media     map[string]int               // media id → polls left before ready

	requests  atomic.Int64
	noDeliver bool // drop stream events
	// after, if set, is called after every request was handled.
	after func(r *http.Request)
}

type fakeAccount struct{ ID, Username, Token string }

func newFakeMastodon(t testing.TB) *fakeMastodon {
	t.Helper()
	f := &fakeMastodon{appTokens: map[string]bool{}, clients: map[string]string{}, accounts: map[string]*fakeAccount{},
		byToken: map[string]*fakeAccount{}, byID: map[string]*fakeAccount{}, created: map[string]int{},
		follows: map[[2]string]int{}, posts: map[string]int{}, sockets: map[string][]*websocket.Conn{}, media: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/apps", f.apps)
	mux.HandleFunc("POST /oauth/token", f.token)
	mux.HandleFunc("POST /api/v1/accounts", f.signUp)
	mux.HandleFunc("GET /api/v1/accounts/verify_credentials", f.user(f.verify))
	mux.HandleFunc("POST /api/v1/accounts/{id}/follow", f.user(f.follow))
	mux.HandleFunc("GET /api/v1/accounts/{id}/statuses", f.user(f.list))
	mux.HandleFunc("POST /api/v1/statuses", f.user(f.status))
	mux.HandleFunc("GET /api/v1/timelines/home", f.user(f.list))
	mux.HandleFunc("POST /api/v2/media", f.user(f.upload))
	mux.HandleFunc("GET /api/v1/media/{id}", f.user(f.getMedia))
	mux.HandleFunc("GET /api/v2/instance", f.instance)
	mux.HandleFunc("GET /api/v1/streaming", f.stream)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		mux.ServeHTTP(w, r)
		if f.after != nil {
			f.after(r)
		}
	}))
	f.URL = f.srv.URL
	t.Cleanup(f.srv.Close)
	return f
}

func writeJSONTest(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeMastodon) id() string {
	f.nextID++
	return fmt.Sprint(1000 + f.nextID)
}

func (f *fakeMastodon) apps(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := "client" + f.id()
	f.clients[id] = "secret" + id
	writeJSONTest(w, 200, map[string]string{"client_id": id, "client_secret": f.clients[id]})
}

func (f *fakeMastodon) token(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := r.FormValue("client_id")
	if r.FormValue("grant_type") != "client_credentials" || f.clients[id] == "" || f.clients[id] != r.FormValue("client_secret") {
		writeJSONTest(w, 401, map[string]string{"error": "invalid_client"})
		return
	}
	tok := "app" + f.id()
	f.appTokens[tok] = true
	writeJSONTest(w, 200, map[string]any{"access_token": tok, "token_type": "Bearer", "scope": r.FormValue("scope")})
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func (f *fakeMastodon) signUp(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.appTokens[bearer(r)] {
		writeJSONTest(w, 401, map[string]string{"error": "The access token is invalid"})
		return
	}
	name := r.FormValue("username")
	if name == "" || r.FormValue("agreement") != "true" || r.FormValue("password") == "" || !strings.Contains(r.FormValue("email"), "@") {
		writeJSONTest(w, 422, map[string]string{"error": "Validation failed"})
		return
	}
	if f.accounts[name] != nil {
		writeJSONTest(w, 422, map[string]any{"error": "Validation failed: Username has already been taken",
			"details": map[string]any{"username": []map[string]string{{"error": "ERR_TAKEN", "description": "has already been taken"}}}})
		return
	}
	f.addAccount(name)
	f.created[name]++
	writeJSONTest(w, 200, map[string]any{"access_token": f.accounts[name].Token, "token_type": "Bearer"})
}

// addAccount creates an account; f.mu must be held.
func (f *fakeMastodon) addAccount(name string) *fakeAccount {
	a := &fakeAccount{ID: f.id(), Username: name}
	a.Token = "user" + a.ID
	f.accounts[name], f.byToken[a.Token], f.byID[a.ID] = a, a, a
	return a
}

// user wraps a handler that needs a user token.
func (f *fakeMastodon) user(h func(http.ResponseWriter, *http.Request, *fakeAccount)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		a := f.byToken[bearer(r)]
		f.mu.Unlock()
		if a == nil {
			writeJSONTest(w, 401, map[string]string{"error": "The access token is invalid"})
			return
		}
		h(w, r, a)
	}
}

func (f *fakeMastodon) verify(w http.ResponseWriter, r *http.Request, a *fakeAccount) {
	writeJSONTest(w, 200, map[string]string{"id": a.ID, "username": a.Username, "acct": a.Username})
}

func (f *fakeMastodon) follow(w http.ResponseWriter, r *http.Request, a *fakeAccount) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := r.PathValue("id")
	if f.byID[id] == nil {
		writeJSONTest(w, 404, map[string]string{"error": "Record not found"})
		return
	}
	f.follows[[2]string{a.ID, id}]++
	writeJSONTest(w, 200, map[string]any{"id": id, "following": true})
}

func (f *fakeMastodon) list(w http.ResponseWriter, r *http.Request, a *fakeAccount) {
	if r.URL.Query().Get("limit") != "10" {
		writeJSONTest(w, 400, map[string]string{"error": "want limit=10"})
		return
	}
	if id := r.PathValue("id"); id != "" {
		f.mu.Lock()
		ok := f.byID[id] != nil
		f.mu.Unlock()
		if !ok {
			writeJSONTest(w, 404, map[string]string{"error": "Record not found"})
			return
		}
	}
	writeJSONTest(w, 200, []map[string]string{{"id": "1", "content": "<p>hello</p>"}})
}

func (f *fakeMastodon) status(w http.ResponseWriter, r *http.Request, a *fakeAccount) {
	text := r.FormValue("status")
	if text == "" {
		writeJSONTest(w, 422, map[string]string{"error": "Validation failed: Text can't be blank"})
		return
	}
	f.mu.Lock()
	f.posts[a.ID]++
	st := map[string]any{"id": f.id(), "content": "<p>" + html.EscapeString(text) + "</p>", "account": map[string]string{"id": a.ID}}
	var to []*websocket.Conn
	for k := range f.follows {
		if f.noDeliver {
			break
		}
		if k[1] == a.ID {
			to = append(to, f.sockets[k[0]]...)
		}
	}
	f.mu.Unlock()
	payload, _ := json.Marshal(st)
	ev, _ := json.Marshal(map[string]any{"stream": []string{"user"}, "event": "update", "payload": string(payload)})
	for _, s := range to {
		_ = s.Write(context.Background(), websocket.MessageText, ev)
	}
	writeJSONTest(w, 200, st)
}

func (f *fakeMastodon) upload(w http.ResponseWriter, r *http.Request, a *fakeAccount) {
	file, hdr, err := r.FormFile("file")
	if err != nil || hdr.Header.Get("Content-Type") != "image/jpeg" {
		writeJSONTest(w, 422, map[string]string{"error": "no file"})
		return
	}
	file.Close()
	f.mu.Lock()
	id := f.id()
	f.media[id] = 2 // two polls answer 206
	f.mu.Unlock()
	writeJSONTest(w, 202, map[string]any{"id": id, "type": "image", "url": nil})
}

func (f *fakeMastodon) getMedia(w http.ResponseWriter, r *http.Request, a *fakeAccount) {
	f.mu.Lock()
	left, ok := f.media[r.PathValue("id")]
	if ok && left > 0 {
		f.media[r.PathValue("id")]--
	}
	f.mu.Unlock()
	switch {
	case !ok:
		writeJSONTest(w, 404, map[string]string{"error": "Record not found"})
	case left > 0:
		writeJSONTest(w, 206, map[string]any{"id": r.PathValue("id"), "url": nil})
	default:
		writeJSONTest(w, 200, map[string]any{"id": r.PathValue("id"), "url": "http://x/m.jpg"})
	}
}

func (f *fakeMastodon) instance(w http.ResponseWriter, r *http.Request) {
	writeJSONTest(w, 200, map[string]any{"configuration": map[string]any{"urls": map[string]any{
		"streaming": "ws://" + r.Host}}})
}

func (f *fakeMastodon) stream(w http.ResponseWriter, r *http.Request) {
	tok := r.Header.Get("Sec-WebSocket-Protocol")
	f.mu.Lock()
	a := f.byToken[tok]
	f.mu.Unlock()
	if a == nil {
		writeJSONTest(w, 401, map[string]string{"error": "The access token is invalid"})
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{tok}})
	if err != nil {
		return
	}
	_, msg, err := c.Read(context.Background())
	var sub struct{ Type, Stream string }
	if err != nil || json.Unmarshal(msg, &sub) != nil || sub.Type != "subscribe" || sub.Stream != "user" {
		c.Close(websocket.StatusPolicyViolation, "want a user subscription")
		return
	}
	f.mu.Lock()
	f.sockets[a.ID] = append(f.sockets[a.ID], c)
	f.mu.Unlock()
	<-c.CloseRead(context.Background()).Done()
}

// counts returns copies of the successful sign-ups per username, the follow
// requests per (follower, followee) and the statuses per account.
func (f *fakeMastodon) counts() (created map[string]int, follows map[[2]string]int, posts map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	created, follows, posts = map[string]int{}, map[[2]string]int{}, map[string]int{}
	for k, v := range f.created {
		created[k] = v
	}
	for k, v := range f.follows {
		follows[k] = v
	}
	for k, v := range f.posts {
		posts[k] = v
	}
	return created, follows, posts
}
