package startest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/gateway"
	"github.com/starling-social/starling/node"
	"github.com/starling-social/starling/telemetry"
)

// NodeOption changes the configuration of a test node.
type NodeOption func(*node.Config)

// WithLimits sets the gateway's limits.
func WithLimits(l gateway.Limits) NodeOption { return func(c *node.Config) { c.Limits = &l } }

// WithTelemetry sets the node's telemetry.
func WithTelemetry(t *telemetry.Telemetry) NodeOption {
	return func(c *node.Config) { c.Telemetry = t }
}

// WithServices sets the services the node runs.
func WithServices(s ...string) NodeOption { return func(c *node.Config) { c.Services = s } }

// WithEngine changes the engine configuration.
func WithEngine(f func(*engine.Config)) NodeOption { return func(c *node.Config) { f(&c.Engine) } }

// NoLimits turns every rate limit off.
func NoLimits() NodeOption {
	return func(c *node.Config) {
		l := gateway.DefaultLimits()
		l.Token, l.IP, l.SignUp, l.SignIn, l.Media, l.Delete = gateway.Rate{}, gateway.Rate{}, gateway.Rate{}, gateway.Rate{}, gateway.Rate{}, gateway.Rate{}
		c.Limits = &l
	}
}

// Node starts a complete single-process node (engine on a random loopback
// port, every service, the gateway on a random port) for the test.
func Node(t testing.TB, opts ...NodeOption) *node.Node {
	t.Helper()
	ec := engine.DefaultConfig(t.TempDir())
	ec.NodeName = "test"
	ec.Listen = "127.0.0.1:-1"
	ec.Partitions = 4
	ec.FsyncAlways = false
	ec.Logger = slog.New(slog.DiscardHandler)
	cfg := node.Config{Engine: ec, HTTPAddr: "127.0.0.1:0", Services: node.AllServices}
	NoLimits()(&cfg)
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Telemetry == nil {
		cfg.Telemetry = telemetry.Discard()
		if os.Getenv("STARLING_TEST_LOG") != "" {
			cfg.Telemetry.Log = telemetry.NewLogger(os.Stderr, "text", slog.LevelDebug)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := node.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n.Shutdown(ctx)
	})
	return n
}

// Client talks to a Starling gateway like a Mastodon client does.
type Client struct {
	t     testing.TB
	Base  string
	Token string
	HTTP  *http.Client
}

// NewClient returns an anonymous client of base.
func NewClient(t testing.TB, base string) *Client {
	return &Client{t: t, Base: strings.TrimRight(base, "/"), HTTP: &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// As returns a copy of c that sends token.
func (c *Client) As(token string) *Client {
	cp := *c
	cp.Token = token
	return &cp
}

// Response is an HTTP response with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test if it cannot.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Map decodes the body as a JSON object.
func (r *Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// List decodes the body as a JSON array of objects.
func (r *Response) List(t testing.TB) []map[string]any {
	t.Helper()
	var l []map[string]any
	r.JSON(t, &l)
	return l
}

// Form is a urlencoded body.
type Form = url.Values

// JSONBody is a body sent as application/json.
type JSONBody map[string]any

// Multipart is a body sent as multipart/form-data; values of type File are
// sent as files.
type Multipart map[string]any

// File is an uploaded file in a Multipart body.
type File struct {
	Name string
	Data []byte
}

// Do sends a request. body may be nil, Form, JSONBody, Multipart or []byte
// (sent as-is with Content-Type from header). A transport error fails the
// test.
func (c *Client) Do(method, path string, body any, header ...string) *Response {
	c.t.Helper()
	r, err := c.TryDo(method, path, body, header...)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// Decode decodes the body into v.
func (r *Response) Decode(v any) error { return json.Unmarshal(r.Body, v) }

// TryDo is Do that returns transport errors instead of failing the test
// (for requests to a server the test is about to kill).
func (c *Client) TryDo(method, path string, body any, header ...string) (*Response, error) {
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case Form:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case JSONBody:
		data, _ := json.Marshal(b)
		rd, ct = bytes.NewReader(data), "application/json"
	case Multipart:
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, v := range b {
			switch x := v.(type) {
			case File:
				fw, _ := mw.CreateFormFile(k, x.Name)
				_, _ = fw.Write(x.Data)
			case []string:
				for _, s := range x {
					_ = mw.WriteField(k, s)
				}
			default:
				_ = mw.WriteField(k, fmt.Sprint(x))
			}
		}
		_ = mw.Close()
		rd, ct = &buf, mw.FormDataContentType()
	case []byte:
		rd = bytes.NewReader(b)
	default:
		return nil, fmt.Errorf("unsupported body %T", body)
	}
	url := path
	if !strings.HasPrefix(path, "http") {
		url = c.Base + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// Must sends a request and fails the test unless the status is want.
func (c *Client) Must(want int, method, path string, body any, header ...string) *Response {
	c.t.Helper()
	r := c.Do(method, path, body, header...)
	if r.Status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	return r
}

// App registers an app and returns its client ID and secret.
func (c *Client) App(scopes string, redirect string) (id, secret string) {
	c.t.Helper()
	m := c.Must(200, "POST", "/api/v1/apps", Form{"client_name": {"test"}, "redirect_uris": {redirect}, "scopes": {scopes}}).Map(c.t)
	return m["client_id"].(string), m["client_secret"].(string)
}

var users atomic.Int64

// User is a signed-up account.
type User struct {
	*Client
	ID       string
	Username string
}

// SignUp registers a new account through the API and returns a client
// acting as it.
func (c *Client) SignUp(prefix string) *User {
	c.t.Helper()
	id, secret := c.App("read write follow push", "urn:ietf:wg:oauth:2.0:oob")
	appTok := c.Must(200, "POST", "/oauth/token", Form{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "scope": {"read write follow push"}}).Map(c.t)["access_token"].(string)
	name := fmt.Sprintf("%s%d", prefix, users.Add(1))
	tok := c.As(appTok).Must(200, "POST", "/api/v1/accounts", Form{"username": {name}, "email": {name + "@example.com"},
		"password": {"correct horse battery"}, "agreement": {"true"}, "locale": {"en"}}).Map(c.t)["access_token"].(string)
	u := c.As(tok)
	acct := u.Must(200, "GET", "/api/v1/accounts/verify_credentials", nil).Map(c.t)
	return &User{Client: u, ID: acct["id"].(string), Username: name}
}

// WithFanoutThreshold sets the follower count above which posts are merged
// into home timelines at read time.
func WithFanoutThreshold(n int) NodeOption { return func(c *node.Config) { c.FanoutThreshold = n } }

// WithStreaming sets the streaming limits.
func WithStreaming(l gateway.StreamingLimits) NodeOption {
	return func(c *node.Config) { c.Streaming = l }
}

// WithPrivateLinks lets profile link verification fetch pages on loopback
// addresses, where tests serve them.
func WithPrivateLinks() NodeOption { return func(c *node.Config) { c.VerifyPrivateLinks = true } }

// User returns u itself (for helpers that take a *User).
func (u *User) User() *User { return u }
