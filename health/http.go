package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// bodyLimit bounds what a probe reads: enough for a status page, not a
// download.
const bodyLimit = 64 << 10

// httpChecker GETs one URL on a fresh connection per probe (keep-alive off:
// a reused connection would hide a listener that no longer accepts).
// Redirects are not followed: a 301 is judged as 301.
type httpChecker struct {
	client  *http.Client
	url     string
	host    string
	expect  []int
	body    []byte
	ready   bool // judge by the agent's readiness contract instead of expect/body
	timeout time.Duration
}

func newHTTP(d Definition) (*httpChecker, error) {
	scheme := "http"
	tr := &http.Transport{
		Proxy:             nil, // never through $HTTP_PROXY: the probe is about this server
		DialContext:       newDialer(d).DialContext,
		DisableKeepAlives: true,
		// No HTTP/2: one request per connection, the cheapest to judge.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	if d.Type == HTTPS {
		scheme = "https"
		cfg := &tls.Config{InsecureSkipVerify: d.Insecure, ServerName: d.Host}
		if cfg.ServerName == "" {
			cfg.ServerName = d.Target.String()
		}
		pool, err := d.LoadCA()
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
		tr.TLSClientConfig = cfg
	}
	return &httpChecker{
		client: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		url:     scheme + "://" + netip.AddrPortFrom(d.Target, d.Port).String() + d.Path,
		host:    d.Host,
		expect:  d.Expect,
		body:    []byte(d.Body),
		ready:   d.Type == Ready,
		timeout: d.Timeout,
	}, nil
}

func (c *httpChecker) Check(ctx context.Context) Result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return fail(start, fmt.Errorf("%w: %v", ErrConnect, err))
	}
	if c.host != "" {
		req.Host = c.host
	}
	req.Header.Set("User-Agent", "lvsnode-health")
	resp, err := c.client.Do(req)
	if err != nil {
		return fail(start, classify(err, c.timeout))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, bodyLimit))
	if err != nil {
		return fail(start, classify(err, c.timeout))
	}
	if c.ready {
		return judgeReady(start, resp.StatusCode, body)
	}
	if !slices.Contains(c.expect, resp.StatusCode) {
		return fail(start, fmt.Errorf("%w %d", ErrStatus, resp.StatusCode))
	}
	if len(c.body) > 0 && !bytes.Contains(body, c.body) {
		return fail(start, fmt.Errorf("%w: no %q", ErrBody, c.body))
	}
	return pass(start, fmt.Sprintf("status %d", resp.StatusCode))
}

// judgeReady applies the agent's readiness contract: 200 ready; 503 whose
// first line is "draining" (or "draining: ..."), draining; anything else not
// ready, with the agent's first reason line.
func judgeReady(start time.Time, status int, body []byte) Result {
	line, _, _ := bytes.Cut(body, []byte("\n"))
	first := strings.TrimSpace(string(line))
	switch {
	case status == http.StatusOK:
		return pass(start, "ready")
	case status == http.StatusServiceUnavailable && isDraining(first):
		r := fail(start, fmt.Errorf("%w", ErrDraining))
		r.Draining = true
		r.Reason = CleanReason(first)
		return r
	case status == http.StatusServiceUnavailable:
		if first == "" {
			first = "no reason given"
		}
		return fail(start, fmt.Errorf("%w: %s", ErrNotReady, first))
	}
	return fail(start, fmt.Errorf("%w %d from the readiness endpoint", ErrStatus, status))
}

func isDraining(line string) bool {
	rest, ok := strings.CutPrefix(line, DrainingLine)
	return ok && (rest == "" || rest[0] == ':' || rest[0] == ' ')
}
