// Package rtnl holds what lvsnode's rtnetlink clients (loopback, tunnel)
// share over github.com/vishvananda/netlink: retrying the dumps the kernel
// interrupts, looking a device up by name, and the conversions between
// net and net/netip. One copy, so both clients give the same errors.
package rtnl

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ErrInterrupted is returned (wrapped) by RetryDump when the kernel kept
// interrupting the dump because the table changed while it was read
// (NLM_F_DUMP_INTR), after retries: the result is unknown, not empty, and
// says nothing about drift. Try again later.
var ErrInterrupted = errors.New("dump interrupted: the kernel's table kept changing while it was read")

// ErrNoLink is returned (wrapped) by Link when the device does not exist.
var ErrNoLink = errors.New("no such device")

// DumpRetries bounds the retries of an interrupted dump (netlink v1.3
// returns partial results together with ErrDumpInterrupted). With
// thousands of addresses churning, back-to-back retries can all land in
// the churn: they pause a little longer each time (about 30 ms in all).
const DumpRetries = 8

// RetryDump calls dump until the kernel answers it uninterrupted, at most
// DumpRetries times; then it gives up with ErrInterrupted.
func RetryDump[T any](dump func() ([]T, error)) ([]T, error) {
	var err error
	for i := 0; i < DumpRetries; i++ {
		var v []T
		if v, err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
		time.Sleep(time.Duration(i) * time.Millisecond)
	}
	return nil, fmt.Errorf("%w (%d attempts): %w", ErrInterrupted, DumpRetries, err)
}

// Link looks a device up by name; ErrNoLink (wrapped) if it is absent.
func Link(h *netlink.Handle, name string) (netlink.Link, error) {
	l, err := h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("%s: %w", name, ErrNoLink)
		}
		return nil, fmt.Errorf("look up %s: %w", name, err)
	}
	return l, nil
}

// Family is 4 or 6 for a.
func Family(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

// AF is the address family constant (AF_INET, AF_INET6) of family 4 or 6.
func AF(family int) int {
	if family == 6 {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// Addr converts ip; the zero Addr for nil or garbage. IPv4-mapped IPv6
// addresses become IPv4.
func Addr(ip net.IP) netip.Addr {
	if ip == nil {
		return netip.Addr{}
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

// Prefix converts n; false for nil (netlink's default route) or garbage.
func Prefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

// IPNet converts p; nil for the zero Prefix.
func IPNet(p netip.Prefix) *net.IPNet {
	if !p.IsValid() {
		return nil
	}
	a := p.Addr()
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(p.Bits(), a.BitLen())}
}
