package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// Outcomes that are not HTTP statuses, numbered after them.
const (
	statusTimeout    = 600 + iota // no answer within the timeout
	statusConnection              // connection refused, reset, bad response...
	statusCanceled                // the run was stopped while waiting
	statusDropped                 // open loop: max in-flight reached, not sent
	statusLost                    // stream: an event that never arrived
	statusInvalid                 // a 2xx answer the tool could not use (no media id)
	numStatus
)

var statusNames = map[int]string{statusTimeout: "timeout", statusConnection: "connection",
	statusCanceled: "canceled", statusDropped: "dropped", statusLost: "lost", statusInvalid: "invalid"}

// statusName names an outcome for the report: "200", "503", "timeout"...
func statusName(code int) string {
	if n, ok := statusNames[code]; ok {
		return n
	}
	return strconv.Itoa(code)
}

// histShards spreads concurrent records over a few histograms per operation,
// so workers rarely touch the same cache lines; they merge for the report.
const histShards = 4

// opStats counts one operation's outcomes and success latencies, from many
// goroutines at once without locks.
type opStats struct {
	name   string
	phase  bool // a step of another operation: not part of the overall line
	hist   [histShards]Histogram
	status [2][numStatus]atomic.Int64 // [0] warm-up, [1] measured
}

// record counts one outcome; the latency of measured successes goes into the
// histogram.
func (s *opStats) record(shard int, measured bool, code int, lat time.Duration) {
	s.count(measured, code)
	if measured && code/100 == 2 {
		s.hist[shard%histShards].Record(lat)
	}
}

// count counts an outcome without a latency; codes that are neither a status
// nor a failure kind count as "connection".
func (s *opStats) count(measured bool, code int) {
	if code < 0 || code >= numStatus {
		code = statusConnection
	}
	m := 0
	if measured {
		m = 1
	}
	s.status[m][code].Add(1)
}

// mergeInto adds the operation's latencies to h.
func (s *opStats) mergeInto(h *Histogram) {
	for i := range s.hist {
		h.Merge(&s.hist[i])
	}
}

// counts returns the measured requests, successes and errors.
func (s *opStats) counts(m int) (all, ok int64) {
	for code := range s.status[m] {
		n := s.status[m][code].Load()
		all += n
		if code/100 == 2 {
			ok += n
		}
	}
	return all, ok
}

// report summarises the operation over a measured window of secs seconds.
func (s *opStats) report(secs float64) OpReport {
	r := OpReport{Op: s.name, Phase: s.phase, Status: map[string]int64{}}
	var h Histogram
	s.mergeInto(&h)
	r.Latency = latencyOf(&h)
	for m, into := range []*map[string]int64{&r.WarmupStatus, &r.Status} {
		for code := range s.status[m] {
			if n := s.status[m][code].Load(); n > 0 {
				if *into == nil {
					*into = map[string]int64{}
				}
				(*into)[statusName(code)] = n
			}
		}
	}
	r.Requests, r.OK = s.counts(1)
	r.Errors = r.Requests - r.OK
	if secs > 0 {
		r.Throughput = float64(r.OK) / secs
	}
	return r
}

// Report is the result of a run. Only requests scheduled after the warm-up
// count in Status, throughput and latency; those of the warm-up are counted
// apart in WarmupStatus, so Status plus WarmupStatus is every request the
// tool made. The server's metrics should agree, less "dropped" (never sent)
// and less some "connection", "timeout" and "canceled" (which may not have
// arrived). Media polls are counted in media.processing. Requests that only
// prepare a run (the stream's follows and instance look-up, the ceiling's
// capture) are not counted.
type Report struct {
	Command     []string   `json:"command"`
	Date        time.Time  `json:"date"`
	Targets     []string   `json:"targets"`
	Workload    string     `json:"workload"`
	Mix         string     `json:"mix,omitempty"`
	Model       string     `json:"model"`                  // "open" (--rate) or "closed" (--connections)
	Rate        float64    `json:"rate,omitempty"`         // open loop: requests/s offered
	Connections int        `json:"connections,omitempty"`  // closed loop: workers
	MaxInflight int        `json:"max_inflight,omitempty"` // open loop: cap before "dropped"
	Users       int        `json:"users"`
	Duration    float64    `json:"duration_s"` // measured part as asked
	Warmup      float64    `json:"warmup_s"`
	Measured    float64    `json:"measured_s"` // measured part as run (shorter if interrupted)
	Timeout     float64    `json:"timeout_s"`
	MediaSize   int        `json:"media_size,omitempty"`
	Sockets     int        `json:"sockets,omitempty"`     // stream: asked for
	Connected   int        `json:"connected,omitempty"`   // stream: opened
	Interrupted bool       `json:"interrupted,omitempty"` // stopped before the end
	Overall     OpReport   `json:"overall"`
	Ops         []OpReport `json:"ops"`
	Tool        ToolUsage  `json:"tool"`
	// Ceiling is the same load against a plain Go server answering the same
	// bytes (run --ceiling), and CeilingRatio this run's throughput over its.
	// That server runs inside the tool, so the ceiling's Tool CPU includes it.
	Ceiling      *Report `json:"ceiling,omitempty"`
	CeilingRatio float64 `json:"ceiling_ratio,omitempty"`
}

// OpReport is the outcome of one operation (home, account, compose, media,
// stream...) or of all of them (overall).
type OpReport struct {
	Op           string           `json:"op"`
	Phase        bool             `json:"phase,omitempty"` // a step of another op, not in overall
	Requests     int64            `json:"requests"`        // measured, any outcome
	OK           int64            `json:"ok"`              // measured 2xx
	Errors       int64            `json:"errors"`
	Throughput   float64          `json:"throughput"` // OK per second
	Latency      Latency          `json:"latency_ms"` // of the OK ones
	Status       map[string]int64 `json:"status"`     // measured: "200", "503", "timeout", "dropped"...
	WarmupStatus map[string]int64 `json:"warmup_status,omitempty"`
}

// Total returns how many requests ended with status (e.g. "200"), warm-up
// included.
func (o *OpReport) Total(status string) int64 { return o.Status[status] + o.WarmupStatus[status] }

// Latency is a latency summary in milliseconds.
type Latency struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

func latencyOf(h *Histogram) Latency {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return Latency{Min: ms(h.Min()), Mean: ms(h.Mean()), P50: ms(h.Percentile(50)), P90: ms(h.Percentile(90)),
		P99: ms(h.Percentile(99)), P999: ms(h.Percentile(99.9)), Max: ms(h.Max())}
}

// ToolUsage is what the load tool itself cost: it shares the machine with
// the server, so its CPU time is CPU the server did not get.
type ToolUsage struct {
	CPUUser    float64 `json:"cpu_user_s"`
	CPUSystem  float64 `json:"cpu_system_s"`
	CPUPercent float64 `json:"cpu_percent"` // of one core, over the run's wall time
	GoMaxProcs int     `json:"gomaxprocs"`
	GoVersion  string  `json:"go_version"`
	// SendLag (open loop) is how late the tool sent requests after their
	// intended time. It is part of every latency reported; a large one
	// means the tool could not keep up (e.g. starved of CPU), while Go's
	// timers alone account for up to about a millisecond.
	SendLag *Latency `json:"send_lag_ms,omitempty"`
}

// Op returns the report of one operation, or nil.
func (r *Report) Op(name string) *OpReport {
	if name == "overall" {
		return &r.Overall
	}
	for i := range r.Ops {
		if r.Ops[i].Op == name {
			return &r.Ops[i]
		}
	}
	return nil
}

// Save writes the report as indented JSON.
func (r *Report) Save(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// LoadReport reads a report written by Save (or --json).
func LoadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// fmtMS formats milliseconds for people: 512µs, 12.3ms, 1.52s.
func fmtMS(ms float64) string {
	switch {
	case ms == 0:
		return "-"
	case ms < 1:
		return fmt.Sprintf("%.0fµs", ms*1000)
	case ms < 10:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.2fs", ms/1000)
}

// describe is the one-line summary of the load.
func (r *Report) describe() string {
	load := fmt.Sprintf("closed loop, %d connections", r.Connections)
	if r.Model == "open" {
		load = fmt.Sprintf("open loop at %g/s (max %d in flight)", r.Rate, r.MaxInflight)
	}
	w := r.Workload
	if r.Mix != "" {
		w += " (" + r.Mix + ")"
	}
	s := fmt.Sprintf("%s, %s, %d users, %gs measured after %gs warm-up", w, load, r.Users, r.Duration, r.Warmup)
	if r.Sockets > 0 {
		s += fmt.Sprintf(", %d/%d sockets", r.Connected, r.Sockets)
	}
	if r.Interrupted {
		s += fmt.Sprintf(", INTERRUPTED after %.1fs", r.Measured)
	}
	return s
}

// WriteText prints the report for people.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "target   %s\nload     %s\n\n", strings.Join(r.Targets, ", "), r.describe())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tok\treq/s\tmean\tp50\tp90\tp99\tp99.9\tmax\terrors\t")
	row := func(o *OpReport) {
		name := o.Op
		if o.Phase {
			name = "  " + name
		}
		l := o.Latency
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", name, o.OK, o.Throughput,
			fmtMS(l.Mean), fmtMS(l.P50), fmtMS(l.P90), fmtMS(l.P99), fmtMS(l.P999), fmtMS(l.Max), o.Errors)
	}
	for i := range r.Ops {
		row(&r.Ops[i])
	}
	row(&r.Overall)
	tw.Flush()
	for _, o := range append(slices.Clone(r.Ops), r.Overall) {
		if o.Errors == 0 {
			continue
		}
		fmt.Fprintf(w, "errors %s:", o.Op)
		for _, k := range slices.Sorted(maps.Keys(o.Status)) {
			if !strings.HasPrefix(k, "2") {
				fmt.Fprintf(w, " %s×%d", k, o.Status[k])
			}
		}
		fmt.Fprintln(w)
	}
	t := r.Tool
	fmt.Fprintf(w, "tool     %.2fs CPU (%.2fs user, %.2fs system), %.0f%% of one core; GOMAXPROCS %d\n",
		t.CPUUser+t.CPUSystem, t.CPUUser, t.CPUSystem, t.CPUPercent, t.GoMaxProcs)
	if l := t.SendLag; l != nil {
		fmt.Fprintf(w, "         sent behind schedule by p50 %s, p99 %s, max %s (included in the latencies)\n", fmtMS(l.P50), fmtMS(l.P99), fmtMS(l.Max))
	}
	if c := r.Ceiling; c != nil {
		fmt.Fprintf(w, "\nceiling  a plain Go server answering the same bytes in this process, same load:\n")
		fmt.Fprintf(w, "         %.1f req/s, p50 %s, p99 %s, p99.9 %s\n", c.Overall.Throughput,
			fmtMS(c.Overall.Latency.P50), fmtMS(c.Overall.Latency.P99), fmtMS(c.Overall.Latency.P999))
		if r.Model == "closed" {
			fmt.Fprintf(w, "         target throughput is %.1f%% of the ceiling's; ", 100*r.CeilingRatio)
		} else {
			fmt.Fprintf(w, "         open loop, same offered rate: compare latencies; ")
		}
		fmt.Fprintf(w, "target p50 ×%.2f, p99 ×%.2f the ceiling's\n",
			ratio(r.Overall.Latency.P50, c.Overall.Latency.P50), ratio(r.Overall.Latency.P99, c.Overall.Latency.P99))
	}
}

func ratio(b, a float64) float64 {
	if a == 0 {
		return 0
	}
	return b / a
}

// Compare prints, per operation found in both reports, B's throughput and
// latency percentiles as ratios of A's: a throughput ratio above 1 and
// latency ratios below 1 mean B did better.
func Compare(w io.Writer, a, b *Report, nameA, nameB string) {
	fmt.Fprintf(w, "A  %s: %s  [%s]\n", nameA, strings.Join(a.Targets, ","), a.describe())
	fmt.Fprintf(w, "B  %s: %s  [%s]\n\n", nameB, strings.Join(b.Targets, ","), b.describe())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tA req/s\tB req/s\tB/A\tA p50\tB p50\tB/A\tA p99\tB p99\tB/A\tA p99.9\tB p99.9\tB/A\tA err\tB err\t")
	row := func(oa, ob *OpReport) {
		la, lb := oa.Latency, ob.Latency
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t\n", oa.Op,
			oa.Throughput, ob.Throughput, fmtRatio(ob.Throughput, oa.Throughput),
			fmtMS(la.P50), fmtMS(lb.P50), fmtRatio(lb.P50, la.P50),
			fmtMS(la.P99), fmtMS(lb.P99), fmtRatio(lb.P99, la.P99),
			fmtMS(la.P999), fmtMS(lb.P999), fmtRatio(lb.P999, la.P999), oa.Errors, ob.Errors)
	}
	for i := range a.Ops {
		if ob := b.Op(a.Ops[i].Op); ob != nil {
			row(&a.Ops[i], ob)
		}
	}
	row(&a.Overall, &b.Overall)
	tw.Flush()
	var only []string
	for _, o := range a.Ops {
		if b.Op(o.Op) == nil {
			only = append(only, "A:"+o.Op)
		}
	}
	for _, o := range b.Ops {
		if a.Op(o.Op) == nil {
			only = append(only, "B:"+o.Op)
		}
	}
	if len(only) > 0 {
		fmt.Fprintf(w, "in one report only: %s\n", strings.Join(only, " "))
	}
}

func fmtRatio(b, a float64) string {
	if a == 0 || b == 0 {
		return "-"
	}
	return fmt.Sprintf("×%.2f", b/a)
}

// add adds o's counts and latencies to s.
func (s *opStats) add(o *opStats) {
	for m := range o.status {
		for code := range o.status[m] {
			if n := o.status[m][code].Load(); n > 0 {
				s.status[m][code].Add(n)
			}
		}
	}
	for i := range o.hist {
		s.hist[i].Merge(&o.hist[i])
	}
}
