package health

// Checkers against real sockets on 127.0.0.1: listeners the test starts,
// the real kernel's answers (refused, full backlog), real TLS.

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// addrOf splits a listener address into the definition's target and port.
func addrOf(t testing.TB, a string) (netip.Addr, uint16) {
	t.Helper()
	ap, err := netip.ParseAddrPort(a)
	if err != nil {
		t.Fatal(err)
	}
	return ap.Addr(), ap.Port()
}

func check(t testing.TB, d Definition) Result {
	t.Helper()
	if d.Timeout == 0 {
		d.Timeout = 2 * time.Second
	}
	c, err := NewChecker(d)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Check(context.Background())
	t.Logf("%s -> ok=%v draining=%v reason=%q latency=%s", d.Key(), r.OK, r.Draining, r.Reason, r.Latency)
	return r
}

func wantErr(t testing.TB, r Result, sentinel error) {
	t.Helper()
	if r.OK || !errors.Is(r.Err, sentinel) {
		t.Fatalf("result %+v, want a failure wrapping %v", r, sentinel)
	}
}

func listenTCP(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

// closedPort returns a port nothing listens on (the kernel answers RST).
func closedPort(t testing.TB) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, p := addrOf(t, ln.Addr().String())
	ln.Close()
	return p
}

// listenNoAccept listens on 127.0.0.1 with backlog and never accepts; it
// returns the port.
func listenNoAccept(t testing.TB, backlog int) uint16 {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	return uint16(sa.(*unix.SockaddrInet4).Port)
}

// fullBacklog returns a port whose accept queue is full: the kernel drops
// further SYNs, so a connect hangs, as to a dead host.
func fullBacklog(t testing.TB) uint16 {
	t.Helper()
	port := listenNoAccept(t, 0)
	for i := 0; i < 2; i++ { // fill the queue (backlog 0 holds one), never accept
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return port
}

func TestTCPCheckAgainstRealSockets(t *testing.T) {
	ip, port := addrOf(t, listenTCP(t).Addr().String())
	if r := check(t, Definition{Type: TCP, Target: ip, Port: port}); !r.OK || r.Err != nil {
		t.Fatalf("listening port: %+v", r)
	}
	wantErr(t, check(t, Definition{Type: TCP, Target: loopback, Port: closedPort(t)}), ErrRefused)

	timeout := 300 * time.Millisecond
	r := check(t, Definition{Type: TCP, Target: loopback, Port: fullBacklog(t), Timeout: timeout, Interval: time.Second})
	wantErr(t, r, ErrTimeout)
	if r.Latency < timeout {
		t.Fatalf("timed out after %s, before the %s timeout", r.Latency, timeout)
	}
	// The contract, not a speed limit: a verdict before the next probe is due.
	if r.Latency >= time.Second {
		t.Fatalf("verdict after %s: the %s timeout was not applied (interval 1s)", r.Latency, timeout)
	}
}

func TestHTTPCheckStatusBodyHostAndRedirect(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			fmt.Fprintln(w, "all good: version 42")
		case "/fail":
			http.Error(w, "broken", http.StatusInternalServerError)
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusMovedPermanently)
		case "/vhost":
			if r.Host != "www.example.com" {
				http.Error(w, "wrong host "+r.Host, http.StatusMisdirectedRequest)
				return
			}
			fmt.Fprintln(w, "vhost")
		}
	}))
	defer srv.Close()
	ip, port := addrOf(t, srv.Listener.Addr().String())
	d := func(path string) Definition { return Definition{Type: HTTP, Target: ip, Port: port, Path: path} }

	if r := check(t, d("/ok")); !r.OK || r.Reason != "status 200" {
		t.Fatalf("/ok: %+v", r)
	}
	wantErr(t, check(t, d("/fail")), ErrStatus)
	wantErr(t, check(t, d("/empty")), ErrStatus) // default expect is 200 only
	e := d("/empty")
	e.Expect = []int{200, 204}
	if r := check(t, e); !r.OK {
		t.Fatalf("204 with expect [200 204]: %+v", r)
	}
	wantErr(t, check(t, d("/moved")), ErrStatus) // redirects are judged, not followed
	b := d("/ok")
	b.Body = "version 42"
	if r := check(t, b); !r.OK {
		t.Fatalf("body match: %+v", r)
	}
	b.Body = "version 43"
	wantErr(t, check(t, b), ErrBody)
	v := d("/vhost")
	wantErr(t, check(t, v), ErrStatus)
	v.Host = "www.example.com"
	if r := check(t, v); !r.OK {
		t.Fatalf("Host header: %+v", r)
	}
	wantErr(t, check(t, Definition{Type: HTTP, Target: loopback, Port: closedPort(t)}), ErrRefused)
}

func TestHTTPCheckTimesOutOnAHungServer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	ip, port := addrOf(t, srv.Listener.Addr().String())
	timeout := 300 * time.Millisecond
	r := check(t, Definition{Type: HTTP, Target: ip, Port: port, Timeout: timeout, Interval: time.Second})
	wantErr(t, r, ErrTimeout)
	if r.Latency < timeout {
		t.Fatalf("verdict after %s, before the %s timeout", r.Latency, timeout)
	}
	// The contract, not a speed limit: a verdict before the next probe is due.
	if r.Latency >= time.Second {
		t.Fatalf("verdict after %s: the %s timeout was not applied (interval 1s)", r.Latency, timeout)
	}
}

func TestHTTPSVerifiesByDefault(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "secure") }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	defer srv.Close()
	ip, port := addrOf(t, srv.Listener.Addr().String())
	d := Definition{Type: HTTPS, Target: ip, Port: port, Body: "secure"}

	wantErr(t, check(t, d), ErrTLS) // unknown CA: refused unless told otherwise
	insecure := d
	insecure.Insecure = true
	if r := check(t, insecure); !r.OK {
		t.Fatalf("insecure: %+v", r)
	}

	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	trusted := d
	trusted.CAFile = ca
	if r := check(t, trusted); !r.OK { // the certificate names 127.0.0.1
		t.Fatalf("ca_file: %+v", r)
	}
	trusted.Host = "example.com" // also a name in httptest's certificate
	if r := check(t, trusted); !r.OK {
		t.Fatalf("ca_file + host: %+v", r)
	}
	trusted.Host = "impostor.test"
	wantErr(t, check(t, trusted), ErrTLS)

	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	ip, port = addrOf(t, plain.Listener.Addr().String())
	wantErr(t, check(t, Definition{Type: HTTPS, Target: ip, Port: port, Insecure: true}), ErrTLS)

	if _, err := NewChecker(Definition{Type: HTTPS, Target: ip, Port: port, CAFile: filepath.Join(t.TempDir(), "none.pem")}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("missing ca_file: %v, want ErrInvalid", err)
	}
}

func TestReadyCheckReportsDrainingDistinctly(t *testing.T) {
	var status atomic.Int32
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != ReadyPath {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, body.Load().(string))
	}))
	defer srv.Close()
	ip, port := addrOf(t, srv.Listener.Addr().String())
	d := Definition{Type: Ready, Target: ip, Port: port}
	for _, c := range []struct {
		status       int
		body         string
		ok, draining bool
		sentinel     error
		reason       string
	}{
		{200, "ready\n", true, false, nil, "ready"},
		{503, "draining\n", false, true, ErrDraining, "draining"},
		{503, "draining: 3 connections to 10.0.0.100:80\n", false, true, ErrDraining, "draining: 3 connections to 10.0.0.100:80"},
		// what `lvsnode agent run` answers today while not ready
		{503, "starting: not applied yet\n", false, false, ErrNotReady, "not ready: starting: not applied yet"},
		{503, "loopback 10.0.0.100/32 missing\ndraining\n", false, false, ErrNotReady, "not ready: loopback 10.0.0.100/32 missing"},
		{503, "drainingish\n", false, false, ErrNotReady, "not ready: drainingish"},
		{503, "", false, false, ErrNotReady, "not ready: no reason given"},
		{500, "draining\n", false, false, ErrStatus, "unexpected status 500 from the readiness endpoint"},
	} {
		status.Store(int32(c.status))
		body.Store(c.body)
		r := check(t, d)
		if r.OK != c.ok || r.Draining != c.draining || !errors.Is(r.Err, c.sentinel) && c.sentinel != nil || r.Reason != c.reason {
			t.Errorf("%d %q: got ok=%v draining=%v err=%v reason=%q, want ok=%v draining=%v %v %q",
				c.status, c.body, r.OK, r.Draining, r.Err, r.Reason, c.ok, c.draining, c.sentinel, c.reason)
		}
	}
}

func TestDefinitionValidateNamesTheField(t *testing.T) {
	ip := netip.MustParseAddr("10.0.0.11")
	for _, c := range []struct {
		d    Definition
		want string
	}{
		{Definition{Type: "icmp", Target: ip}, `type "icmp"`},
		{Definition{Type: TCP}, "target"},
		{Definition{Type: TCP, Target: ip}, "port: required"},
		{Definition{Type: TCP, Target: ip, Port: 80, Body: "x"}, "expect/body"},
		{Definition{Type: HTTP, Target: ip, Insecure: true}, "insecure/ca_file"},
		{Definition{Type: HTTP, Target: ip, Path: "health"}, "path"},
		{Definition{Type: HTTP, Target: ip, Expect: []int{42}}, "expect"},
		{Definition{Type: HTTP, Target: ip, Interval: time.Second, Timeout: 2 * time.Second}, "timeout"},
		{Definition{Type: HTTP, Target: ip, Rise: -1}, "rise/fall"},
		{Definition{Type: HTTP, Target: ip, Source: netip.MustParseAddr("fd00::1")}, "source"},
	} {
		err := c.d.Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want ErrInvalid naming %q", c.d, err, c.want)
		}
	}
	ok := Definition{Type: Ready, Target: ip}.WithDefaults()
	if ok.Port != DefaultReadyPort || ok.Path != ReadyPath || ok.Interval != DefaultInterval || ok.Rise != DefaultRise || ok.Fall != DefaultFall || ok.Timeout != DefaultTimeout {
		t.Fatalf("defaults: %+v", ok)
	}
	if k := (Definition{Type: HTTP, Target: ip, Mark: 42, Initial: Up}).Key(); k != Key(`http 10.0.0.11:80 mark=0x2a path="/" expect=200 interval=2s timeout=1s rise=2 fall=3`) {
		t.Fatalf("key %q", k)
	}
}
