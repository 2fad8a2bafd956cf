package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLoadGraph(t *testing.T) {
	dir, err := FindDatasets("")
	if err != nil {
		t.Skip("datasets not found:", err)
	}
	tests := []struct {
		spec           string
		users, follows int
	}{
		{"reed98", 962, 2 * 18812},
		{"facebook", 4039, 2 * 88234},
		{"none:7", 7, 0},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			g, err := LoadGraph(tt.spec, dir, 1)
			if err != nil {
				t.Fatal(err)
			}
			if g.Users != tt.users || len(g.Follows) != tt.follows {
				t.Fatalf("%d users, %d follows; want %d, %d", g.Users, len(g.Follows), tt.users, tt.follows)
			}
		})
	}
	for _, bad := range []string{"", "nope", "powerlaw", "powerlaw:0", "reed98:3", "none:x"} {
		if _, err := LoadGraph(bad, dir, 1); err == nil {
			t.Errorf("LoadGraph(%q) did not fail", bad)
		}
	}
}

func TestPowerLawGraph(t *testing.T) {
	const n = 2000
	g, err := LoadGraph("powerlaw:2000", "", 7)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := LoadGraph("powerlaw:2000", "", 7)
	other, _ := LoadGraph("powerlaw:2000", "", 8)
	if g.Checksum() != again.Checksum() {
		t.Fatal("same seed, different graphs")
	}
	if g.Checksum() == other.Checksum() {
		t.Fatal("different seeds, same graph")
	}
	followers := make([]int, n)
	seen := map[Follow]bool{}
	for _, f := range g.Follows {
		if f.From == f.To || seen[f] || f.From < 0 || int(f.From) >= n || f.To < 0 || int(f.To) >= n {
			t.Fatalf("bad or repeated follow %v", f)
		}
		seen[f] = true
		followers[f.To]++
	}
	// A few very large accounts, a long tail of small ones.
	if followers[0] < n/2 {
		t.Errorf("largest account has %d followers, want over %d", followers[0], n/2)
	}
	small := 0
	for _, c := range followers {
		if c <= 10 {
			small++
		}
	}
	if small < n/2 {
		t.Errorf("only %d of %d accounts have ≤10 followers", small, n)
	}
}

func TestBitsetJSON(t *testing.T) {
	b := NewBitset(130)
	for _, i := range []int{0, 5, 63, 64, 129} {
		b.Set(i)
	}
	data, err := b.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var c Bitset
	if err := c.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	for i := range 130 {
		if b.Has(i) != c.Has(i) {
			t.Fatalf("bit %d differs", i)
		}
	}
	if c.Count() != 5 {
		t.Fatalf("count = %d", c.Count())
	}
}

// TestSetupResumes interrupts setup at each phase, runs it again and checks
// that every account was created once and every follow and post made
// exactly once.
func TestSetupResumes(t *testing.T) {
	const posts = 2
	g, err := LoadGraph("powerlaw:30", "", 3)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		stop func(created, follows, posts int) bool
	}{
		{"during sign-ups", func(c, f, p int) bool { return c >= 7 }},
		{"during follows", func(c, f, p int) bool { return f >= len(g.Follows)/3 }},
		{"during posts", func(c, f, p int) bool { return p >= 11 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMastodon(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var once sync.Once
			var c, fl, p int
			var mu sync.Mutex
			f.after = func(r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				switch {
				case r.URL.Path == "/api/v1/accounts":
					c++
				case strings.HasSuffix(r.URL.Path, "/follow"):
					fl++
				case r.URL.Path == "/api/v1/statuses":
					p++
				}
				if tt.stop(c, fl, p) {
					once.Do(cancel)
				}
			}
			state := filepath.Join(t.TempDir(), "state.json")
			cfg := SetupConfig{Targets: []string{f.URL + "/"}, Graph: "powerlaw:30", Seed: 3, PostsPerUser: posts,
				StatePath: state, Concurrency: 4, Timeout: 5 * time.Second}
			if _, err := Setup(ctx, cfg); !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted setup: err = %v, want context.Canceled", err)
			}
			if _, err := os.Stat(state); err != nil {
				t.Fatalf("no state after interruption: %v", err)
			}
			f.after = nil
			cfg.Targets, cfg.Graph, cfg.Seed = nil, "", 0 // from the state
			st, err := Setup(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkSetup(t, f, st, g, posts)

			// A third run has nothing left to do.
			before := f.requests.Load()
			if _, err := Setup(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			if n := f.requests.Load() - before; n != 0 {
				t.Errorf("complete setup made %d more requests", n)
			}
			loaded, err := LoadState(state)
			if err != nil {
				t.Fatal(err)
			}
			checkSetup(t, f, loaded, g, posts)
		})
	}
}

// checkSetup checks the server and the state against the graph.
func checkSetup(t *testing.T, f *fakeMastodon, st *State, g *Graph, posts int) {
	t.Helper()
	created, follows, made := f.counts()
	if len(created) != g.Users {
		t.Errorf("%d accounts created, want %d", len(created), g.Users)
	}
	for name, n := range created {
		if n != 1 {
			t.Errorf("account %s created %d times", name, n)
		}
	}
	if len(st.Users) != g.Users {
		t.Fatalf("state has %d users, want %d", len(st.Users), g.Users)
	}
	want := map[[2]string]bool{}
	for i, fo := range g.Follows {
		k := [2]string{st.Users[fo.From].ID, st.Users[fo.To].ID}
		want[k] = true
		if follows[k] != 1 {
			t.Errorf("follow %d (%v) made %d times", i, fo, follows[k])
		}
		if !st.FollowsDone.Has(i) {
			t.Errorf("follow %d not recorded", i)
		}
	}
	if len(follows) != len(want) {
		t.Errorf("%d follows made, want %d", len(follows), len(want))
	}
	for i, u := range st.Users {
		if !u.Ready() || created[u.Username] != 1 {
			t.Errorf("user %d = %+v not ready or not created", i, u)
		}
		if made[u.ID] != posts || u.Posts != posts {
			t.Errorf("user %d: %d posts made, %d recorded, want %d", i, made[u.ID], u.Posts, posts)
		}
	}
}

func TestSetupTakenUsername(t *testing.T) {
	f := newFakeMastodon(t)
	f.mu.Lock()
	f.addAccount("pfx_3") // as if an earlier setup had died before recording it
	f.mu.Unlock()
	st, err := Setup(context.Background(), SetupConfig{Targets: []string{f.URL}, Graph: "none:5", Prefix: "pfx", Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Users[3].Username; got != "pfx_3r1" {
		t.Errorf("user 3 is %q, want pfx_3r1", got)
	}
	if got := st.Users[4].Username; got != "pfx_4" {
		t.Errorf("user 4 is %q, want pfx_4", got)
	}
}

func TestSetupTokens(t *testing.T) {
	f := newFakeMastodon(t)
	var lines []string
	f.mu.Lock()
	for _, name := range []string{"alice", "bob", "carol"} {
		a := f.addAccount(name)
		lines = append(lines, name+" "+a.Token)
	}
	f.mu.Unlock()
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("# accounts\n"+strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	toks, err := ReadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Setup(context.Background(), SetupConfig{Targets: []string{f.URL}, Tokens: toks, Graph: "none", PostsPerUser: 1})
	if err != nil {
		t.Fatal(err)
	}
	created, _, posts := f.counts()
	if len(created) != 0 {
		t.Errorf("signed up %v with tokens given", created)
	}
	for i, u := range st.Users {
		if !u.Ready() || u.Username != []string{"alice", "bob", "carol"}[i] || posts[u.ID] != 1 {
			t.Errorf("user %d = %+v, %d posts", i, u, posts[u.ID])
		}
	}
	if _, err := Setup(context.Background(), SetupConfig{Targets: []string{f.URL}, Tokens: toks, Graph: "powerlaw:10"}); err == nil {
		t.Error("a 10-account graph with 3 tokens did not fail")
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", -1}, {"0", 0}, {"3", 3 * time.Second}, {"junk", -1}, {"-4", 0}, {"99999", 5 * time.Minute},
		{now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := retryAfter(tt.in, now); got != tt.want {
				t.Errorf("retryAfter(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// TestSetupRetries has the server refuse the first attempt of every write
// with 429 or 503 (and a Retry-After of 0): setup must retry them and still
// do everything exactly once.
func TestSetupRetries(t *testing.T) {
	f := newFakeMastodon(t)
	var mu sync.Mutex
	seen := map[string]bool{}
	flaky := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			key := r.URL.Path + " " + r.Header.Get("Authorization") + " " + string(body)
			mu.Lock()
			first := !seen[key]
			seen[key] = true
			n := len(seen)
			mu.Unlock()
			if first {
				w.Header().Set("Retry-After", "0")
				w.WriteHeader([]int{http.StatusTooManyRequests, http.StatusServiceUnavailable}[n%2])
				return
			}
		}
		f.srv.Config.Handler.ServeHTTP(w, r)
	})
	front := testServer(t, flaky)
	g, _ := LoadGraph("powerlaw:8", "", 1)
	st, err := Setup(context.Background(), SetupConfig{Targets: []string{front.URL}, Graph: "powerlaw:8", PostsPerUser: 1, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	checkSetup(t, f, st, g, 1)
}

// TestSetupPartialFailure: the largest account cannot sign up. Setup does
// everything else (its followers' other follows included), reports what is
// missing, and a later setup finishes the job.
func TestSetupPartialFailure(t *testing.T) {
	f := newFakeMastodon(t)
	var broken atomic.Bool
	broken.Store(true)
	front := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() && r.URL.Path == "/api/v1/accounts" && r.FormValue("username") == "pf_0" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		f.srv.Config.Handler.ServeHTTP(w, r)
	})
	g, _ := LoadGraph("powerlaw:200", "", 1)
	cfg := SetupConfig{Targets: []string{front.URL}, Graph: "powerlaw:200", Prefix: "pf", PostsPerUser: 1,
		StatePath: filepath.Join(t.TempDir(), "s.json"), Concurrency: 4}
	st, err := Setup(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "1 requests failed") || !strings.Contains(err.Error(), "waiting for their accounts") {
		t.Fatalf("err = %v", err)
	}
	involving0 := 0
	for _, fo := range g.Follows {
		if fo.From == 0 || fo.To == 0 {
			involving0++
		}
	}
	if done := st.FollowsDone.Count(); done != len(g.Follows)-involving0 || involving0 < 100 {
		t.Fatalf("%d follows done, want %d (all but the %d of account 0)", done, len(g.Follows)-involving0, involving0)
	}
	broken.Store(false)
	cfg.Targets, cfg.Graph, cfg.Prefix = nil, "", ""
	if st, err = Setup(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	checkSetup(t, f, st, g, 1)
}
