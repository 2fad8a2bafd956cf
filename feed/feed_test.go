package feed_test

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/feed"
	"github.com/starling-social/starling/internal/startest"
	"github.com/starling-social/starling/remote"
)

// profiles is an AuthService that only knows profiles: the Feed service
// needs nothing else from Auth, and creating thousands of real accounts
// would spend the test's time hashing passwords.
type profiles struct {
	starling.AuthService // unused methods panic
	mu                   sync.Mutex
	byID                 map[starling.ID]*starling.Account
}

func newProfiles() *profiles { return &profiles{byID: map[starling.ID]*starling.Account{}} }

func (p *profiles) add(id starling.ID, name string, locked bool) {
	p.mu.Lock()
	p.byID[id] = &starling.Account{ID: id, Username: name, Locked: locked, Privacy: starling.Public, CreatedAt: time.Now()}
	p.mu.Unlock()
}

func (p *profiles) Account(ctx context.Context, id starling.ID) (*starling.Account, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a := p.byID[id]; a != nil {
		return a, nil
	}
	return nil, &starling.Error{Code: starling.NotFound, Message: "Record not found"}
}

func (p *profiles) Accounts(ctx context.Context, ids []starling.ID) ([]*starling.Account, error) {
	var out []*starling.Account
	for _, id := range ids {
		if a, err := p.Account(ctx, id); err == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

func (p *profiles) LookupAccount(ctx context.Context, name string) (*starling.Account, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.byID {
		if strings.EqualFold(a.Username, name) {
			return a, nil
		}
	}
	return nil, &starling.Error{Code: starling.NotFound, Message: "Record not found"}
}

type env struct {
	eng  *engine.Engine
	ids  *engine.IDs
	auth *profiles
}

func newEnv(t *testing.T) *env {
	t.Helper()
	eng := startest.Engine(t)
	return &env{eng: eng, ids: startest.IDs(t, eng), auth: newProfiles()}
}

// service starts a Feed service on the environment's engine and waits for
// its view.
func (e *env) service(t *testing.T, threshold int) *feed.Service {
	t.Helper()
	u, _ := url.Parse("https://starling.test")
	tel := startest.Telemetry(t)
	nc := e.eng.Conn()
	svc, err := feed.New(context.Background(), feed.Config{Engine: e.eng, IDs: e.ids, Auth: e.auth, Telemetry: tel,
		PublicURL: u, FanoutThreshold: threshold, Remote: remote.NewFeedClient(nc, tel, e.eng.Config().Partitions),
		Peers: remote.NewFeedPartitionsClient(nc, tel),
		Expose: func(p int, svc starling.FeedService, parts starling.FeedPartitions) (func(), error) {
			srv, err := remote.ServeFeedPartition(nc, tel, p, svc, parts)
			if err != nil {
				return nil, err
			}
			return func() { _ = srv.Stop() }, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := svc.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return svc
}

// account creates a profile and returns its ID.
func (e *env) account(t *testing.T, name string) starling.ID {
	t.Helper()
	id, err := e.ids.Next()
	if err != nil {
		t.Fatal(err)
	}
	e.auth.add(id, name, false)
	return id
}

// remote serves local over NATS and returns a client of it, on a
// connection of its own.
func (e *env) remote(t *testing.T, local *feed.Service) starling.FeedService {
	t.Helper()
	srv, err := remote.ServeFeed(e.eng.Conn(), startest.Telemetry(t), local)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	nc, err := nats.Connect(e.eng.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return remote.NewFeedClient(nc, startest.Telemetry(t), e.eng.Config().Partitions)
}

// TestContract runs the same operations against the local service and a
// NATS client of it.
func TestContract(t *testing.T) {
	e := newEnv(t)
	local := e.service(t, 0)
	impls := map[string]starling.FeedService{"local": local, "remote": e.remote(t, local)}
	for name, svc := range impls {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a, b := e.account(t, name+"a"), e.account(t, name+"b")
			if _, err := svc.Follow(ctx, b, a, starling.FollowOptions{}); err != nil {
				t.Fatal(err)
			}
			st, err := svc.CreateStatus(ctx, a, starling.NewStatus{Text: "hello @" + name + "b #Tag"})
			if err != nil {
				t.Fatal(err)
			}
			if st.Account == nil || st.Account.ID != a || len(st.Mentions) != 1 || st.Tags[0] != "tag" || st.Account.StatusesCount != 1 {
				t.Fatalf("created = %+v", st)
			}
			home, err := svc.HomeTimeline(ctx, b, starling.Page{})
			if err != nil || len(home) != 1 || home[0].ID != st.ID {
				t.Fatalf("home = %v, %v", home, err)
			}
			fav, err := svc.Favourite(ctx, b, st.ID)
			if err != nil || !fav.Viewer.Favourited || fav.Counts.Favourites != 1 {
				t.Fatalf("favourite = %+v, %v", fav, err)
			}
			_, err = svc.Status(ctx, b, 12345)
			if starling.ErrorCode(err) != starling.NotFound {
				t.Fatalf("missing status: %v", err)
			}
			_, err = svc.CreateStatus(ctx, a, starling.NewStatus{Text: strings.Repeat("x", 501)})
			if e := starling.AsError(err); e == nil || e.Code != starling.Invalid || !strings.Contains(e.Message, "500") {
				t.Fatalf("too long: %v", err)
			}
			rels, err := svc.Relationships(ctx, b, []starling.ID{a})
			if err != nil || !rels[0].Following {
				t.Fatalf("relationships = %v, %v", rels, err)
			}
			if _, err := svc.DeleteStatus(ctx, a, st.ID); err != nil {
				t.Fatal(err)
			}
			if home, _ := svc.HomeTimeline(ctx, b, starling.Page{}); len(home) != 0 {
				t.Fatalf("home after delete = %v", home)
			}
		})
	}
}

// datasets finds ../shared/datasets from the package directory upward.
func datasets(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for range 6 {
		p := filepath.Join(dir, "shared", "datasets")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		dir = filepath.Dir(dir)
	}
	t.Skip("shared/datasets not found")
	return ""
}

func loadEdges(t *testing.T, path string) [][2]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var a, b int
		if _, err := fmt.Sscan(sc.Text(), &a, &b); err == nil {
			out = append(out, [2]int{a, b})
		}
	}
	return out
}

// TestReed98HomesConverge loads the Reed98 graph (each undirected edge is
// two follows), posts from every user concurrently, and checks that every
// home timeline equals the merge of the followed accounts' posts — on the
// service that wrote everything and on a second instance that rebuilt its
// view from the streams.
func TestReed98HomesConverge(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a 962-user graph")
	}
	edges := loadEdges(t, filepath.Join(datasets(t), "socfb-Reed98", "socfb-Reed98.edges"))
	e := newEnv(t)
	svc := e.service(t, 0)
	ctx := context.Background()

	n := 0
	for _, ed := range edges {
		n = max(n, ed[0]+1, ed[1]+1)
	}
	users := make([]starling.ID, n)
	for i := range users {
		users[i] = e.account(t, fmt.Sprintf("u%d", i))
	}
	following := make([]map[int]bool, n)
	for i := range following {
		following[i] = map[int]bool{}
	}
	var follows [][2]int
	for _, ed := range edges {
		follows = append(follows, [2]int{ed[0], ed[1]}, [2]int{ed[1], ed[0]})
		following[ed[0]][ed[1]] = true
		following[ed[1]][ed[0]] = true
	}
	parallel(t, len(follows), 16, func(i int) error {
		_, err := svc.Follow(ctx, users[follows[i][0]], users[follows[i][1]], starling.FollowOptions{})
		return err
	})
	const perUser = 2
	posts := make([][]starling.ID, n)
	var mu sync.Mutex
	order := rand.Perm(n * perUser)
	parallel(t, len(order), 16, func(i int) error {
		u := order[i] % n
		st, err := svc.CreateStatus(ctx, users[u], starling.NewStatus{Text: fmt.Sprintf("post %d from u%d", i, u)})
		if err != nil {
			return err
		}
		mu.Lock()
		posts[u] = append(posts[u], st.ID)
		mu.Unlock()
		return nil
	})
	expected := func(u int) []starling.ID {
		var want []starling.ID
		want = append(want, posts[u]...)
		for f := range following[u] {
			want = append(want, posts[f]...)
		}
		slices.SortFunc(want, func(a, b starling.ID) int { return cmp.Compare(b, a) })
		if len(want) > 800 {
			want = want[:800]
		}
		return want
	}
	check := func(name string, s starling.FeedService) {
		t.Helper()
		bad := 0
		for u := range n {
			got := readHome(t, s, users[u])
			if want := expected(u); !slices.Equal(got, want) {
				bad++
				if bad <= 3 {
					t.Errorf("%s: home of u%d has %d entries, want %d", name, u, len(got), len(want))
				}
			}
		}
		if bad > 0 {
			t.Fatalf("%s: %d of %d home timelines differ", name, bad, n)
		}
	}
	check("writer", svc)
	// Restarted, the service loads the snapshots its partitions left when
	// it stopped and replays the streams' tail: the same homes.
	svc.Close()
	svc = e.service(t, 0)
	check("restarted", svc)
	// Counters equal their edges.
	accts, err := svc.Accounts(ctx, users[:50])
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range accts {
		if a.FollowersCount != int64(len(following[i])) || a.FollowingCount != int64(len(following[i])) || a.StatusesCount != perUser {
			t.Fatalf("u%d counters %d/%d/%d, want %d/%d/%d", i, a.FollowersCount, a.FollowingCount, a.StatusesCount, len(following[i]), len(following[i]), perUser)
		}
	}
}

// readHome pages through a whole home timeline.
func readHome(t *testing.T, s starling.FeedService, u starling.ID) []starling.ID {
	t.Helper()
	var out []starling.ID
	var max starling.ID
	for range 30 {
		page, err := s.HomeTimeline(context.Background(), u, starling.Page{MaxID: max, Limit: 40})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, st := range page {
			out = append(out, st.ID)
		}
		max = page[len(page)-1].ID
	}
	return out
}

// parallel runs f(0..n-1) on workers goroutines and fails on the first error.
func parallel(t *testing.T, n, workers int, f func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// TestRebuild rebuilds the derived data while serving and finds the same
// timelines and counters.
func TestRebuild(t *testing.T) {
	e := newEnv(t)
	svc := e.service(t, 0)
	ctx := context.Background()
	a, b := e.account(t, "ra"), e.account(t, "rb")
	if _, err := svc.Follow(ctx, b, a, starling.FollowOptions{}); err != nil {
		t.Fatal(err)
	}
	var want []starling.ID
	for i := range 5 {
		st, err := svc.CreateStatus(ctx, a, starling.NewStatus{Text: fmt.Sprintf("post %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		want = append([]starling.ID{st.ID}, want...)
	}
	took, err := svc.Rebuild(ctx)
	if err != nil || took <= 0 {
		t.Fatalf("rebuild: %v %v", took, err)
	}
	if got := readHome(t, svc, b); !slices.Equal(got, want) {
		t.Fatalf("home after rebuild = %v, want %v", got, want)
	}
	accts, err := svc.Accounts(ctx, []starling.ID{a})
	if err != nil || accts[0].StatusesCount != 5 || accts[0].FollowersCount != 1 {
		t.Fatalf("counters after rebuild = %+v, %v", accts, err)
	}
	// Writes after the rebuild land in the new view.
	st, err := svc.CreateStatus(ctx, a, starling.NewStatus{Text: "after"})
	if err != nil {
		t.Fatal(err)
	}
	if got := readHome(t, svc, b); len(got) != 6 || got[0] != st.ID {
		t.Fatalf("home after a new post = %v", got)
	}
}

// TestInteractionsOfReblog: asked about a reblog, FavouritedBy and
// RebloggedBy list the original's interactions (where they are stored).
func TestInteractionsOfReblog(t *testing.T) {
	e := newEnv(t)
	svc := e.service(t, 0)
	ctx := context.Background()
	a, b, c := e.account(t, "ia"), e.account(t, "ib"), e.account(t, "ic")
	st, err := svc.CreateStatus(ctx, a, starling.NewStatus{Text: "original"})
	if err != nil {
		t.Fatal(err)
	}
	wrapper, err := svc.Reblog(ctx, b, st.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Favourite(ctx, c, st.ID); err != nil {
		t.Fatal(err)
	}
	favs, err := svc.FavouritedBy(ctx, 0, wrapper.ID, starling.Page{})
	if err != nil || len(favs.Accounts) != 1 || favs.Accounts[0].ID != c {
		t.Fatalf("favourited_by of the reblog = %+v, %v", favs, err)
	}
	boosts, err := svc.RebloggedBy(ctx, 0, wrapper.ID, starling.Page{})
	if err != nil || len(boosts.Accounts) != 1 || boosts.Accounts[0].ID != b {
		t.Fatalf("reblogged_by of the reblog = %+v, %v", boosts, err)
	}
}

// TestStats checks the instance figures: live statuses (reblogs in,
// deleted out) and per-period activity, locally and over NATS.
func TestStats(t *testing.T) {
	e := newEnv(t)
	local := e.service(t, 0)
	ctx := context.Background()
	a, b := e.account(t, "sa"), e.account(t, "sb")
	var first starling.ID
	for i := range 3 {
		st, err := local.CreateStatus(ctx, a, starling.NewStatus{Text: fmt.Sprint("post ", i)})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = st.ID
		}
	}
	if _, err := local.Reblog(ctx, b, first, starling.Public); err != nil {
		t.Fatal(err)
	}
	gone, err := local.CreateStatus(ctx, b, starling.NewStatus{Text: "soon gone"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := local.DeleteStatus(ctx, b, gone.ID); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	periods := []starling.Period{{From: now.Add(-time.Hour), To: now.Add(time.Minute)}, {From: now.Add(-48 * time.Hour), To: now.Add(-24 * time.Hour)}}
	for name, svc := range map[string]starling.FeedService{"local": local, "remote": e.remote(t, local)} {
		stats, err := svc.Stats(ctx, periods)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := &starling.FeedStats{Statuses: 4, Periods: []starling.PeriodActivity{{Statuses: 4, Accounts: 2}, {}}}
		if fmt.Sprint(stats) != fmt.Sprint(want) {
			t.Errorf("%s: stats = %+v, want %+v", name, stats, want)
		}
	}
	if _, err := local.Stats(ctx, make([]starling.Period, starling.MaxStatsPeriods+1)); starling.ErrorCode(err) != starling.Invalid {
		t.Fatalf("too many periods: %v", err)
	}
}
