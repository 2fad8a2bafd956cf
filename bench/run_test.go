package bench

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testState returns a state of n accounts on target, as setup would have
// made it.
func testState(t testing.TB, target string, n int) *State {
	t.Helper()
	st := &State{Version: stateVersion, Targets: []string{target}, Graph: fmt.Sprintf("none:%d", n)}
	for i := range n {
		st.Users = append(st.Users, User{ID: fmt.Sprint(100 + i), Username: fmt.Sprintf("u%d", i), Token: fmt.Sprintf("tok%d", i)})
	}
	return st
}

// testServer starts a loopback HTTP server for the test.
func testServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

// total returns every outcome of an operation, warm-up included.
func total(o *OpReport) int64 {
	var n int64
	for _, c := range o.Status {
		n += c
	}
	for _, c := range o.WarmupStatus {
		n += c
	}
	return n
}

// timing runs a timing-sensitive measurement up to three times: the machine
// is shared (other tests, other builds), and a starved run is not a bug.
// check returns "" when the report is as expected, else why not.
func timing(t *testing.T, run func(t *testing.T) *Report, check func(*Report) string) {
	t.Helper()
	var why string
	for attempt := range 3 {
		rep := run(t)
		if why = check(rep); why == "" {
			return
		}
		var b strings.Builder
		rep.WriteText(&b)
		t.Logf("attempt %d: %s\n%s", attempt+1, why, b.String())
	}
	t.Error(why)
}

// TestOpenLoopBelowCapacity: a server answering in exactly 10 ms, offered
// far less than it can take, shows p50 ≈ 10 ms and the offered throughput.
func TestOpenLoopBelowCapacity(t *testing.T) {
	srv := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(10 * time.Millisecond)
		w.Write([]byte(`[]`))
	})
	timing(t, func(t *testing.T) *Report {
		rep, err := Run(context.Background(), RunConfig{State: testState(t, srv.URL, 10), Workload: "home",
			Rate: 100, Duration: time.Second, Warmup: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Model != "open" || rep.Rate != 100 || total(rep.Op("home")) < 115 {
			t.Fatalf("model %s rate %v, %d requests in all", rep.Model, rep.Rate, total(rep.Op("home")))
		}
		return rep
	}, func(rep *Report) string {
		home := rep.Op("home")
		switch p50 := ms(home.Latency.P50); {
		case home.Errors != 0 || home.OK < 95 || home.OK > 101:
			return fmt.Sprintf("ok = %d, errors = %v; want about 100 and none", home.OK, home.Status)
		case p50 < 10*time.Millisecond || p50 > 14*time.Millisecond:
			return fmt.Sprintf("p50 = %v, want ≈ 10ms", p50)
		case home.Throughput < 95 || home.Throughput > 102:
			return fmt.Sprintf("throughput = %.1f, want ≈ 100", home.Throughput)
		}
		return ""
	})
}

// stallServer answers in 1 ms, except that once, 600 ms after its first
// request, the whole server pauses for 500 ms.
func stallServer(t testing.TB) *httptest.Server {
	var mu sync.Mutex
	var first, stallEnd time.Time
	return testServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		now := time.Now()
		if first.IsZero() {
			first = now
		}
		if stallEnd.IsZero() && now.Sub(first) > 600*time.Millisecond {
			stallEnd = now.Add(500 * time.Millisecond)
		}
		until := stallEnd
		mu.Unlock()
		time.Sleep(time.Until(until))
		time.Sleep(time.Millisecond)
		w.Write([]byte(`[]`))
	})
}

// TestStallInTheTail: the open loop charges a server pause to every request
// due during it, so the pause reaches p99 and max; a closed loop only sees
// it in the few requests that were in flight.
func TestStallInTheTail(t *testing.T) {
	tests := []struct {
		name           string
		rate           float64
		conns          int
		minP99, maxP99 time.Duration
		minMax         time.Duration
	}{
		{name: "open loop shows the stall", rate: 200, minP99: 400 * time.Millisecond, maxP99: time.Second, minMax: 480 * time.Millisecond},
		{name: "closed loop hides it", conns: 4, minP99: 0, maxP99: 100 * time.Millisecond, minMax: 480 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timing(t, func(t *testing.T) *Report {
				srv := stallServer(t)
				rep, err := Run(context.Background(), RunConfig{State: testState(t, srv.URL, 10), Workload: "home",
					Rate: tt.rate, Connections: tt.conns, Duration: 1500 * time.Millisecond, Warmup: 200 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				return rep
			}, func(rep *Report) string {
				l := rep.Op("home").Latency
				switch p99, max := ms(l.P99), ms(l.Max); {
				case p99 < tt.minP99 || p99 > tt.maxP99:
					return fmt.Sprintf("p99 = %v, want in [%v, %v]", p99, tt.minP99, tt.maxP99)
				case max < tt.minMax:
					return fmt.Sprintf("max = %v, want ≥ %v", max, tt.minMax)
				case rep.Overall.Errors != 0:
					return fmt.Sprintf("errors: %v", rep.Overall.Status)
				}
				return ""
			})
		})
	}
}

// TestClosedLoopCounts: every request the tool makes is in the report, and
// the server saw exactly those.
func TestClosedLoopCounts(t *testing.T) {
	var served atomic.Int64
	srv := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		time.Sleep(2 * time.Millisecond)
		w.Write([]byte(`[]`))
	})
	rep, err := Run(context.Background(), RunConfig{State: testState(t, srv.URL, 5), Workload: "read",
		Connections: 4, Duration: 500 * time.Millisecond, Warmup: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, o := range rep.Ops {
		sum += total(&o)
	}
	if sum != served.Load() {
		t.Errorf("report counts %d requests, server served %d", sum, served.Load())
	}
	o := rep.Overall
	if o.OK < 100 || o.Errors != 0 || o.OK != rep.Op("home").OK+rep.Op("account").OK {
		t.Errorf("overall ok %d errors %d; home %d account %d", o.OK, o.Errors, rep.Op("home").OK, rep.Op("account").OK)
	}
	if want := float64(o.OK) / rep.Measured; o.Throughput != want {
		t.Errorf("throughput %.1f, want %.1f", o.Throughput, want)
	}
	// 4 workers against 2 ms: at most ~2000/s.
	if o.Throughput > 2100 {
		t.Errorf("throughput %.1f is above what 4 connections can do", o.Throughput)
	}
	// read is home:account 2:1.
	if h, a := rep.Op("home").OK, rep.Op("account").OK; h < a*3/2 || h > a*5/2 {
		t.Errorf("home %d, account %d: not 2:1", h, a)
	}
	if rep.Model != "closed" || rep.Connections != 4 || rep.Tool.GoMaxProcs == 0 {
		t.Errorf("report header: %+v", rep)
	}
}

// TestErrorsByStatus: every outcome is counted under its status or failure.
func TestErrorsByStatus(t *testing.T) {
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + closed.Addr().String()
	closed.Close()
	tests := []struct {
		name    string
		handler func(n int64, w http.ResponseWriter)
		target  string
		cfg     RunConfig
		check   func(t *testing.T, o *OpReport)
	}{
		{
			name: "503 to every fourth request",
			handler: func(n int64, w http.ResponseWriter) {
				if n%4 == 0 {
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(http.StatusServiceUnavailable)
				}
			},
			cfg: RunConfig{Connections: 2},
			check: func(t *testing.T, o *OpReport) {
				n503, n200 := o.Status["503"], o.Status["200"]
				if n503 == 0 || o.Errors != n503 || o.OK != n200 || n503*4 < o.Requests*2/3 || n503*4 > o.Requests*4/3 {
					t.Errorf("status %v, errors %d, requests %d: want a quarter 503", o.Status, o.Errors, o.Requests)
				}
			},
		},
		{
			name:    "timeout",
			handler: func(n int64, w http.ResponseWriter) { time.Sleep(300 * time.Millisecond) },
			cfg:     RunConfig{Connections: 2, Timeout: 50 * time.Millisecond},
			check: func(t *testing.T, o *OpReport) {
				if o.OK != 0 || o.Status["timeout"] == 0 || o.Status["timeout"] != o.Requests {
					t.Errorf("status %v, want only timeouts", o.Status)
				}
			},
		},
		{
			name:    "dropped beyond max in-flight",
			handler: func(n int64, w http.ResponseWriter) { time.Sleep(100 * time.Millisecond) },
			cfg:     RunConfig{Rate: 200, MaxInflight: 2},
			check: func(t *testing.T, o *OpReport) {
				// 2 in flight of 100 ms: 20/s served, the rest dropped.
				if o.Status["dropped"] < 50 || o.OK > 15 || o.OK == 0 {
					t.Errorf("status %v: want mostly dropped", o.Status)
				}
			},
		},
		{
			name:   "connection refused",
			target: deadURL,
			cfg:    RunConfig{Rate: 50},
			check: func(t *testing.T, o *OpReport) {
				if o.Status["connection"] == 0 || o.Status["connection"] != o.Requests {
					t.Errorf("status %v, want only connection errors", o.Status)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := tt.target
			if target == "" {
				var n atomic.Int64
				target = testServer(t, func(w http.ResponseWriter, r *http.Request) {
					tt.handler(n.Add(1), w)
				}).URL
			}
			cfg := tt.cfg
			cfg.State, cfg.Workload, cfg.Duration, cfg.Warmup = testState(t, target, 3), "home", 400*time.Millisecond, 100*time.Millisecond
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			o := rep.Op("home")
			tt.check(t, o)
			if o.OK > 0 && o.Latency.Max == 0 {
				t.Errorf("successes without latencies")
			}
			var b strings.Builder
			rep.WriteText(&b)
			if o.Errors > 0 && !strings.Contains(b.String(), "errors home:") {
				t.Errorf("text report lacks the errors line:\n%s", b.String())
			}
		})
	}
}

// TestDeathstarMix: the mix's shares, the requests' shapes (limit=10, real
// account ids, 256-character posts with 1–2 mentions).
func TestDeathstarMix(t *testing.T) {
	var mu sync.Mutex
	counts := map[string]int{}
	var bad []string
	st := testState(t, "", 20)
	srv := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		op := "?"
		switch {
		case r.Method == "GET" && r.URL.Path == "/api/v1/timelines/home" && r.URL.RawQuery == "limit=10":
			op = "home"
		case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/api/v1/accounts/") && strings.HasSuffix(r.URL.Path, "/statuses") && r.URL.RawQuery == "limit=10":
			op = "account"
			id := strings.Split(r.URL.Path, "/")[4]
			if id < "100" || id > "119" {
				op = "bad account " + id
			}
		case r.Method == "POST" && r.URL.Path == "/api/v1/statuses":
			op = "compose"
			text := r.FormValue("status")
			mentions := strings.Count(text, "@u")
			if len(text) < 256+3 || mentions < 1 || mentions > 2 || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
				op = "bad compose " + text
			}
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer tok") {
			op = "no token"
		}
		mu.Lock()
		counts[op]++
		if op != "home" && op != "account" && op != "compose" {
			bad = append(bad, op)
		}
		mu.Unlock()
		w.Write([]byte(`[]`))
	})
	st.Targets = []string{srv.URL}
	rep, err := Run(context.Background(), RunConfig{State: st, Connections: 4, Duration: 600 * time.Millisecond, Warmup: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("bad requests: %q", bad[:min(3, len(bad))])
	}
	all := float64(counts["home"] + counts["account"] + counts["compose"])
	for op, want := range map[string]float64{"home": 0.6, "account": 0.3, "compose": 0.1} {
		sigma := math.Sqrt(want * (1 - want) / all)
		if share := float64(counts[op]) / all; math.Abs(share-want) > 4*sigma {
			t.Errorf("%s: %.3f of %.0f requests, want %.2f ± %.3f", op, share, all, want, 4*sigma)
		}
		if got := total(rep.Op(op)); got != int64(counts[op]) {
			t.Errorf("%s: report counts %d, server %d", op, got, counts[op])
		}
	}
	if rep.Workload != "deathstar" || rep.Mix != "home=60,account=30,compose=10" {
		t.Errorf("workload %q mix %q", rep.Workload, rep.Mix)
	}
}

func TestParseMix(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{in: "home=60,account=30,compose=10", want: "home=60,account=30,compose=10"},
		{in: " home=1 , media=3", want: "home=1,media=3"},
		{in: "home=1,compose=0", want: "home=1"},
		{in: "home", err: true},
		{in: "home=x", err: true},
		{in: "home=-1", err: true},
		{in: "stream=1", err: true},
		{in: "home=1,home=2", err: true},
		{in: "home=0", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			m, err := ParseMix(tt.in)
			if (err != nil) != tt.err || (err == nil && m.String() != tt.want) {
				t.Errorf("ParseMix(%q) = %v, %v", tt.in, m, err)
			}
		})
	}
}

func TestRunConfigErrors(t *testing.T) {
	st := testState(t, "http://127.0.0.1:1", 2)
	tests := []struct {
		name string
		cfg  RunConfig
	}{
		{"no state", RunConfig{Duration: time.Second, Connections: 1}},
		{"no duration", RunConfig{State: st, Connections: 1}},
		{"negative warm-up", RunConfig{State: st, Duration: time.Second, Warmup: -1, Connections: 1}},
		{"rate and connections", RunConfig{State: st, Duration: time.Second, Rate: 1, Connections: 1}},
		{"neither", RunConfig{State: st, Duration: time.Second}},
		{"unknown workload", RunConfig{State: st, Duration: time.Second, Connections: 1, Workload: "nope"}},
		{"ceiling without home", RunConfig{State: st, Duration: time.Second, Connections: 1, Ceiling: true}},
		{"stream closed loop", RunConfig{State: st, Duration: time.Second, Connections: 1, Workload: "stream"}},
		{"no accounts", RunConfig{State: &State{Targets: []string{"http://x"}}, Duration: time.Second, Connections: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tt.cfg); err == nil {
				t.Error("no error")
			}
		})
	}
}

// TestRunStopsOnCancel: cancelling returns promptly with a partial report.
func TestRunStopsOnCancel(t *testing.T) {
	srv := testServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`[]`)) })
	for _, cfg := range []RunConfig{{Rate: 100}, {Connections: 2}} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		cfg.State, cfg.Workload, cfg.Duration, cfg.Warmup = testState(t, srv.URL, 2), "home", time.Hour, 100*time.Millisecond
		start := time.Now()
		rep, err := Run(ctx, cfg)
		cancel()
		if err == nil || rep == nil || !rep.Interrupted || time.Since(start) > 2*time.Second {
			t.Fatalf("err %v, report %v, after %v", err, rep != nil, time.Since(start))
		}
		if rep.Measured <= 0 || rep.Measured > 0.5 || rep.Overall.OK == 0 {
			t.Errorf("measured %.2fs, ok %d", rep.Measured, rep.Overall.OK)
		}
	}
}

// BenchmarkRequest measures what one request costs the tool (and the
// in-process test server): run with -benchmem.
func BenchmarkRequest(b *testing.B) {
	srv := testServer(b, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`[{"id":"1"}]`)) })
	for _, op := range []int32{opHome, opAccount, opCompose} {
		b.Run(opNames[op], func(b *testing.B) {
			r, err := newRunner(RunConfig{State: testState(b, srv.URL, 10), Workload: "deathstar", Connections: 1, Duration: time.Second}, "bench")
			if err != nil {
				b.Fatal(err)
			}
			r.base = (&http.Request{Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}).WithContext(context.Background())
			r.start = time.Now()
			w := r.newWorker(1)
			j := job{op: op, user: 1}
			b.ReportAllocs()
			for b.Loop() {
				r.finish(w, j, r.exec(context.Background(), w, j))
			}
		})
	}
}
