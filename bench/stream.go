package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// streamRun measures fan-out through the streaming API: sockets subscribed
// to the user stream of accounts that follow a poster, which posts at the
// offered rate; each post carries a unique marker, and the latency of a
// delivery is the time its update event arrives on a socket minus the time
// the post was sent.
type streamRun struct {
	r      *runner
	poster int32
	marker string         // posts carry marker + their sequence number
	sent   []atomic.Int64 // per post: send time since start, +1; 0 until sent
	posted atomic.Int64   // measured posts the server accepted
	got    atomic.Int64   // measured deliveries
	conns  []*websocket.Conn
	wg     sync.WaitGroup
}

// subscribe is the message that subscribes a socket to its user stream.
var subscribe = []byte(`{"type":"subscribe","stream":"user"}`)

// newStreamRun finds the streaming URL, makes the socket accounts follow the
// poster and opens the sockets. None of this is measured.
func newStreamRun(ctx context.Context, r *runner) (*streamRun, error) {
	var nonce [4]byte
	_, _ = rand.Read(nonce[:])
	s := &streamRun{r: r, poster: 0, marker: fmt.Sprintf("sbm%xn", nonce)}
	s.sent = make([]atomic.Int64, int(math.Ceil(r.cfg.Rate*r.total.Seconds()))+2)
	a := &api{client: &http.Client{Transport: newTransport(16, r.cfg.Insecure)}, timeout: r.cfg.Timeout, retries: 5}
	defer a.client.CloseIdleConnections()

	// Socket i belongs to account 1 + i%(n-1): everyone but the poster.
	owner := func(i int) int {
		if len(r.users) == 1 {
			return 0
		}
		return 1 + i%(len(r.users)-1)
	}
	followers := min(r.cfg.Sockets, len(r.users)-1)
	poster := &r.users[s.poster]
	if err := parallelDo(ctx, followers, 16, func(i int) error {
		u := &r.users[owner(i)]
		_, _, err := a.call(ctx, http.MethodPost, r.targets[u.target].base+"/api/v1/accounts/"+url.PathEscape(poster.id)+"/follow", u.token, url.Values{})
		return err
	}); err != nil {
		return nil, fmt.Errorf("stream: follow the poster: %w", err)
	}

	wsURLs := make([]string, len(r.targets))
	for i, t := range r.targets {
		base := r.cfg.StreamingURL
		if base == "" {
			var err error
			if base, err = streamingBase(ctx, a, t.base); err != nil {
				return nil, err
			}
		}
		base = strings.TrimRight(base, "/")
		if !strings.HasSuffix(base, "/api/v1/streaming") {
			base += "/api/v1/streaming"
		}
		wsURLs[i] = base
	}
	ws := &http.Client{Transport: newTransport(0, r.cfg.Insecure)}
	conns := make([]*websocket.Conn, r.cfg.Sockets)
	var (
		errMu    sync.Mutex
		firstErr error
	)
	_ = parallelDo(ctx, r.cfg.Sockets, 32, func(i int) error {
		u := &r.users[owner(i)]
		dctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		defer cancel()
		c, _, err := websocket.Dial(dctx, wsURLs[u.target], &websocket.DialOptions{HTTPClient: ws, Subprotocols: []string{u.token}})
		if err == nil {
			if err = c.Write(dctx, websocket.MessageText, subscribe); err != nil {
				c.CloseNow()
			}
		}
		if err != nil {
			errMu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			errMu.Unlock()
			return nil
		}
		c.SetReadLimit(4 << 20)
		conns[i] = c
		return nil
	})
	for _, c := range conns {
		if c != nil {
			s.conns = append(s.conns, c)
		}
	}
	if len(s.conns) == 0 {
		return nil, fmt.Errorf("stream: no socket opened: %w", firstErr)
	}
	for i, c := range s.conns {
		s.wg.Go(func() { s.read(ctx, i+1, c) })
	}
	// The subscription is not acknowledged: give the server a moment (the
	// warm-up should cover the rest).
	select {
	case <-ctx.Done():
	case <-time.After(250 * time.Millisecond):
	}
	return s, nil
}

// streamingBase returns the instance's streaming base URL.
func streamingBase(ctx context.Context, a *api, base string) (string, error) {
	var v2 struct {
		Configuration struct {
			URLs struct {
				Streaming string `json:"streaming"`
			} `json:"urls"`
		} `json:"configuration"`
	}
	if err := a.getJSON(ctx, base+"/api/v2/instance", "", &v2); err == nil && v2.Configuration.URLs.Streaming != "" {
		return v2.Configuration.URLs.Streaming, nil
	}
	var v1 struct {
		URLs struct {
			StreamingAPI string `json:"streaming_api"`
		} `json:"urls"`
	}
	if err := a.getJSON(ctx, base+"/api/v1/instance", "", &v1); err == nil && v1.URLs.StreamingAPI != "" {
		return v1.URLs.StreamingAPI, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u.Scheme = map[string]string{"https": "wss"}[u.Scheme]
	if u.Scheme == "" {
		u.Scheme = "ws"
	}
	return u.String(), nil
}

// read receives one socket's events until the run ends.
func (s *streamRun) read(ctx context.Context, id int, c *websocket.Conn) {
	var buf bytes.Buffer
	var ev struct {
		Event string `json:"event"`
	}
	for {
		_, rd, err := c.Reader(ctx)
		if err != nil {
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(rd); err != nil {
			return
		}
		now := time.Since(s.r.start)
		msg := buf.Bytes()
		i := bytes.Index(msg, []byte(s.marker))
		if i < 0 {
			continue
		}
		j := i + len(s.marker)
		for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
			j++
		}
		seq, err := strconv.ParseInt(string(msg[i+len(s.marker):j]), 10, 64)
		if err != nil || seq < 0 || seq >= int64(len(s.sent)) {
			continue
		}
		ev.Event = ""
		if json.Unmarshal(msg, &ev) != nil || ev.Event != "update" {
			continue // e.g. a notification quoting the post
		}
		at := s.sent[seq].Load() - 1
		if at < 0 {
			continue
		}
		measured := schedAt(seq, s.r.cfg.Rate) >= s.r.warmup
		s.r.stats[opStream].record(id, measured, http.StatusOK, now-time.Duration(at))
		if measured {
			s.got.Add(1)
		}
	}
}

// post sends the poster's post number j.seq, marked.
func (s *streamRun) post(ctx context.Context, w *worker, j job) int {
	if j.seq >= int64(len(s.sent)) {
		return statusDropped
	}
	r := s.r
	u := &r.users[j.user]
	body := r.composeBody(w, j.user, false, s.marker+strconv.FormatInt(j.seq, 10))
	s.sent[j.seq].Store(int64(time.Since(r.start)) + 1)
	code := r.send(http.MethodPost, r.targets[u.target].statuses, u.form, body)
	if code/100 == 2 && j.at >= r.warmup {
		s.posted.Add(1)
	}
	return code
}

// settle waits, up to the request timeout, for the deliveries still on
// their way, then counts the missing ones as "lost".
func (s *streamRun) settle(ctx context.Context) {
	want := s.posted.Load() * int64(len(s.conns))
	deadline := time.Now().Add(s.r.cfg.Timeout)
	for s.got.Load() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	if lost := want - s.got.Load(); lost > 0 && ctx.Err() == nil {
		s.r.stats[opStream].status[1][statusLost].Add(lost)
	}
}

// close closes the sockets and waits for their readers.
func (s *streamRun) close() {
	for _, c := range s.conns {
		c.CloseNow()
	}
	s.wg.Wait()
}

// parallelDo runs fn(0..n-1) with at most conc at once and returns the
// first error; it stops starting new calls after an error or when ctx ends.
func parallelDo(ctx context.Context, n, conc int, fn func(int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
	)
	sem := make(chan struct{}, max(conc, 1))
	for i := range n {
		mu.Lock()
		stop := ferr != nil
		mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				mu.Lock()
				if ferr == nil {
					ferr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ferr == nil {
		ferr = ctx.Err()
	}
	return ferr
}
