package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/starling-social/starling/internal/startest"
)

func TestVersion(t *testing.T) {
	out, err := runCmd(t, nil, "version")
	if err != nil || !strings.HasPrefix(out, "starling ") {
		t.Fatalf("version = %q, %v", out, err)
	}
	if _, err := runCmd(t, nil, "frobnicate"); err == nil {
		t.Fatal("unknown command accepted")
	}
}

func TestServeFlagsAndEnvironment(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad services flag", nil, []string{"serve", "--services", "auth,bogus"}, "unknown service"},
		{"bad fsync from env", map[string]string{"STARLING_FSYNC": "sometimes"}, []string{"serve"}, "--fsync"},
		{"public nats without token", nil, []string{"serve", "--nats-listen", "0.0.0.0:4999"}, "not loopback"},
		{"bad rate", nil, []string{"serve", "--ratelimit-token", "lots"}, "rate"},
		{"bad public url", map[string]string{"STARLING_PUBLIC_URL": "ftp://x"}, []string{"serve"}, "--public-url"},
		{"no sockets allowed", map[string]string{"STARLING_MAX_SOCKETS_PER_ACCOUNT": "0"}, []string{"serve"}, "--max-sockets"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"STARLING_DATA": t.TempDir(), "STARLING_HTTP": "127.0.0.1:0", "STARLING_NATS_LISTEN": "127.0.0.1:-1"}
			for k, v := range tc.env {
				env[k] = v
			}
			_, err := runCmd(t, env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// serveInProcess runs `starling serve` through run() with configuration
// from the environment, and returns its URL and a stop function that
// returns run's error.
func serveInProcess(t *testing.T, env map[string]string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"starling", "serve"}, func(k string) string { return env[k] }, strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				urls <- u
			}
		}
	}()
	select {
	case u := <-urls:
		var once sync.Once
		var err error
		stop := func() error {
			once.Do(func() { cancel(); err = <-done })
			return err
		}
		t.Cleanup(func() { _ = stop() })
		return u, stop
	case err := <-done:
		cancel()
		t.Fatalf("serve exited: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("serve not ready after 60s")
	}
	return "", nil
}

func TestServeRestartKeepsData(t *testing.T) {
	env := map[string]string{"STARLING_DATA": t.TempDir(), "STARLING_HTTP": "127.0.0.1:0", "STARLING_NATS_LISTEN": "127.0.0.1:-1",
		"STARLING_LOG_LEVEL": "warn", "STARLING_RATELIMIT": "off"}
	url, stop := serveInProcess(t, env)
	c := startest.NewClient(t, url)
	u := c.SignUp("keeper")
	c.Must(200, "GET", "/readyz", nil)
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	url, _ = serveInProcess(t, env)
	c = startest.NewClient(t, url)
	if m := c.Must(200, "GET", "/api/v1/accounts/lookup?acct="+u.Username, nil).Map(t); m["id"] != u.ID {
		t.Fatalf("after restart: %v", m)
	}
	c.As(u.Token).Must(200, "GET", "/api/v1/accounts/verify_credentials", nil)
}

// TestKillNineKeepsAcknowledgedSignUps kills the process with SIGKILL right
// after sign-ups were acknowledged and finds every one after a restart.
func TestKillNineKeepsAcknowledgedSignUps(t *testing.T) {
	dir := t.TempDir()
	args := []string{"serve", "--data", dir, "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:-1", "--ratelimit", "off", "--log-level", "warn"}
	p := startProc(t, args...)
	c := startest.NewClient(t, p.URL)
	var mu sync.Mutex
	var users []*startest.User
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				u := c.SignUp("durable")
				mu.Lock()
				users = append(users, u)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	p.kill(syscall.SIGKILL)

	p = startProc(t, args...)
	c = startest.NewClient(t, p.URL)
	for _, u := range users {
		if r := c.Do("GET", "/api/v1/accounts/lookup?acct="+u.Username, nil); r.Status != 200 {
			t.Errorf("account %s lost after SIGKILL: %d %s", u.Username, r.Status, r.Body)
		}
		if r := c.As(u.Token).Do("GET", "/api/v1/accounts/verify_credentials", nil); r.Status != 200 {
			t.Errorf("token of %s lost after SIGKILL: %d", u.Username, r.Status)
		}
	}
	if len(users) != 20 {
		t.Fatalf("%d sign-ups acknowledged, want 20", len(users))
	}
}

// TestServicesSplitAcrossProcesses runs Auth in one process (which embeds
// the engine) and everything else in another that uses its engine.
func TestServicesSplitAcrossProcesses(t *testing.T) {
	authProc := startProc(t, "serve", "--services", "auth", "--data", t.TempDir(), "--http", "127.0.0.1:0",
		"--nats-listen", "127.0.0.1:-1", "--node-name", "auth-node", "--log-level", "warn")
	edge := startProc(t, "serve", "--services", "feed,media,notify,gateway", "--nats-url", authProc.NATS, "--http", "127.0.0.1:0",
		"--node-name", "edge-node", "--ratelimit", "off", "--log-level", "warn")

	c := startest.NewClient(t, edge.URL)
	u := c.SignUp("split")
	if m := u.Must(200, "GET", "/api/v1/accounts/verify_credentials", nil).Map(t); m["username"] != u.Username {
		t.Fatalf("verify_credentials = %v", m)
	}
	c.Must(200, "GET", "/readyz", nil)
	// The auth node answers operations endpoints but not the API.
	for _, p := range []string{"/healthz", "/livez", "/readyz", "/metrics"} {
		resp, err := http.Get(authProc.URL + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("auth node %s: %v %v", p, resp, err)
		}
		resp.Body.Close()
	}
	// With the auth process gone, the edge reports itself unready and
	// answers auth calls with 503.
	authProc.kill(syscall.SIGKILL)
	startest.Eventually(t, 20*time.Second, "edge still ready without auth", func() bool {
		return c.Do("GET", "/readyz", nil).Status == 503
	})
	r := c.Do("GET", "/api/v1/accounts/lookup?acct="+u.Username, nil)
	if r.Status != 503 {
		t.Fatalf("lookup without auth: %d %s", r.Status, r.Body)
	}

}

func TestAdminRebuild(t *testing.T) {
	p := startProc(t, "serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:-1", "--ratelimit", "off", "--log-level", "warn")
	c := startest.NewClient(t, p.URL)
	u := c.SignUp("rebuild")
	u.Must(200, "POST", "/api/v1/statuses", startest.Form{"status": {"before the rebuild"}})
	out, err := runCmd(t, nil, "admin", "rebuild", "--nats-url", p.NATS)
	if err != nil || !strings.Contains(out, "feed\trebuilt") {
		t.Fatalf("admin rebuild: %q, %v", out, err)
	}
	if l := u.Must(200, "GET", "/api/v1/timelines/home", nil).List(t); len(l) != 1 {
		t.Fatalf("home after rebuild = %v", l)
	}
}
