package k8s

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/starling-social/starling/deploy/internal/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

func starlingBinary(t *testing.T) string { return testbin.Path(t) }

// serveFlags returns the flag names `starling serve` accepts, read from its
// usage.
func serveFlags(t *testing.T) []string {
	t.Helper()
	out, _ := exec.Command(starlingBinary(t), "serve", "-h").CombinedOutput()
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		names = append(names, m[1])
	}
	if !slices.Contains(names, "nats-url") || !slices.Contains(names, "check-config") {
		t.Fatalf("cannot read the flags from `starling serve -h`:\n%s", out)
	}
	return names
}

// containerEnv resolves a container's environment as the kubelet would for
// a pod named pod: literal values, the pod's fields, keys of the rendered
// ConfigMaps, and a made-up value for each Secret key.
func containerEnv(t *testing.T, s *set, pod string, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	configMap := func(name string) map[string]string {
		for _, cm := range s.configMaps {
			if cm.Name == name {
				return cm.Data
			}
		}
		t.Fatalf("%s: container %s uses ConfigMap %s, which is not rendered", s.name, c.Name, name)
		return nil
	}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			t.Fatalf("%s: envFrom other than a ConfigMap", s.name)
		}
		for k, v := range configMap(from.ConfigMapRef.Name) {
			env[from.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		switch vf := e.ValueFrom; {
		case vf == nil:
			env[e.Name] = expand(e.Value, env)
		case vf.FieldRef != nil && vf.FieldRef.FieldPath == "metadata.name":
			env[e.Name] = pod
		case vf.SecretKeyRef != nil:
			env[e.Name] = "test-secret-" + vf.SecretKeyRef.Key
		case vf.ConfigMapKeyRef != nil:
			env[e.Name] = configMap(vf.ConfigMapKeyRef.Name)[vf.ConfigMapKeyRef.Key]
		default:
			t.Fatalf("%s: env %s: unsupported source %+v", s.name, e.Name, vf)
		}
	}
	return env
}

// expand replaces $(VAR) by the variable's value, as the kubelet does in
// args and env values ($$ escapes a $; unknown variables stay as they are).
func expand(s string, env map[string]string) string {
	return regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		if v, ok := env[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// envList returns env as KEY=VALUE lines, sorted.
func envList(env map[string]string) []string {
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// flagValue returns the value of --name in args (--name=v or --name v).
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// proc is a starling process started by a test.
type proc struct {
	cmd       *exec.Cmd
	url, nats string
}

// startServe runs `starling serve args...` and waits for the addresses it
// prints; it stops the process when the test ends.
func startServe(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(starlingBinary(t), append([]string{"serve"}, args...)...)
	cmd.Env = []string{"STARLING_LOG_LEVEL=warn"}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("starling serve %v logged:\n%s", args, logs.String())
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	deadline := time.After(90 * time.Second)
	for p.url == "" || (p.nats == "" && !slices.Contains(args, "--nats-url")) {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("starling serve %v exited before it listened", args)
			}
			if u, ok := strings.CutPrefix(l, "listening on "); ok {
				p.url = u
			}
			if u, ok := strings.CutPrefix(l, "engine listening on "); ok {
				p.nats = u
			}
		case <-deadline:
			t.Fatalf("starling serve %v did not start", args)
		}
	}
	go func() {
		for range lines {
		}
	}()
	return p
}

// podName returns a name a pod of the workload gets.
func podName(workload string, stateful bool) string {
	if stateful {
		return workload + "-0"
	}
	return fmt.Sprintf("%s-5d9c7b8f6-x2x7q", workload)
}
