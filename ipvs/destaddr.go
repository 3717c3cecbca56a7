package ipvs

import (
	"errors"
	"net/netip"
)

// ErrNotUnicast: the kernel refuses a real server at this address with
// EINVAL whatever the table holds ("Invalid operation. Possibly ... address
// not unicast" in ipvsadm's words).
var ErrNotUnicast = errors.New("not an address the kernel accepts for a real server")

// CheckDestAddr says why the kernel refuses a real server at a, or nil.
// Linux's ip_vs_new_dest takes, for IPv4, what inet_addr_type calls local or
// unicast, and for IPv6 a unicast address that is not link-local, or any
// address of the host itself (lab/scenarios/controller-parity.sh checks
// each row against the kernel). Only the rows that hold on every host are
// here: a subnet's broadcast address, refused too, depends on the
// interfaces, and a link-local address the director itself has would be
// accepted, as a local real server, which lvsnode does not support.
func CheckDestAddr(a netip.Addr) error {
	why := ""
	switch {
	case a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		why = "the broadcast address" // RTN_BROADCAST
	case a.IsMulticast():
		why = "a multicast address" // RTN_MULTICAST; no IPV6_ADDR_UNICAST
	case a.IsUnspecified():
		why = "the unspecified address" // RTN_BROADCAST; IPV6_ADDR_ANY (0.1.2.3 is accepted: lab)
	case a.Is4In6():
		why = "an IPv4-mapped IPv6 address (give the IPv4 address)" // IPV6_ADDR_MAPPED, not unicast
	case a.Is6() && a.IsLinkLocalUnicast():
		why = "a link-local address" // IPV6_ADDR_LINKLOCAL
	}
	if why == "" {
		return nil
	}
	return &destAddrError{a: a, why: why}
}

type destAddrError struct {
	a   netip.Addr
	why string
}

func (e *destAddrError) Error() string {
	return e.a.String() + " is " + e.why + ": " + ErrNotUnicast.Error()
}

func (e *destAddrError) Unwrap() error { return ErrNotUnicast }
