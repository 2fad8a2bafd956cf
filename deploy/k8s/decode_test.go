package k8s

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/types"
)

// TestManifestsDecodeStrictly decodes every manifest file strictly into its
// type (kustomizations into kustomize's, patches and resources into the
// Kubernetes API's), renders every overlay and the secret kustomizations,
// and checks each overlay holds the whole deployment.
func TestManifestsDecodeStrictly(t *testing.T) {
	for _, path := range manifestFiles(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(path) == "kustomization.yaml" {
			var k types.Kustomization
			if err := unmarshalStrict(data, &k); err != nil {
				t.Errorf("%s: %v", path, err)
			}
			continue
		}
		for _, doc := range bytes.Split(data, []byte("\n---\n")) {
			if _, err := decodeStrict(doc); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		}
	}
	for _, o := range overlays {
		s := render(t, o)
		operator := 0 // the Prometheus Operator's objects: production only
		if strings.Contains(o, "production") {
			operator = 1
		}
		for kind, n := range map[string][2]int{
			"Namespace":               {len(s.namespaces), 1},
			"ServiceAccount":          {len(s.serviceAccounts), 1},
			"Service":                 {len(s.services), 2},
			"ConfigMap":               {len(s.configMaps), 1},
			"StatefulSet":             {len(s.statefulSets), 1},
			"Deployment":              {len(s.deployments), 1},
			"PodDisruptionBudget":     {len(s.pdbs), 2},
			"HorizontalPodAutoscaler": {len(s.hpas), 1},
			"NetworkPolicy":           {len(s.netpols), 3},
			"ServiceMonitor":          {len(s.serviceMonitors), operator},
			"PrometheusRule":          {len(s.prometheusRules), operator},
			"Secret":                  {len(s.secrets), 0},
		} {
			if n[0] != n[1] {
				t.Errorf("%s renders %d %s, want %d", o, n[0], kind, n[1])
			}
		}
	}
	renderSecrets(t)
}

// TestStrictDecodingCatchesTypos: the decoding the other tests rely on
// refuses an unknown field, so a typo cannot pass unnoticed.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	for name, doc := range map[string]string{
		"a misspelt field":           "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {clusterIp: None}\n",
		"a field at the wrong level": "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec: {template: {spec: {containers: [{name: a, image: b}], readinessProbe: {}}}}\n",
		"an unknown kind":            "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
		"a duplicate field":          "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {type: ClusterIP, type: NodePort}\n",
	} {
		if _, err := decodeStrict([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}
