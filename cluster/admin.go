package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/starling-social/starling/node"
)

// Admin talks to one node's admin API (/api/starling/v1/).
type Admin struct {
	URL   string // the node's base URL
	Token string // the admin token
	HTTP  *http.Client
}

func (a Admin) client() *http.Client {
	if a.HTTP != nil {
		return a.HTTP
	}
	return &http.Client{Timeout: 60 * time.Second}
}

func (a Admin) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(a.URL, "/")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	resp, err := a.client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		_ = json.Unmarshal(body, &e)
		if e.Error == "" {
			e.Error = string(bytes.TrimSpace(body))
		}
		return fmt.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, e.Error)
	}
	return json.Unmarshal(body, out)
}

// Status returns the cluster's status as the node sees it.
func (a Admin) Status(ctx context.Context) (*node.Status, error) {
	var s node.Status
	if err := a.do(ctx, "GET", "/api/starling/v1/status", &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Drain asks the node to move its leaderships away and stop. It returns
// once the leaderships have moved; the node stops a moment later (see
// WaitGone).
func (a Admin) Drain(ctx context.Context) (*node.DrainResult, error) {
	var r node.DrainResult
	if err := a.do(ctx, "POST", "/api/starling/v1/drain", &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// WaitGone waits until the node no longer answers /healthz.
func (a Admin) WaitGone(ctx context.Context) error {
	c := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(a.URL, "/")+"/healthz", nil)
		resp, err := c.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return nil
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		select {
		case <-ctx.Done():
			return fmt.Errorf("node still answers: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Drain drains node i through its admin API and waits until its process
// exits.
func (l *Local) Drain(ctx context.Context, i int) (*node.DrainResult, error) {
	n := l.Node(i)
	r, err := l.admin(i, 60*time.Second).Drain(ctx)
	if err != nil {
		return nil, err
	}
	select {
	case <-n.Exited():
	case <-time.After(60 * time.Second):
		return r, fmt.Errorf("%s did not stop within 60s of its drain", n.Name)
	case <-ctx.Done():
		return r, ctx.Err()
	}
	return r, nil
}

// Admin returns an admin client of node i.
func (l *Local) Admin(i int) Admin { return l.admin(i, 30*time.Second) }

func (l *Local) admin(i int, timeout time.Duration) Admin {
	return Admin{URL: l.Node(i).URL(), Token: l.opts.AdminToken, HTTP: &http.Client{Timeout: timeout, Transport: l.opts.HTTP.Transport}}
}
