package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/starling-social/starling/internal/startest"
)

// TestKillNineDuringFanOut posts from many accounts concurrently, kills the
// process with SIGKILL in the middle, restarts it, and checks that every
// acknowledged post is in every follower's home timeline exactly once.
func TestKillNineDuringFanOut(t *testing.T) {
	dir := t.TempDir()
	args := []string{"serve", "--data", dir, "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:-1", "--ratelimit", "off", "--log-level", "warn"}
	p := startProc(t, args...)
	c := startest.NewClient(t, p.URL)

	const nUsers, nFollows = 12, 6
	users := make([]*startest.User, nUsers)
	for i := range users {
		users[i] = c.SignUp("crash")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	followers := make([][]int, nUsers) // followers[i]: who follows i
	for i := range users {
		for _, j := range rng.Perm(nUsers)[:nFollows] {
			if j == i {
				continue
			}
			users[i].Must(200, "POST", "/api/v1/accounts/"+users[j].ID+"/follow", nil)
			followers[j] = append(followers[j], i)
		}
	}

	var mu sync.Mutex
	acked := map[string]int{} // post id -> author index
	var count atomic.Int64
	killed := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 200; k++ {
				author := (w*31 + k) % nUsers
				r, err := tryPost(users[author], fmt.Sprintf("post %d/%d", w, k))
				if err != nil {
					return // the process is gone
				}
				mu.Lock()
				acked[r] = author
				mu.Unlock()
				if count.Add(1) == 150 {
					close(killed)
				}
			}
		}()
	}
	select {
	case <-killed:
	case <-time.After(60 * time.Second):
		t.Fatal("150 posts were not acknowledged within 60s")
	}
	p.kill(syscall.SIGKILL)
	wg.Wait()
	t.Logf("%d posts acknowledged before SIGKILL", len(acked))

	p = startProc(t, args...)
	c = startest.NewClient(t, p.URL)
	for i, u := range users {
		home := readHome(t, c.As(u.Token))
		seen := map[string]int{}
		for _, id := range home {
			seen[id]++
		}
		for id, n := range seen {
			if n > 1 {
				t.Errorf("home of user %d has post %s %d times", i, id, n)
			}
		}
		for id, author := range acked {
			if author != i && !slices.Contains(followers[author], i) {
				continue
			}
			if seen[id] != 1 {
				t.Errorf("home of user %d lacks acknowledged post %s by user %d", i, id, author)
			}
		}
	}
}

// tryPost posts without failing the test when the server is unreachable.
func tryPost(u *startest.User, text string) (string, error) {
	r, err := u.TryDo("POST", "/api/v1/statuses", startest.Form{"status": {text}})
	if err != nil {
		return "", err
	}
	if r.Status != 200 {
		return "", fmt.Errorf("status %d", r.Status)
	}
	var m map[string]any
	if err := r.Decode(&m); err != nil {
		return "", err
	}
	return m["id"].(string), nil
}

// readHome pages through a whole home timeline (at most 800 entries).
func readHome(t *testing.T, c *startest.Client) []string {
	t.Helper()
	var out []string
	path := "/api/v1/timelines/home?limit=40"
	for range 25 {
		r := c.Must(200, "GET", path, nil)
		l := r.List(t)
		if len(l) == 0 {
			break
		}
		for _, m := range l {
			out = append(out, m["id"].(string))
		}
		path = "/api/v1/timelines/home?limit=40&max_id=" + out[len(out)-1]
	}
	return out
}
