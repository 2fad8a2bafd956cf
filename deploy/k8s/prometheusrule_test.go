package k8s

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite components/prometheus-operator/prometheusrule.yaml from deploy/prometheus")

const prometheusRule = "components/prometheus-operator/prometheusrule.yaml"

// ruleGroups reads the groups of a Prometheus rule file strictly, in the
// Operator's types (an unknown field in a rule is an error).
func ruleGroups(t *testing.T, path string) []monitoringv1.RuleGroup {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []monitoringv1.RuleGroup `json:"groups"`
	}
	if err := unmarshalStrict(data, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f.Groups
}

// TestPrometheusRuleIsTheRuleFiles: the PrometheusRule the Operator loads
// holds exactly the groups of deploy/prometheus/rules.yml and alerts.yml
// (go test ./k8s -run PrometheusRule -update rewrites it from them).
func TestPrometheusRuleIsTheRuleFiles(t *testing.T) {
	var groups []monitoringv1.RuleGroup
	for _, f := range []string{"rules.yml", "alerts.yml"} {
		groups = append(groups, ruleGroups(t, filepath.Join("..", "prometheus", f))...)
	}
	want := monitoringv1.PrometheusRule{
		TypeMeta: metav1.TypeMeta{APIVersion: "monitoring.coreos.com/v1", Kind: "PrometheusRule"},
		ObjectMeta: metav1.ObjectMeta{Name: "starling", Labels: map[string]string{
			"app.kubernetes.io/name": "starling", "app.kubernetes.io/part-of": "starling"}},
		Spec: monitoringv1.PrometheusRuleSpec{Groups: groups},
	}
	if *update {
		out, err := yaml.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		header := "# Generated from deploy/prometheus/rules.yml and alerts.yml by\n#   (cd deploy && go test ./k8s -run PrometheusRule -update)\n# Edit those files, not this one.\n"
		if err := os.WriteFile(prometheusRule, append([]byte(header), out...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(prometheusRule)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := decodeStrict(data)
	if err != nil {
		t.Fatal(err)
	}
	got := obj.(*monitoringv1.PrometheusRule)
	if got.Name != want.Name || !reflect.DeepEqual(got.Labels, want.Labels) || !reflect.DeepEqual(got.Spec, want.Spec) {
		t.Errorf("%s differs from deploy/prometheus/rules.yml and alerts.yml: run (cd deploy && go test ./k8s -run PrometheusRule -update)", prometheusRule)
	}
}
