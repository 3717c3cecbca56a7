package sockdiag

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Kernel is the real Counter: one SOCK_DIAG_BY_FAMILY dump per address
// family, asking the kernel for ESTABLISHED TCP sockets only (the state
// filter runs in the kernel; the address match runs here).
type Kernel struct{}

var _ Counter = Kernel{}

// tcpEstablished is TCP_ESTABLISHED in include/net/tcp_states.h. Only
// that state counts: a CLOSE_WAIT socket's client has already gone, and
// an application that never closes it must not hold a drain forever.
const tcpEstablished = 1

// Sizes of struct inet_diag_req_v2 and struct inet_diag_msg
// (include/uapi/linux/inet_diag.h); the socket id inside both is 48 bytes:
// sport, dport (big endian), src[16], dst[16], ifindex, cookie[2].
const (
	reqLen = 56
	msgLen = 72
)

func (Kernel) Established(locals []netip.Addr) (int, error) {
	want := map[netip.Addr]bool{}
	fams := map[uint8]bool{}
	for _, a := range locals {
		a = a.Unmap()
		want[a] = true
		if a.Is4() {
			fams[unix.AF_INET] = true
			fams[unix.AF_INET6] = true // a dual-stack listener's IPv4 clients
		} else {
			fams[unix.AF_INET6] = true
		}
	}
	if len(want) == 0 {
		return 0, nil
	}
	c, err := netlink.Dial(unix.NETLINK_INET_DIAG, nil)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrDiag, err)
	}
	defer c.Close()
	n := 0
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if !fams[fam] {
			continue
		}
		msgs, err := c.Execute(netlink.Message{
			Header: netlink.Header{Type: unix.SOCK_DIAG_BY_FAMILY, Flags: netlink.Request | netlink.Dump},
			Data:   request(fam),
		})
		if err != nil {
			return 0, fmt.Errorf("%w: dump of family %d: %v", ErrDiag, fam, err)
		}
		for _, m := range msgs {
			src, err := localAddr(m.Data)
			if err != nil {
				return 0, err
			}
			if want[src] {
				n++
			}
		}
	}
	return n, nil
}

// request is an inet_diag_req_v2 for every ESTABLISHED TCP socket of fam.
func request(fam uint8) []byte {
	b := make([]byte, reqLen)
	b[0] = fam
	b[1] = unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(b[4:8], 1<<tcpEstablished)
	return b
}

// localAddr is the source address of one inet_diag_msg, unmapped.
func localAddr(b []byte) (netip.Addr, error) {
	if len(b) < msgLen {
		return netip.Addr{}, fmt.Errorf("%w: inet_diag_msg of %d bytes, want %d", ErrDiag, len(b), msgLen)
	}
	// family(1) state(1) timer(1) retrans(1), then the id: sport(2) dport(2) src(16).
	src := b[8:24]
	switch b[0] {
	case unix.AF_INET:
		return netip.AddrFrom4([4]byte(src[:4])), nil
	case unix.AF_INET6:
		return netip.AddrFrom16([16]byte(src)).Unmap(), nil
	}
	return netip.Addr{}, fmt.Errorf("%w: inet_diag_msg of family %d", ErrDiag, b[0])
}
