package monitoring

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// node is a starling process of the test's cluster.
type node struct {
	name, url, nats string
}

// stopOnCleanup stops cmd (SIGINT, then SIGKILL after grace) when the test
// ends and prints logs if it failed.
func stopOnCleanup(t *testing.T, cmd *exec.Cmd, grace time.Duration, logs *bytes.Buffer) {
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(grace):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() && logs != nil {
			t.Logf("%s logged:\n%s", filepath.Base(cmd.Path), tail(logs.String(), 4000))
		}
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// startCluster runs `starling cluster up --nodes 3` (three processes on
// loopback, joined by routes, every stream on three replicas) and returns
// the nodes it prints once they are ready.
func startCluster(t *testing.T, bin string, env []string) []node {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(bin, "cluster", "up", "--nodes", "3", "--data", dir)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, cmd, 60*time.Second, &logs)
	found := make(chan []node, 1)
	go func() {
		var nodes []node
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			// node-1  http://127.0.0.1:41234  engine nats://127.0.0.1:40001  routes ...
			f := strings.Fields(sc.Text())
			if len(f) >= 4 && strings.HasPrefix(f[0], "node-") && f[2] == "engine" {
				nodes = append(nodes, node{name: f[0], url: f[1], nats: f[3]})
				if len(nodes) == 3 {
					found <- nodes
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case nodes := <-found:
		return nodes
	case <-time.After(3 * time.Minute):
		t.Fatalf("the cluster did not start; logs in %s", dir)
	}
	return nil
}

// startGateway runs a gateway-only node on the cluster's engine, as the
// Kubernetes gateways run.
func startGateway(t *testing.T, bin string, env []string, nats string) node {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--services", "gateway", "--nats-url", nats, "--replicas", "3",
		"--http", "127.0.0.1:0", "--node-name", "gateway-1")
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, cmd, 30*time.Second, &logs)
	got := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				got <- u
			}
		}
	}()
	select {
	case u := <-got:
		return node{name: "gateway-1", url: u}
	case <-time.After(time.Minute):
		t.Fatal("the gateway did not start")
	}
	return node{}
}

// startPrometheus runs Prometheus with the repository's prometheus.yml,
// rules.yml and alerts.yml, its static targets replaced by the test's
// nodes and its intervals shortened to a second.
func startPrometheus(t *testing.T, bin string, targets []string) promAPI {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"rules.yml", "alerts.yml"} {
		data, err := os.ReadFile(filepath.Join(promDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var cfg map[string]any
	readYAML(t, filepath.Join(promDir, "prometheus.yml"), &cfg)
	cfg["global"] = map[string]any{"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
	jobs, _ := cfg["scrape_configs"].([]any)
	if len(jobs) != 1 {
		t.Fatalf("prometheus.yml has %d scrape jobs, want the one for starling", len(jobs))
	}
	job := jobs[0].(map[string]any)
	if job["job_name"] != "starling" || job["metrics_path"] != "/metrics" {
		t.Fatalf("prometheus.yml's job: %v", job)
	}
	static := job["static_configs"].([]any)[0].(map[string]any)
	static["targets"] = targets
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, out, 0o644); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	cmd := exec.Command(bin, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopOnCleanup(t, cmd, 10*time.Second, &logs)
	eventually(t, 30*time.Second, "Prometheus ready", func() bool {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return promAPI{base: "http://" + addr}
}

// client is a minimal Mastodon API client.
type client struct {
	t     *testing.T
	base  string
	token string
}

func (c client) call(method, path string, form url.Values, header http.Header) map[string]any {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		c.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, body)
	}
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return m
}

// signUp registers an account through base and returns a client acting as
// it.
func signUp(t *testing.T, base, name string) client {
	c := client{t: t, base: base}
	app := c.call("POST", "/api/v1/apps", url.Values{"client_name": {"monitoring test"}, "redirect_uris": {"urn:ietf:wg:oauth:2.0:oob"}, "scopes": {"read write follow"}}, nil)
	tok := c.call("POST", "/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {app["client_id"].(string)},
		"client_secret": {app["client_secret"].(string)}, "scope": {"read write follow"}}, nil)
	c.token = tok["access_token"].(string)
	acct := c.call("POST", "/api/v1/accounts", url.Values{"username": {name}, "email": {name + "@example.com"},
		"password": {"correct horse battery"}, "agreement": {"true"}, "locale": {"en"}}, nil)
	c.token = acct["access_token"].(string)
	return c
}

// TestPrometheusScrapesACluster runs the monitoring stack for real: a
// 3-node cluster and a gateway-only node (the Kubernetes topology), a real
// Prometheus with the repository's configuration and rules scraping them,
// and an OTLP receiver the nodes export their spans to. It checks that
// every target is up, every recording rule produces series, every rule
// evaluates without error and no cluster alert is active on a healthy
// cluster, every dashboard query runs, and one request's spans across two
// nodes form one trace.
func TestPrometheusScrapesACluster(t *testing.T) {
	prometheus := tool(t, "prometheus")
	bin := starlingBinary(t)
	otlp := newOTLPReceiver(t)
	env := append(os.Environ(), "OTEL_EXPORTER_OTLP_ENDPOINT="+otlp.url, "OTEL_BSP_SCHEDULE_DELAY=100",
		"STARLING_LOG_LEVEL=warn", "STARLING_RATELIMIT=off")
	nodes := startCluster(t, bin, env)
	gw := startGateway(t, bin, env, nodes[0].nats)
	var targets []string
	for _, n := range append(nodes, gw) {
		targets = append(targets, strings.TrimPrefix(n.url, "http://"))
	}
	prom := startPrometheus(t, prometheus, targets)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Traffic through the gateway and a node: sign-ups, a follow, posts
	// (fan-out, a mention's notification) reaching a streaming socket,
	// timelines, a media upload (processed by a media job).
	suffix := strconv.Itoa(rand.IntN(1_000_000))
	alice, bob := signUp(t, gw.url, "alice"+suffix), signUp(t, nodes[1].url, "bob"+suffix)
	me := alice.call("GET", "/api/v1/accounts/verify_credentials", nil, nil)
	bob.call("POST", "/api/v1/accounts/"+me["id"].(string)+"/follow", nil, nil)
	socket := client{t: t, base: gw.url, token: bob.token}.openStream()
	for i := range 5 {
		alice.call("POST", "/api/v1/statuses", url.Values{"status": {fmt.Sprintf("hello @bob%s %d", suffix, i)}}, nil)
		bob.call("GET", "/api/v1/timelines/home", nil, nil)
	}
	for ev := ""; !strings.Contains(ev, `"event":"update"`); {
		ev = socket.next(t) // the posts (and mentions) reach bob's socket
	}
	alice.upload()

	t.Run("every target is up", func(t *testing.T) {
		eventually(t, 30*time.Second, "four targets up", func() bool {
			var data struct {
				ActiveTargets []struct {
					ScrapeURL string `json:"scrapeUrl"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
					Labels    map[string]string
				} `json:"activeTargets"`
			}
			if err := prom.get(ctx, "/api/v1/targets", url.Values{"state": {"active"}}, &data); err != nil {
				t.Fatal(err)
			}
			up := 0
			for _, tg := range data.ActiveTargets {
				if tg.Health == "up" && tg.Labels["job"] == "starling" {
					up++
				}
			}
			return len(data.ActiveTargets) == len(targets) && up == len(targets)
		})
	})

	t.Run("every recording rule produces series", func(t *testing.T) {
		var rules ruleFile
		readYAML(t, filepath.Join(promDir, "rules.yml"), &rules)
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				eventually(t, 30*time.Second, r.Record+" to have series", func() bool {
					v, err := prom.query(ctx, r.Record)
					if err != nil {
						t.Fatal(err)
					}
					return len(v) > 0
				})
			}
		}
		// What the engine reports adds up: every stream has one leader.
		// (Streams are created and leaderships balanced while the cluster
		// settles, and each node is scraped at its own moment: wait for a
		// steady state.)
		var streams, leaders []sample
		eventually(t, 20*time.Second, "one leadership per stream with a leader", func() bool {
			var err error
			if streams, err = prom.query(ctx, `count(stream:starling_engine_stream_has_leader:max == 1)`); err != nil {
				t.Fatal(err)
			}
			if leaders, err = prom.query(ctx, `sum(instance:starling_engine_stream_leader:sum)`); err != nil {
				t.Fatal(err)
			}
			return len(streams) == 1 && len(leaders) == 1 && leaders[0].Value[1] == streams[0].Value[1]
		})
		t.Logf("%v streams, each with a leader", streams[0].Value[1])
	})

	t.Run("rules evaluate and a healthy cluster raises no alert", func(t *testing.T) {
		var data struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
					State     string `json:"state"`
				} `json:"rules"`
			} `json:"groups"`
		}
		eventually(t, 10*time.Second, "rules evaluated", func() bool {
			if err := prom.get(ctx, "/api/v1/rules", nil, &data); err != nil {
				t.Fatal(err)
			}
			for _, g := range data.Groups {
				for _, r := range g.Rules {
					if r.Health != "ok" {
						return false
					}
				}
			}
			return len(data.Groups) == 2
		})
		for _, g := range data.Groups {
			for _, r := range g.Rules {
				if r.LastError != "" {
					t.Errorf("rule %s: %s", r.Name, r.LastError)
				}
				// Not even pending (their "for" has not run out in a
				// test this short). Except: the disk alerts depend on this
				// machine's disk, and a partition is briefly leaderless
				// whenever balancing moves its leader.
				quiet := !strings.Contains(r.Name, "Disk") && r.Name != "StarlingPartitionWithoutLeader"
				if quiet && r.State != "" && r.State != "inactive" {
					t.Errorf("alert %s is %s on a healthy cluster", r.Name, r.State)
				}
			}
		}
	})

	t.Run("every dashboard query runs and shows data", func(t *testing.T) {
		empty := map[string]string{}
		deadline := time.Now().Add(20 * time.Second)
		for queries := dashboardQueries(t); len(queries) > 0 && time.Now().Before(deadline); queries = empty {
			empty = map[string]string{}
			for name, q := range queries {
				v, err := prom.query(ctx, q)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if len(v) == 0 {
					empty[name] = q // asynchronous work may not be counted yet
				}
			}
			time.Sleep(500 * time.Millisecond)
		}
		for name, q := range empty {
			t.Errorf("%s: no data after traffic: %s", name, q)
		}
	})

	t.Run("one request's spans across two nodes form one trace", func(t *testing.T) {
		checkTrace(t, otlp, gw)
	})
}
