package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// newTransport returns the HTTP transport that every request of a setup or
// a run shares: keep-alive with conns idle connections per host, HTTP/1.1,
// no proxy and no gzip, so the tool and the server move the same bytes
// whatever the server.
func newTransport(conns int, insecure bool) *http.Transport {
	t := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   max(conns, 2),
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	if insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	return t
}

// api sends the few requests that prepare a benchmark (sign-ups, follows,
// seed posts, look-ups). Unlike the measured requests they are retried.
type api struct {
	client  *http.Client
	timeout time.Duration // per attempt
	retries int           // attempts after the first
}

// apiError is a response with an unexpected status.
type apiError struct {
	Method, URL string
	Status      int
	Body        string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.Method, e.URL, e.Status, strings.TrimSpace(e.Body))
}

// call sends one request and returns the response's status and body. It
// retries 429 and 503 after the Retry-After the server asks for, and
// connection failures after a backoff. Each attempt runs to completion even
// when ctx ends, so that what the server did is known and can be recorded;
// ctx only stops the waits between attempts.
func (a *api) call(ctx context.Context, method, u, token string, form url.Values) (int, []byte, error) {
	var body string
	if form != nil {
		body = form.Encode()
	}
	backoff := 250 * time.Millisecond
	for attempt := 0; ; attempt++ {
		status, data, wait, err := a.once(ctx, method, u, token, body, form != nil)
		if err != nil {
			wait = -1
		}
		retry := err != nil || status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
		if !retry || attempt >= a.retries {
			if err == nil && status/100 != 2 {
				err = &apiError{method, u, status, string(data)}
			}
			return status, data, err
		}
		if wait < 0 {
			wait = backoff
			backoff = min(2*backoff, 10*time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, nil, ctx.Err()
		case <-t.C:
		}
	}
}

// once makes one attempt; wait is the Retry-After the server asked for, or
// -1.
func (a *api) once(ctx context.Context, method, u, token, body string, isForm bool) (status int, data []byte, wait time.Duration, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.timeout)
	defer cancel()
	var rd io.Reader
	if isForm {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, 0, err
	}
	if isForm {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	data, err = io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, 0, err
	}
	return resp.StatusCode, data, retryAfter(resp.Header.Get("Retry-After"), time.Now()), nil
}

// retryAfter parses a Retry-After header (seconds or an HTTP date), capped at
// five minutes; -1 if absent or unparsable.
func retryAfter(v string, now time.Time) time.Duration {
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return -1
	}
	return min(max(d, 0), 5*time.Minute)
}

// getJSON fetches u and decodes the JSON body into out.
func (a *api) getJSON(ctx context.Context, u, token string, out any) error {
	_, data, err := a.call(ctx, http.MethodGet, u, token, nil)
	if err != nil {
		return err
	}
	return decodeJSON(data, out)
}

// decodeJSON decodes a response body, quoting its start on failure.
func decodeJSON(data []byte, out any) error {
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(out); err != nil {
		if len(data) > 200 {
			data = data[:200]
		}
		return fmt.Errorf("decode %q: %w", data, err)
	}
	return nil
}

// errKind classifies a failed exchange for the report: "timeout" when a
// deadline passed, "canceled" when the run was stopped, else "connection".
func errKind(err error) int {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return statusTimeout
	case errors.Is(err, context.Canceled):
		return statusCanceled
	}
	return statusConnection
}
