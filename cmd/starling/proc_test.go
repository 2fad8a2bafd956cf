package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets tests start the starling binary as real processes: the test
// binary re-executes itself with STARLING_TEST_MAIN=1 and runs main.
func TestMain(m *testing.M) {
	if os.Getenv("STARLING_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// proc is a starling process started by a test.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    strings.Builder
	lines  chan string
	exited chan struct{}
	URL    string // gateway base URL, once ready
	NATS   string // engine client URL, when embedded
}

// startProc starts `starling args...` and waits until it prints its URLs.
func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, lines: make(chan string, 1024), exited: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Env = append(os.Environ(), "STARLING_TEST_MAIN=1")
	stdout, _ := p.cmd.StdoutPipe()
	stderr, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.collect(stdout, true)
	go p.collect(stderr, false)
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	p.waitReady(args)
	return p
}

func (p *proc) collect(r io.Reader, isStdout bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.out.WriteString(line + "\n")
		p.mu.Unlock()
		if isStdout {
			select {
			case p.lines <- line:
			default:
			}
		}
	}
}

func (p *proc) waitReady(args []string) {
	p.t.Helper()
	timeout := time.After(60 * time.Second)
	embedded := !slices.Contains(args, "--nats-url")
	for p.URL == "" || (embedded && p.NATS == "") {
		select {
		case line := <-p.lines:
			if u, ok := strings.CutPrefix(line, "listening on "); ok {
				p.URL = u
			}
			if u, ok := strings.CutPrefix(line, "engine listening on "); ok {
				p.NATS = u
			}
		case <-p.exited:
			p.t.Fatalf("starling %v exited early:\n%s", args, p.output())
		case <-timeout:
			p.t.Fatalf("starling %v not ready after 60s:\n%s", args, p.output())
		}
	}
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// kill sends sig and waits for the process to exit.
func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// runCmd runs run() in-process with args and returns stdout.
func runCmd(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut strings.Builder
	err := run(context.Background(), append([]string{"starling"}, args...), func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
	if err != nil {
		return out.String(), fmt.Errorf("%w (stderr: %s)", err, errOut.String())
	}
	return out.String(), nil
}
