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

// Fake is a Counter for tests: the connections are whatever the test put
// in Conns (local address -> number), like a kernel whose clients come
// and go. Err, when set, is returned instead.
type Fake struct {
	Conns map[netip.Addr]int
	Err   error
	Calls int
}

var _ Counter = (*Fake)(nil)

func (f *Fake) Established(locals []netip.Addr) (int, error) {
	f.Calls++
	if f.Err != nil {
		return 0, f.Err
	}
	n := 0
	for _, a := range locals {
		n += f.Conns[a.Unmap()]
	}
	return n, nil
}
