package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SetupConfig says what Setup builds.
type SetupConfig struct {
	// Targets are the base URLs of the gateways of one cluster (or one
	// server); account i is created and used through Targets[i % len]. Empty
	// means those of the existing state.
	Targets []string
	// Tokens, if set, are existing accounts to use instead of signing up
	// (servers that cannot sign up by API); account i of the graph is
	// Tokens[i].
	Tokens []Token
	// Graph is the follow graph, see LoadGraph; empty means the existing
	// state's. With Tokens, "none" means none:len(Tokens).
	Graph    string
	Datasets string // datasets directory; "" searches upward for shared/datasets
	Seed     uint64 // seed of generated graphs and post texts; 0 means the state's, or 1
	// PostsPerUser is how many seed posts each account should have; raising
	// it on a later setup adds posts, lowering it deletes none.
	PostsPerUser int
	// StatePath is the state file: read if it exists, rewritten every
	// second and at the end. Empty keeps the state in memory only.
	StatePath   string
	Concurrency int           // requests in flight; default 16
	Prefix      string        // username prefix; default random, then the state's
	EmailDomain string        // sign-up e-mail domain; default example.com
	Password    string        // sign-up password; default a fixed one
	Timeout     time.Duration // per request; default 30s
	Insecure    bool          // skip TLS certificate checks
	Progress    io.Writer     // progress lines, once a second; nil for none
}

// Token is an existing account's access token.
type Token struct{ Username, Token string }

// ReadTokens reads a tokens file: one "username token" per line; blank lines
// and lines starting with # are skipped.
func ReadTokens(path string) ([]Token, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Token
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: want \"username token\"", path, line)
		}
		out = append(out, Token{strings.TrimPrefix(fields[0], "@"), fields[1]})
	}
	return out, sc.Err()
}

const (
	defaultPassword     = "starling-bench-Passw0rd!"
	maxFailuresInARow   = 50
	signUpScopes        = "read write follow push"
	usernameCollisions  = 5 // renames tried when a username is taken
	defaultConcurrency  = 16
	defaultSetupTimeout = 30 * time.Second
)

// Setup creates (or adopts) the accounts of a graph on the target, makes
// them follow each other as the graph says and gives each its seed posts,
// with bounded concurrency. It records progress in the state as it goes and
// skips what the state records as done, so running it again after an
// interruption finishes the job without redoing any of it. When ctx ends it
// stops starting requests, lets the ones in flight finish (so their effect
// is recorded), saves the state and returns ctx's error.
func Setup(ctx context.Context, cfg SetupConfig) (*State, error) {
	s, err := newSetup(cfg)
	if err != nil {
		return nil, err
	}
	return s.state, s.run(ctx)
}

// setup is one Setup call.
type setup struct {
	cfg   SetupConfig
	graph *Graph
	api   *api
	mu    sync.Mutex // guards state
	state *State

	appMu     sync.Mutex
	appTokens map[string]string // target → app token for sign-ups

	done, total atomic.Int64 // tasks, all phases
	accounts    atomic.Int64
	follows     atomic.Int64
	posts       atomic.Int64
	failures    atomic.Int64
	skipped     atomic.Int64 // follows and posts of accounts that could not be made
	inARow      atomic.Int64
	errMu       sync.Mutex
	lastErr     error
	postSeq     atomic.Int64 // makes seed post texts distinct
	abort       chan struct{}
	abortOnce   sync.Once
}

func newSetup(cfg SetupConfig) (*setup, error) {
	st, err := loadOrNewState(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = defaultConcurrency
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultSetupTimeout
	}
	if cfg.Password == "" {
		cfg.Password = defaultPassword
	}
	if cfg.Datasets == "" {
		cfg.Datasets = st.Datasets
	}
	g, err := LoadGraph(st.Graph, cfg.Datasets, st.Seed)
	if err != nil {
		return nil, err
	}
	sum := g.Checksum()
	if st.Checksum != "" && st.Checksum != sum {
		return nil, fmt.Errorf("graph %s is not the one the state was built with (checksum %s, state %s)", st.Graph, sum, st.Checksum)
	}
	st.Checksum = sum
	if len(st.Users) == 0 {
		st.Users = make([]User, g.Users)
		st.Follows = len(g.Follows)
		st.FollowsDone = NewBitset(len(g.Follows))
		if len(cfg.Tokens) > 0 {
			if len(cfg.Tokens) < g.Users {
				return nil, fmt.Errorf("graph %s has %d accounts but only %d tokens were given", st.Graph, g.Users, len(cfg.Tokens))
			}
			for i := range st.Users {
				st.Users[i] = User{Username: cfg.Tokens[i].Username, Token: cfg.Tokens[i].Token}
			}
		}
	}
	if len(st.Users) != g.Users || st.Follows != len(g.Follows) || len(st.FollowsDone) != (len(g.Follows)+63)/64 {
		return nil, fmt.Errorf("state does not match graph %s (%d accounts, %d follows)", st.Graph, g.Users, len(g.Follows))
	}
	st.PostsPerUser = cfg.PostsPerUser
	tr := newTransport(cfg.Concurrency, cfg.Insecure)
	return &setup{
		cfg: cfg, graph: g, state: st, appTokens: map[string]string{},
		api:   &api{client: &http.Client{Transport: tr}, timeout: cfg.Timeout, retries: 8},
		abort: make(chan struct{}),
	}, nil
}

// loadOrNewState reads the state file, checks it against cfg and fills what
// cfg leaves out; or starts a new state from cfg.
func loadOrNewState(cfg SetupConfig) (*State, error) {
	var st *State
	if cfg.StatePath != "" {
		var err error
		st, err = LoadState(cfg.StatePath)
		if errors.Is(err, os.ErrNotExist) {
			st = nil
		} else if err != nil {
			return nil, err
		}
	}
	for i, t := range cfg.Targets {
		cfg.Targets[i] = strings.TrimRight(t, "/")
	}
	if st == nil {
		if len(cfg.Targets) == 0 {
			return nil, errors.New("no target: pass --target URL")
		}
		st = &State{Version: stateVersion, Targets: cfg.Targets, Graph: cfg.Graph, Seed: cfg.Seed, Datasets: absPath(cfg.Datasets),
			Prefix: cfg.Prefix, EmailDomain: cfg.EmailDomain, FromTokens: len(cfg.Tokens) > 0, Created: time.Now().UTC()}
		if st.Graph == "" {
			st.Graph = "reed98"
		}
		if st.Graph == "none" && len(cfg.Tokens) > 0 {
			st.Graph = fmt.Sprintf("none:%d", len(cfg.Tokens))
		}
		if st.Seed == 0 {
			st.Seed = 1
		}
		if st.Prefix == "" {
			st.Prefix = randomPrefix()
		}
		if st.EmailDomain == "" {
			st.EmailDomain = "example.com"
		}
		return st, nil
	}
	switch {
	case len(cfg.Targets) > 0 && !slices.Equal(cfg.Targets, st.Targets):
		return nil, fmt.Errorf("state %s was built on %s, not %s", cfg.StatePath, strings.Join(st.Targets, ","), strings.Join(cfg.Targets, ","))
	case cfg.Graph != "" && cfg.Graph != st.Graph && !(cfg.Graph == "none" && strings.HasPrefix(st.Graph, "none:")):
		return nil, fmt.Errorf("state %s was built with graph %s, not %s", cfg.StatePath, st.Graph, cfg.Graph)
	case cfg.Seed != 0 && cfg.Seed != st.Seed:
		return nil, fmt.Errorf("state %s was built with seed %d, not %d", cfg.StatePath, st.Seed, cfg.Seed)
	case cfg.Prefix != "" && cfg.Prefix != st.Prefix:
		return nil, fmt.Errorf("state %s uses username prefix %s, not %s", cfg.StatePath, st.Prefix, cfg.Prefix)
	case len(cfg.Tokens) > 0 != st.FromTokens:
		return nil, fmt.Errorf("state %s: tokens file given to a sign-up state or missing from a tokens state", cfg.StatePath)
	}
	return st, nil
}

// absPath returns p made absolute, or p if that fails.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil && p != "" {
		return a
	}
	return p
}

// randomPrefix returns a username prefix unlikely to be taken: "sb" and six
// random letters and digits.
func randomPrefix() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := []byte("sb")
	for range 6 {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b = append(b, alphabet[n.Int64()])
	}
	return string(b)
}

// run does the three phases: accounts, follows, posts.
func (s *setup) run(ctx context.Context) error {
	st := s.state
	var accounts, follows, posts int64
	for i := range st.Users {
		if st.Users[i].Ready() {
			accounts++
		}
		posts += int64(min(st.Users[i].Posts, st.PostsPerUser))
	}
	follows = int64(st.FollowsDone.Count())
	s.accounts.Store(accounts)
	s.follows.Store(follows)
	s.posts.Store(posts)
	s.done.Store(accounts + follows + posts)
	s.total.Store(int64(len(st.Users)) + int64(st.Follows) + int64(len(st.Users))*int64(st.PostsPerUser))

	stopProgress := s.progress()
	err := s.phases(ctx)
	stopProgress()
	if serr := s.save(); serr != nil && err == nil {
		err = serr
	}
	if err == nil && s.failures.Load() > 0 {
		err = fmt.Errorf("setup: %d requests failed (last: %v), %d follows and posts waiting for their accounts; run setup again to retry them",
			s.failures.Load(), s.lastError(), s.skipped.Load())
	}
	return err
}

func (s *setup) phases(ctx context.Context) error {
	st := s.state
	var todo []int
	for i := range st.Users {
		if !st.Users[i].Ready() {
			todo = append(todo, i)
		}
	}
	if err := s.parallel(ctx, todo, s.account); err != nil {
		return err
	}
	// Follows and posts of accounts that failed wait for the next setup.
	todo = todo[:0]
	for i, f := range s.graph.Follows {
		switch {
		case st.FollowsDone.Has(i):
		case !st.Users[f.From].Ready() || !st.Users[f.To].Ready():
			s.skipped.Add(1)
		default:
			todo = append(todo, i)
		}
	}
	if err := s.parallel(ctx, todo, s.follow); err != nil {
		return err
	}
	todo = todo[:0]
	for i := range st.Users {
		for range st.PostsPerUser - st.Users[i].Posts {
			if st.Users[i].Ready() {
				todo = append(todo, i)
			} else {
				s.skipped.Add(1)
			}
		}
	}
	// Interleave the accounts so a user's posts are not all made at once.
	r := mrand.New(mrand.NewPCG(st.Seed, 2))
	r.Shuffle(len(todo), func(i, j int) { todo[i], todo[j] = todo[j], todo[i] })
	return s.parallel(ctx, todo, s.post)
}

// parallel runs fn on every task with cfg.Concurrency workers, stopping
// early when ctx ends or too many requests fail in a row.
func (s *setup) parallel(ctx context.Context, tasks []int, fn func(context.Context, int) error) error {
	ch := make(chan int)
	var wg sync.WaitGroup
	for range min(s.cfg.Concurrency, len(tasks)) {
		wg.Go(func() {
			for i := range ch {
				err := fn(ctx, i)
				switch {
				case err == nil:
					s.inARow.Store(0)
					s.done.Add(1)
				case ctx.Err() != nil && errors.Is(err, ctx.Err()):
				default:
					s.failures.Add(1)
					s.errMu.Lock()
					s.lastErr = err
					s.errMu.Unlock()
					if s.inARow.Add(1) >= maxFailuresInARow {
						s.abortOnce.Do(func() { close(s.abort) })
					}
				}
			}
		})
	}
feed:
	for _, i := range tasks {
		select {
		case ch <- i:
		case <-ctx.Done():
			break feed
		case <-s.abort:
			break feed
		}
	}
	close(ch)
	wg.Wait()
	select {
	case <-s.abort:
		return fmt.Errorf("setup: giving up after %d failed requests in a row (last: %v)", maxFailuresInARow, s.lastError())
	default:
	}
	return ctx.Err()
}

func (s *setup) lastError() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.lastErr
}

// user returns a copy of account i.
func (s *setup) user(i int) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.Users[i]
}

// account signs account i up (or, with tokens, looks it up) and records it.
func (s *setup) account(ctx context.Context, i int) error {
	target := s.state.TargetOf(i)
	u := s.user(i)
	if u.Token == "" {
		appToken, err := s.appToken(ctx, target)
		if err != nil {
			return err
		}
		base := fmt.Sprintf("%s_%d", s.state.Prefix, i)
		for attempt := 0; ; attempt++ {
			name := base
			if attempt > 0 {
				// Taken: an earlier, interrupted setup created it but could
				// not record its token. Leave it and use another name.
				name = fmt.Sprintf("%sr%d", base, attempt)
			}
			_, body, err := s.api.call(ctx, http.MethodPost, target+"/api/v1/accounts", appToken, url.Values{
				"username": {name}, "email": {name + "@" + s.state.EmailDomain}, "password": {s.cfg.Password},
				"agreement": {"true"}, "locale": {"en"}})
			var ae *apiError
			if errors.As(err, &ae) && ae.Status == http.StatusUnprocessableEntity && strings.Contains(strings.ToLower(ae.Body), "taken") && attempt < usernameCollisions {
				continue
			}
			if err != nil {
				return err
			}
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			if err := decodeJSON(body, &tok); err != nil || tok.AccessToken == "" {
				return fmt.Errorf("sign up %s: no access token in %s", name, body)
			}
			u.Username, u.Token = name, tok.AccessToken
			break
		}
	}
	var me struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	}
	if err := s.api.getJSON(ctx, target+"/api/v1/accounts/verify_credentials", u.Token, &me); err != nil {
		if u.ID == "" && !s.state.FromTokens {
			// Keep the token: the account exists, only its id is missing.
			s.mu.Lock()
			s.state.Users[i].Username, s.state.Users[i].Token = u.Username, u.Token
			s.mu.Unlock()
		}
		return err
	}
	s.mu.Lock()
	s.state.Users[i].ID, s.state.Users[i].Username, s.state.Users[i].Token = me.ID, me.Username, u.Token
	s.mu.Unlock()
	s.accounts.Add(1)
	return nil
}

// appToken returns the client-credentials token that signs accounts up on
// target, registering an app the first time.
func (s *setup) appToken(ctx context.Context, target string) (string, error) {
	s.appMu.Lock()
	defer s.appMu.Unlock()
	if tok := s.appTokens[target]; tok != "" {
		return tok, nil
	}
	var app struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	_, body, err := s.api.call(ctx, http.MethodPost, target+"/api/v1/apps", "", url.Values{
		"client_name": {"starling bench"}, "redirect_uris": {"urn:ietf:wg:oauth:2.0:oob"}, "scopes": {signUpScopes}})
	if err == nil {
		err = decodeJSON(body, &app)
	}
	if err != nil {
		return "", fmt.Errorf("register app: %w", err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_, body, err = s.api.call(ctx, http.MethodPost, target+"/oauth/token", "", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {app.ClientID}, "client_secret": {app.ClientSecret}, "scope": {signUpScopes}})
	if err == nil {
		err = decodeJSON(body, &tok)
	}
	if err != nil {
		return "", fmt.Errorf("app token: %w", err)
	}
	s.appTokens[target] = tok.AccessToken
	return tok.AccessToken, nil
}

// follow makes follow i of the graph.
func (s *setup) follow(ctx context.Context, i int) error {
	f := s.graph.Follows[i]
	from, to := s.user(int(f.From)), s.user(int(f.To))
	if !from.Ready() || !to.Ready() {
		return fmt.Errorf("follow %d→%d: account missing", f.From, f.To)
	}
	target := s.state.TargetOf(int(f.From))
	if _, _, err := s.api.call(ctx, http.MethodPost, target+"/api/v1/accounts/"+url.PathEscape(to.ID)+"/follow", from.Token, url.Values{}); err != nil {
		return err
	}
	s.mu.Lock()
	s.state.FollowsDone.Set(i)
	s.mu.Unlock()
	s.follows.Add(1)
	return nil
}

// post makes one seed post for account i.
func (s *setup) post(ctx context.Context, i int) error {
	u := s.user(i)
	if !u.Ready() {
		return fmt.Errorf("post for account %d: account missing", i)
	}
	text := seedText(s.state.Seed, i, int(s.postSeq.Add(1)))
	if _, _, err := s.api.call(ctx, http.MethodPost, s.state.TargetOf(i)+"/api/v1/statuses", u.Token, url.Values{"status": {text}}); err != nil {
		return err
	}
	s.mu.Lock()
	s.state.Users[i].Posts++
	s.mu.Unlock()
	s.posts.Add(1)
	return nil
}

// seedWords make seed posts look like text.
var seedWords = strings.Fields(`the a starling flock murmuration sky evening field river bench load
	timeline post follow server cluster fast slow quiet loud morning coffee train city garden light
	rain sun wind cloud note reply boost thread people friend music book walk today tomorrow`)

// seedText returns the text of a seed post.
func seedText(seed uint64, user, n int) string {
	r := mrand.New(mrand.NewPCG(seed, uint64(user)<<20|uint64(n)))
	var b strings.Builder
	fmt.Fprintf(&b, "Seed post %d of account %d:", n, user)
	for range 8 + r.IntN(24) {
		b.WriteByte(' ')
		b.WriteString(seedWords[r.IntN(len(seedWords))])
	}
	return b.String()
}

// save writes the state file, if there is one.
func (s *setup) save() error {
	if s.cfg.StatePath == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.Save(s.cfg.StatePath)
}

// progress prints a line and saves the state every second until stopped.
func (s *setup) progress() (stop func()) {
	start, startDone := time.Now(), s.done.Load()
	line := func() {
		if s.cfg.Progress == nil {
			return
		}
		st := s.state
		done, total := s.done.Load(), s.total.Load()
		el := time.Since(start)
		rate := float64(done-startDone) / el.Seconds()
		eta := "-"
		if rate > 0 {
			eta = (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String()
		}
		fmt.Fprintf(s.cfg.Progress, "setup %5s  accounts %d/%d  follows %d/%d  posts %d/%d  | %d/%d done  %.0f/s  ETA %s  failed %d\n",
			el.Round(time.Second), s.accounts.Load(), len(st.Users), s.follows.Load(), st.Follows,
			s.posts.Load(), int64(len(st.Users))*int64(st.PostsPerUser), done, total, rate, eta, s.failures.Load())
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-quit:
				line()
				return
			case <-t.C:
				line()
				if err := s.save(); err != nil && s.cfg.Progress != nil {
					fmt.Fprintln(s.cfg.Progress, "setup: save state:", err)
				}
			}
		}
	}()
	return func() { close(quit); <-finished }
}
