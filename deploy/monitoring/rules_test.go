package monitoring

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// ruleFile is a Prometheus rule file.
type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Record string `json:"record"`
			Alert  string `json:"alert"`
			Expr   string `json:"expr"`
		} `json:"rules"`
	} `json:"groups"`
}

// ruleTests is a promtool unit test file.
type ruleTests struct {
	RuleFiles []string `json:"rule_files"`
	Tests     []struct {
		Name           string `json:"name"`
		AlertRuleTests []struct {
			Alertname string           `json:"alertname"`
			ExpAlerts []map[string]any `json:"exp_alerts"`
		} `json:"alert_rule_test"`
		PromQLExprTests []struct {
			Expr string `json:"expr"`
		} `json:"promql_expr_test"`
	} `json:"tests"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestAlertRules checks the configuration and rule files with promtool,
// runs the rules' unit tests (alerts_test.yml), and checks that the unit
// tests make every alert fire at least once and exercise every recording
// rule (directly, or through an alert that uses it and is tested).
func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool")
	run(t, promDir, promtool, "check", "config", "prometheus.yml")
	run(t, promDir, promtool, "check", "rules", "rules.yml", "alerts.yml")
	out := run(t, promDir, promtool, "test", "rules", "alerts_test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: %s", out)
	}

	var tests ruleTests
	readYAML(t, filepath.Join(promDir, "alerts_test.yml"), &tests)
	if !slices.Equal(tests.RuleFiles, []string{"rules.yml", "alerts.yml"}) {
		t.Errorf("alerts_test.yml tests %v, want rules.yml and alerts.yml", tests.RuleFiles)
	}
	fires, exprs := map[string]bool{}, ""
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTests {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
		for _, e := range tc.PromQLExprTests {
			exprs += e.Expr + "\n"
		}
	}
	var rules, alerts ruleFile
	readYAML(t, filepath.Join(promDir, "rules.yml"), &rules)
	readYAML(t, filepath.Join(promDir, "alerts.yml"), &alerts)
	var names []string
	for _, g := range alerts.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
			if !fires[r.Alert] {
				t.Errorf("alert %s has no unit test that makes it fire", r.Alert)
			}
			if fires[r.Alert] {
				exprs += r.Expr + "\n"
			}
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if !regexp.MustCompile(`(^|[^:\w])` + regexp.QuoteMeta(r.Record) + `($|[^:\w])`).MatchString(exprs) {
				t.Errorf("recording rule %s is tested neither directly nor through a tested alert", r.Record)
			}
		}
	}
	// The failures the issue names each have an alert.
	for _, want := range []string{"StarlingNodeDown", "StarlingPartitionWithoutLeader", "StarlingReplicationLag", "StarlingFanoutLag",
		"StarlingSheddingLoad", "StarlingCircuitBreakerOpen", "StarlingDiskFilling"} {
		if !slices.Contains(names, want) {
			t.Errorf("no alert %s", want)
		}
	}
}

// dashboardJSON is the part of a Grafana dashboard the lint reads.
type dashboardJSON struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID        string `json:"refId"`
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func readDashboard(t *testing.T) dashboardJSON {
	t.Helper()
	data, err := os.ReadFile(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	var d dashboardJSON
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	return d
}

// flatPanels returns the panels, those of collapsed rows included.
func flatPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flatPanels(p.Panels)...)
	}
	return out
}

// grafanaVars are the variables Grafana itself defines.
var grafanaVars = []string{"__rate_interval", "__interval", "__range", "__interval_ms", "__range_s"}

var varRE = regexp.MustCompile(`\$\{?(\w+)`)

// TestDashboardLint checks the dashboard as Grafana would import it: an
// identity, unique panel ids, panels on the 24-column grid without
// overlaps, every query panel on the templated Prometheus data source with
// labelled targets, and every variable a query uses defined.
func TestDashboardLint(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("uid %q title %q schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
	}
	vars := slices.Clone(grafanaVars)
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	ids := map[int]bool{}
	type cell struct{ x, y int }
	used := map[cell]string{}
	for _, p := range flatPanels(d.Panels) {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v off the 24-column grid", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := used[cell{x, y}]; ok {
					t.Errorf("panels %q and %q overlap at %d,%d", p.Title, other, x, y)
				}
				used[cell{x, y}] = p.Title
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %d %q: title and the templated Prometheus data source are required", p.ID, p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] || strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q: target %q: a unique refId and a query are required", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			if len(p.Targets) > 1 && tg.LegendFormat == "" {
				t.Errorf("panel %q: target %s has no legend among several", p.Title, tg.RefID)
			}
			for _, m := range varRE.FindAllStringSubmatch(tg.Expr, -1) {
				if !slices.Contains(vars, m[1]) {
					t.Errorf("panel %q uses $%s, which is not defined", p.Title, m[1])
				}
			}
		}
	}
}

// dashboardQueries returns every query of the dashboard with its
// variables replaced as Grafana would for "All" nodes.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	d := readDashboard(t)
	out := map[string]string{}
	for _, p := range flatPanels(d.Panels) {
		for _, tg := range p.Targets {
			q := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "15s", "$__range", "1h", "${instance}", ".*", "$instance", ".*").Replace(tg.Expr)
			out[fmt.Sprintf("%s [%s]", p.Title, tg.RefID)] = q
		}
	}
	return out
}

// TestDashboardQueriesParse parses every query of the dashboard with the
// PromQL parser of the Prometheus the tests run (promtool, on a rule file
// that records each one). TestPrometheusScrapesACluster also runs them.
func TestDashboardQueriesParse(t *testing.T) {
	promtool := tool(t, "promtool")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	i := 0
	for name, q := range dashboardQueries(t) {
		i++
		fmt.Fprintf(&rules, "      # %s\n      - record: dashboard:query:%d\n        expr: %s\n", name, i, strings.ReplaceAll(fmt.Sprintf("%q", q), "\\n", " "))
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, ".", promtool, "check", "rules", path)
	if !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", i)) {
		t.Fatalf("promtool check rules: %s", out)
	}
	if i < 40 {
		t.Errorf("only %d queries in the dashboard", i)
	}
}
