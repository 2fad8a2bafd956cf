package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a goroutine to write while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// bench runs Main with args and the environment env.
func bench(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut syncBuffer
	err = Main(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestMainHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"help"}, []string{"setup", "run", "ceiling", "compare", "STARLING_BENCH_"}},
		{[]string{"-h"}, []string{"Usage: starling bench <command>"}},
		{[]string{"setup", "-h"}, []string{"-target", "-tokens", "-graph", "powerlaw:N", "-posts-per-user", "-state", "-concurrency", "-datasets"}},
		{[]string{"run", "-h"}, []string{"-rate", "-connections", "-max-inflight", "-duration", "-warmup", "-json", "-ceiling",
			"-workload", "-mix", "-media-size", "-sockets", "coordinated omission", "deathstar"}},
		{[]string{"ceiling", "-h"}, []string{"-capture", "-token", "-listen"}},
		{[]string{"compare", "-h"}, []string{"A.json B.json"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := bench(t, nil, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("help lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestMainErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "missing command"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"bad flag", []string{"run", "--nope"}, "not defined"},
		{"stray argument", []string{"run", "extra"}, "unexpected arguments"},
		{"run without state", []string{"run", "--state", filepath.Join(dir, "missing.json")}, "run setup first"},
		{"setup without target", []string{"setup", "--state", filepath.Join(dir, "s.json")}, "no target"},
		{"compare one file", []string{"compare", "a.json"}, "two reports"},
		{"bad mix", []string{"run", "--mix", "home=x"}, "bad mix entry"},
		{"zero duration", []string{"run", "--duration", "0s"}, "positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := bench(t, nil, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestMainEndToEnd drives the commands as a person would: setup, setup
// again, two runs written as JSON, compare.
func TestMainEndToEnd(t *testing.T) {
	f := newFakeMastodon(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	out, errOut, err := bench(t, nil, "setup", "--target", f.URL, "--graph", "powerlaw:12", "--posts-per-user", "1", "--state", state)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.Contains(out, "setup done: 12/12 accounts") || !strings.Contains(errOut, "accounts 12/12") {
		t.Errorf("setup output:\n%s\n%s", out, errOut)
	}
	before := f.requests.Load()
	out, _, err = bench(t, nil, "setup", "--state", state) // flags from the state
	if err != nil || f.requests.Load() != before || !strings.Contains(out, "setup done") {
		t.Errorf("second setup: %v, %d requests:\n%s", err, f.requests.Load()-before, out)
	}

	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	env := map[string]string{"STARLING_BENCH_WARMUP": "100ms", "STARLING_BENCH_STATE": state}
	out, errOut, err = bench(t, env, "run", "--rate", "200", "--duration", "1200ms", "--json", a)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	for _, w := range []string{"open loop at 200/s", "home", "account", "compose", "overall", "p99.9", "tool", "behind schedule"} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}
	if !regexp.MustCompile(`run +1s measure +[0-9.]+ req/s +p99 \S+ +errors 0`).MatchString(errOut) {
		t.Errorf("no progress line:\n%s", errOut)
	}
	if _, _, err = bench(t, env, "run", "--connections", "2", "--duration", "300ms", "--mix", "home=1,account=1", "--json", b, "--quiet"); err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	data, _ := os.ReadFile(a)
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"command", "date", "targets", "model", "rate", "duration_s", "warmup_s", "ops", "overall", "tool"} {
		if rep[k] == nil {
			t.Errorf("JSON report lacks %q", k)
		}
	}
	if cmd := rep["command"].([]any); cmd[2] != "run" || cmd[4] != "200" {
		t.Errorf("command %v", cmd)
	}
	ra, _ := LoadReport(a)
	if ra.Warmup != 0.1 || ra.Duration != 1.2 || ra.Op("compose") == nil || ra.Op("compose").Latency.P50 == 0 {
		t.Errorf("report a: warm-up %v duration %v ops %+v", ra.Warmup, ra.Duration, ra.Ops)
	}

	out, _, err = bench(t, nil, "compare", a, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"A  " + a, "B  " + b, "B/A", "home", "account", "overall", "×", "in one report only: A:compose"} {
		if !strings.Contains(out, w) {
			t.Errorf("compare lacks %q:\n%s", w, out)
		}
	}
	if out2, _, _ := bench(t, nil, "--compare", a, b); out2 != out {
		t.Errorf("--compare differs from compare")
	}
}

// TestCompareRatios checks the numbers of a comparison.
func TestCompareRatios(t *testing.T) {
	a := &Report{Targets: []string{"http://gts"}, Workload: "home", Model: "closed", Connections: 8,
		Ops:     []OpReport{{Op: "home", Throughput: 280, Latency: Latency{P50: 20, P99: 80, P999: 200}}},
		Overall: OpReport{Op: "overall", Throughput: 280, Latency: Latency{P50: 20, P99: 80, P999: 200}}}
	b := &Report{Targets: []string{"http://starling"}, Workload: "home", Model: "closed", Connections: 8,
		Ops:     []OpReport{{Op: "home", Throughput: 2800, Latency: Latency{P50: 2, P99: 8, P999: 50}}},
		Overall: OpReport{Op: "overall", Throughput: 2800, Latency: Latency{P50: 2, P99: 8, P999: 50}}}
	var buf bytes.Buffer
	Compare(&buf, a, b, "gts.json", "starling.json")
	line := ""
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "home") {
			line = l
		}
	}
	if f := strings.Fields(line); len(f) < 13 || f[3] != "×10.00" || f[6] != "×0.10" || f[9] != "×0.10" || f[12] != "×0.25" {
		t.Errorf("home line %q\n%s", line, buf.String())
	}
}

func TestMainCeiling(t *testing.T) {
	f := newFakeMastodon(t)
	st := setupFake(t, f, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"ceiling", "--capture", f.URL + "/api/v1/timelines/home?limit=10", "--token", st.Users[0].Token},
			nil, &out, io.Discard)
	}()
	re := regexp.MustCompile(`at (http://127\.0\.0\.1:\d+)`)
	var url string
	for deadline := time.Now().Add(5 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		t.Fatalf("no URL in %q", out.String())
	}
	resp, err := http.Get(url + "/anything")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "hello") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("ceiling served %q %q", resp.Header.Get("Content-Type"), body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ceiling returned %v", err)
	}
}
