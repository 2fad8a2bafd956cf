// Package monitoring tests deploy/prometheus and deploy/grafana for real:
// promtool checks and unit-tests the rules, a real Prometheus scrapes a
// real cluster with the repository's configuration, the dashboard's
// queries run against it, and traces are exported over OTLP to a receiver.
package monitoring

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/starling-social/starling/deploy/internal/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// Where the repository's monitoring configuration is.
const (
	promDir   = "../prometheus"
	dashboard = "../grafana/starling-dashboard.json"
)

// tool returns the path of a Prometheus program (prometheus, promtool).
// scripts/test installs Debian's prometheus package; where it could not,
// the tests skip with the reason, unless STARLING_REQUIRE_PROMETHEUS=1
// (set by scripts/test once installed) makes a missing program a failure.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s is not installed (Debian: apt-get install prometheus; scripts/test installs it when it can)", name)
	if os.Getenv("STARLING_REQUIRE_PROMETHEUS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// run runs a program and fails the test with its output when it fails.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
	}
	return string(out)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// eventually polls cond every 250 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// promAPI is a running Prometheus's HTTP API.
type promAPI struct{ base string }

// get calls the API and decodes its data; a non-success answer is an
// error carrying the API's message.
func (p promAPI) get(ctx context.Context, path string, q url.Values, data any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", p.base+path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status    string          `json:"status"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("%s: %d: %w", path, resp.StatusCode, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, body.ErrorType, body.Error)
	}
	return json.Unmarshal(body.Data, data)
}

// sample is one element of an instant query's vector.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query runs an instant query and returns its vector (a scalar answer is
// one sample without labels).
func (p promAPI) query(ctx context.Context, expr string) ([]sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	switch data.ResultType {
	case "vector":
		var v []sample
		err := json.Unmarshal(data.Result, &v)
		return v, err
	case "scalar":
		var s [2]any
		err := json.Unmarshal(data.Result, &s)
		return []sample{{Value: s}}, err
	}
	return nil, fmt.Errorf("%s: a %s answer", expr, data.ResultType)
}

// starlingBinary returns the starling binary of the image, for this machine.
func starlingBinary(t *testing.T) string { return testbin.Path(t) }
