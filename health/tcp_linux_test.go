package health

// The raw TCP prober against the real kernel: how it closes (RST, no
// TIME_WAIT), what a probe allocates, many probes in flight at once, IPv6.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/internal/netnstest"
)

// timeWaitFrom reports whether /proc/net/tcp holds a TIME_WAIT socket
// (state 06) with local port port.
func timeWaitFrom(t *testing.T, port int) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) > 3 && strings.HasSuffix(f[1], fmt.Sprintf(":%04X", port)) && f[3] == "06" {
			return true
		}
	}
	return false
}

// The probe closes with RST (SO_LINGER 0, as keepalived does): the real
// server reads ECONNRESET, not EOF, and the director keeps no TIME_WAIT
// socket, even after the real server closed its side first.
func TestTCPCheckClosesWithResetAndLeavesNoTimeWait(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type seen struct {
		port int
		err  error
	}
	got := make(chan seen, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		got <- seen{c.RemoteAddr().(*net.TCPAddr).Port, err}
	}()
	ip, port := addrOf(t, ln.Addr().String())
	if r := check(t, Definition{Type: TCP, Target: ip, Port: port}); !r.OK {
		t.Fatalf("check: %+v", r)
	}
	s := <-got
	if !errors.Is(s.err, syscall.ECONNRESET) {
		t.Fatalf("the real server read %v, want ECONNRESET (an abortive close)", s.err)
	}
	time.Sleep(50 * time.Millisecond) // the server's close, had it a peer to FIN
	if timeWaitFrom(t, s.port) {
		t.Fatalf("the probe's socket (port %d) is in TIME_WAIT", s.port)
	}
}

// rawListener listens on 127.0.0.1 without accepting: the kernel completes
// the handshakes itself, so nothing in this process allocates for them.
func rawListener(t *testing.T) (netip.Addr, uint16) {
	t.Helper()
	return loopback, listenNoAccept(t, 4096)
}

// A passing probe allocates nothing (net.Dialer took ~25 allocations).
func TestTCPCheckAllocatesNothing(t *testing.T) {
	ip, port := rawListener(t)
	c, err := NewChecker(Definition{Type: TCP, Target: ip, Port: port, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var bad Result
	allocs := testing.AllocsPerRun(200, func() {
		if r := c.Check(ctx); !r.OK {
			bad = r
		}
	})
	if bad.Err != nil {
		t.Fatalf("probe failed: %+v", bad)
	}
	t.Logf("%.1f allocations per probe", allocs)
	if allocs != 0 {
		t.Fatalf("%.1f allocations per probe, want 0", allocs)
	}
}

// Many probes in flight at once share the one epoll set: each gets its own
// verdict (listening, refused, hung), none another's.
func TestTCPChecksInFlightTogether(t *testing.T) {
	ip, open := rawListener(t)
	closed, hung := closedPort(t), fullBacklog(t)
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		// Verdicts of the kernel get a timeout no loaded machine reaches;
		// only the hung port's is short (it is what it tests).
		port, want, timeout := open, error(nil), 10*time.Second
		switch i % 3 {
		case 1:
			port, want = closed, ErrRefused
		case 2:
			port, want, timeout = hung, ErrTimeout, 300*time.Millisecond
		}
		c, err := NewChecker(Definition{Type: TCP, Target: ip, Port: port, Timeout: timeout, Interval: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				r := c.Check(context.Background())
				if want == nil && !r.OK || want != nil && !errors.Is(r.Err, want) {
					errs <- fmt.Errorf("port %d: %+v, want %v", port, r, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A cancelled context ends a hung probe at once, as a failure.
func TestTCPCheckHonoursCancel(t *testing.T) {
	c, err := NewChecker(Definition{Type: TCP, Target: loopback, Port: fullBacklog(t), Timeout: 5 * time.Second, Interval: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r := c.Check(ctx)
	if r.OK || r.Latency >= 5*time.Second || !errors.Is(r.Err, ErrTimeout) {
		t.Fatalf("cancelled probe: %+v, want a failure before the 5s timeout", r)
	}
}

func TestTCPCheckIPv6(t *testing.T) {
	if !netnstest.Enter(t) { // a fresh namespace: ::1 on lo, whatever the host has
		return
	}
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	defer ln.Close()
	ip, port := addrOf(t, ln.Addr().String())
	src := netip.MustParseAddr("::1")
	if r := check(t, Definition{Type: TCP, Target: ip, Port: port, Source: src}); !r.OK {
		t.Fatalf("[::1]: %+v", r)
	}
	ln.Close()
	wantErr(t, check(t, Definition{Type: TCP, Target: ip, Port: port}), ErrRefused)
	// No route: the connect fails at once, not by timeout.
	wantErr(t, check(t, Definition{Type: TCP, Target: netip.MustParseAddr("2001:db8::1"), Port: 80}), ErrConnect)
}
