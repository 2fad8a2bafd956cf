package k8s

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// A small evaluator of NetworkPolicy semantics (the API's, as every
// enforcing network plugin implements them): a pod selected by a policy of
// a direction is isolated in that direction and accepts only what some
// rule of such a policy allows; a connection needs both the source's
// egress and the destination's ingress.

// netPod is a pod as the policies see it.
type netPod struct {
	name      string
	namespace string
	nsLabels  map[string]string
	labels    map[string]string
	ports     []corev1.ContainerPort // what it listens on (named ports)
}

type flow struct {
	from, to *netPod
	port     int
	proto    corev1.Protocol
}

func (f flow) String() string {
	return fmt.Sprintf("%s -> %s:%d/%s", f.from.name, f.to.name, f.port, f.proto)
}

func selectorMatches(t *testing.T, sel *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	return s.Matches(labels.Set(l)) // an empty selector matches everything
}

// peerMatches reports whether pod is one of the peers, for a policy in
// namespace ns.
func peerMatches(t *testing.T, peers []networkingv1.NetworkPolicyPeer, ns string, pod *netPod) bool {
	if len(peers) == 0 {
		return true // no from/to: any peer
	}
	for _, p := range peers {
		if p.IPBlock != nil {
			continue // the tests' pods are not matched by address
		}
		nsOK := pod.namespace == ns
		if p.NamespaceSelector != nil {
			nsOK = selectorMatches(t, p.NamespaceSelector, pod.nsLabels)
		}
		podOK := p.PodSelector == nil || selectorMatches(t, p.PodSelector, pod.labels)
		if nsOK && podOK {
			return true
		}
	}
	return false
}

// portMatches reports whether a rule's ports admit port/proto on dst.
func portMatches(ports []networkingv1.NetworkPolicyPort, dst *netPod, port int, proto corev1.Protocol) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		pp := corev1.ProtocolTCP
		if p.Protocol != nil {
			pp = *p.Protocol
		}
		if pp != proto {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.StrVal != "":
			for _, cp := range dst.ports {
				if cp.Name == p.Port.StrVal && int(cp.ContainerPort) == port {
					return true
				}
			}
		default:
			end := int(p.Port.IntVal)
			if p.EndPort != nil {
				end = int(*p.EndPort)
			}
			if port >= int(p.Port.IntVal) && port <= end {
				return true
			}
		}
	}
	return false
}

// allowed reports whether policies (all in namespace ns) let f through.
func allowed(t *testing.T, policies []*networkingv1.NetworkPolicy, ns string, f flow) bool {
	egressOK, ingressOK := true, true
	egressIsolated, ingressIsolated := false, false
	egressAllowed, ingressAllowed := false, false
	for _, p := range policies {
		for _, typ := range p.Spec.PolicyTypes {
			switch {
			case typ == networkingv1.PolicyTypeEgress && f.from.namespace == ns && selectorMatches(t, &p.Spec.PodSelector, f.from.labels):
				egressIsolated = true
				for _, r := range p.Spec.Egress {
					if peerMatches(t, r.To, ns, f.to) && portMatches(r.Ports, f.to, f.port, f.proto) {
						egressAllowed = true
					}
				}
			case typ == networkingv1.PolicyTypeIngress && f.to.namespace == ns && selectorMatches(t, &p.Spec.PodSelector, f.to.labels):
				ingressIsolated = true
				for _, r := range p.Spec.Ingress {
					if peerMatches(t, r.From, ns, f.from) && portMatches(r.Ports, f.to, f.port, f.proto) {
						ingressAllowed = true
					}
				}
			}
		}
	}
	if egressIsolated {
		egressOK = egressAllowed
	}
	if ingressIsolated {
		ingressOK = ingressAllowed
	}
	return egressOK && ingressOK
}

// TestNetworkPolicies checks, against the rendered policies, that every
// flow Starling needs is allowed and that the flows zero trust forbids are
// not: only gateways reach the engine's clients port, only nodes reach the
// routes, only the monitoring namespace scrapes nodes, and no Starling pod
// reaches the internet or anything but DNS and the trace collector.
func TestNetworkPolicies(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, s *set) {
		node, gateway := workloads(t, s)
		ns := s.namespaces[0].Name
		nsLabels := func(name string) map[string]string { return map[string]string{"kubernetes.io/metadata.name": name} }
		pod := func(name string, w workload) *netPod {
			return &netPod{name: name, namespace: ns, nsLabels: nsLabels(ns), labels: w.pod.Labels, ports: w.container(t).Ports}
		}
		n0, n1, gw := pod("starling-0", node), pod("starling-1", node), pod("gateway", gateway)
		prom := &netPod{name: "prometheus", namespace: "monitoring", nsLabels: nsLabels("monitoring"), labels: map[string]string{"app.kubernetes.io/name": "prometheus"}}
		otel := &netPod{name: "otel-collector", namespace: "monitoring", nsLabels: nsLabels("monitoring"), labels: map[string]string{"app": "otel-collector"}}
		dns := &netPod{name: "coredns", namespace: "kube-system", nsLabels: nsLabels("kube-system"), labels: map[string]string{"k8s-app": "kube-dns"}}
		ingress := &netPod{name: "ingress-controller", namespace: "ingress-nginx", nsLabels: nsLabels("ingress-nginx"), labels: map[string]string{"app": "ingress-nginx"}}
		stranger := &netPod{name: "another app", namespace: ns, nsLabels: nsLabels(ns), labels: map[string]string{"app": "other"}}
		outside := &netPod{name: "the internet", namespace: "elsewhere", nsLabels: nsLabels("elsewhere"), labels: map[string]string{}}
		tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP

		for _, f := range []flow{
			{gw, n0, 4222, tcp},      // service calls over NATS
			{n0, n1, 6222, tcp},      // routes (Raft)
			{n1, n0, 6222, tcp},      //
			{prom, n0, 8080, tcp},    // scrapes
			{prom, gw, 8080, tcp},    //
			{ingress, gw, 8080, tcp}, // the public edge
			{outside, gw, 8080, tcp}, //
			{n0, dns, 53, udp},       // peer names
			{gw, dns, 53, udp},       //
			{gw, dns, 53, tcp},       //
			{n0, otel, 4318, tcp},    // traces
			{gw, otel, 4318, tcp},    //
		} {
			if !allowed(t, s.netpols, ns, f) {
				t.Errorf("needed flow refused: %v", f)
			}
		}
		for _, f := range []flow{
			{gw, n0, 6222, tcp},       // a gateway cannot join the routes
			{gw, n0, 8080, tcp},       // nor call a node's admin API
			{outside, n0, 4222, tcp},  // nothing outside reaches the engine
			{outside, n0, 6222, tcp},  //
			{outside, n0, 8080, tcp},  //
			{stranger, n0, 4222, tcp}, // not even a neighbour
			{stranger, n0, 8080, tcp}, //
			{prom, n0, 4222, tcp},     // monitoring scrapes only
			{ingress, n0, 8080, tcp},  //
			{n0, outside, 443, tcp},   // no way out
			{gw, outside, 443, tcp},   //
			{n0, prom, 9090, tcp},     //
			{gw, stranger, 5432, tcp}, //
			{n0, gw, 8080, tcp},       //
		} {
			if allowed(t, s.netpols, ns, f) {
				t.Errorf("forbidden flow allowed: %v", f)
			}
		}
	})
}
