package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Operations. The first ones can be mixed; the others are steps of an
// operation (phases) or belong to the stream workload.
const (
	opHome            = iota // GET /api/v1/timelines/home?limit=10
	opAccount                // GET /api/v1/accounts/:id/statuses?limit=10
	opCompose                // POST /api/v1/statuses
	opMedia                  // POST /api/v2/media, then GET /api/v1/media/:id until 200
	opMediaUpload            // media: the POST
	opMediaProcessing        // media: from the POST's answer to ready; counts the GETs
	opStream                 // stream: one update event delivered to one socket
	opStreamPost             // stream: the poster's POST
	numOps
)

var opNames = [numOps]string{"home", "account", "compose", "media", "media.upload", "media.processing", "stream", "stream.post"}

// mixable are the operations a --mix may name.
var mixable = []int{opHome, opAccount, opCompose, opMedia}

// Workloads by name, as mixes; "stream" is not a mix, see stream.go.
var workloads = map[string]string{
	"deathstar": "home=60,account=30,compose=10", // the DeathStarBench social network mix
	"read":      "home=2,account=1",
	"write":     "compose=1",
	"home":      "home=1",
	"account":   "account=1",
	"media":     "media=1",
}

// Weight is one operation's share of a mix.
type Weight struct {
	Op     string
	Weight int
}

// Mix is a set of operations with relative weights; each request picks one
// at random in proportion to them.
type Mix []Weight

// ParseMix parses "home=60,account=30,compose=10". Operations: home,
// account, compose, media.
func ParseMix(s string) (Mix, error) {
	var m Mix
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("bad mix entry %q: want op=weight", kv)
		}
		if opIndex(k) < 0 || !slices.Contains(mixable, opIndex(k)) {
			return nil, fmt.Errorf("unknown operation %q in mix (want home, account, compose or media)", k)
		}
		for _, w := range m {
			if w.Op == k {
				return nil, fmt.Errorf("operation %q twice in mix", k)
			}
		}
		if n > 0 {
			m = append(m, Weight{k, n})
		}
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("mix %q has no operation with a weight", s)
	}
	return m, nil
}

// String formats the mix as ParseMix reads it.
func (m Mix) String() string {
	parts := make([]string, len(m))
	for i, w := range m {
		parts[i] = fmt.Sprintf("%s=%d", w.Op, w.Weight)
	}
	return strings.Join(parts, ",")
}

func opIndex(name string) int {
	for i, n := range opNames {
		if n == name {
			return i
		}
	}
	return -1
}

// picker draws operations from a mix.
type picker struct {
	ops []int // operation of each weight
	cum []int // cumulative weights
}

func newPicker(m Mix) picker {
	var p picker
	total := 0
	for _, w := range m {
		total += w.Weight
		p.ops = append(p.ops, opIndex(w.Op))
		p.cum = append(p.cum, total)
	}
	return p
}

func (p *picker) pick(r *rand.Rand) int {
	n := r.IntN(p.cum[len(p.cum)-1])
	for i, c := range p.cum {
		if n < c {
			return p.ops[i]
		}
	}
	return p.ops[len(p.ops)-1]
}

// runTarget is one gateway with its endpoints parsed once.
type runTarget struct {
	base                   string
	home, statuses, upload *url.URL
}

// runUser is one account with everything its requests need built once:
// header maps are shared by all its requests (read-only), URLs are parsed.
type runUser struct {
	id, token string
	mention   []byte // "+%40username", form-encoded
	target    int
	get, form http.Header // Authorization; and form Content-Type
	statuses  []*url.URL  // its statuses page, per target
}

func (r *runner) prepareUsers(st *State) error {
	ready, index := st.ReadyUsers()
	if len(ready) == 0 {
		return fmt.Errorf("the state has no accounts: run setup first")
	}
	page := r.cfg.PageSize
	if page <= 0 {
		page = 10
	}
	for _, t := range r.targetURLs {
		base, err := url.Parse(t)
		if err != nil || base.Host == "" {
			return fmt.Errorf("bad target %q", t)
		}
		mk := func(path, query string) *url.URL {
			u := *base
			u.Path = strings.TrimRight(u.Path, "/") + path
			u.RawQuery = query
			return &u
		}
		r.targets = append(r.targets, runTarget{base: t, home: mk("/api/v1/timelines/home", "limit="+strconv.Itoa(page)),
			statuses: mk("/api/v1/statuses", ""), upload: mk("/api/v2/media", "")})
	}
	r.users = make([]runUser, len(ready))
	for i, u := range ready {
		auth := []string{"Bearer " + u.Token}
		ru := runUser{id: u.ID, token: u.Token, mention: []byte("+%40" + url.QueryEscape(u.Username)), target: index[i] % len(r.targets),
			get:  http.Header{"Authorization": auth},
			form: http.Header{"Authorization": auth, "Content-Type": {"application/x-www-form-urlencoded"}}}
		for _, t := range r.targets {
			su := *t.home
			su.Path = strings.TrimSuffix(su.Path, "/timelines/home") + "/accounts/" + url.PathEscape(u.ID) + "/statuses"
			ru.statuses = append(ru.statuses, &su)
		}
		r.users[i] = ru
	}
	return nil
}

// exec runs one operation for the mixes and returns its outcome.
func (r *runner) exec(ctx context.Context, w *worker, j job) int {
	u := &r.users[j.user]
	t := &r.targets[u.target]
	switch j.op {
	case opHome:
		return r.send(http.MethodGet, t.home, u.get, nil)
	case opAccount:
		v := &r.users[w.rng.IntN(len(r.users))]
		return r.send(http.MethodGet, v.statuses[u.target], u.get, nil)
	case opCompose:
		return r.send(http.MethodPost, t.statuses, u.form, r.composeBody(w, j.user, true, ""))
	case opMedia:
		return r.media.do(ctx, r, w, j)
	}
	return statusConnection
}

// send makes one request and reads the whole answer; it returns the status
// or the kind of failure.
func (r *runner) send(method string, u *url.URL, h http.Header, body []byte) int {
	req := new(http.Request)
	*req = *r.base // carries the run's context
	req.Method, req.URL, req.Host, req.Header = method, u, u.Host, h
	if body != nil {
		req.ContentLength = int64(len(body))
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	code, _ := r.do(req, nil)
	return code
}

// do sends req and reads the whole answer (into buf if not nil).
func (r *runner) do(req *http.Request, buf *bytes.Buffer) (int, []byte) {
	resp, err := r.client.Do(req)
	if err != nil {
		return errKind(err), nil
	}
	if buf != nil {
		buf.Reset()
		_, err = buf.ReadFrom(resp.Body)
	} else {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	if err != nil {
		return errKind(err), nil
	}
	if buf != nil {
		return resp.StatusCode, buf.Bytes()
	}
	return resp.StatusCode, nil
}

// composeChars are the characters of generated posts; '+' is a space once
// form-decoded.
const composeChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789++++++++"

// composeBody returns a form body posting 256 random characters, then (if
// mentions) 1–2 mentions of random other accounts, then marker if not empty.
func (r *runner) composeBody(w *worker, author int32, mentions bool, marker string) []byte {
	b := make([]byte, 0, 7+256+2*40+len(marker)+2)
	b = append(b, "status="...)
	for range 256 {
		b = append(b, composeChars[w.rng.IntN(len(composeChars))])
	}
	n := 0
	if mentions {
		n = 1 + w.rng.IntN(2)
	}
	for range n {
		v := int32(w.rng.IntN(len(r.users)))
		if v == author && len(r.users) > 1 {
			v = (v + 1) % int32(len(r.users))
		}
		b = append(b, r.users[v].mention...)
	}
	if marker != "" {
		b = append(b, '+')
		b = append(b, marker...)
	}
	return b
}
