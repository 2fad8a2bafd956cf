package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// outcome classifies one HTTP attempt.
type outcome int

const (
	ok        outcome = iota // 2xx
	refused                  // nothing was sent (connection refused): safe to send elsewhere
	unknown                  // sent, no answer: the write may or may not have happened
	retryable                // 429, 5xx: not done (or not acknowledged); retry later
	rejected                 // another 4xx: the request itself is refused
)

func (o outcome) String() string {
	return [...]string{"ok", "refused", "unknown", "retryable", "rejected"}[o]
}

// attempt is one HTTP request of the workload, for the failure timeline.
type attempt struct {
	Start, End time.Time
	Node       int
	Write      bool
	Outcome    outcome
	Status     int
	What       string // method and path
	Err        string
}

// response is a completed request.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) decode(v any) error { return json.Unmarshal(r.Body, v) }

// client sends the workload's requests to the cluster's gateways, retrying
// as a careful Mastodon client (or a load balancer) would.
type client struct {
	urls    func() []string
	http    *http.Client
	timeout time.Duration

	mu       sync.Mutex
	attempts []attempt
	rng      *rand.Rand
	// down holds when each node may be tried again after it refused a
	// connection or timed out: a load balancer's passive health check.
	down map[int]time.Time
}

func newClient(urls func() []string, hc *http.Client, timeout time.Duration, seed uint64) *client {
	if hc == nil {
		tr := &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		}
		hc = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &client{urls: urls, http: hc, timeout: timeout, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), down: map[int]time.Time{}}
}

func (c *client) record(a attempt) {
	c.mu.Lock()
	c.attempts = append(c.attempts, a)
	c.mu.Unlock()
}

func (c *client) randN(n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rng.IntN(n)
}

// pick returns a node to send to, starting at a random one (or after
// prev), skipping nodes marked down unless all are.
func (c *client) pick(prev int) int {
	n := max(len(c.urls()), 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	start := c.rng.IntN(n)
	if prev >= 0 {
		start = (prev + 1) % n
	}
	now := time.Now()
	for k := 0; k < n; k++ {
		i := (start + k) % n
		if now.After(c.down[i]) {
			return i
		}
	}
	return start
}

func (c *client) markDown(i int, d time.Duration) {
	c.mu.Lock()
	c.down[i] = time.Now().Add(d)
	c.mu.Unlock()
}

// once sends one request to node i.
func (c *client) once(ctx context.Context, i int, method, path, token string, form url.Values, header map[string]string) (*response, outcome, error) {
	urls := c.urls()
	if i >= len(urls) {
		return nil, refused, fmt.Errorf("no node %d", i)
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, urls[i]+path, body)
	if err != nil {
		return nil, rejected, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, refused, err
		}
		return nil, unknown, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, unknown, err
	}
	r := &response{Status: resp.StatusCode, Header: resp.Header, Body: data}
	switch {
	case r.Status/100 == 2:
		return r, ok, nil
	case r.Status == 429 || r.Status == 409 || r.Status >= 500:
		// 409 is Mastodon's "Conflict during update, please try again".
		return r, retryable, fmt.Errorf("status %d: %s", r.Status, strings.TrimSpace(string(data)))
	}
	return r, rejected, fmt.Errorf("status %d: %s", r.Status, strings.TrimSpace(string(data)))
}

// callResult is the result of a retried call.
type callResult struct {
	Resp *response
	// Sent is true when an earlier attempt may have reached a server and
	// been executed without its answer arriving.
	Sent     bool
	Attempts int
	Took     time.Duration
}

// call sends a request, retrying on another node after connection
// failures, 429 and 5xx (after Retry-After, at most 2 s), until it is
// answered 2xx or another 4xx, or until deadline. A 4xx ends the call (the
// caller decides); running out of time returns an error.
func (c *client) call(ctx context.Context, deadline time.Time, write bool, method, path, token string, form url.Values, header map[string]string) (callResult, error) {
	return c.callFrom(ctx, c.pick(-1), deadline, write, method, path, token, form, header)
}

// callFrom is call with its first attempt sent to node.
func (c *client) callFrom(ctx context.Context, node int, deadline time.Time, write bool, method, path, token string, form url.Values, header map[string]string) (callResult, error) {
	start := time.Now()
	var res callResult
	var last error
	for {
		res.Attempts++
		t0 := time.Now()
		r, out, err := c.once(ctx, node, method, path, token, form, header)
		a := attempt{Start: t0, End: time.Now(), Node: node, Write: write, Outcome: out, What: method + " " + path}
		if r != nil {
			a.Status = r.Status
		}
		if err != nil {
			a.Err = err.Error()
		}
		c.record(a)
		switch out {
		case ok, rejected:
			res.Resp, res.Took = r, time.Since(start)
			if out == rejected {
				return res, err
			}
			return res, nil
		case unknown:
			res.Sent = true
		case retryable:
			if r.Status != 429 && r.Status != 409 {
				res.Sent = true // a 503 after a timeout inside may still commit
			}
		}
		last = err
		wait := 50 * time.Millisecond
		if r != nil {
			if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err == nil {
				wait = min(time.Duration(s)*time.Second, 2*time.Second)
			}
		}
		switch out {
		case refused:
			wait = 20 * time.Millisecond
			c.markDown(node, 2*time.Second)
		case unknown:
			wait = 20 * time.Millisecond
			c.markDown(node, 5*time.Second)
		}
		node = c.pick(node)
		if time.Now().Add(wait).After(deadline) || ctx.Err() != nil {
			res.Took = time.Since(start)
			return res, fmt.Errorf("gave up after %d attempts: %w", res.Attempts, last)
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// get reads path from node i (no retries), for the checker.
func (c *client) get(ctx context.Context, i int, path, token string) (*response, error) {
	r, out, err := c.once(ctx, i, "GET", path, token, nil, nil)
	if out != ok {
		if err == nil {
			err = fmt.Errorf("GET %s: %v", path, out)
		}
		return r, err
	}
	return r, nil
}

// nextMaxID returns the max_id of a response's rel="next" Link, or "".
func nextMaxID(h http.Header) string {
	for _, part := range strings.Split(h.Get("Link"), ",") {
		if !strings.Contains(part, `rel="next"`) {
			continue
		}
		s := strings.TrimSpace(part)
		i, j := strings.IndexByte(s, '<'), strings.IndexByte(s, '>')
		if i < 0 || j < i {
			continue
		}
		u, err := url.Parse(s[i+1 : j])
		if err != nil {
			continue
		}
		return u.Query().Get("max_id")
	}
	return ""
}
