// Package sockdiag counts this host's own TCP connections by local
// address, through the kernel's socket diagnostics (sock_diag, the
// NETLINK_INET_DIAG family that ss(8) reads). The agent uses it to wait
// for the connections to its VIPs to end before it removes them: in DR and
// TUN modes the director sees only the inbound half of each connection, so
// only the real server knows when its clients are gone.
//
// It only reads; it never closes or changes a socket. It sees the sockets
// of its own network namespace.
package sockdiag

import (
	"errors"
	"net/netip"
	"sync"
)

// ErrDiag wraps failures to read the kernel's socket table (no
// NETLINK_INET_DIAG support, a malformed answer). A Count that fails
// says nothing about the connections: callers must not read it as 0.
var ErrDiag = errors.New("socket diagnostics")

// Counter counts established TCP connections whose local address is one
// of a set, over IPv4 and IPv6 (an IPv4 connection accepted by a
// dual-stack IPv6 listener counts under its IPv4 address).
type Counter interface {
	Established(locals []netip.Addr) (int, error)
}

// Fake is a Counter for tests: the connections are whatever the test set
// (local address -> number), like a kernel whose clients come and go;
// addresses not asked for are not counted, as the kernel's are not.
// Safe for concurrent use.
type Fake struct {
	mu    sync.Mutex
	conns map[netip.Addr]int
	err   error
	calls int
}

var _ Counter = (*Fake)(nil)

// Set says n connections have local address a now.
func (f *Fake) Set(a netip.Addr, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns == nil {
		f.conns = map[netip.Addr]int{}
	}
	f.conns[a.Unmap()] = n
}

// Fail makes every count fail with err (nil: count again).
func (f *Fake) Fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// Calls is the number of counts asked for.
func (f *Fake) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *Fake) Established(locals []netip.Addr) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return 0, f.err
	}
	n := 0
	for _, a := range locals {
		n += f.conns[a.Unmap()]
	}
	return n, nil
}
