package k8s

import (
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/starling-social/starling/deploy/ociimage"
)

// workload is a pod template of a rendered overlay.
type workload struct {
	kind, name string
	stateful   bool
	replicas   int // the StatefulSet's; 0 for the Deployment (its HPA decides)
	pod        *corev1.PodTemplateSpec
	selector   *metav1.LabelSelector
}

func (w workload) container(t *testing.T) corev1.Container {
	t.Helper()
	if len(w.pod.Spec.Containers) != 1 || len(w.pod.Spec.InitContainers) != 0 {
		t.Fatalf("%s %s: want one container, no init container", w.kind, w.name)
	}
	return w.pod.Spec.Containers[0]
}

// workloads returns the StatefulSet (the engine nodes) and the Deployment
// (the gateways) of s.
func workloads(t *testing.T, s *set) (node, gateway workload) {
	t.Helper()
	if len(s.statefulSets) != 1 || len(s.deployments) != 1 {
		t.Fatalf("%s: %d StatefulSets, %d Deployments", s.name, len(s.statefulSets), len(s.deployments))
	}
	ss, d := s.statefulSets[0], s.deployments[0]
	node = workload{kind: "StatefulSet", name: ss.Name, stateful: true, pod: &ss.Spec.Template, selector: ss.Spec.Selector}
	if ss.Spec.Replicas != nil {
		node.replicas = int(*ss.Spec.Replicas)
	}
	gateway = workload{kind: "Deployment", name: d.Name, pod: &d.Spec.Template, selector: d.Spec.Selector}
	return node, gateway
}

// forEachOverlay runs f on every rendered overlay, as a subtest.
func forEachOverlay(t *testing.T, f func(t *testing.T, s *set)) {
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) { f(t, render(t, o)) })
	}
}

// port returns the port of a host:port flag value.
func port(t *testing.T, hostport string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	n, perr := strconv.Atoi(p)
	if err != nil || perr != nil {
		t.Fatalf("%q is not host:port", hostport)
	}
	return n
}

func containerPort(c corev1.Container, name string) int {
	for _, p := range c.Ports {
		if p.Name == name {
			return int(p.ContainerPort)
		}
	}
	return 0
}

func mustFlag(t *testing.T, c corev1.Container, name string) string {
	t.Helper()
	v, ok := flagValue(c.Args, name)
	if !ok {
		t.Fatalf("container %s has no --%s", c.Name, name)
	}
	return v
}

func selects(t *testing.T, sel *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	return !s.Empty() && s.Matches(labels.Set(l))
}

func majority(n int) int { return n/2 + 1 }

// TestArgsAreTheBinarysFlags runs the real binary with every container's
// args and environment as the kubelet resolves them (pod name, ConfigMap,
// Secret keys, $(VAR) expansion), through `serve --check-config`: an
// unknown flag, a bad value or a configuration the node would refuse at
// start fails here. Every STARLING_* variable must name a flag (the binary
// ignores unknown ones, so a typo would be silent).
func TestArgsAreTheBinarysFlags(t *testing.T) {
	bin := starlingBinary(t)
	flags := serveFlags(t)
	forEachOverlay(t, func(t *testing.T, s *set) {
		node, gateway := workloads(t, s)
		for _, w := range []workload{node, gateway} {
			c := w.container(t)
			pod := podName(w.name, w.stateful)
			if len(c.Command) != 0 || len(c.Args) == 0 || c.Args[0] != "serve" {
				t.Errorf("%s: command %q args %q: want the image's entrypoint with args serve ...", w.name, c.Command, c.Args)
				continue
			}
			env := containerEnv(t, s, pod, c)
			for k := range env {
				name, ok := strings.CutPrefix(k, "STARLING_")
				if ok && !slices.Contains(flags, strings.ToLower(strings.ReplaceAll(name, "_", "-"))) {
					t.Errorf("%s: %s names no flag of starling serve", w.name, k)
				}
			}
			var args []string
			for _, a := range c.Args[1:] {
				args = append(args, expand(a, env))
			}
			cmd := exec.Command(bin, append(append([]string{"serve"}, args...), "--check-config")...)
			cmd.Env = envList(env)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "configuration ok") || !strings.Contains(string(out), "node      "+pod+"\n") {
				t.Errorf("%s: starling serve %s --check-config: %v\n%s", w.name, strings.Join(args, " "), err, out)
			}
		}
	})
}

// TestPortsMatchFlagsAndImage: the container ports are the ports the flags
// listen on and the image exposes; probes, Services and peers use them.
func TestPortsMatchFlagsAndImage(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, s *set) {
		node, gateway := workloads(t, s)
		nc, gc := node.container(t), gateway.container(t)
		for _, p := range []struct {
			c          corev1.Container
			name, flag string
			image      int
		}{
			{nc, "http", "http", ociimage.HTTPPort},
			{nc, "nats", "nats-listen", ociimage.NATSPort},
			{nc, "cluster", "cluster", ociimage.ClusterPort},
			{gc, "http", "http", ociimage.HTTPPort},
		} {
			want := port(t, mustFlag(t, p.c, p.flag))
			if got := containerPort(p.c, p.name); got != want || got != p.image {
				t.Errorf("%s: port %s is %d; --%s listens on %d; the image exposes %d", p.c.Name, p.name, got, p.flag, want, p.image)
			}
		}
		for _, w := range []workload{node, gateway} {
			c := w.container(t)
			for _, pr := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
				if pr == nil || pr.HTTPGet == nil {
					t.Errorf("%s: every probe must be an HTTP GET (the image has no shell for exec probes)", w.name)
					continue
				}
				if containerPort(c, pr.HTTPGet.Port.StrVal) == 0 {
					t.Errorf("%s: probe on port %v, which the container does not declare", w.name, pr.HTTPGet.Port.String())
				}
			}
		}
		// Every Service targets declared ports of the pods it selects.
		for _, svc := range s.services {
			var sel []workload
			for _, w := range []workload{node, gateway} {
				if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.pod.Labels)) {
					sel = append(sel, w)
				}
			}
			if len(sel) != 1 {
				t.Errorf("Service %s selects %d workloads, want 1", svc.Name, len(sel))
				continue
			}
			for _, p := range svc.Spec.Ports {
				if p.TargetPort.Type != intstr.String || containerPort(sel[0].container(t), p.TargetPort.StrVal) == 0 {
					t.Errorf("Service %s port %s targets %s, not a named port of %s", svc.Name, p.Name, p.TargetPort.String(), sel[0].name)
				}
			}
		}
		// Routes go to every node's cluster port by its stable name; the
		// gateways reach every node's NATS port the same way.
		ss := s.statefulSets[0]
		var peers, urls []string
		for i := range node.replicas {
			host := fmt.Sprintf("%s-%d.%s", ss.Name, i, ss.Spec.ServiceName)
			peers = append(peers, net.JoinHostPort(host, strconv.Itoa(containerPort(nc, "cluster"))))
			urls = append(urls, "nats://"+net.JoinHostPort(host, strconv.Itoa(containerPort(nc, "nats"))))
		}
		if got := mustFlag(t, nc, "peers"); got != strings.Join(peers, ",") {
			t.Errorf("--peers=%s, want every node of the StatefulSet: %s", got, strings.Join(peers, ","))
		}
		if got := mustFlag(t, gc, "nats-url"); got != strings.Join(urls, ",") {
			t.Errorf("gateway --nats-url=%s, want every node: %s", got, strings.Join(urls, ","))
		}
	})
}

// TestProbePathsAnswer starts the binary as the manifests run it — an
// engine+service node and a gateway-only node on it — and checks that every
// probe path and the ServiceMonitor's path answer 200 on the kind of node
// that is probed.
func TestProbePathsAnswer(t *testing.T) {
	n := startServe(t, "--services=auth,feed,media,notify", "--data", t.TempDir(), "--http", "127.0.0.1:0",
		"--nats-listen", "127.0.0.1:-1", "--node-name", "starling-0")
	g := startServe(t, "--services=gateway", "--nats-url", n.nats, "--http", "127.0.0.1:0", "--node-name", "starling-gateway-0")
	s := render(t, overlays[0])
	node, gateway := workloads(t, s)
	for _, c := range []struct {
		w   workload
		url string
	}{{node, n.url}, {gateway, g.url}} {
		ctr := c.w.container(t)
		paths := map[string]bool{}
		for _, ep := range s.serviceMonitors[0].Spec.Endpoints {
			paths[ep.Path] = true
		}
		for _, pr := range []*corev1.Probe{ctr.StartupProbe, ctr.LivenessProbe, ctr.ReadinessProbe} {
			if pr != nil && pr.HTTPGet != nil {
				paths[pr.HTTPGet.Path] = true
			}
		}
		for path := range paths {
			deadline := time.Now().Add(30 * time.Second)
			for {
				resp, err := http.Get(c.url + path)
				if err == nil {
					resp.Body.Close()
				}
				if err == nil && resp.StatusCode == 200 {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("%s: GET %s: %v %v", c.w.name, path, resp, err)
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
}

// TestQuorum: an odd number of engine nodes, at least three, each stream
// on at most that many; the disruption budget keeps a majority and still
// lets one node go; the nodes start together and find each other before
// they are ready; data lives on a retained volume at --data.
func TestQuorum(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, s *set) {
		node, gateway := workloads(t, s)
		ss := s.statefulSets[0]
		n := node.replicas
		if n < 3 || n%2 == 0 {
			t.Errorf("%d engine nodes: want an odd number, at least 3", n)
		}
		for _, w := range []workload{node, gateway} {
			r, err := strconv.Atoi(mustFlag(t, w.container(t), "replicas"))
			if err != nil || r < 3 || r > n || r%2 == 0 {
				t.Errorf("%s: --replicas=%d with %d nodes: want an odd number of copies, 3 to %d", w.name, r, n, n)
			}
		}
		var pdb int
		for _, p := range s.pdbs {
			if !selects(t, p.Spec.Selector, node.pod.Labels) {
				continue
			}
			pdb++
			switch {
			case p.Spec.MinAvailable != nil:
				if v := p.Spec.MinAvailable.IntValue(); p.Spec.MinAvailable.Type != intstr.Int || v < majority(n) || v >= n {
					t.Errorf("PDB %s: minAvailable %s of %d nodes: want a majority (%d) and room for one disruption", p.Name, p.Spec.MinAvailable.String(), n, majority(n))
				}
			case p.Spec.MaxUnavailable != nil:
				if v := p.Spec.MaxUnavailable.IntValue(); p.Spec.MaxUnavailable.Type != intstr.Int || v < 1 || n-v < majority(n) {
					t.Errorf("PDB %s: maxUnavailable %s of %d nodes breaks the majority", p.Name, p.Spec.MaxUnavailable.String(), n)
				}
			default:
				t.Errorf("PDB %s sets no budget", p.Name)
			}
		}
		if pdb != 1 {
			t.Errorf("%d PodDisruptionBudgets select the engine nodes, want 1", pdb)
		}
		if ss.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
			t.Errorf("podManagementPolicy %q: the nodes must start in parallel to elect leaders", ss.Spec.PodManagementPolicy)
		}
		if ss.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType || ss.Spec.UpdateStrategy.RollingUpdate != nil && ss.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable != nil {
			t.Errorf("update strategy %+v: want rolling, one node at a time", ss.Spec.UpdateStrategy)
		}
		var headless *corev1.Service
		for _, svc := range s.services {
			if svc.Name == ss.Spec.ServiceName {
				headless = svc
			}
		}
		if headless == nil || headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses {
			t.Errorf("the StatefulSet's Service %s must be headless and publish nodes before they are ready", ss.Spec.ServiceName)
		}
		data := mustFlag(t, node.container(t), "data")
		var onPVC bool
		for _, m := range node.container(t).VolumeMounts {
			for _, vct := range ss.Spec.VolumeClaimTemplates {
				onPVC = onPVC || (m.MountPath == data && m.Name == vct.Name)
			}
		}
		if !onPVC || data != ociimage.DataDir {
			t.Errorf("--data=%s: want the image's %s, on a volume claim template", data, ociimage.DataDir)
		}
		if p := ss.Spec.PersistentVolumeClaimRetentionPolicy; p == nil || p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType || p.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
			t.Errorf("volume claims must be retained when the StatefulSet is deleted or scaled: %+v", p)
		}
	})
}

// durationFlag returns a duration flag's value, or def when it is not set.
func durationFlag(t *testing.T, c corev1.Container, name string, def time.Duration) time.Duration {
	t.Helper()
	v, ok := flagValue(c.Args, name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("--%s=%s: %v", name, v, err)
	}
	return d
}

// TestGracefulDrain: the termination grace period covers the drain. A node
// on SIGTERM moves its leaderships, stays unready for --drain-grace and
// finishes requests, all within --drain-timeout; then the engine closes
// (its lame-duck period, 5 s, and the client's drain, up to 5 s) and spans
// flush (up to 5 s): 15 s more, with 10 s to spare. A gateway first sleeps
// in preStop while it leaves the Service's endpoints.
func TestGracefulDrain(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, s *set) {
		node, gateway := workloads(t, s)
		for _, w := range []workload{node, gateway} {
			c := w.container(t)
			timeout := durationFlag(t, c, "drain-timeout", 20*time.Second)
			grace := durationFlag(t, c, "drain-grace", 2*time.Second)
			var preStop time.Duration
			if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
				if c.Lifecycle.PreStop.Sleep == nil {
					t.Errorf("%s: preStop must be a sleep action (the image has no shell)", w.name)
				} else {
					preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
				}
			}
			need := preStop + timeout + 25*time.Second
			got := time.Duration(*w.pod.Spec.TerminationGracePeriodSeconds) * time.Second
			if got < need {
				t.Errorf("%s: terminationGracePeriodSeconds %v < preStop %v + --drain-timeout %v + 25s", w.name, got, preStop, timeout)
			}
			if grace >= timeout {
				t.Errorf("%s: --drain-grace %v must be shorter than --drain-timeout %v", w.name, grace, timeout)
			}
		}
		if _, gc := workloads(t, s); gc.container(t).Lifecycle == nil {
			t.Errorf("the gateway has no preStop: it would stop accepting before leaving the Service")
		}
	})
}

// TestPodSecurity: every pod meets the restricted Pod Security Standard as
// the image's non-root user, with a read-only root file system (writable
// /tmp and data), no service-account token, no service links (they would
// inject STARLING_* variables, which are flags), and every Secret it uses
// is one that deploy/k8s/secrets makes, with the keys it reads.
func TestPodSecurity(t *testing.T) {
	secrets := map[string][]string{}
	for _, sec := range renderSecrets(t).secrets {
		for k := range sec.Data {
			secrets[sec.Name] = append(secrets[sec.Name], k)
		}
	}
	forEachOverlay(t, func(t *testing.T, s *set) {
		for _, ns := range s.namespaces {
			if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
				t.Errorf("namespace %s does not enforce the restricted Pod Security Standard", ns.Name)
			}
		}
		node, gateway := workloads(t, s)
		for _, w := range []workload{node, gateway} {
			spec, c := w.pod.Spec, w.container(t)
			psc := spec.SecurityContext
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != ociimage.UID ||
				psc.RunAsGroup == nil || *psc.RunAsGroup != ociimage.GID || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s: pod security context %+v: want non-root as %s, RuntimeDefault seccomp", w.name, psc, ociimage.User)
			}
			if w.stateful && (psc == nil || psc.FSGroup == nil || *psc.FSGroup != ociimage.GID) {
				t.Errorf("%s: fsGroup must be %d so the data volume is writable", w.name, ociimage.GID)
			}
			csc := c.SecurityContext
			if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
				csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(csc.Capabilities.Add) > 0 || csc.Privileged != nil && *csc.Privileged {
				t.Errorf("%s: container security context %+v", w.name, csc)
			}
			if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken || spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
				t.Errorf("%s: want automountServiceAccountToken and enableServiceLinks false", w.name)
			}
			if spec.HostNetwork || spec.HostPID || spec.HostIPC {
				t.Errorf("%s shares a host namespace", w.name)
			}
			mounts := map[string]string{}
			for _, m := range c.VolumeMounts {
				mounts[m.MountPath] = m.Name
			}
			volumes := map[string]corev1.Volume{}
			for _, v := range spec.Volumes {
				volumes[v.Name] = v
				if v.HostPath != nil {
					t.Errorf("%s: hostPath volume %s", w.name, v.Name)
				}
				if v.Secret != nil && secrets[v.Secret.SecretName] == nil {
					t.Errorf("%s: volume %s uses Secret %s, which deploy/k8s/secrets does not make", w.name, v.Name, v.Secret.SecretName)
				}
			}
			if v, ok := volumes[mounts["/tmp"]]; !ok || v.EmptyDir == nil {
				t.Errorf("%s: /tmp must be a writable emptyDir (the root file system is read-only)", w.name)
			}
			for _, e := range c.Env {
				if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil && !slices.Contains(secrets[ref.SecretKeyRef.Name], ref.SecretKeyRef.Key) {
					t.Errorf("%s: %s reads key %s of Secret %s, which deploy/k8s/secrets does not make", w.name, e.Name, ref.SecretKeyRef.Key, ref.SecretKeyRef.Name)
				}
			}
			if ref := c.Image; !strings.Contains(ref, "/starling:") || strings.HasSuffix(ref, ":latest") {
				t.Errorf("%s: image %q: want a registry's starling with a version tag", w.name, ref)
			}
			var sa bool
			for _, a := range s.serviceAccounts {
				sa = sa || (a.Name == spec.ServiceAccountName && a.AutomountServiceAccountToken != nil && !*a.AutomountServiceAccountToken)
			}
			if !sa {
				t.Errorf("%s: service account %q is not rendered without a token", w.name, spec.ServiceAccountName)
			}
		}
	})
}

// TestSchedulingAndScaling: both workloads spread over zones (required
// for engine nodes in production), gateways scale with an HPA that owns
// their count, and every container has the requests the scheduler and the
// HPA need and a GOMEMLIMIT below its memory limit.
func TestSchedulingAndScaling(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, s *set) {
		node, gateway := workloads(t, s)
		for _, w := range []workload{node, gateway} {
			spread := map[string]corev1.UnsatisfiableConstraintAction{}
			for _, tsc := range w.pod.Spec.TopologySpreadConstraints {
				if tsc.MaxSkew != 1 || !selects(t, tsc.LabelSelector, w.pod.Labels) {
					t.Errorf("%s: spread constraint %+v does not select its own pods with skew 1", w.name, tsc)
				}
				spread[tsc.TopologyKey] = tsc.WhenUnsatisfiable
			}
			if _, ok := spread["topology.kubernetes.io/zone"]; !ok {
				t.Errorf("%s: not spread across zones", w.name)
			}
			if _, ok := spread["kubernetes.io/hostname"]; !ok {
				t.Errorf("%s: not spread across machines", w.name)
			}
			if w.stateful && strings.Contains(s.name, "production") && (spread["topology.kubernetes.io/zone"] != corev1.DoNotSchedule || spread["kubernetes.io/hostname"] != corev1.DoNotSchedule) {
				t.Errorf("%s: engine nodes must never share a zone or a machine in production: %v", w.name, spread)
			}
			c := w.container(t)
			req, lim := c.Resources.Requests, c.Resources.Limits
			if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() {
				t.Errorf("%s: requests %v limits %v: want CPU and memory requests and a memory limit", w.name, req, lim)
			}
			env := containerEnv(t, s, "x", c)
			soft, err := resource.ParseQuantity(strings.TrimSuffix(env["GOMEMLIMIT"], "B"))
			if err != nil || soft.Cmp(*lim.Memory()) >= 0 || soft.Value() < lim.Memory().Value()*3/4 {
				t.Errorf("%s: GOMEMLIMIT %q: want 75-100%% of the memory limit %v", w.name, env["GOMEMLIMIT"], lim.Memory())
			}
		}
		if d := s.deployments[0]; d.Spec.Replicas != nil {
			t.Errorf("the gateway Deployment sets replicas: applying it would undo the autoscaler")
		}
		if len(s.hpas) != 1 {
			t.Fatalf("%d HPAs", len(s.hpas))
		}
		h := s.hpas[0]
		if ref := h.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != s.deployments[0].Name || ref.APIVersion != "apps/v1" {
			t.Errorf("the HPA scales %+v, not the gateways", ref)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || h.Spec.MaxReplicas < *h.Spec.MinReplicas ||
			strings.Contains(s.name, "production") && *h.Spec.MinReplicas < 2 {
			t.Errorf("HPA %d..%d: want at least 2 gateways in production", *h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		var gwPDB bool
		for _, p := range s.pdbs {
			gwPDB = gwPDB || selects(t, p.Spec.Selector, gateway.pod.Labels)
		}
		if !gwPDB {
			t.Errorf("no PodDisruptionBudget for the gateways")
		}
	})
}

// TestServiceMonitor: Prometheus scrapes every pod once, at the path and
// port the node serves metrics on, under job="starling" (what the rules,
// alerts and dashboard select).
func TestServiceMonitor(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, s *set) {
		if len(s.serviceMonitors) == 0 && !strings.Contains(s.name, "production") {
			t.Skip("no ServiceMonitor in this overlay (no Prometheus Operator)")
		}
		if len(s.serviceMonitors) != 1 {
			t.Fatalf("%d ServiceMonitors", len(s.serviceMonitors))
		}
		sm := s.serviceMonitors[0]
		node, gateway := workloads(t, s)
		scraped := map[string]int{}
		for _, svc := range s.services {
			if !selects(t, &sm.Spec.Selector, svc.Labels) {
				continue
			}
			if svc.Labels[sm.Spec.JobLabel] != "starling" {
				t.Errorf("Service %s: label %s=%q, want starling (job=\"starling\")", svc.Name, sm.Spec.JobLabel, svc.Labels[sm.Spec.JobLabel])
			}
			for _, ep := range sm.Spec.Endpoints {
				var ok bool
				for _, p := range svc.Spec.Ports {
					ok = ok || p.Name == ep.Port
				}
				if !ok || ep.Path != "/metrics" {
					t.Errorf("Service %s: endpoint port %q path %q", svc.Name, ep.Port, ep.Path)
				}
			}
			for _, w := range []workload{node, gateway} {
				if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.pod.Labels)) {
					scraped[w.name]++
				}
			}
		}
		for _, w := range []workload{node, gateway} {
			if scraped[w.name] != 1 {
				t.Errorf("%s is scraped through %d Services, want 1", w.name, scraped[w.name])
			}
		}
	})
}
