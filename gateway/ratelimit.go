package gateway

import (
	"fmt"
	"hash/maphash"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/starling-social/starling"
)

// Rate is a request budget: N requests per period. N == 0 is unlimited.
type Rate struct {
	N   int
	Per time.Duration
}

func (r Rate) String() string {
	if r.N == 0 {
		return "off"
	}
	return fmt.Sprintf("%d/%s", r.N, r.Per)
}

// ParseRate parses "N/duration" (e.g. "300/5m") or "off".
func ParseRate(s string) (Rate, error) {
	if s == "off" || s == "0" {
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q: want N/duration, e.g. 300/5m, or off", s)
	}
	count, err := strconv.Atoi(n)
	if err != nil || count < 0 {
		return Rate{}, fmt.Errorf("rate %q: bad count", s)
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return Rate{}, fmt.Errorf("rate %q: bad period", s)
	}
	return Rate{N: count, Per: d}, nil
}

// Limits bounds what clients may do. Budgets are per node: a client whose
// requests are spread over N nodes may get up to N times each budget.
type Limits struct {
	// Inflight caps concurrent requests per route class (read, write,
	// auth, media) and, under "node", of the whole node (every request but
	// /healthz, /livez, /readyz and /metrics; a WebSocket only until its upgrade);
	// beyond a cap requests get 503 with Retry-After at once.
	Inflight map[string]int
	Token    Rate // per access token
	IP       Rate // per client IP, for requests without a token
	SignUp   Rate // account creation, per IP
	SignIn   Rate // sign-in and token grants, per IP
	Media    Rate // uploads, per account
	Delete   Rate // status deletions and unreblogs, per account
}

// DefaultLimits returns Mastodon's defaults.
func DefaultLimits() Limits {
	return Limits{
		Inflight: map[string]int{"read": 1024, "write": 512, "auth": 64, "media": 32, "node": 4096},
		Token:    Rate{1500, 5 * time.Minute},
		IP:       Rate{300, 5 * time.Minute},
		SignUp:   Rate{5, 30 * time.Minute},
		SignIn:   Rate{25, 5 * time.Minute},
		Media:    Rate{30, 30 * time.Minute},
		Delete:   Rate{30, 30 * time.Minute},
	}
}

// withDefaults fills in-flight caps the configuration left out.
func (l Limits) withDefaults() Limits {
	caps := map[string]int{}
	for class, n := range DefaultLimits().Inflight {
		caps[class] = n
	}
	for class, n := range l.Inflight {
		caps[class] = n
	}
	l.Inflight = caps
	return l
}

// rateLimiter counts requests in fixed windows aligned to each rate's
// period, as Mastodon's rack-attack does. Safe for concurrent use.
type rateLimiter struct {
	seed   maphash.Seed
	shards [64]struct {
		sync.Mutex
		m map[string]*window
	}
}

type window struct {
	start time.Time
	count int
}

func newRateLimiter() *rateLimiter {
	l := &rateLimiter{seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].m = map[string]*window{}
	}
	return l
}

// take spends one request of key's budget. It returns what is left and
// when the window resets; ok is false when the budget was already spent.
func (l *rateLimiter) take(key string, rate Rate, now time.Time) (remaining int, reset time.Time, ok bool) {
	start := now.Truncate(rate.Per)
	reset = start.Add(rate.Per)
	sh := &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
	sh.Lock()
	defer sh.Unlock()
	w := sh.m[key]
	if w == nil || !w.start.Equal(start) {
		if len(sh.m) > 4096 {
			for k, old := range sh.m { // drop windows that have ended
				if now.Sub(old.start) > 24*time.Hour || !old.start.Add(time.Hour).After(now) {
					delete(sh.m, k)
				}
			}
		}
		w = &window{start: start}
		sh.m[key] = w
	}
	if w.count >= rate.N {
		return 0, reset, false
	}
	w.count++
	return rate.N - w.count, reset, true
}

// rateLimit applies the general budget (per token, or per IP without one)
// and the route's extra budget, and sets the X-RateLimit headers of the one
// closest to running out.
func (s *Server) rateLimit(w http.ResponseWriter, r *http.Request, a access, g *starling.Grant) error {
	now := time.Now()
	type result struct {
		name      string
		rate      Rate
		remaining int
		reset     time.Time
		ok        bool
	}
	var res []result
	check := func(name, key string, rate Rate) {
		if rate.N == 0 {
			return
		}
		rem, reset, ok := s.limiter.take(name+"|"+key, rate, now)
		res = append(res, result{name, rate, rem, reset, ok})
	}
	ip := clientIP(r)
	if g != nil {
		check("token", g.TokenID, s.limits.Token)
	} else {
		check("ip", ip, s.limits.IP)
	}
	acct := ip
	if g.IsUser() {
		acct = g.AccountID.String()
	}
	switch a.limit {
	case "signup":
		check("signup", ip, s.limits.SignUp)
	case "signin":
		check("signin", ip, s.limits.SignIn)
	case "media":
		check("media", acct, s.limits.Media)
	case "delete":
		check("delete", acct, s.limits.Delete)
	}
	if len(res) == 0 {
		return nil
	}
	worst := res[0]
	for _, x := range res[1:] {
		if !x.ok || (worst.ok && x.remaining < worst.remaining) {
			worst = x
		}
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(worst.rate.N))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(worst.remaining))
	h.Set("X-RateLimit-Reset", worst.reset.UTC().Format("2006-01-02T15:04:05.000000Z"))
	if !worst.ok {
		s.tel.Metrics.RateLimited.WithLabelValues(worst.name).Inc()
		return &starling.Error{Code: starling.RateLimited, Message: "Too many requests", RetryAfter: time.Until(worst.reset)}
	}
	return nil
}

// clientIP returns the caller's address, with IPv6 grouped by /64 as
// Mastodon does.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}
