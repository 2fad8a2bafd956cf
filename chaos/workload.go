// Package chaos is Starling's fault-injection harness: a bounded workload
// of sign-ups, follows, posts and favourites sent through every gateway of
// a cluster, faults (SIGKILL of the busiest leader, SIGSTOP, drains and
// rolling restarts), and a checker that proves, once the faults heal, that
// every acknowledged write is present exactly once, no username has two
// accounts, every home timeline converges to the merge it should be, and
// counters equal their edges. The cluster tests and `starling chaos` (the
// long, seeded soak) both use it.
package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a workload.
type Options struct {
	// URLs returns the gateways' base URLs, one per node (node i's URL stays
	// at index i, whether the node is up or not).
	URLs func() []string
	// Users is how many accounts Setup creates (default 16); MaxUsers caps
	// accounts including sign-ups during Run (default 2×Users).
	Users, MaxUsers int
	// Workers is how many operations run at once (default 6).
	Workers int
	// Rate caps operations per second over all workers (0: no cap).
	Rate float64
	// MaxPosts stops posting after that many posts (default 40 per user), so
	// that timelines stay within what the checker compares.
	MaxPosts int
	// Seed makes the choice of operations repeatable.
	Seed uint64
	// OpTimeout bounds how long one operation is retried (default 45 s);
	// RequestTimeout bounds one attempt (default 11 s: a node's gateway
	// answers every request within its 10 s deadline).
	OpTimeout, RequestTimeout time.Duration
	// HTTP is the client (default: a keep-alive client with a 2 s dial
	// timeout).
	HTTP *http.Client
	// Logf receives progress lines (default: none).
	Logf func(format string, args ...any)
}

type userState int

const (
	userPending   userState = iota
	userAcked               // sign-up acknowledged
	userAmbiguous           // not acknowledged, but an attempt may have created it
	userAbsent              // refused: no account exists
)

type user struct {
	name  string
	id    string
	token string
	state userState
}

type post struct {
	key    string
	author int
	id     string
	acked  bool
}

type edge struct{ acked, sent bool }

type race struct {
	name  string
	acked []string // account IDs acknowledged to the racers
}

// Workload is a running workload and everything it was told.
type Workload struct {
	opts Options
	c    *client

	appToken string

	mu     sync.Mutex
	users  []*user
	posts  []*post
	follow map[[2]int]*edge // follower, target (user indices)
	favs   map[[2]int]*edge // user index, post index
	races  []*race
	errs   []string              // rejected requests that should not happen
	ops    map[string]*[5]uint64 // op -> ok, failed, unknown, rejected, retried-attempts
	lat    map[string]time.Duration

	nextName atomic.Int64
	nextPost atomic.Int64
	started  time.Time
}

// New returns a workload over opts.URLs.
func New(opts Options) *Workload {
	if opts.Users == 0 {
		opts.Users = 16
	}
	if opts.MaxUsers == 0 {
		opts.MaxUsers = 2 * opts.Users
	}
	if opts.Workers == 0 {
		opts.Workers = 6
	}
	if opts.MaxPosts == 0 {
		opts.MaxPosts = 40 * opts.MaxUsers
	}
	if opts.OpTimeout == 0 {
		opts.OpTimeout = 45 * time.Second
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = 11 * time.Second
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	return &Workload{opts: opts, c: newClient(opts.URLs, opts.HTTP, opts.RequestTimeout, opts.Seed),
		follow: map[[2]int]*edge{}, favs: map[[2]int]*edge{}, ops: map[string]*[5]uint64{}, lat: map[string]time.Duration{}}
}

func (w *Workload) count(op string, k int) {
	w.mu.Lock()
	c := w.ops[op]
	if c == nil {
		c = &[5]uint64{}
		w.ops[op] = c
	}
	c[k]++
	w.mu.Unlock()
}

func (w *Workload) note(op string, res callResult, err error) {
	switch {
	case err == nil:
		w.count(op, 0)
	case res.Resp != nil && res.Resp.Status/100 == 4:
		w.count(op, 3)
	case res.Sent:
		w.count(op, 2)
	default:
		w.count(op, 1)
	}
	if res.Attempts > 1 {
		w.mu.Lock()
		w.ops[op][4] += uint64(res.Attempts - 1)
		w.mu.Unlock()
	}
	if err == nil {
		w.mu.Lock()
		w.lat[op] = max(w.lat[op], res.Took)
		w.mu.Unlock()
	}
}

func (w *Workload) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	w.mu.Lock()
	if len(w.errs) < 100 {
		w.errs = append(w.errs, msg)
	}
	w.mu.Unlock()
	w.opts.Logf("workload: %s", msg)
}

func (w *Workload) deadline() time.Time { return time.Now().Add(w.opts.OpTimeout) }

// Setup registers the workload's app and its first accounts, and makes each
// follow a few others.
func (w *Workload) Setup(ctx context.Context) error {
	w.started = time.Now()
	res, err := w.c.call(ctx, w.deadline(), true, "POST", "/api/v1/apps", "", url.Values{
		"client_name": {"chaos"}, "redirect_uris": {"urn:ietf:wg:oauth:2.0:oob"}, "scopes": {"read write follow"}}, nil)
	if err != nil {
		return fmt.Errorf("register app: %w", err)
	}
	var app struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := res.Resp.decode(&app); err != nil {
		return err
	}
	res, err = w.c.call(ctx, w.deadline(), true, "POST", "/oauth/token", "", url.Values{"grant_type": {"client_credentials"},
		"client_id": {app.ClientID}, "client_secret": {app.ClientSecret}, "scope": {"read write follow"}}, nil)
	if err != nil {
		return fmt.Errorf("app token: %w", err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := res.Resp.decode(&tok); err != nil {
		return err
	}
	w.appToken = tok.AccessToken
	if w.appToken == "" {
		return fmt.Errorf("no app token in %s", res.Resp.Body)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, w.opts.Workers)
	for i := 0; i < w.opts.Users; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			w.signUp(ctx, w.newUser(), -1)
		}()
	}
	wg.Wait()
	if n := len(w.acked()); n < w.opts.Users/2 {
		return fmt.Errorf("only %d of %d sign-ups acknowledged", n, w.opts.Users)
	}
	rng := rand.New(rand.NewPCG(w.opts.Seed, 1))
	users := w.acked()
	for _, a := range users {
		for k := 0; k < 4; k++ {
			b := users[rng.IntN(len(users))]
			if a == b {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				w.doFollow(ctx, a, b)
			}()
		}
	}
	wg.Wait()
	w.opts.Logf("workload: set up %d accounts", len(w.acked()))
	return nil
}

// acked returns the indices of the acknowledged accounts.
func (w *Workload) acked() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []int
	for i, u := range w.users {
		if u.state == userAcked {
			out = append(out, i)
		}
	}
	return out
}

func (w *Workload) newUser() int {
	n := w.nextName.Add(1)
	name := fmt.Sprintf("c%xu%d", w.opts.Seed&0xffff, n)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.users = append(w.users, &user{name: name})
	return len(w.users) - 1
}

// signUp signs user i up through node (random when negative) and records
// the outcome. It returns the account ID when acknowledged.
func (w *Workload) signUp(ctx context.Context, i int, node int) string {
	w.mu.Lock()
	name := w.users[i].name
	w.mu.Unlock()
	form := url.Values{"username": {name}, "email": {name + "@example.com"}, "password": {"correct horse battery staple"},
		"agreement": {"true"}, "locale": {"en"}}
	var res callResult
	var err error
	if node >= 0 {
		// A racer: one attempt through its own node, then retries.
		res, err = w.c.callFrom(ctx, node, w.deadline(), true, "POST", "/api/v1/accounts", w.appToken, form, nil)
	} else {
		res, err = w.c.call(ctx, w.deadline(), true, "POST", "/api/v1/accounts", w.appToken, form, nil)
	}
	w.note("sign-up", res, err)
	if err != nil {
		taken := res.Resp != nil && res.Resp.Status == 422 && strings.Contains(string(res.Resp.Body), "ERR_TAKEN")
		w.mu.Lock()
		if res.Sent {
			w.users[i].state = userAmbiguous
		} else {
			w.users[i].state = userAbsent // refused, or someone else holds the name (a race)
		}
		w.mu.Unlock()
		if res.Resp != nil && res.Resp.Status/100 == 4 && !taken {
			w.fail("sign-up %s refused: %v", name, err)
		}
		return ""
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := res.Resp.decode(&tok); err != nil || tok.AccessToken == "" {
		w.fail("sign-up %s: no token in %s", name, res.Resp.Body)
		return ""
	}
	// The account exists and is acknowledged; learn its ID.
	vres, err := w.c.call(context.WithoutCancel(ctx), w.deadline(), false, "GET", "/api/v1/accounts/verify_credentials", tok.AccessToken, nil, nil)
	var acct struct{ ID, Username string }
	if err == nil {
		err = vres.Resp.decode(&acct)
	}
	if err != nil || acct.ID == "" {
		w.fail("sign-up %s acknowledged but its token does not work: %v", name, err)
		w.mu.Lock()
		w.users[i].state = userAmbiguous
		w.users[i].token = tok.AccessToken
		w.mu.Unlock()
		return ""
	}
	w.mu.Lock()
	w.users[i].id, w.users[i].token, w.users[i].state = acct.ID, tok.AccessToken, userAcked
	w.mu.Unlock()
	return acct.ID
}

func (w *Workload) userOf(i int) (id, token string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.users[i].id, w.users[i].token
}

// sendEdge returns edge k of m (follows or favourites), marked as requested.
func (w *Workload) sendEdge(m map[[2]int]*edge, k [2]int) *edge {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := m[k]
	if e == nil {
		e = &edge{}
		m[k] = e
	}
	e.sent = true
	return e
}

func (w *Workload) doFollow(ctx context.Context, a, b int) {
	aid, atok := w.userOf(a)
	bid, _ := w.userOf(b)
	e := w.sendEdge(w.follow, [2]int{a, b})
	res, err := w.c.call(ctx, w.deadline(), true, "POST", "/api/v1/accounts/"+bid+"/follow", atok, url.Values{}, nil)
	w.note("follow", res, err)
	if err != nil {
		if res.Resp != nil && res.Resp.Status/100 == 4 {
			w.fail("follow %s -> %s refused: %v", aid, bid, err)
		}
		return
	}
	var rel struct{ Following bool }
	if err := res.Resp.decode(&rel); err != nil || !rel.Following {
		w.fail("follow %s -> %s acknowledged without following: %s", aid, bid, res.Resp.Body)
		return
	}
	w.mu.Lock()
	e.acked = true
	w.mu.Unlock()
}

func (w *Workload) doPost(ctx context.Context, a int) {
	_, atok := w.userOf(a)
	n := w.nextPost.Add(1)
	key := fmt.Sprintf("c%xp%d", w.opts.Seed&0xffff, n)
	w.mu.Lock()
	w.posts = append(w.posts, &post{key: key, author: a})
	p := w.posts[len(w.posts)-1]
	w.mu.Unlock()
	res, err := w.c.call(ctx, w.deadline(), true, "POST", "/api/v1/statuses", atok,
		url.Values{"status": {"chaos post " + key}, "visibility": {"public"}}, map[string]string{"Idempotency-Key": key})
	w.note("post", res, err)
	if err != nil {
		if res.Resp != nil && res.Resp.Status/100 == 4 {
			w.fail("post %s refused: %v", key, err)
		}
		return
	}
	var st struct{ ID, Content string }
	if err := res.Resp.decode(&st); err != nil || st.ID == "" || !strings.Contains(st.Content, key) {
		w.fail("post %s acknowledged with %s", key, res.Resp.Body)
		return
	}
	w.mu.Lock()
	p.id, p.acked = st.ID, true
	w.mu.Unlock()
}

func (w *Workload) doFav(ctx context.Context, a, pi int) {
	_, atok := w.userOf(a)
	w.mu.Lock()
	pid := w.posts[pi].id
	w.mu.Unlock()
	e := w.sendEdge(w.favs, [2]int{a, pi})
	res, err := w.c.call(ctx, w.deadline(), true, "POST", "/api/v1/statuses/"+pid+"/favourite", atok, url.Values{}, nil)
	w.note("favourite", res, err)
	if err != nil {
		if res.Resp != nil && res.Resp.Status/100 == 4 {
			w.fail("favourite of %s refused: %v", pid, err)
		}
		return
	}
	var st struct{ Favourited bool }
	if err := res.Resp.decode(&st); err != nil || !st.Favourited {
		w.fail("favourite of %s acknowledged with %s", pid, res.Resp.Body)
		return
	}
	w.mu.Lock()
	e.acked = true
	w.mu.Unlock()
}

func (w *Workload) doRead(ctx context.Context, a int) {
	_, atok := w.userOf(a)
	res, err := w.c.call(ctx, time.Now().Add(10*time.Second), false, "GET", "/api/v1/timelines/home?limit=20", atok, nil, nil)
	w.note("read home", res, err)
}

// doRace signs one new name up through two nodes at once: at most one may
// be acknowledged.
func (w *Workload) doRace(ctx context.Context) {
	i := w.newUser()
	j := w.newUser()
	w.mu.Lock()
	w.users[j].name = w.users[i].name // the second racer wants the same name
	w.mu.Unlock()
	n := max(len(w.opts.URLs()), 1)
	first := w.c.randN(n)
	var wg sync.WaitGroup
	ids := make([]string, 2)
	for k, u := range []int{i, j} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[k] = w.signUp(ctx, u, (first+k)%n)
		}()
	}
	wg.Wait()
	r := &race{name: w.users[i].name}
	for _, id := range ids {
		if id != "" {
			r.acked = append(r.acked, id)
		}
	}
	w.mu.Lock()
	w.races = append(w.races, r)
	// The loser never got an account: do not use it.
	for _, u := range []int{i, j} {
		if w.users[u].state == userAcked && len(r.acked) > 1 && w.users[u].id != r.acked[0] {
			w.users[u].state = userAbsent
		}
	}
	w.mu.Unlock()
}

// Run runs operations until ctx ends, then waits for the operations in
// flight to finish (each within OpTimeout).
func (w *Workload) Run(ctx context.Context) {
	var tick <-chan time.Time
	if w.opts.Rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / w.opts.Rate))
		defer t.Stop()
		tick = t.C
	}
	opCtx := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for k := 0; k < w.opts.Workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(w.opts.Seed, uint64(k)+100))
			for step := 0; ; step++ {
				if tick != nil {
					select {
					case <-ctx.Done():
						return
					case <-tick:
					}
				}
				if ctx.Err() != nil {
					return
				}
				w.step(opCtx, rng, step)
			}
		}()
	}
	wg.Wait()
}

func (w *Workload) step(ctx context.Context, rng *rand.Rand, step int) {
	users := w.acked()
	if len(users) < 2 {
		w.signUp(ctx, w.newUser(), -1)
		return
	}
	w.mu.Lock()
	nUsers, nPosts := len(w.users), len(w.posts)
	var ackedPosts []int
	for i, p := range w.posts {
		if p.acked {
			ackedPosts = append(ackedPosts, i)
		}
	}
	w.mu.Unlock()
	r := rng.Float64()
	switch {
	case r < 0.01 && nUsers < w.opts.MaxUsers:
		w.doRace(ctx)
	case r < 0.06 && nUsers < w.opts.MaxUsers:
		w.signUp(ctx, w.newUser(), -1)
	case r < 0.30:
		a, b := users[rng.IntN(len(users))], users[rng.IntN(len(users))]
		if a != b {
			w.doFollow(ctx, a, b)
		}
	case r < 0.70 && nPosts < w.opts.MaxPosts:
		w.doPost(ctx, users[rng.IntN(len(users))])
	case r < 0.88 && len(ackedPosts) > 0:
		w.doFav(ctx, users[rng.IntN(len(users))], ackedPosts[rng.IntN(len(ackedPosts))])
	default:
		w.doRead(ctx, users[rng.IntN(len(users))])
	}
}
