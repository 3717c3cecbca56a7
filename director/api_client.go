package director

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"
)

// APIClient talks to a running director's runtime API. Errors the daemon
// returns are *APIError values that wrap the same sentinels the Runtime
// used (ErrInvalid, ErrNotFound, ErrExists, ErrNotManaged) or
// ErrUnauthorized, so callers test them with errors.Is on either side of
// the socket.
type APIClient struct {
	addr  string // as given: a socket path or a URL
	base  string // URL prefix of requests
	unix  string // socket path, "" for TCP
	token string
	hc    *http.Client
}

// APIClientOptions: the token and CA for an https:// (or http://) address.
type APIClientOptions struct {
	TokenFile string        // bearer token (required by a TCP listener)
	CAFile    string        // PEM roots for https; default: the system's
	Timeout   time.Duration // per request; default 40s (the server's 30s plus margin)
}

// NewAPIClient returns a client for addr: a unix socket path (absolute,
// or "unix:PATH"), or http://HOST:PORT or https://HOST:PORT. Nothing is
// dialled yet; see Answers.
func NewAPIClient(addr string, o APIClientOptions) (*APIClient, error) {
	if o.Timeout <= 0 {
		o.Timeout = 40 * time.Second
	}
	c := &APIClient{addr: addr}
	tr := &http.Transport{MaxIdleConns: 2, IdleConnTimeout: 30 * time.Second, TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: o.Timeout}
	switch {
	case strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://"):
		c.base = strings.TrimSuffix(addr, "/")
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("%w: API CA file: %v", ErrInvalid, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%w: API CA file %s: no PEM certificate in it", ErrInvalid, o.CAFile)
			}
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
	case strings.HasPrefix(addr, "unix:") || strings.HasPrefix(addr, "/") || strings.HasPrefix(addr, "."):
		c.unix = strings.TrimPrefix(addr, "unix:")
		c.base = "http://director"
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", c.unix)
		}
	default:
		return nil, fmt.Errorf("%w: API address %q: want a socket path (/run/lvsnode/director.sock) or https://HOST:PORT", ErrInvalid, addr)
	}
	if o.TokenFile != "" {
		if err := plainHTTPOffLoopback(addr); err != nil {
			return nil, err
		}
		tok, err := readToken(o.TokenFile)
		if err != nil {
			return nil, err
		}
		c.token = string(tok)
	}
	c.hc = &http.Client{Transport: tr, Timeout: o.Timeout}
	return c, nil
}

// Answers reports whether a daemon accepts connections at the address: for
// a socket, that the path exists and something accepts on it (a stale
// socket or none is false, nil); for TCP, that a connection opens. Other
// failures (permission denied on the socket) are errors: a daemon may be
// there, and the caller must not act as if there were none.
func (c *APIClient) Answers(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var d net.Dialer
	if c.unix != "" {
		conn, err := d.DialContext(ctx, "unix", c.unix)
		switch {
		case err == nil:
			conn.Close()
			return true, nil
		case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
			return false, nil
		}
		return false, fmt.Errorf("API socket %s: %w", c.unix, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.base+"/v1/status", nil)
	if err != nil {
		return false, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return false, fmt.Errorf("API %s: %w", c.addr, err)
	}
	resp.Body.Close()
	return true, nil
}

// Addr is the address the client was made for.
func (c *APIClient) Addr() string { return c.addr }

// Status is GET /v1/status.
func (c *APIClient) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
	return s, err
}

// AddNode is POST /v1/nodes.
func (c *APIClient) AddNode(ctx context.Context, n Node) error {
	return c.do(ctx, http.MethodPost, "/v1/nodes", n, nil)
}

// EditNode is PATCH /v1/nodes.
func (c *APIClient) EditNode(ctx context.Context, n NodePatch) error {
	return c.do(ctx, http.MethodPatch, "/v1/nodes", n, nil)
}

// RemoveNode is DELETE /v1/nodes.
func (c *APIClient) RemoveNode(ctx context.Context, ref NodeRef) error {
	return c.do(ctx, http.MethodDelete, "/v1/nodes", ref, nil)
}

// Drain is POST /v1/drain; it returns when the drain has started.
func (c *APIClient) Drain(ctx context.Context, ref NodeRef, o DrainOptions) error {
	return c.do(ctx, http.MethodPost, "/v1/drain", DrainRequest{NodeRef: ref, DrainOptions: o}, nil)
}

// Undrain is POST /v1/undrain.
func (c *APIClient) Undrain(ctx context.Context, ref NodeRef) error {
	return c.do(ctx, http.MethodPost, "/v1/undrain", ref, nil)
}

// APIError is an error answer of the daemon.
type APIError struct {
	StatusCode int    // HTTP status
	Code       string // "invalid", "not_found", "exists", "not_managed", "unauthorized", ...
	Message    string // the daemon's one line
}

func (e *APIError) Error() string { return e.Message }

// Unwrap gives the sentinel the daemon's Runtime returned (nil for 500).
func (e *APIError) Unwrap() error {
	switch e.Code {
	case "invalid", "too_large":
		return ErrInvalid
	case "not_found":
		return ErrNotFound
	case "exists":
		return ErrExists
	case "not_managed":
		return ErrNotManaged
	case "unauthorized":
		return ErrUnauthorized
	}
	switch e.StatusCode {
	case http.StatusBadRequest:
		return ErrInvalid
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusNotFound:
		return ErrNotFound
	}
	return nil
}

func (c *APIClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("API %s: %w", c.addr, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("API %s: reading the answer: %w", c.addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb apiErrorBody
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = fmt.Sprintf("API %s: %s %s: %s", c.addr, method, path, resp.Status)
		}
		return &APIError{StatusCode: resp.StatusCode, Code: eb.Code, Message: eb.Error}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("API %s: answer of %s %s: %w", c.addr, method, path, err)
		}
	}
	return nil
}

// plainHTTPOffLoopback refuses (ErrInvalid) an http:// address whose host is
// not a loopback address or "localhost": a bearer token sent there crosses
// the network in clear, and whoever reads it may use it.
func plainHTTPOffLoopback(addr string) error {
	rest, ok := strings.CutPrefix(addr, "http://")
	if !ok {
		return nil
	}
	host, _, _ := strings.Cut(rest, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if a, err := netip.ParseAddr(host); (err == nil && a.IsLoopback()) || strings.EqualFold(host, "localhost") {
		return nil
	}
	return fmt.Errorf("%w: API address %s: refusing to send the bearer token over plain http to a host that is not loopback: use https://", ErrInvalid, addr)
}
