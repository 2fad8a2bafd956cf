package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/starling-social/starling/telemetry"
)

func TestPublicAddress(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.216.34": true, "2606:2800:220:1:248:1893:25c8:1946": true, "8.8.8.8": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fc00::1": false, "100.64.0.1": false, "0.0.0.0": false,
		"::": false, "224.0.0.1": false, "ff02::1": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false,
		"64:ff9b::a00:1": false, "198.18.0.1": false, "240.0.0.1": false, "255.255.255.255": false,
		"192.0.2.1": false, "2001:db8::1": false,
	} {
		if got := publicAddress(netip.MustParseAddr(addr)); got != want {
			t.Errorf("publicAddress(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestVerifiable(t *testing.T) {
	for value, want := range map[string]bool{
		"https://example.com/me": true, " http://example.com ": true,
		"example.com": false, "ftp://example.com": false, "https://user:pw@example.com/": false,
		"see https://example.com": false, "javascript:alert(1)": false, "https:///nohost": false,
		"https://example.com/" + strings.Repeat("x", 300): false,
	} {
		if _, got := verifiable(value); got != want {
			t.Errorf("verifiable(%q) = %v, want %v", value, got, want)
		}
	}
}

func TestLinksBack(t *testing.T) {
	const back = "https://starling.example/@ada"
	mux := http.NewServeMux()
	html := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, body)
		}
	}
	mux.Handle("/yes", html(`<html><body><p>hi</p><a class="x" rel="nofollow me" href="`+back+`">Starling</a></body></html>`))
	mux.Handle("/xhtml", html(`<link href="`+strings.ToUpper(back)+`/" rel="ME"/>`))
	mux.Handle("/no-rel", html(`<a href="`+back+`">Starling</a>`))
	mux.Handle("/elsewhere", html(`<a rel="me" href="https://starling.example/@eve">Eve</a>`))
	mux.Handle("/late", html(`<html><body>`+strings.Repeat("<p>padding</p>", verifyMaxBytes/14+10)+`<a rel="me" href="`+back+`">late</a>`))
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `<a rel="me" href="`+back+`">`)
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("/redirect/{n}", func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.PathValue("n"), &n)
		if n == 0 {
			http.Redirect(w, r, "/yes", http.StatusFound)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/redirect/%d", n-1), http.StatusFound)
	})
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)

	s := &Server{tel: telemetry.Discard(), log: telemetry.Discard().Log, base: "https://starling.example"}
	open := newLinkVerifier(s, true)
	tests := []struct {
		path    string
		want    bool
		wantErr bool
	}{
		{"/yes", true, false}, {"/xhtml", true, false}, {"/redirect/2", true, false},
		{"/no-rel", false, false}, {"/elsewhere", false, false}, {"/json", false, false}, {"/missing", false, false},
		{"/late", false, false}, // past the size cap: not read
		{"/redirect/4", false, true},
	}
	for _, tc := range tests {
		u, _ := url.Parse(site.URL + tc.path)
		got, err := open.linksBack(context.Background(), u, []string{back})
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: %v, %v; want %v (error: %v)", tc.path, got, err, tc.want, tc.wantErr)
		}
	}
	// Without the test option, loopback (where the site is) is refused,
	// whatever name is used for it.
	strict := newLinkVerifier(s, false)
	for _, host := range []string{site.URL, strings.Replace(site.URL, "127.0.0.1", "localhost", 1)} {
		u, _ := url.Parse(host + "/yes")
		if ok, err := strict.linksBack(context.Background(), u, []string{back}); ok || !errors.Is(err, errForbiddenAddress) {
			t.Errorf("%s: %v, %v; want errForbiddenAddress", u, ok, err)
		}
	}
}
