// Package k8s holds Starling's Kubernetes manifests (base/, overlays/,
// secrets/) and their tests: every overlay is rendered with kustomize (the
// library kubectl embeds), every object is decoded strictly into its
// Kubernetes API type, and the invariants a working cluster depends on are
// checked against the real binary and its image.
package k8s

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// overlays are the deployable kustomizations.
var overlays = []string{"overlays/production", "overlays/dev"}

// newObject returns an empty object of the Go type of apiVersion and kind,
// or nil for a kind the manifests must not contain.
func newObject(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1 Service":
		return &corev1.Service{}
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "v1 Secret":
		return &corev1.Secret{}
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}
	case "monitoring.coreos.com/v1 PrometheusRule":
		return &monitoringv1.PrometheusRule{}
	}
	return nil
}

// decodeStrict decodes one YAML document into the API type its apiVersion
// and kind name: a field the type does not have (a typo, a field at the
// wrong level) is an error.
func decodeStrict(doc []byte) (any, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return nil, err
	}
	obj := newObject(head.APIVersion, head.Kind)
	if obj == nil {
		return nil, fmt.Errorf("unexpected object %s %s", head.APIVersion, head.Kind)
	}
	if err := unmarshalStrict(doc, obj); err != nil {
		return nil, fmt.Errorf("%s: %w", head.Kind, err)
	}
	return obj, nil
}

// unmarshalStrict decodes YAML the way the API server decodes a request:
// field names match exactly (not case-insensitively, as encoding/json
// would), and unknown or duplicate fields are errors.
func unmarshalStrict(doc []byte, obj any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, obj, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// set is a rendered kustomization, by kind.
type set struct {
	name            string
	namespaces      []*corev1.Namespace
	serviceAccounts []*corev1.ServiceAccount
	services        []*corev1.Service
	configMaps      []*corev1.ConfigMap
	secrets         []*corev1.Secret
	statefulSets    []*appsv1.StatefulSet
	deployments     []*appsv1.Deployment
	pdbs            []*policyv1.PodDisruptionBudget
	hpas            []*autoscalingv2.HorizontalPodAutoscaler
	netpols         []*networkingv1.NetworkPolicy
	serviceMonitors []*monitoringv1.ServiceMonitor
	prometheusRules []*monitoringv1.PrometheusRule
}

func (s *set) add(obj any) {
	switch o := obj.(type) {
	case *corev1.Namespace:
		s.namespaces = append(s.namespaces, o)
	case *corev1.ServiceAccount:
		s.serviceAccounts = append(s.serviceAccounts, o)
	case *corev1.Service:
		s.services = append(s.services, o)
	case *corev1.ConfigMap:
		s.configMaps = append(s.configMaps, o)
	case *corev1.Secret:
		s.secrets = append(s.secrets, o)
	case *appsv1.StatefulSet:
		s.statefulSets = append(s.statefulSets, o)
	case *appsv1.Deployment:
		s.deployments = append(s.deployments, o)
	case *policyv1.PodDisruptionBudget:
		s.pdbs = append(s.pdbs, o)
	case *autoscalingv2.HorizontalPodAutoscaler:
		s.hpas = append(s.hpas, o)
	case *networkingv1.NetworkPolicy:
		s.netpols = append(s.netpols, o)
	case *monitoringv1.ServiceMonitor:
		s.serviceMonitors = append(s.serviceMonitors, o)
	case *monitoringv1.PrometheusRule:
		s.prometheusRules = append(s.prometheusRules, o)
	}
}

// render builds the kustomization in dir (relative to this directory) as
// `kubectl apply -k` would and decodes every object strictly.
func render(t *testing.T, dir string) *set {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := rm.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	s := &set{name: dir}
	for _, doc := range bytes.Split(out, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, err := decodeStrict(doc)
		if err != nil {
			t.Fatalf("%s: %v\n%s", dir, err, doc)
		}
		s.add(obj)
	}
	return s
}

// renderSecrets renders the secret kustomizations with made-up files in a
// copy of them (the real files are the operator's and git-ignored).
func renderSecrets(t *testing.T) *set {
	t.Helper()
	all := &set{name: "secrets"}
	for sub, files := range map[string][]string{"credentials": {"nats-token", "admin-token"}, "tls": {"ca.crt", "tls.crt", "tls.key"}} {
		dir := filepath.Join(t.TempDir(), sub)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		k, err := os.ReadFile(filepath.Join("secrets", sub, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), k, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("test-"+f), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		s := render(t, dir)
		if len(s.secrets) != 1 {
			t.Errorf("secrets/%s renders %d secrets, want 1", sub, len(s.secrets))
		}
		all.secrets = append(all.secrets, s.secrets...)
	}
	return all
}

// manifestFiles lists every YAML file under the manifests' directories.
func manifestFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, root := range []string{"base", "components", "overlays", "secrets"} {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
				files = append(files, path)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}
