package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/html"

	"github.com/starling-social/starling"
)

// Profile link verification. A profile field whose value is a link is
// verified, as in Mastodon, when the linked page links back to the profile
// with rel="me" (<a rel="me" href="..."> or <link rel="me" href="...">).
// The gateway fetches the page in the background after the profile is
// saved, and records the verification with the Auth service only if the
// field is still unchanged.
//
// Fetching a URL a user chose is a request forgery risk, so every fetch is
// bounded: http and https only, no proxy, at most verifyRedirects
// redirects, verifyTimeout in all, verifyMaxBytes of an HTML body, and no
// connection to a loopback, private, link-local, shared or otherwise
// non-public address (checked on the address actually dialled, after DNS,
// so a name that resolves inward is refused too). Tests lift the address
// rule with Config.VerifyPrivateLinks. At most verifyConcurrency fetches run
// per node; more are dropped (a later profile update retries them).
const (
	verifyTimeout     = 10 * time.Second
	verifyMaxBytes    = 1 << 20
	verifyRedirects   = 3
	verifyConcurrency = 4
)

// linkVerifier fetches linked pages and records verified fields.
type linkVerifier struct {
	s      *Server
	client *http.Client
	slots  chan struct{}
}

var errForbiddenAddress = errors.New("refusing to connect to a non-public address")

func newLinkVerifier(s *Server, allowPrivate bool) *linkVerifier {
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || (!allowPrivate && !publicAddress(ip)) {
			return errForbiddenAddress
		}
		return nil
	}}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSHandshakeTimeout:    5 * time.Second,
		ResponseHeaderTimeout:  5 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		DisableKeepAlives:      true,
	}
	client := &http.Client{Transport: transport, Timeout: verifyTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > verifyRedirects {
				return errors.New("too many redirects")
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return errors.New("redirect to a non-HTTP URL")
			}
			return nil
		}}
	return &linkVerifier{s: s, client: client, slots: make(chan struct{}, verifyConcurrency)}
}

// publicAddress reports whether ip is a public unicast address: not
// loopback, private (RFC 1918, fc00::/7), link-local, shared (100.64/10),
// unspecified, multicast, documentation, benchmarking, reserved, or an
// IPv6 form of an IPv4 address (which could name any of those).
func publicAddress(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "64:ff9b::/96", "64:ff9b:1::/48", "2001::/32",
		"2001:db8::/32", "2002::/16", "::/96"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// verifiable returns the URL a field's value links to, if the value is
// only that link.
func verifiable(value string) (*url.URL, bool) {
	value = strings.TrimSpace(value)
	if len(value) > starling.MaxFieldValueChars || strings.ContainsAny(value, " \t\n") {
		return nil, false
	}
	u, err := url.Parse(value)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, false
	}
	return u, true
}

// check starts verifying the unverified link fields of a, each in the
// background, within the node's concurrency bound.
func (v *linkVerifier) check(a *starling.Account) {
	backs := []string{v.s.base + "/@" + a.Username, v.s.base + "/users/" + a.Username}
	for _, f := range a.Fields {
		u, ok := verifiable(f.Value)
		if f.VerifiedAt != nil || !ok {
			continue
		}
		select {
		case v.slots <- struct{}{}:
		default:
			v.s.log.Info("profile link verification skipped: too many in flight", "account", a.ID)
			return
		}
		go func() {
			defer func() { <-v.slots }()
			v.verify(a.ID, f, u, backs)
		}()
	}
}

// verify fetches u and, if it links back, records the field as verified.
func (v *linkVerifier) verify(account starling.ID, f starling.Field, u *url.URL, backs []string) {
	ctx, cancel := context.WithTimeout(context.Background(), verifyTimeout)
	defer cancel()
	ok, err := v.linksBack(ctx, u, backs)
	if err != nil || !ok {
		v.s.log.Debug("profile link not verified", "account", account, "err", err)
		return
	}
	_, err = v.s.auth.UpdateAccount(ctx, account, starling.AccountUpdate{Verified: &starling.FieldVerification{Name: f.Name, Value: f.Value, At: time.Now()}})
	if err != nil {
		v.s.log.Warn("record profile link verification", "account", account, "err", err)
	}
}

// linksBack fetches the page at u and reports whether it has an a or link
// element with rel="me" whose href is one of backs (case-insensitively,
// ignoring a trailing slash).
func (v *linkVerifier) linksBack(ctx context.Context, u *url.URL, backs []string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	req.Header.Set("User-Agent", "Starling/"+starling.Version+" (profile link verification; +"+v.s.base+")")
	resp, err := v.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	ct := strings.ToLower(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || !(strings.HasPrefix(ct, "text/html") || strings.HasPrefix(ct, "application/xhtml+xml")) {
		return false, nil
	}
	z := html.NewTokenizer(io.LimitReader(resp.Body, verifyMaxBytes))
	z.SetMaxBuf(verifyMaxBytes)
	for {
		switch z.Next() {
		case html.ErrorToken:
			return false, nil // end of page (or of what we read)
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			if !hasAttr || (string(name) != "a" && string(name) != "link") {
				continue
			}
			var rel, href string
			for {
				k, val, more := z.TagAttr()
				switch string(k) {
				case "rel":
					rel = string(val)
				case "href":
					href = string(val)
				}
				if !more {
					break
				}
			}
			if relMe(rel) && sameLink(href, backs) {
				return true, nil
			}
		}
	}
}

func relMe(rel string) bool {
	for _, r := range strings.Fields(rel) {
		if strings.EqualFold(r, "me") {
			return true
		}
	}
	return false
}

func sameLink(href string, backs []string) bool {
	href = strings.TrimRight(strings.TrimSpace(href), "/")
	for _, b := range backs {
		if strings.EqualFold(href, b) {
			return true
		}
	}
	return false
}
