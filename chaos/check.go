package chaos

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// CheckReport is what the checker proved, or the violations it found.
type CheckReport struct {
	// Violations is empty when every property holds.
	Violations []string
	// Converged is how long the checks took to pass (from the first check).
	Converged time.Duration
	Rounds    int
	// What was checked.
	Accounts, Ambiguous, Posts, Follows, Favourites, Homes, Races int
}

// OK reports whether no violation was found.
func (r *CheckReport) OK() bool { return len(r.Violations) == 0 }

type violations struct {
	mu   sync.Mutex
	list []string
}

func (v *violations) add(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.list) < 200 {
		v.list = append(v.list, fmt.Sprintf(format, args...))
	}
}

// Check verifies the workload's properties through every gateway, again and
// again until they all hold or timeout passes (derived data converges
// asynchronously). Every node must be up.
func (w *Workload) Check(ctx context.Context, timeout time.Duration) *CheckReport {
	start := time.Now()
	var rep *CheckReport
	for round := 1; ; round++ {
		rep = w.checkOnce(ctx)
		rep.Rounds = round
		rep.Converged = time.Since(start)
		if rep.OK() || time.Since(start) > timeout || ctx.Err() != nil {
			return rep
		}
		w.opts.Logf("check round %d: %d violations (first: %s); retrying", round, len(rep.Violations), rep.Violations[0])
		select {
		case <-ctx.Done():
			return rep
		case <-time.After(2 * time.Second):
		}
	}
}

type acctJSON struct {
	ID             string `json:"id"`
	Username       string `json:"username"`
	FollowersCount int    `json:"followers_count"`
	FollowingCount int    `json:"following_count"`
	StatusesCount  int    `json:"statuses_count"`
}

type statusJSON struct {
	ID              string   `json:"id"`
	Content         string   `json:"content"`
	Account         acctJSON `json:"account"`
	FavouritesCount int      `json:"favourites_count"`
}

// list reads every page of a JSON list (max_id paging through Link
// headers).
func list[T any](ctx context.Context, w *Workload, node int, path, token string) ([]T, error) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var out []T
	next := ""
	for page := 0; page < 100; page++ {
		p := path
		if next != "" {
			p += sep + "max_id=" + url.QueryEscape(next)
		}
		r, err := w.c.get(ctx, node, p, token)
		if err != nil {
			return nil, err
		}
		var l []T
		if err := r.decode(&l); err != nil {
			return nil, err
		}
		out = append(out, l...)
		next = nextMaxID(r.Header)
		if next == "" || len(l) == 0 {
			return out, nil
		}
	}
	return nil, fmt.Errorf("%s: more than 100 pages", path)
}

// accountIDs reads every page of an account list and returns the IDs.
func (w *Workload) accountIDs(ctx context.Context, node int, path string) ([]string, error) {
	l, err := list[acctJSON](ctx, w, node, path, "")
	if err != nil {
		return nil, err
	}
	out := make([]string, len(l))
	for i, a := range l {
		out[i] = a.ID
	}
	return out, nil
}

func statusIDs(l []statusJSON) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = s.ID
	}
	return out
}

func countOf(l []string, s string) int {
	n := 0
	for _, x := range l {
		if x == s {
			n++
		}
	}
	return n
}

// checkOnce runs every check once.
func (w *Workload) checkOnce(ctx context.Context) *CheckReport {
	v := &violations{}
	rep := &CheckReport{}
	nodes := len(w.opts.URLs())
	w.mu.Lock()
	users := make([]user, len(w.users))
	for i, u := range w.users {
		users[i] = *u
	}
	posts := make([]post, len(w.posts))
	for i, p := range w.posts {
		posts[i] = *p
	}
	follows := map[[2]int]edge{}
	for k, e := range w.follow {
		follows[k] = *e
	}
	favs := map[[2]int]edge{}
	for k, e := range w.favs {
		favs[k] = *e
	}
	races := append([]*race(nil), w.races...)
	w.mu.Unlock()

	// 1. Accounts: every acknowledged sign-up exists under its name on
	// every node, and no name has two accounts.
	byName := map[string]map[string]bool{}
	idOf := map[int]string{} // user index -> account ID (acked or resolved)
	ackedIDs := map[string]bool{}
	for _, u := range users {
		if u.state == userAcked {
			ackedIDs[u.id] = true
		}
	}
	for i, u := range users {
		switch u.state {
		case userAcked:
			rep.Accounts++
			idOf[i] = u.id
		case userAmbiguous:
			rep.Ambiguous++
		default:
			continue
		}
		for node := 0; node < nodes; node++ {
			r, err := w.c.get(ctx, node, "/api/v1/accounts/lookup?acct="+url.QueryEscape(u.name), "")
			if err != nil {
				if u.state == userAcked || r == nil || r.Status != 404 {
					v.add("account %s: lookup on node %d: %v", u.name, node, err)
				}
				continue
			}
			var a acctJSON
			if err := r.decode(&a); err != nil {
				v.add("account %s: %v", u.name, err)
				continue
			}
			if byName[u.name] == nil {
				byName[u.name] = map[string]bool{}
			}
			byName[u.name][a.ID] = true
			if u.state == userAcked && a.ID != u.id {
				v.add("account %s: node %d finds id %s, the sign-up acknowledged %s", u.name, node, a.ID, u.id)
			}
			if u.state == userAmbiguous && !ackedIDs[a.ID] {
				// Created by an attempt whose answer was lost (or the
				// name's other racer, already known).
				idOf[i] = a.ID
			}
		}
	}
	for name, set := range byName {
		if len(set) > 1 {
			v.add("username %s has %d accounts", name, len(set))
		}
	}
	for _, r := range races {
		rep.Races++
		if len(r.acked) > 1 {
			v.add("username %s: %d concurrent sign-ups were acknowledged: %v", r.name, len(r.acked), r.acked)
		}
	}

	// 2. Every account's lists and counters, on every node, agree with
	// each other and with the acknowledged writes.
	type lists struct {
		statuses             []statusJSON
		following, followers []string
		acct                 acctJSON
	}
	per := make([]map[int]*lists, nodes) // node -> user -> lists
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 6)
	for node := 0; node < nodes; node++ {
		per[node] = map[int]*lists{}
		for i, id := range idOf {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				l := &lists{}
				r, err := w.c.get(ctx, node, "/api/v1/accounts/"+id, "")
				if err == nil {
					err = r.decode(&l.acct)
				}
				if err != nil {
					v.add("account %s on node %d: %v", id, node, err)
					return
				}
				l.statuses, err = list[statusJSON](ctx, w, node, "/api/v1/accounts/"+id+"/statuses?limit=40", "")
				if err != nil {
					v.add("statuses of %s on node %d: %v", id, node, err)
					return
				}
				l.following, err = w.accountIDs(ctx, node, "/api/v1/accounts/"+id+"/following?limit=80")
				if err != nil {
					v.add("following of %s on node %d: %v", id, node, err)
					return
				}
				l.followers, err = w.accountIDs(ctx, node, "/api/v1/accounts/"+id+"/followers?limit=80")
				if err != nil {
					v.add("followers of %s on node %d: %v", id, node, err)
					return
				}
				mu.Lock()
				per[node][i] = l
				mu.Unlock()
			}()
		}
	}
	wg.Wait()

	for node := 0; node < nodes; node++ {
		for i, l := range per[node] {
			id := idOf[i]
			if l.acct.StatusesCount != len(l.statuses) {
				v.add("node %d: account %s has statuses_count %d but %d statuses", node, id, l.acct.StatusesCount, len(l.statuses))
			}
			if l.acct.FollowingCount != len(l.following) {
				v.add("node %d: account %s has following_count %d but follows %d", node, id, l.acct.FollowingCount, len(l.following))
			}
			if l.acct.FollowersCount != len(l.followers) {
				v.add("node %d: account %s has followers_count %d but %d followers", node, id, l.acct.FollowersCount, len(l.followers))
			}
			for _, f := range l.following {
				if countOf(l.following, f) != 1 {
					v.add("node %d: %s follows %s %d times", node, id, f, countOf(l.following, f))
				}
			}
			if node > 0 && per[0][i] != nil {
				o := per[0][i]
				if !slices.Equal(statusIDs(l.statuses), statusIDs(o.statuses)) {
					v.add("statuses of %s differ between node 0 and node %d", id, node)
				}
				if !slices.Equal(l.following, o.following) || !slices.Equal(l.followers, o.followers) {
					v.add("follow lists of %s differ between node 0 and node %d", id, node)
				}
			}
		}
	}
	// Index node 0's data.
	userByID := map[string]int{}
	for i, id := range idOf {
		userByID[id] = i
	}
	base := per[0]

	// 3. Posts: every acknowledged post is in its author's list exactly
	// once; no post key appears twice anywhere.
	keyCount := map[string]int{}
	statusByID := map[string]statusJSON{}
	keyPrefix := fmt.Sprintf("c%xp", w.opts.Seed&0xffff)
	for _, l := range base {
		for _, s := range l.statuses {
			statusByID[s.ID] = s
			for _, f := range strings.Fields(stripTags(s.Content)) {
				if strings.HasPrefix(f, keyPrefix) {
					keyCount[f]++
				}
			}
		}
	}
	for _, p := range posts {
		if keyCount[p.key] > 1 {
			v.add("post %s stored %d times", p.key, keyCount[p.key])
		}
		if !p.acked {
			continue
		}
		rep.Posts++
		s, found := statusByID[p.id]
		if !found {
			v.add("acknowledged post %s (%s) missing from its author's statuses", p.id, p.key)
			continue
		}
		if !strings.Contains(s.Content, p.key) || s.Account.ID != idOf[p.author] {
			v.add("post %s: content or author changed: %+v", p.id, s)
		}
		for node := 0; node < nodes; node++ {
			if _, err := w.c.get(ctx, node, "/api/v1/statuses/"+p.id, ""); err != nil {
				v.add("acknowledged post %s not readable on node %d: %v", p.id, node, err)
			}
		}
	}

	// 4. Follows: acknowledged edges exist; lists only hold attempted
	// edges; following and followers mirror each other.
	for k, e := range follows {
		a, b := idOf[k[0]], idOf[k[1]]
		if a == "" || b == "" || base[k[0]] == nil {
			continue
		}
		if e.acked {
			rep.Follows++
			if countOf(base[k[0]].following, b) != 1 {
				v.add("acknowledged follow %s -> %s missing", a, b)
			}
		}
	}
	for i, l := range base {
		for _, f := range l.following {
			j, known := userByID[f]
			if !known || !follows[[2]int{i, j}].sent {
				v.add("%s follows %s, which nobody asked for", idOf[i], f)
				continue
			}
			if base[j] != nil && countOf(base[j].followers, idOf[i]) != 1 {
				v.add("%s follows %s but is not among its followers", idOf[i], f)
			}
		}
		for _, f := range l.followers {
			j, known := userByID[f]
			if !known || base[j] == nil || countOf(base[j].following, idOf[i]) != 1 {
				v.add("%s is followed by %s, which does not follow it", idOf[i], f)
			}
		}
	}

	// 5. Favourites: acknowledged ones exist once; the count is the list.
	favPosts := map[int]bool{}
	for k, e := range favs {
		favPosts[k[1]] = true
		if e.acked {
			rep.Favourites++
		}
	}
	for pi := range favPosts {
		p := posts[pi]
		for node := 0; node < nodes; node++ {
			favIDs, err := w.accountIDs(ctx, node, "/api/v1/statuses/"+p.id+"/favourited_by?limit=80")
			if err != nil {
				v.add("favourited_by of %s on node %d: %v", p.id, node, err)
				continue
			}
			r, err := w.c.get(ctx, node, "/api/v1/statuses/"+p.id, "")
			var st statusJSON
			if err == nil {
				err = r.decode(&st)
			}
			if err != nil {
				v.add("post %s on node %d: %v", p.id, node, err)
				continue
			}
			if st.FavouritesCount != len(favIDs) {
				v.add("node %d: post %s has favourites_count %d but %d favourites", node, p.id, st.FavouritesCount, len(favIDs))
			}
			for _, f := range favIDs {
				j, known := userByID[f]
				if countOf(favIDs, f) != 1 {
					v.add("node %d: %s favourited %s %d times", node, f, p.id, countOf(favIDs, f))
				}
				if !known || !favs[[2]int{j, pi}].sent {
					v.add("node %d: %s favourited %s, which nobody asked for", node, f, p.id)
				}
			}
			for k, e := range favs {
				if k[1] == pi && e.acked && countOf(favIDs, idOf[k[0]]) != 1 {
					v.add("node %d: acknowledged favourite of %s by %s missing", node, p.id, idOf[k[0]])
				}
			}
		}
	}

	// 6. Home timelines: each is the newest 800 statuses of the user and
	// the accounts it follows, on every node.
	for i, u := range users {
		if u.state != userAcked || base[i] == nil {
			continue
		}
		rep.Homes++
		want := statusIDs(base[i].statuses)
		for _, f := range base[i].following {
			if j, known := userByID[f]; known && base[j] != nil {
				want = append(want, statusIDs(base[j].statuses)...)
			}
		}
		sort.Slice(want, func(a, b int) bool { return idLess(want[b], want[a]) })
		want = slices.Compact(want)
		if len(want) > 800 {
			want = want[:800]
		}
		for node := 0; node < nodes; node++ {
			home, err := list[statusJSON](ctx, w, node, "/api/v1/timelines/home?limit=40", u.token)
			if err != nil {
				v.add("home of %s on node %d: %v", u.id, node, err)
				continue
			}
			got := statusIDs(home)
			if !slices.Equal(got, want) {
				v.add("home of %s on node %d: %d statuses, want %d (%s)", u.id, node, len(got), len(want), diff(got, want))
			}
		}
	}
	rep.Violations = v.list
	return rep
}

// idLess compares decimal IDs.
func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func diff(got, want []string) string {
	g, w := map[string]bool{}, map[string]bool{}
	for _, x := range got {
		g[x] = true
	}
	for _, x := range want {
		w[x] = true
	}
	var missing, extra []string
	for _, x := range want {
		if !g[x] {
			missing = append(missing, x)
		}
	}
	for _, x := range got {
		if !w[x] {
			extra = append(extra, x)
		}
	}
	if len(missing) > 3 {
		missing = append(missing[:3], "...")
	}
	if len(extra) > 3 {
		extra = append(extra[:3], "...")
	}
	if len(missing) == 0 && len(extra) == 0 {
		return "same statuses, different order"
	}
	return fmt.Sprintf("missing %v, unexpected %v", missing, extra)
}

// stripTags removes HTML tags from rendered content.
func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
			b.WriteByte(' ')
		case r == '>':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}
